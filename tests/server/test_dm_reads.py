"""The other members' read positions ("Seen") in dm.list, dm.history and every conversation
map, against a real node with real WebSocket clients: they match what the live dm.read
events told (the requests-folder rule both ways, dm.accept sharing what was read before),
hide_activity leaves them alone (as it leaves the events), and groups list each member."""

from __future__ import annotations

from typing import Any

import trio

from protocol.client import Client
from protocol.errors import NotFound
from server.node import Node
from tests.server.test_dm import WAIT, folder, one
from tests.server.test_posts import bots, expect, follow, uid


def reads(c: Client, found: dict[str, Any]) -> dict[int, int]:
    """user id → read seq, from a conversation map or a dm.history reply."""
    out = {int(r["user"]): int(r["seq"]) for r in found["reads"]}
    assert len(out) == len(found["reads"]), "one entry per member"
    assert uid(c) not in out, "one's own position is `read_seq`, not in `reads`"
    return out


async def listed_reads(c: Client, conv: int, name: str = "inbox") -> dict[int, int]:
    return reads(c, (await folder(c, name))[conv])


async def history_reads(c: Client, conv: int, **kw: Any) -> dict[int, int]:
    return reads(c, await c.call("dm.history", conversation=conv, **kw))


async def events_until_message(c: Client, conv: int, seq: int) -> list[str]:
    """Names of `c`'s events about `conv` up to its dm.message with `seq` (durable events
    come in commit order: whatever was committed before that message is among them)."""
    names = []
    with trio.fail_after(WAIT):
        while True:
            ev = await c.next_event()
            if ev.data.get("conversation") != conv:
                continue
            names.append(ev.name)
            if ev.name == "dm.message" and ev.data["message"]["seq"] == seq:
                return names


async def receipt_from(c: Client, conv: int, reader: Client) -> dict[str, Any]:
    """The next dm.read event about `conv` whose reader is `reader` (one's own are skipped)."""
    while True:
        data = await one(c, conv, "dm.read")
        if data["user"] == uid(reader):
            return data


async def test_a_read_shows_in_list_and_history_after_the_live_event(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, eve):
        await follow(bob, alice)  # in bob's inbox
        opened = await alice.call("dm.open", user=uid(bob))
        conv = opened["id"]
        assert opened["reads"] == []
        await alice.call("dm.send", conversation=conv, text="one")
        await alice.call("dm.send", conversation=conv, text="two")
        # Nobody has read anything yet; a sender has read her own messages.
        assert await listed_reads(alice, conv) == {}
        assert await history_reads(alice, conv) == {}
        assert await listed_reads(bob, conv) == {uid(alice): 2}
        assert await history_reads(bob, conv) == {uid(alice): 2}

        await bob.call("dm.read", conversation=conv, seq=1)
        assert await one(alice, conv, "dm.read") == {"conversation": conv, "user": uid(bob),
                                                     "seq": 1}
        assert await listed_reads(alice, conv) == {uid(bob): 1}
        await bob.call("dm.read", conversation=conv, seq=2)
        assert (await one(alice, conv, "dm.read"))["seq"] == 2
        assert await listed_reads(alice, conv) == {uid(bob): 2}
        assert await history_reads(alice, conv) == {uid(bob): 2}
        assert await history_reads(alice, conv, before=2, limit=1) == {uid(bob): 2}  # every page
        assert reads(alice, await alice.call("dm.open", user=uid(bob))) == {uid(bob): 2}

        # Bad input and strangers: a clear error, nothing learnt, the node keeps serving.
        await expect(NotFound, eve, "dm.history", conversation=conv)
        assert conv not in await folder(eve, "inbox")
        assert await listed_reads(bob, conv) == {uid(alice): 2}


