"""Blocks in direct messages against a real node: dm.open, dm.add, a 1:1 dm.send and a 1:1
dm.typing reveal nothing of a block made by the other user (the same error as for a user
who does not exist or is suspended), answer `forbidden` to the one who blocked, write
nothing, and let no typing indicator cross; groups keep delivering typing."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from protocol.client import Client
from protocol.errors import GlintError
from server.node import Node
from tests.server.test_posts import EVENT_WAIT, block, bots, next_event, sql, uid

NOT_FOUND = ("not_found", "no such user")
FORBIDDEN = ("forbidden", "unblock this user to message them")


async def error_of(c: Client, op: str, **args: Any) -> tuple[str, str]:
    """The error a call is answered with, as the client sees it (code and message)."""
    with pytest.raises(GlintError) as info:
        await c.call(op, **args)
    return info.value.code.value, info.value.message


async def suspend(node: Node, c: Client) -> None:
    await sql(node, "UPDATE users SET suspended_at = now() WHERE id = $1", uid(c))


async def first(c: Client, name: str) -> dict[str, Any]:
    """The next `name` event, whatever it is about: shows what came first."""
    with trio.fail_after(EVENT_WAIT):
        return dict((await c.next_event(name)).data)


async def count(node: Node, query: str, *args: Any) -> int:
    return int(await sql(node, query, *args))


async def test_open_and_add_of_someone_who_blocked_you_look_like_no_such_user(
        node: Node) -> None:
    async with bots(node, 5) as (alice, bob, carol, dave, eve):
        a, b = uid(alice), uid(bob)
        missing = uid(eve) + 10**12
        group = await alice.call("dm.open", users=[uid(carol), uid(dave)])
        await block(bob, alice)
        await suspend(node, eve)

        # Alice, blocked by Bob: exactly what a user who does not exist gets (or one
        # who is suspended), for a 1:1, a new group and an add.
        assert await error_of(alice, "dm.open", user=missing) == NOT_FOUND
        assert await error_of(alice, "dm.open", user=uid(eve)) == NOT_FOUND
        assert await error_of(alice, "dm.open", user=b) == NOT_FOUND
        assert await error_of(alice, "dm.open", users=[missing, uid(carol)]) == NOT_FOUND
        assert await error_of(alice, "dm.open", users=[b, uid(carol)]) == NOT_FOUND
        assert await error_of(alice, "dm.add", conversation=group["id"],
                              users=[missing]) == NOT_FOUND
        assert await error_of(alice, "dm.add", conversation=group["id"], users=[b]) == NOT_FOUND
        # Bob, who blocked her, knows it: forbidden, and says what to do.
        assert await error_of(bob, "dm.open", user=a) == FORBIDDEN
        assert await error_of(bob, "dm.open", users=[a, uid(carol)]) == FORBIDDEN
        bobs_group = await bob.call("dm.open", users=[uid(carol), uid(dave)])
        assert await error_of(bob, "dm.add", conversation=bobs_group["id"],
                              users=[a]) == FORBIDDEN
        # Blocked both ways (block.add does not let Alice block back, so straight into
        # Postgres): each one's own block decides, so the other's is not revealed.
        await sql(node, "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)", a, b)
        assert await error_of(bob, "dm.open", user=a) == FORBIDDEN
        assert await error_of(alice, "dm.open", user=b) == FORBIDDEN

        # Nothing was written: each made only their group, no one was added, no message.
        for creator in (a, b):
            assert await count(node, "SELECT count(*) FROM conversations "
                                     "WHERE created_by = $1", creator) == 1
        for member in (a, b):
            assert await count(node, "SELECT count(*) FROM conversation_members m "
                                     "JOIN conversations c ON c.id = m.conversation_id "
                                     "WHERE m.user_id = $1 AND c.created_by <> $1",
                               member) == 0
        for g in (group, bobs_group):
            assert await count(node, "SELECT last_seq FROM conversations WHERE id = $1",
                               g["id"]) == 1  # the "created" system message only

        # The node serves both as before; unblocked, they can talk.
        await alice.call("block.remove", user=b)
        await bob.call("block.remove", user=a)
        conv = await alice.call("dm.open", user=b)
        await alice.call("dm.send", conversation=conv["id"], text="hello again")
        got = await next_event(bob, "dm.message", conversation=conv["id"])
        assert got["message"]["text"] == "hello again"
        added = await bob.call("dm.add", conversation=bobs_group["id"], users=[a])
        assert a in {m["id"] for m in added["members"]}


async def test_send_in_a_1to1_after_a_block_reveals_nothing_and_writes_nothing(
        node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, eve):
        a, b = uid(alice), uid(bob)
        marker = (await carol.call("dm.open", users=[a, b]))["id"]
        conv = (await alice.call("dm.open", user=b))["id"]
        to_eve = (await alice.call("dm.open", user=uid(eve)))["id"]
        await alice.call("dm.send", conversation=conv, text="before")
        for c in (alice, bob):  # past the group's "created", up to "before"
            got = await next_event(c, "dm.message", conversation=conv)
            assert got["message"]["text"] == "before"
        await suspend(node, eve)
        await block(bob, alice)

        suspended = await error_of(alice, "dm.send", conversation=to_eve, text="hi")
        assert suspended == NOT_FOUND
        assert await error_of(alice, "dm.send", conversation=conv, text="after") == suspended
        assert await error_of(alice, "dm.send", conversation=conv, text="again",
                              idem="k1") == suspended
        assert await error_of(bob, "dm.send", conversation=conv, text="after") == FORBIDDEN

        # Nothing stored, no event: each one's next message is Carol's, in the group.
        assert await count(node, "SELECT count(*) FROM messages WHERE conversation_id = $1",
                           conv) == 1
        assert await count(node, "SELECT last_seq FROM conversations WHERE id = $1", conv) == 1
        await carol.call("dm.send", conversation=marker, text="marker")
        for c in (alice, bob):
            data = await first(c, "dm.message")
            assert data["conversation"] == marker and data["message"]["text"] == "marker"
        # Both still read the 1:1's history; after the unblock, sending works again.
        for c in (alice, bob):
            got = await c.call("dm.history", conversation=conv)
            assert [m["text"] for m in got["messages"]] == ["before"]
        await bob.call("block.remove", user=a)
        sent = await alice.call("dm.send", conversation=conv, text="again", idem="k1")
        assert sent["message"]["seq"] == 2
        data = await first(bob, "dm.message")
        assert data["conversation"] == conv and data["message"]["text"] == "again"


async def test_typing_does_not_cross_a_block_in_a_1to1(node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, eve):
        a, b = uid(alice), uid(bob)
        conv = (await alice.call("dm.open", user=b))["id"]
        to_eve = (await alice.call("dm.open", user=uid(eve)))["id"]
        group = (await carol.call("dm.open", users=[a, b]))["id"]
        await block(bob, alice)
        await suspend(node, eve)

        # Alice, blocked: typing answers what dm.send answers there, which is what a
        # suspended peer gives; Bob, who blocked: forbidden, as his dm.send.
        send_error = await error_of(alice, "dm.send", conversation=conv, text="x")
        assert send_error == NOT_FOUND
        assert await error_of(alice, "dm.typing", conversation=to_eve) == send_error
        assert await error_of(alice, "dm.typing", conversation=conv) == send_error
        assert await error_of(alice, "dm.typing", conversation=conv,
                              typing=False) == send_error
        assert await error_of(bob, "dm.send", conversation=conv, text="x") == FORBIDDEN
        assert await error_of(bob, "dm.typing", conversation=conv) == FORBIDDEN
        assert await error_of(bob, "dm.typing", conversation=conv, typing=False) == FORBIDDEN

        # No throttle mark was written for the refused calls.
        st = node.storage
        for who in (a, b):
            key = st.key("typing", conv, who)
            assert await st.redis_op(lambda r, k=key: r.exists(k)) == 0

        # Neither saw the other type: each one's next dm.typing is Carol's, in the group.
        assert (await carol.call("dm.typing", conversation=group))["sent"] is True
        for c in (alice, bob):
            data = await first(c, "dm.typing")
            assert data["conversation"] == group and data["user"] == uid(carol)

        # In a group, blocks are checked on open/add only: typing still reaches both.
        assert (await alice.call("dm.typing", conversation=group))["sent"] is True
        data = await first(bob, "dm.typing")
        assert data["conversation"] == group and data["user"] == a and data["typing"] is True

        # The node serves both: unblocked, typing goes out at once (no throttle left).
        await bob.call("block.remove", user=a)
        assert (await alice.call("dm.typing", conversation=conv))["sent"] is True
        data = await first(bob, "dm.typing")
        assert data["conversation"] == conv and data["user"] == a
        assert (await bob.call("dm.typing", conversation=conv))["sent"] is True
        data = await first(alice, "dm.typing")
        assert data["conversation"] == conv and data["user"] == b
