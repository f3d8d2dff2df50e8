"""The ranking formula: rank_all (the fast form a first page uses) is rank_score."""

from __future__ import annotations

import random

import pytest

from actors.feed import Weights, rank_all, rank_score
from storage.ids import make_id
from storage.timelines import Head


def test_rank_all_scores_as_rank_score() -> None:
    rng = random.Random(6)
    now_ms = 1_800_000_000_000
    w = Weights(recency=1.0, engagement=0.35, affinity=0.6, half_life_hours=12.0)
    heads = []
    for i in range(300):
        at = now_ms - rng.randrange(0, 30 * 24 * 3_600_000)
        if i == 0:
            at = now_ms + 5_000  # a clock a little ahead: age counts as 0
        pid = make_id(at, 0, i % 1024)
        heads.append(Head(pid, rng.randrange(1, 50), rng.randrange(0, 10_000),
                          rng.randrange(0, 500), at))
    affinity = {a: rng.randrange(0, 40) for a in range(1, 50, 2)}
    scored = rank_all(w, now_ms, heads, affinity)
    assert [h for _, h in scored] == heads
    for score, h in scored:
        assert score == pytest.approx(rank_score(w, now_ms, h, affinity.get(h.author_id, 0)),
                                      rel=1e-9)
