"""The feed's kept heads (storage/timelines.py): when full, the expired go first, and
only if that leaves too little room does everything go."""

from __future__ import annotations

import pytest

from config import limits as L
from storage import timelines as tl


def test_a_full_cache_drops_the_expired_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(L, "FEED_HEADS_CACHED", 4)
    monkeypatch.setattr(tl, "_heads", {1: (7, 0, 0, 100), 2: (7, 0, 0, 900),
                                       3: (7, 0, 0, 50), 4: (7, 0, 0, 950)})
    tl._evict_heads(now_ms=500, room=2)
    assert tl._heads == {2: (7, 0, 0, 900), 4: (7, 0, 0, 950)}  # 1 and 3 had expired
    tl._evict_heads(now_ms=500, room=3)  # none expired: no room but by clearing
    assert tl._heads == {}