async def test_a_read_in_requests_stays_hidden_until_accepted(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):  # bob does not follow alice: her 1:1 is a request
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        await alice.call("dm.send", conversation=conv, text="hello?")
        await bob.call("dm.read", conversation=conv, seq=1)
        assert (await bob.call("dm.history", conversation=conv))["messages"][0]["seq"] == 1
        # The reader in requests still sees the others' positions (their events reach
        # him too); his own is kept from them, in the snapshot as in the events.
        assert await listed_reads(bob, conv, "requests") == {uid(alice): 1}
        assert await history_reads(alice, conv) == {}
        assert await listed_reads(alice, conv) == {}
        await alice.call("dm.send", conversation=conv, text="anyone?")
        assert "dm.read" not in await events_until_message(alice, conv, 2)

        accepted = await bob.call("dm.accept", conversation=conv)
        assert accepted["state"] == "inbox" and reads(bob, accepted) == {uid(alice): 2}
        # Accepting shares what was read while it was a request: live and on reload.
        assert await one(alice, conv, "dm.read") == {"conversation": conv, "user": uid(bob),
                                                     "seq": 1}
        assert await listed_reads(alice, conv) == {uid(bob): 1}
        assert await history_reads(alice, conv) == {uid(bob): 1}
        await bob.call("dm.accept", conversation=conv)  # again: no change, no second event
        await bob.call("dm.read", conversation=conv, seq=2)
        assert (await one(alice, conv, "dm.read"))["seq"] == 2
        assert await listed_reads(alice, conv) == {uid(bob): 2}


async def test_hide_activity_does_not_hide_read_positions(node: Node) -> None:
    """hide_activity is about activity status (docs/protocol.md, user.update): the live
    dm.read event ignores it, so the read positions in the snapshot ignore it too."""
    async with bots(node, 2) as (alice, bob):
        await follow(bob, alice)
        await follow(alice, bob)
        assert (await bob.call("user.update", hide_activity=True))["hide_activity"] is True
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        await alice.call("dm.send", conversation=conv, text="hi")
        await bob.call("dm.read", conversation=conv, seq=1)
        assert (await receipt_from(alice, conv, bob))["seq"] == 1
        assert await listed_reads(alice, conv) == {uid(bob): 1}
        assert await history_reads(alice, conv) == {uid(bob): 1}

        await bob.call("user.update", hide_activity=False)
        await alice.call("user.update", hide_activity=True)
        await bob.call("dm.send", conversation=conv, text="hey")
        await alice.call("dm.read", conversation=conv, seq=2)
        assert (await receipt_from(bob, conv, alice))["seq"] == 2
        assert await listed_reads(bob, conv) == {uid(alice): 2}
        assert await history_reads(bob, conv) == {uid(alice): 2}
        assert await listed_reads(alice, conv) == {uid(bob): 2}  # the one who hides sees them


async def test_group_lists_each_members_position(node: Node) -> None:
    async with bots(node, 5) as (alice, bob, carol, dave, erin):
        for c in (bob, carol, erin):
            await follow(c, alice)  # dave does not: the group is in his requests
        conv = await alice.call("dm.open", users=[uid(bob), uid(carol), uid(dave)], title="trip")
        cid = conv["id"]
        assert reads(alice, conv) == {}  # the others have read nothing yet
        await alice.call("dm.send", conversation=cid, text="hi all")  # seq 2
        await bob.call("dm.read", conversation=cid, seq=2)
        await dave.call("dm.read", conversation=cid, seq=2)  # in his requests: kept from us
        await carol.call("dm.read", conversation=cid, seq=1)
        assert (await one(alice, cid, "dm.read"))["user"] == uid(bob)
        assert await listed_reads(alice, cid) == {uid(bob): 2, uid(carol): 1}
        assert await history_reads(alice, cid) == {uid(bob): 2, uid(carol): 1}
        assert await history_reads(carol, cid) == {uid(alice): 2, uid(bob): 2}
        assert await listed_reads(dave, cid, "requests") == {uid(alice): 2, uid(bob): 2,
                                                             uid(carol): 1}

        # Someone added later is listed once they read something after joining.
        added = await alice.call("dm.add", conversation=cid, users=[uid(erin)])  # seq 3
        assert uid(erin) not in reads(alice, added)
        await erin.call("dm.read", conversation=cid, seq=3)
        assert (await listed_reads(alice, cid))[uid(erin)] == 3

        # A member who leaves is no longer listed.
        await bob.call("dm.leave", conversation=cid)  # seq 4
        after = await history_reads(alice, cid)
        assert uid(bob) not in after and after[uid(erin)] == 3 and after[uid(carol)] == 1
