"""Direct messages against a real node, from a review (each test failed before its fix):
a member added later is never shown, through an edit, a reaction or an unsend, a
message from before they joined; user ids past bigint are `bad_request`, not
`internal`; one idempotency key racing in two conversations is refused clearly and
counted once; a photo collected between the op's check and the send is `not_found`."""

from __future__ import annotations

from typing import Any

import pytest
import trio

import actors.dm
from protocol.client import Client
from protocol.errors import BadRequest, Conflict, GlintError, NotFound
from server.node import Node
from storage import dm as dm_db
from tests.fixtures import images
from tests.server.test_dm import history, second_device
from tests.server.test_posts import EVENT_WAIT, bots, expect, uid

PAST_BIGINT = 1 << 63


async def test_a_later_member_is_told_nothing_of_earlier_messages(node: Node) -> None:
    async with bots(node, 4) as (a, b, c, d):
        g = (await a.call("dm.open", users=[uid(b), uid(c)]))["id"]
        secret = (await a.call("dm.send", conversation=g, text="before d"))["message"]["seq"]
        await a.call("dm.add", conversation=g, users=[uid(d)])
        assert secret not in [m["seq"] for m in await history(d, g)]
        await b.call("dm.react", conversation=g, seq=secret, emoji="🔥")
        await a.call("dm.edit", conversation=g, seq=secret, text="before d, edited")
        await a.call("dm.unsend", conversation=g, seq=secret)
        # A message after the join, and a reaction to it: d hears those, and before
        # them nothing about the earlier message.
        marker = (await c.call("dm.send", conversation=g, text="after d"))["message"]["seq"]
        await b.call("dm.react", conversation=g, seq=marker, emoji="👀")
        heard: list[tuple[str, int]] = []
        with trio.fail_after(EVENT_WAIT):
            async for e in d.events():
                if e.name in ("dm.message", "dm.updated") and e.data["conversation"] == g:
                    heard.append((e.name, e.data["message"]["seq"]))
                    if e.name == "dm.updated" and e.data["message"]["seq"] == marker:
                        break
        assert heard[-2:] == [("dm.message", marker), ("dm.updated", marker)]
        assert secret not in [seq for _, seq in heard]  # (before: 3 dm.updated of it)
        # b, who saw it sent, was told of each change.
        changes = []
        with trio.fail_after(EVENT_WAIT):
            while len(changes) < 3:
                e = await b.next_event("dm.updated")
                if e.data["seq"] == secret:
                    changes.append(e.data["change"])
        assert len(changes) == 3


async def test_user_lists_past_bigint_are_bad_requests(node: Node) -> None:
    async with bots(node, 3) as (a, b, c):
        await expect(BadRequest, a, "dm.open", users=[uid(b), PAST_BIGINT])
        await expect(BadRequest, a, "dm.open", users=[uid(b), (1 << 64) - 1])
        g = (await a.call("dm.open", users=[uid(b), uid(c)]))["id"]
        await expect(BadRequest, a, "dm.add", conversation=g, users=[PAST_BIGINT])
        # the node goes on: the group is as it was
        got = await a.call("dm.send", conversation=g, text="still here")
        assert got["message"]["text"] in [m["text"] for m in await history(b, g)]


async def test_one_key_racing_in_two_conversations_is_refused_clearly(node: Node) -> None:
    races = 8
    async with bots(node, 3) as (a, b, c), second_device(node, a) as a2:
        to_b = (await a.call("dm.open", user=uid(b)))["id"]
        to_c = (await a.call("dm.open", user=uid(c)))["id"]
        outcomes: list[str] = []

        async def send(dev: Client, conv: int, key: str) -> None:
            try:
                await dev.call("dm.send", conversation=conv, text="hi", idem=key)
                outcomes.append("ok")
            except GlintError as exc:
                assert isinstance(exc, Conflict), exc
                outcomes.append(exc.message)

        for i in range(races):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send, a, to_b, f"k{i}")
                nursery.start_soon(send, a2, to_c, f"k{i}")
        assert sorted(set(outcomes)) == ["ok", "that idempotency key was used for another "
                                               "conversation"]
        assert outcomes.count("ok") == races
        counted = await node.storage.redis_op(
            lambda r: r.get(node.storage.key("rl", "dm.send", str(uid(a)))))
        assert int(counted) == races  # the refused ones not counted


