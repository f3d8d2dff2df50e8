"""The ranking formula: rank_all (the fast form a first page uses) is rank_score, best
first."""

from __future__ import annotations

import random

import pytest

from actors.feed import Weights, rank_all, rank_score
from storage.ids import make_id
from storage.timelines import Head


def test_rank_all_scores_as_rank_score_best_first() -> None:
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
    # Equal scores (same author, counts and time): the newer id comes first.
    twin_at = now_ms - 3_600_000
    older, newer = (Head(make_id(twin_at, 0, s), 7, 3, 1, twin_at) for s in (1, 2))
    heads += [older, newer]
    affinity = {a: rng.randrange(0, 40) for a in range(1, 50, 2)}
    ranked = rank_all(w, now_ms, heads, affinity)
    assert sorted(h for _, _, h in ranked) == sorted(heads)
    for score, pid, h in ranked:
        assert pid == h.id
        assert score == pytest.approx(rank_score(w, now_ms, h, affinity.get(h.author_id, 0)),
                                      rel=1e-9)
    scores = [score for score, _, _ in ranked]
    assert scores == sorted(scores, reverse=True)
    order = [h for _, _, h in ranked]
    assert order.index(newer) == order.index(older) - 1
