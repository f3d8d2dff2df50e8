"""The sweep of a dead node instance's devices (storage/presence.py): who finds it, one
claimer at a time, chunk by chunk, users announced once, last_active_at never moved
back, and a stop when the claim is lost or the instance turns out to be alive."""

from __future__ import annotations

import random
from typing import Any

from server.node import Node
from storage import presence as db
from storage.store import Storage

TTL_MS = 60_000
CLAIM_MS = 60_000


def _user() -> int:
    return random.randrange(1 << 40, 1 << 50)  # no devices anywhere yet


async def _users(st: Storage, n: int) -> list[int]:
    """Real users rows (the sweep writes last_active_at)."""
    tag = str(random.randrange(1 << 30))

    async def run(conn: Any) -> list[int]:
        rows = await conn.fetch(
            "INSERT INTO users (username, email, password_hash) "
            "SELECT 'sw' || $1 || '_' || g, 'sw' || $1 || '_' || g || '@example.com', 'x' "
            "FROM generate_series(1, $2) AS g RETURNING id", tag, n)
        return [int(r["id"]) for r in rows]

    return await st.tx(run)


async def _expire_mark(st: Storage, instance: str) -> None:
    """As if the instance died and its mark's TTL ran out."""
    await st.redis_op(lambda r: r.delete(db.node_mark(st, instance)))


async def _sweep_all(st: Storage, dead: db.DeadInstance, claimer: str,
                     chunk: int) -> tuple[int, list[db.Transition], int]:
    announced: set[int] = set()
    removed, offline, rounds = 0, [], 0
    while True:
        swept = await db.sweep_chunk(st, dead, claimer, CLAIM_MS, chunk, announced)
        removed += swept.removed
        offline.extend(swept.offline)
        rounds += 1
        if swept.done:
            return removed, offline, rounds


async def test_dead_instance_swept_once_chunk_by_chunk(node: Node) -> None:
    st = node.storage
    dead, live = f"dead-{_user()}", f"live-{_user()}"
    solo, twice, elsewhere, late = await _users(st, 4)
    # `twice` has two devices on the dead instance; `elsewhere` also one on a live one.
    await db.apply_changes(st, [db.Change(solo, f"{dead}:1", True),
                                db.Change(twice, f"{dead}:2", True),
                                db.Change(twice, f"{dead}:3", True),
                                db.Change(elsewhere, f"{dead}:4", True),
                                db.Change(elsewhere, f"{live}:1", True)], TTL_MS)
    assert await db.mark_alive(st, dead, TTL_MS) is False  # its first renewal
    assert await db.mark_alive(st, dead, TTL_MS) is True
    [late_on] = await db.apply_changes(st, [db.Change(late, f"{dead}:5", True)], TTL_MS)
    assert await db.dead_instances(st) == []  # alive
    await _expire_mark(st, dead)
    [found] = await db.dead_instances(st)
    assert found.instance == dead
    assert await db.claim(st, dead, "a", CLAIM_MS) is True
    assert await db.claim(st, dead, "b", CLAIM_MS) is False  # one claimer at a time
    stray = await db.sweep_chunk(st, found, "b", CLAIM_MS, 2, set())
    assert stray == db.Swept(True, 0, [])  # not b's: nothing removed

    removed, offline, rounds = await _sweep_all(st, found, "a", 2)
    assert removed == 5 and rounds == 3  # 2 + 2 + 1 devices
    by_user = {t.user_id: t for t in offline}
    assert sorted(by_user) == sorted([solo, twice, late]) and len(offline) == 3  # once each
    assert all(not t.online for t in offline)
    assert by_user[solo].at_ms == found.last_seen_ms  # gone at its last sign of life
    assert by_user[late].at_ms == late_on.at_ms  # came later than that: never moved back
    statuses = {s.user_id: s.online for _, s in await db.statuses(
        st, solo, [solo, twice, elsewhere, late])}
    assert statuses == {solo: False, twice: False, elsewhere: True, late: False}

    await db.release(st, dead, "a")
    assert await db.dead_instances(st) == []  # index gone: unregistered

    async def listed(r: Any) -> Any:
        return await r.zscore(db.nodes_key(st), dead)

    assert await st.redis_op(listed) is None


async def test_lost_claim_and_live_instance_stop_the_sweep(node: Node) -> None:
    st = node.storage
    inst = f"dead-{_user()}"
    users = await _users(st, 3)
    await db.apply_changes(st, [db.Change(u, f"{inst}:{i}", True)
                                for i, u in enumerate(users)], TTL_MS)
    await db.mark_alive(st, inst, TTL_MS)
    await _expire_mark(st, inst)
    [found] = await db.dead_instances(st)
    assert await db.claim(st, inst, "a", CLAIM_MS) is True
    first = await db.sweep_chunk(st, found, "a", CLAIM_MS, 1, set())
    assert first.removed == 1 and not first.done and len(first.offline) == 1
    # a's claim lapses (as if it died mid-way): b takes over, a's next chunk does nothing.
    await st.redis_op(lambda r: r.delete(db.node_claim(st, inst)))
    assert await db.claim(st, inst, "b", CLAIM_MS) is True
    assert await db.sweep_chunk(st, found, "a", CLAIM_MS, 1, set()) == db.Swept(True, 0, [])
    second = await db.sweep_chunk(st, found, "b", CLAIM_MS, 1, set())
    assert second.removed == 1 and len(second.offline) == 1
    # The instance renews its mark after all (it was only slow): the sweep stops there.
    assert await db.mark_alive(st, inst, TTL_MS) is False
    assert await db.sweep_chunk(st, found, "b", CLAIM_MS, 1, set()) == db.Swept(True, 0, [])
    assert await db.dead_instances(st) == []
    left = {s.user_id: s.online for _, s in await db.statuses(st, users[0], users)}
    assert sum(left.values()) == 1  # the third device was never touched
