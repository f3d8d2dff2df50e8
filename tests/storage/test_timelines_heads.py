"""The feed's kept heads (storage/timelines.py): when full, the expired go first, and
only if that leaves the cache above its low-water mark does everything go (else every
page with a miss would scan it again)."""

from __future__ import annotations

import pytest

from config import limits as L
from storage import timelines as tl


def test_a_full_cache_drops_the_expired_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(L, "FEED_HEADS_CACHED", 8)
    monkeypatch.setattr(tl, "_heads", {1: (7, 0, 0, 100), 2: (7, 0, 0, 900),
                                       3: (7, 0, 0, 50), 4: (7, 0, 0, 950)})
    tl._evict_heads(now_ms=500, room=4)  # 2 + 4 <= 6, three quarters of 8
    assert tl._heads == {2: (7, 0, 0, 900), 4: (7, 0, 0, 950)}  # 1 and 3 had expired
    tl._evict_heads(now_ms=500, room=5)  # none expired, 2 + 5 > 6: emptied
    assert tl._heads == {}
