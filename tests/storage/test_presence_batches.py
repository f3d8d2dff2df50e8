"""Presence transitions within one batch: state before the batch vs after it."""

from __future__ import annotations

import random

from server.node import Node
from storage.presence import Change, apply_changes

TTL_MS = 60_000


async def test_batched_changes_announce_only_real_flips(node: Node) -> None:
    uid = random.randrange(1 << 40, 1 << 50)  # a user with no devices anywhere yet
    two_connects = [Change(uid, "t-1", True), Change(uid, "t-2", True)]
    flips = await apply_changes(node.storage, two_connects, TTL_MS)
    assert [(t.user_id, t.online) for t in flips] == [(uid, True)]
    one_of_two_leaves = [Change(uid, "t-1", False)]
    assert await apply_changes(node.storage, one_of_two_leaves, TTL_MS) == []
    last_leaves = [Change(uid, "t-2", False)]
    flips = await apply_changes(node.storage, last_leaves, TTL_MS)
    assert [(t.user_id, t.online) for t in flips] == [(uid, False)]
    blip = [Change(uid, "t-3", True), Change(uid, "t-3", False)]
    assert await apply_changes(node.storage, blip, TTL_MS) == []
