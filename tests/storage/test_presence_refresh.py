"""storage/presence.py `refresh` renews only devices still listed by their node instance:
a disconnect (or a sweep) applied between the refresher's snapshot and its crossing
must not be undone, while a connected device whose key lapsed comes back."""

from __future__ import annotations

import random
import uuid
from typing import Any

from server.node import Node
from storage import presence as db
from storage.store import Storage

TTL_MS = 60_000


async def _exists(st: Storage, *keys: str) -> int:
    async def run(r: Any) -> int:
        return int(await r.exists(*keys))

    return await st.redis_op(run)


async def _members(st: Storage, key: str) -> set[str]:
    async def run(r: Any) -> set[Any]:
        return set(await r.smembers(key))

    return {m.decode() if isinstance(m, bytes) else m for m in await st.redis_op(run)}


async def test_refresh_does_not_revive_a_disconnected_device(node: Node) -> None:
    st = node.storage
    instance = f"rf{uuid.uuid4().hex[:8]}"
    user = random.randrange(1 << 40, 1 << 50)
    gone, kept = f"{instance}:1", f"{instance}:2"
    await db.mark_alive(st, instance, TTL_MS)
    await db.apply_changes(st, [db.Change(user, gone, True), db.Change(user, kept, True)],
                           TTL_MS)
    await db.apply_changes(st, [db.Change(user, gone, False)], TTL_MS)

    async def lapse(r: Any) -> None:  # a live device's key expired (a late refresh)
        await r.delete(db.device_key(st, user, kept))

    await st.redis_op(lapse)
    # The refresher's chunk, snapshotted before the disconnect, still holds both.
    await db.refresh(st, [(user, gone), (user, kept)], TTL_MS, False)

    assert await _exists(st, db.device_key(st, user, gone)) == 0
    assert await _members(st, db.device_set(st, user)) == {kept}
    assert await _exists(st, db.device_key(st, user, kept)) == 1
    await db.apply_changes(st, [db.Change(user, kept, False)], TTL_MS)
    await db.forget_instance(st, instance)
