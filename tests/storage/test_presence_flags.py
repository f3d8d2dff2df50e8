"""A presence transition reads the user's own flags as committed once their row lock is
held (storage/presence.py `_AUDIENCE_ACTIVE`: from the UPDATE's RETURNING). Read from
the statement's snapshot instead, a hide_activity (or suspension) committed while the
statement waited for the lock was missed, and the peers were told what was just hidden."""

from __future__ import annotations

import random
from typing import Any

import pytest
import trio

from actors.privacy import can_see_presence
from server.node import Node
from storage import presence as db
from storage.store import Storage
from tests.rowlock import WAIT_SECONDS, holding

TTL_MS = 60_000


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

    # A settings change on a connection of its own, its row lock held until it commits.
    async with holding(st, f"UPDATE users SET {change} WHERE id = $1", user) as holder:
        got: list[list[db.Transition]] = []
        done = trio.Event()

        async def connect() -> None:
            got.append(await db.apply_changes(st, [db.Change(user, "pf-node:1", True)], TTL_MS))
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(connect)
            await holder.wait_blocked()  # the presence statement waits on the lock
            assert not done.is_set()
            await holder.commit()
            with trio.fail_after(WAIT_SECONDS):
                await done.wait()

    [[t]] = got
    assert (t.user_id, t.online) == (user, True)
    [link] = t.audience
    assert (link.viewer_id, link.target_id) == (peer, user)
    assert getattr(link, flag) is True  # as committed, not as of the statement's start
    assert not can_see_presence(link)  # so the peer is not told the user came online