async def test_a_photo_collected_before_the_send_is_not_found(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector of unattached uploads removes the photo after the op checked it and
    before the send's transaction holds it (done here at that moment, as it would)."""
    real = actors.dm.db.lock_idem  # any statement of the send before the photo is held
    collected: list[int] = []

    async def collect_first(conn: Any, sender: int, idem: str) -> None:
        await conn.execute("DELETE FROM media WHERE id = ANY($1::bigint[])", collected)
        await real(conn, sender, idem)

    monkeypatch.setattr(actors.dm.db, "lock_idem", collect_first)
    async with bots(node, 2) as (a, b):
        conv = (await a.call("dm.open", user=uid(b)))["id"]
        rec = await a.upload(images.jpeg(64, 64))
        collected.append(rec["id"])
        await expect(NotFound, a, "dm.send", conversation=conv, media=rec["id"], idem="p1")
        sent = await a.call("dm.send", conversation=conv, text="and on", idem="p2")
        assert sent["message"]["seq"] == 1  # nothing was stored, the next send is first


async def test_a_send_key_from_before_a_rejoin_is_refused_not_replayed(node: Node) -> None:
    """A re-added member starts afresh: a retry of a key they used before leaving does
    not hand back that earlier message (with what others did to it meanwhile)."""
    async with bots(node, 3) as (a, b, c):
        g = (await a.call("dm.open", users=[uid(b), uid(c)]))["id"]
        old = (await c.call("dm.send", conversation=g, text="hi", idem="k"))["message"]
        await c.call("dm.leave", conversation=g)
        await b.call("dm.react", conversation=g, seq=old["seq"], emoji="🔥")
        await a.call("dm.add", conversation=g, users=[uid(c)])
        await expect(Conflict, c, "dm.send", conversation=g, text="hi", idem="k")
        assert old["seq"] not in [m["seq"] for m in await history(c, g)]
        fresh = (await c.call("dm.send", conversation=g, text="hi", idem="k2"))["message"]
        assert fresh["seq"] > old["seq"]  # the group serves on; a new key sends


async def test_accepting_tells_the_others_the_read_not_your_own_devices(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):  # bob does not follow alice: a request
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        await alice.call("dm.send", conversation=conv, text="hello?")
        await bob.call("dm.read", conversation=conv, seq=1)
        async with second_device(node, bob) as phone:
            await bob.call("dm.accept", conversation=conv)
            assert (await alice.next_event("dm.read")).data["user"] == uid(bob)
            # Bob's phone's next event about the conversation is Alice's next message,
            # not a dm.read of his own position (which it never lost).
            seq = (await alice.call("dm.send", conversation=conv, text="hi"))["message"]["seq"]
            with trio.fail_after(EVENT_WAIT):
                async for e in phone.events():
                    if e.data.get("conversation") != conv:
                        continue
                    assert e.name != "dm.read", e.data
                    if e.name == "dm.message" and e.data["message"]["seq"] == seq:
                        break


async def test_history_is_read_with_the_membership_it_checked(node: Node) -> None:
    """dm.history reads the messages in the same snapshot as the reader's membership
    (storage.dm.history): read apart, a removal and a message after it could both commit
    in between, and the removed member got that message."""
    async with bots(node, 3) as (a, b, c):
        g = (await a.call("dm.open", users=[uid(b), uid(c)]))["id"]
        await a.call("dm.send", conversation=g, text="before")

        async def read(member: int, joined: int) -> Any:
            async def run(conn: Any) -> Any:
                return await dm_db.history(conn, g, member, joined, None, 50)
            return await node.storage.tx(run)

        assert "before" in [m.body for m in await read(uid(c), 0)]
        await a.call("dm.remove", conversation=g, user=uid(c))
        await a.call("dm.send", conversation=g, text="after c left")
        assert await read(uid(c), 0) is None  # the membership it was asked about ended
        assert "after c left" in [m.body for m in await read(uid(b), 0)]
        await expect(NotFound, c, "dm.history", conversation=g)
