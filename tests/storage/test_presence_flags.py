"""A presence transition reads the user's own flags as committed once their row lock is
held (storage/presence.py `_AUDIENCE_ACTIVE`: from the UPDATE's RETURNING). Read from
the statement's snapshot instead, a hide_activity (or suspension) committed while the
statement waited for the lock was missed, and the peers were told what was just hidden."""

from __future__ import annotations

import random
from typing import Any

import asyncpg
import pytest
import trio

from actors.privacy import can_see_presence
from server.node import Node
from storage import presence as db
from storage.store import Storage

TTL_MS = 60_000
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.02


async def _pair_in_a_conversation(st: Storage) -> tuple[int, int]:
    """Two real users, current members of one group conversation."""
    tag = str(random.randrange(1 << 30))

    async def run(conn: Any) -> tuple[int, int]:
        user, peer = [int(r["id"]) for r in await conn.fetch(
            "INSERT INTO users (username, email, password_hash) "
            "SELECT 'pf' || $1 || '_' || g, 'pf' || $1 || '_' || g || '@example.com', 'x' "
            "FROM generate_series(1, 2) AS g RETURNING id", tag)]
        conv = await conn.fetchval(
            "INSERT INTO conversations (kind, created_by) VALUES ('group', $1) RETURNING id",
            user)
        await conn.execute(
            "INSERT INTO conversation_members (conversation_id, user_id) "
            "SELECT $1, unnest($2::bigint[])", conv, [user, peer])
        return user, peer

    return await st.tx(run)


async def _blocked_by(st: Storage, pid: int) -> int:
    """Backends waiting for a lock that backend `pid` holds."""
    return int(await st.read(lambda c: c.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", pid)))


@pytest.mark.parametrize(("change", "flag"), [
    ("hide_activity = true", "target_hides"),
    ("suspended_at = now()", "target_suspended"),
])
async def test_a_flag_committed_while_waiting_for_the_row_lock_is_seen(
        node: Node, change: str, flag: str) -> None:
    st = node.storage
    user, peer = await _pair_in_a_conversation(st)
    [before] = await db.audience(st, user)
    assert (before.viewer_id, getattr(before, flag)) == (peer, False)

    # A settings change on a connection of its own (on the bridge's loop), its row
    # lock held until it commits.
    holder: asyncpg.Connection = await st.bridge.run(asyncpg.connect, st.database_url)
    try:
        holder_pid = await st.bridge.run(holder.fetchval, "SELECT pg_backend_pid()")
        tx = holder.transaction()
        await st.bridge.run(tx.start)
        await st.bridge.run(holder.execute, f"UPDATE users SET {change} WHERE id = $1", user)

        got: list[list[db.Transition]] = []
        done = trio.Event()

        async def connect() -> None:
            got.append(await db.apply_changes(st, [db.Change(user, "pf-node:1", True)], TTL_MS))
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(connect)
            with trio.fail_after(WAIT_SECONDS):  # the presence statement waits on the lock
                while True:  # no event for it: ask until the statement is blocked
                    if await _blocked_by(st, holder_pid):
                        break
                    await trio.sleep(POLL_SECONDS)  # sync-ok: polling pg_stat_activity
            assert not done.is_set()
            await st.bridge.run(tx.commit)
            with trio.fail_after(WAIT_SECONDS):
                await done.wait()
    finally:
        with trio.CancelScope(shield=True):
            await st.bridge.run(holder.close)  # rolls back whatever is left

    [[t]] = got
    assert (t.user_id, t.online) == (user, True)
    [link] = t.audience
    assert (link.viewer_id, link.target_id) == (peer, user)
    assert getattr(link, flag) is True  # as committed, not as of the statement's start
    assert not can_see_presence(link)  # so the peer is not told the user came online
