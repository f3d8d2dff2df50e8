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
