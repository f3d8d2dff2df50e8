"""Blocks in direct messages against a real node: dm.open, dm.add, and in a 1:1 dm.send,
dm.typing, dm.edit and dm.react reveal nothing of a block made by the other user (the same
error as for a user who does not exist or is suspended), answer `forbidden` to the one who
blocked, write nothing, and let no typing indicator or change cross; groups keep
delivering typing. In a 1:1 across a block, unsending goes through but is not told live,
and reads are recorded for the reader but neither sent nor shown to the other, whose
view stays where it was at the block until the next read after the unblock."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from protocol.client import Client
from protocol.errors import GlintError
from server.node import Node
from tests.rowlock import holding
from tests.server.test_dm import folder
from tests.server.test_dm_reads import history_reads, listed_reads, receipt_from
from tests.server.test_posts import EVENT_WAIT, block, bots, follow, next_event, sql, uid

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


async def rows(node: Node, query: str, *args: Any) -> list[tuple[Any, ...]]:
    async def run(conn: Any, *a: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await conn.fetch(query, *a)]

    return list(await node.storage.tx(run, *args))


async def group_marker(writer: Client, reader: Client, group: int) -> int:
    """A message by `writer` in `group` that `reader` then reacts to and reads: a
    dm.message, a dm.updated and a dm.read that every member gets after whatever was
    committed before. Returns its seq."""
    seq = int((await writer.call("dm.send", conversation=group, text="marker"))["message"]["seq"])
    await reader.call("dm.react", conversation=group, seq=seq, emoji="👀")
    await reader.call("dm.read", conversation=group, seq=seq)
    return seq


async def events_until(c: Client, name: str, conv: int) -> list[dict[str, Any]]:
    """`c`'s `name` events up to and including the first about `conv` (the marker's group):
    everything of that kind committed for `c` before it."""
    out = []
    with trio.fail_after(EVENT_WAIT):
        while True:
            data = dict((await c.next_event(name)).data)
            out.append(data)
            if data["conversation"] == conv:
                return out


def read_of(data: dict[str, Any]) -> tuple[int, int, int]:
    return data["conversation"], data["user"], data["seq"]


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


async def test_a_block_waits_for_a_write_in_flight_in_the_1to1(node: Node) -> None:
    """A send checks for a block and stores its message under the 1:1's row lock;
    block.add takes that row too, so a send that passed its check is stored before the
    block is answered, never after it. Here the test's own transaction holds the row,
    as a send in flight does: the block waits for it, and sends after it are refused.
    Without the row the block was answered at once, and such a send landed after."""
    async with bots(node, 2) as (alice, bob):
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        answered = trio.Event()

        async def blocking() -> None:
            await block(bob, alice)
            answered.set()

        lock_row = "SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE"
        async with (holding(node.storage, lock_row, conv) as send_in_flight,
                    trio.open_nursery() as nursery):
            nursery.start_soon(blocking)
            await send_in_flight.wait_blocked()
            assert not answered.is_set()
            assert await count(node, "SELECT count(*) FROM blocks WHERE blocker_id = $1",
                               uid(bob)) == 0
            await send_in_flight.commit()
            with trio.fail_after(EVENT_WAIT):
                await answered.wait()

        assert await error_of(alice, "dm.send", conversation=conv, text="after") == NOT_FOUND
        assert await count(node, "SELECT count(*) FROM messages WHERE conversation_id = $1",
                           conv) == 0
        # the node went on serving the pair: Bob still reads their (empty) history
        got = await bob.call("dm.history", conversation=conv)
        assert got["messages"] == []


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
        assert await error_of(bob, "dm.send", conversation=conv, text="x") == FORBIDDEN
        assert await error_of(bob, "dm.typing", conversation=conv) == FORBIDDEN

        # The refused `typing: true` calls wrote no throttle mark (checked before any
        # `typing: false`, which would delete one).
        st = node.storage

        async def marked(who: int) -> int:
            key = st.key("typing", conv, who)
            return int(await st.redis_op(lambda r: r.exists(key)))

        assert [await marked(a), await marked(b)] == [0, 0]
        assert await error_of(alice, "dm.typing", conversation=conv,
                              typing=False) == send_error
        assert await error_of(bob, "dm.typing", conversation=conv, typing=False) == FORBIDDEN

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
        assert await marked(a) == 1  # the mark checked above, now written: the right key
        data = await first(bob, "dm.typing")
        assert data["conversation"] == conv and data["user"] == a
        assert (await bob.call("dm.typing", conversation=conv))["sent"] is True
        data = await first(alice, "dm.typing")
        assert data["conversation"] == conv and data["user"] == b


async def test_react_and_edit_in_a_1to1_across_a_block_are_refused_and_tell_nothing(
        node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, eve):
        a, b = uid(alice), uid(bob)
        conv = (await alice.call("dm.open", user=b))["id"]
        to_eve = (await eve.call("dm.open", user=a))["id"]
        group = (await carol.call("dm.open", users=[a, b]))["id"]
        await alice.call("dm.send", conversation=conv, text="hers")  # seq 1
        await bob.call("dm.send", conversation=conv, text="his")  # seq 2
        await bob.call("dm.react", conversation=conv, seq=1, emoji="👍")
        for c in (alice, bob):  # the reaction reached both: events are flowing
            assert (await next_event(c, "dm.updated", conversation=conv))["seq"] == 1
        await eve.call("dm.send", conversation=to_eve, text="eve's")  # seq 1
        await alice.call("dm.send", conversation=to_eve, text="to eve")  # seq 2
        await suspend(node, eve)
        await block(bob, alice)

        # What Alice gets from a suspended peer...
        gone = await error_of(alice, "dm.react", conversation=to_eve, seq=1, emoji="❤")
        assert gone == NOT_FOUND
        assert await error_of(alice, "dm.edit", conversation=to_eve, seq=2, text="x") == gone
        # ...is what she gets from Bob, who blocked her: reacting to his message or hers,
        # taking off a reaction she does not have, editing her own.
        for seq, emoji in ((2, "❤"), (1, "❤"), (2, None)):
            assert await error_of(alice, "dm.react", conversation=conv, seq=seq,
                                  emoji=emoji) == gone
        assert await error_of(alice, "dm.edit", conversation=conv, seq=1, text="x") == gone
        # Bob, who blocked: forbidden, as his dm.send; his own reaction stays as it was.
        for emoji in ("❤", "👍", None):
            assert await error_of(bob, "dm.react", conversation=conv, seq=1,
                                  emoji=emoji) == FORBIDDEN
        assert await error_of(bob, "dm.edit", conversation=conv, seq=2, text="x") == FORBIDDEN

        # Nothing was written...
        reactions = "SELECT seq, user_id, emoji FROM message_reactions " \
                    "WHERE conversation_id = $1 ORDER BY seq, user_id"
        texts = "SELECT seq, body, edited_at IS NULL FROM messages " \
                "WHERE conversation_id = $1 ORDER BY seq"
        assert await rows(node, reactions, conv) == [(1, b, "👍")]
        assert await rows(node, texts, conv) == [(1, "hers", True), (2, "his", True)]
        assert await rows(node, reactions, to_eve) == []
        assert await rows(node, texts, to_eve) == [(1, "eve's", True), (2, "to eve", True)]
        # ...and nothing went out: each one's next dm.updated is the group's marker.
        await group_marker(alice, carol, group)
        for c in (alice, bob):
            assert [d["conversation"] for d in await events_until(c, "dm.updated", group)] \
                == [group]

        # Unblocked, both work again and reach the other.
        await bob.call("block.remove", user=a)
        await alice.call("dm.react", conversation=conv, seq=2, emoji="❤")
        got = await first(bob, "dm.updated")
        assert got["conversation"] == conv and got["change"] == "react"
        assert got["message"]["reactions"] == [{"user": a, "emoji": "❤"}]
        await bob.call("dm.edit", conversation=conv, seq=2, text="his, edited")
        got = await next_event(alice, "dm.updated", conversation=conv, change="edit")
        assert got["message"]["text"] == "his, edited"


async def test_unsend_across_a_block_goes_through_but_is_not_told_live(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        a, b = uid(alice), uid(bob)
        conv = (await alice.call("dm.open", user=b))["id"]
        group = (await carol.call("dm.open", users=[a, b]))["id"]
        await alice.call("dm.send", conversation=conv, text="hers")  # seq 1
        await bob.call("dm.send", conversation=conv, text="his")  # seq 2
        await bob.call("dm.send", conversation=conv, text="his too")  # seq 3
        await block(bob, alice)

        # Either may take back their own words, the one who blocked and the one blocked.
        assert (await bob.call("dm.unsend", conversation=conv, seq=2))["message"]["unsent"]
        assert (await alice.call("dm.unsend", conversation=conv, seq=1))["message"]["unsent"]
        # Each one's own devices are told; the other gets nothing live.
        await group_marker(alice, carol, group)
        for c, seq in ((alice, 1), (bob, 2)):
            got = await events_until(c, "dm.updated", group)
            assert [(d["conversation"], d["seq"]) for d in got[:-1]] == [(conv, seq)]
            assert got[0]["change"] == "unsend" and got[0]["message"]["unsent"] is True
        # The other finds them unsent when loading the history (the rows are the truth).
        for c in (alice, bob):
            found = (await c.call("dm.history", conversation=conv))["messages"]
            assert [(m["seq"], m.get("unsent", False)) for m in found] == [
                (3, False), (2, True), (1, True)]

        # Unblocked, an unsend reaches the other live again.
        await bob.call("block.remove", user=a)
        await bob.call("dm.unsend", conversation=conv, seq=3)
        got = await first(alice, "dm.updated")
        assert got["conversation"] == conv and got["seq"] == 3 and got["unsent"] is True


async def test_reads_do_not_cross_a_block_in_a_1to1(node: Node) -> None:
    """While a block stands either way, a read moves the reader's own position (their
    unread counts, their own devices' dm.read) but not what the other is shown: no live
    dm.read, and dm.list and dm.history keep showing the position the other had been
    shown when the block was made. The unblock itself shares nothing; the next read does."""
    async with bots(node, 4) as (alice, bob, carol, dave):
        a, b, d = uid(alice), uid(bob), uid(dave)
        await follow(bob, alice)  # both 1:1s in the reader's inbox: read receipts go out
        await follow(alice, dave)
        conv = (await alice.call("dm.open", user=b))["id"]  # Bob will block Alice, and read
        theirs = (await dave.call("dm.open", user=a))["id"]  # Dave will block Alice; she reads
        group = (await carol.call("dm.open", users=[a, b, d]))["id"]
        for text in ("one", "two", "three"):
            await alice.call("dm.send", conversation=conv, text=text)
            await dave.call("dm.send", conversation=theirs, text=text)
        await bob.call("dm.read", conversation=conv, seq=1)
        await alice.call("dm.read", conversation=theirs, seq=1)
        assert (await receipt_from(alice, conv, bob))["seq"] == 1
        assert (await receipt_from(dave, theirs, alice))["seq"] == 1
        await block(bob, alice)
        await block(dave, alice)

        # Bob, who blocked, reads; Alice, blocked by Dave, reads: recorded for each.
        assert await bob.call("dm.read", conversation=conv, seq=3) == {
            "conversation": conv, "seq": 3, "unread": 0}
        assert await alice.call("dm.read", conversation=theirs, seq=3) == {
            "conversation": theirs, "seq": 3, "unread": 0}
        for c, cid in ((bob, conv), (alice, theirs)):
            mine = (await folder(c, "inbox"))[cid]
            assert (mine["read_seq"], mine["unread"]) == (3, 0)

        # Live: each reader's own devices hear of it (after their read before the block),
        # the other side nothing.
        marker = await group_marker(dave, carol, group)
        expected = {alice: [(theirs, a, 1), (theirs, a, 3)], bob: [(conv, b, 1), (conv, b, 3)],
                    dave: []}
        for c, own in expected.items():
            got = [read_of(x) for x in await events_until(c, "dm.read", group)]
            assert got == [*own, (group, uid(carol), marker)]
        # On reload: the position shown before the block, not the one read since.
        assert await listed_reads(alice, conv) == {b: 1}
        assert await history_reads(alice, conv) == {b: 1}
        assert await listed_reads(dave, theirs) == {a: 1}
        assert await history_reads(dave, theirs) == {a: 1}

        # Unblocked: the unblock shares nothing by itself; the next read does, live and
        # on reload, even at a position the reader had reached already.
        await bob.call("block.remove", user=a)
        await dave.call("block.remove", user=a)
        assert await history_reads(alice, conv) == {b: 1}
        assert (await bob.call("dm.read", conversation=conv, seq=3))["seq"] == 3
        assert (await alice.call("dm.read", conversation=theirs, seq=2))["seq"] == 3
        assert read_of(await first(alice, "dm.read")) == (conv, b, 3)
        assert read_of(await first(dave, "dm.read")) == (theirs, a, 2)
        assert await listed_reads(alice, conv) == {b: 3}
        assert await history_reads(alice, conv) == {b: 3}
        assert await history_reads(dave, theirs) == {a: 2}


async def test_accepting_a_request_across_a_block_shares_no_read(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        a, b = uid(alice), uid(bob)
        conv = (await alice.call("dm.open", user=b))["id"]  # Bob does not follow her: a request
        group = (await carol.call("dm.open", users=[a, b]))["id"]
        await alice.call("dm.send", conversation=conv, text="hi")
        await alice.call("dm.send", conversation=conv, text="there")
        await bob.call("dm.read", conversation=conv, seq=2)  # kept from her: a request
        await block(bob, alice)
        assert (await bob.call("dm.accept", conversation=conv))["state"] == "inbox"

        # Accepting shares what was read as a request, except across a block.
        marker = await group_marker(alice, carol, group)
        got = [read_of(x) for x in await events_until(alice, "dm.read", group)]
        assert got == [(group, uid(carol), marker)]
        assert await listed_reads(alice, conv) == {}
        assert await history_reads(alice, conv) == {}

        await bob.call("block.remove", user=a)
        await bob.call("dm.read", conversation=conv, seq=2)
        assert read_of(await first(alice, "dm.read")) == (conv, b, 2)
        assert await listed_reads(alice, conv) == {b: 2}


@pytest.mark.parametrize("how", ["add", "open"])
async def test_a_group_add_racing_a_block_never_lands_after_it(node: Node, how: str) -> None:
    """Adding someone (or opening a group with them) reads how they stand to you under
    the pair's graph lock, which block.add holds: a block in flight is waited for and
    then read. Here the test's own transaction is that block (the pair lock, the block's
    row, and Bob's user row, which adding him takes later as his membership's key):
    before, the add read no block, waited at Bob's row, and landed after the block was
    answered, putting Bob in a group with the user he had just blocked."""
    async with bots(node, 4) as (alice, bob, carol, dave):
        a, b = uid(alice), uid(bob)
        group = ((await alice.call("dm.open", users=[uid(carol), uid(dave)]))["id"]
                 if how == "add" else 0)
        got: dict[str, Any] = {}

        async def adding() -> None:
            try:
                if how == "add":
                    got["reply"] = await alice.call("dm.add", conversation=group, users=[b])
                else:
                    got["reply"] = await alice.call("dm.open", users=[b, uid(carol)])
            except GlintError as exc:
                got["reply"] = (exc.code.value, exc.message)

        lo, hi = sorted((a, b))
        async with (holding(node.storage, "SELECT pg_advisory_xact_lock("
                            "hashtextextended($1, 7))", f"g:{lo}:{hi}") as blocking,
                    trio.open_nursery() as nursery):
            await blocking.execute("INSERT INTO blocks (blocker_id, blocked_id) "
                                   "VALUES ($1, $2)", b, a)
            await blocking.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", b)
            nursery.start_soon(adding)
            await blocking.wait_statement_waits("%pg_advisory_xact_lock%", "%event_seq%",
                                                "%INSERT INTO conversation_members%")
            await blocking.commit()

        assert got["reply"] == NOT_FOUND
        assert await count(node, "SELECT count(*) FROM conversation_members "
                                 "WHERE user_id = $1 AND left_at IS NULL", b) == 0
