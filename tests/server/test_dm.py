"""Direct messages end to end against real nodes: 1:1 and groups, requests, ordering
across devices and nodes, resume, edits/unsend/reactions/reads, membership changes,
privacy, bad input, idempotency, rate limits and ConversationActor crash isolation."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

import actors.dm
from actors.dm import Crash
from protocol.client import Client, connect
from protocol.errors import BadRequest, Forbidden, NotFound, RateLimited, Unavailable
from server.node import Node, open_node
from tests.conftest import make_settings
from tests.fixtures import images
from tests.server.test_posts import (
    bots,
    expect,
    follow,
    make_private,
    quick_post,
    sql,
    uid,
)

WAIT = 10.0


async def dm_events(c: Client, conv: int, n: int, name: str = "dm.message") -> list[Any]:
    """The next `n` events called `name` about `conv` (others are skipped), with their seq."""
    out = []
    with trio.fail_after(WAIT):
        while len(out) < n:
            ev = await c.next_event()
            if ev.name == name and ev.data.get("conversation") == conv:
                out.append(ev)
    return out


async def one(c: Client, conv: int, name: str = "dm.message") -> dict[str, Any]:
    return dict((await dm_events(c, conv, 1, name))[0].data)


async def history(c: Client, conv: int, **kw: Any) -> list[dict[str, Any]]:
    return list((await c.call("dm.history", conversation=conv, **kw))["messages"])


async def folder(c: Client, name: str) -> dict[int, dict[str, Any]]:
    r = await c.call("dm.list", folder=name)
    return {conv["id"]: conv for conv in r["conversations"]}


@contextlib.asynccontextmanager
async def second_device(node_or_url: Node | str, c: Client) -> AsyncIterator[Client]:
    url = node_or_url if isinstance(node_or_url, str) else node_or_url.ws_url
    async with connect(url, token=c.token) as other:
        yield other


# -- 1:1 and folders ---------------------------------------------------------------------------
async def test_direct_is_one_conversation_per_pair_even_when_racing(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        got: list[int] = []

        async def open_(a: Client, b: Client) -> None:
            got.append((await a.call("dm.open", user=uid(b)))["id"])

        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(open_, alice, bob)
                nursery.start_soon(open_, bob, alice)
        assert len(got) == 8 and len(set(got)) == 1
        conv = await alice.call("dm.open", user=uid(bob))
        assert conv["id"] == got[0] and conv["kind"] == "direct"
        assert {m["id"] for m in conv["members"]} == {uid(alice), uid(bob)}
        assert conv["last_seq"] == 0 and conv["unread"] == 0 and conv["last_message"] is None
        assert int(await sql(node, "SELECT count(*) FROM conversations WHERE pair_lo = $1",
                             min(uid(alice), uid(bob)))) == 1


async def test_strangers_land_in_requests_until_accepted_or_answered(node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, dave):
        await follow(carol, alice)  # carol follows alice: alice's messages reach her inbox
        to_bob = await alice.call("dm.open", user=uid(bob))
        assert to_bob["state"] == "inbox"  # the opener's own folder
        assert to_bob["id"] not in await folder(bob, "requests")  # nothing sent yet
        sent = await alice.call("dm.send", conversation=to_bob["id"], text="hi bob")
        assert sent["message"]["seq"] == 1 and sent["message"]["text"] == "hi bob"
        ev = await one(bob, to_bob["id"])
        assert ev["message"]["seq"] == 1 and ev["message"]["sender"] == uid(alice)
        req = await folder(bob, "requests")
        assert to_bob["id"] in req and to_bob["id"] not in await folder(bob, "inbox")
        assert req[to_bob["id"]]["state"] == "request" and req[to_bob["id"]]["unread"] == 1
        assert req[to_bob["id"]]["last_message"]["text"] == "hi bob"
        accepted = await bob.call("dm.accept", conversation=to_bob["id"])
        assert accepted["state"] == "inbox"
        assert to_bob["id"] in await folder(bob, "inbox")
        assert to_bob["id"] not in await folder(bob, "requests")
        # The opener's inbox shows it, without counting her own message as unread.
        assert (await folder(alice, "inbox"))[to_bob["id"]]["unread"] == 0

        to_carol = await alice.call("dm.open", user=uid(carol))
        await alice.call("dm.send", conversation=to_carol["id"], text="hi carol")
        assert to_carol["id"] in await folder(carol, "inbox")

        # Replying to a request accepts it.
        to_dave = await dave.call("dm.open", user=uid(bob))
        await dave.call("dm.send", conversation=to_dave["id"], text="hello?")
        assert to_dave["id"] in await folder(bob, "requests")
        await bob.call("dm.send", conversation=to_dave["id"], text="hey")
        assert to_dave["id"] in await folder(bob, "inbox")
        assert to_dave["id"] not in await folder(bob, "requests")


async def test_non_members_can_neither_read_nor_write(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, eve):
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        await alice.call("dm.send", conversation=conv, text="private")
        for op, args in [("dm.history", {}), ("dm.send", {"text": "let me in"}),
                         ("dm.read", {"seq": 1}), ("dm.react", {"seq": 1, "emoji": "x"}),
                         ("dm.edit", {"seq": 1, "text": "mine now"}), ("dm.unsend", {"seq": 1}),
                         ("dm.accept", {})]:
            await expect(NotFound, eve, op, conversation=conv, **args)
        await expect(NotFound, eve, "dm.history", conversation=conv + 12345)
        assert conv not in await folder(eve, "inbox")
        assert len(await history(alice, conv)) == 1


async def test_bad_arguments_are_refused_and_change_nothing(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        bad_sends: list[dict[str, Any]] = [
            {}, {"text": ""}, {"text": "   "}, {"text": "x" * 4001}, {"text": 5},
            {"text": "hi", "colour": "red"}, {"text": "hi", "idem": "k" * 65},
            {"text": "hi", "reply_to": 0}, {"text": "hi", "media": 1, "post": 2},
            {"media": "photo"},
        ]
        for args in bad_sends:
            await expect(BadRequest, alice, "dm.send", conversation=conv, **args)
        await expect(BadRequest, alice, "dm.send", conversation="x", text="hi")
        await expect(BadRequest, alice, "dm.open", user=uid(alice))
        await expect(BadRequest, alice, "dm.open", user=uid(bob), users=[uid(carol)])
        await expect(BadRequest, alice, "dm.open", users=[uid(bob)])
        await expect(BadRequest, alice, "dm.open", users=[uid(bob), uid(carol)], title="t" * 101)
        await expect(BadRequest, alice, "dm.list", folder="spam")
        await expect(BadRequest, alice, "dm.history", conversation=conv, limit=101)
        await expect(BadRequest, alice, "dm.read", conversation=conv, seq=1)  # nothing to read
        await expect(BadRequest, alice, "dm.react", conversation=conv, seq=1, emoji="toolongemoji")
        await expect(BadRequest, alice, "dm.react", conversation=conv, seq=1)
        await expect(BadRequest, alice, "dm.rename", conversation=conv)
        assert await history(alice, conv) == []
        assert (await alice.call("dm.open", user=uid(bob)))["last_seq"] == 0
        assert int(await sql(node, "SELECT count(*) FROM conversations WHERE created_by = $1",
                             uid(alice))) == 1
        # A reply to a message that does not exist.
        await expect(NotFound, alice, "dm.send", conversation=conv, text="re", reply_to=9)


async def test_idempotent_send_has_one_effect(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        first = (await alice.call("dm.send", conversation=conv, text="once", idem="k1"))["message"]
        again = (await alice.call("dm.send", conversation=conv, text="once", idem="k1"))["message"]
        assert again == first
        await alice.call("dm.send", conversation=conv, text="next")
        got = await dm_events(bob, conv, 2)
        assert [e.data["message"]["seq"] for e in got] == [1, 2]  # no second "once"
        assert got[1].seq == got[0].seq + 1
        assert [m["text"] for m in await history(bob, conv)] == ["next", "once"]
        other = (await bob.call("dm.open", user=uid(alice)))["id"]
        assert other == conv


async def test_photo_post_and_reply(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        up = await alice.upload(images.jpeg(320, 240))
        photo = (await alice.call("dm.send", conversation=conv, media=up["id"]))["message"]
        assert photo["kind"] == "photo" and photo["media"]["id"] == up["id"]
        assert photo["media"]["variants"]["thumb"]["jpeg"].startswith("/media/")
        await expect(Forbidden, bob, "dm.send", conversation=conv, media=up["id"])
        post = await quick_post(carol, "look")
        shared = (await alice.call("dm.send", conversation=conv, post=post["id"],
                                   text="see this", reply_to=photo["seq"]))["message"]
        assert shared["kind"] == "post" and shared["post"] == post["id"]
        assert shared["reply_to"] == photo["seq"] and shared["text"] == "see this"
        await make_private(carol)
        hidden = await quick_post(carol, "followers only")
        await expect(NotFound, alice, "dm.send", conversation=conv, post=hidden["id"])
        msgs = await history(bob, conv)
        assert [m["kind"] for m in msgs] == ["post", "photo"]
        assert msgs[1]["media"]["id"] == up["id"]
        # The reply and the event are built without reading the row back: they must be
        # exactly what history reads from Postgres.
        assert msgs == [shared, photo]
        text = (await alice.call("dm.send", conversation=conv, text="plain"))["message"]
        assert (await history(bob, conv))[0] == text
        assert [e.data["message"] for e in await dm_events(bob, conv, 3)] == [
            photo, shared, text]


# -- ordering and delivery -----------------------------------------------------------------------
async def test_group_of_ten_every_device_gets_every_message_in_one_order(node: Node) -> None:
    async with bots(node, 10) as clients, second_device(node, clients[0]) as extra:
        creator, others = clients[0], clients[1:]
        conv = await creator.call("dm.open", users=[uid(c) for c in others], title="ten")
        assert conv["kind"] == "group" and len(conv["members"]) == 10 and conv["last_seq"] == 1
        cid = conv["id"]
        per_member = 3

        async def chat(c: Client) -> None:
            for i in range(per_member):
                await c.call("dm.send", conversation=cid, text=f"{uid(c)}:{i}")

        async with trio.open_nursery() as nursery:
            for c in clients:
                nursery.start_soon(chat, c)
        total = 1 + per_member * len(clients)
        seen: list[list[tuple[int, str]]] = []

        async def collect(c: Client) -> None:
            got = await dm_events(c, cid, total)
            seqs = [e.seq for e in got]
            assert seqs == list(range(seqs[0], seqs[0] + total))  # the user's stream: no gaps
            seen.append([(e.data["message"]["seq"], e.data["message"]["text"]) for e in got])

        async with trio.open_nursery() as nursery:
            for c in [*clients, extra]:
                nursery.start_soon(collect, c)
        assert len(seen) == 11
        assert all(s == seen[0] for s in seen)  # one order everywhere
        assert [seq for seq, _ in seen[0]] == list(range(1, total + 1))
        texts = [t for _, t in seen[0][1:]]
        for c in clients:  # each member's messages in the order they sent them
            assert [t for t in texts if t.startswith(f"{uid(c)}:")] == \
                [f"{uid(c)}:{i}" for i in range(per_member)]


async def test_two_nodes_chat_in_one_order(node: Node, services: tuple[str, str],
                                           tmp_path: Path) -> None:
    other = make_settings(services, tmp_path / "b", namespace=node.settings.namespace,
                          node_name="node-b")
    async with open_node(other) as node_b, bots(node, 2) as (alice, bob_on_a), \
            connect(node_b.ws_url, token=bob_on_a.token) as bob:
        assert bob.hello_data is not None and bob.hello_data["node"] == "node-b"
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        await alice.call("dm.send", conversation=conv, text="from a")
        assert (await one(bob, conv))["message"]["text"] == "from a"
        await bob.call("dm.send", conversation=conv, text="from b")
        got = await dm_events(alice, conv, 2)
        assert [e.data["message"]["text"] for e in got] == ["from a", "from b"]

        async def burst(c: Client, tag: str) -> None:
            for i in range(10):
                await c.call("dm.send", conversation=conv, text=f"{tag}{i}")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(burst, alice, "a")
            nursery.start_soon(burst, bob, "b")
        on_a = [(e.data["message"]["seq"], e.data["message"]["text"])
                for e in await dm_events(alice, conv, 20)]
        on_b = [(e.data["message"]["seq"], e.data["message"]["text"])
                for e in (await dm_events(bob, conv, 21))[1:]]
        assert on_a == on_b and [s for s, _ in on_a] == list(range(3, 23))
        assert node_b.registry.counts().get("ConversationActor") == 1


async def test_offline_member_gets_everything_on_resume_once(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        await follow(bob, alice)
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        token = bob.token
        assert bob.hello_data is not None
        seen = bob.last_seq if bob.last_seq is not None else bob.hello_data["seq"]
        await bob.aclose()
        for i in range(5):
            await alice.call("dm.send", conversation=conv, text=f"m{i}")
        await alice.call("dm.edit", conversation=conv, seq=2, text="m1 (edited)")
        await alice.call("dm.unsend", conversation=conv, seq=3)
        async with connect(node.ws_url, token=token, resume=seen) as back:
            msgs = await dm_events(back, conv, 5)
            assert [e.data["message"]["text"] for e in msgs] == [f"m{i}" for i in range(5)]
            ups = await dm_events(back, conv, 2, "dm.updated")
            assert ups[0].data["change"] == "edit" and ups[1].data["unsent"] is True
            seqs = [e.seq for e in msgs + ups]
            assert seqs == list(range(seen + 1, seen + 8))
            assert back.hello_data is not None and back.hello_data["seq"] == seen + 7
            assert (await back.call("dm.list"))["conversations"][0]["unread"] == 4


# -- edit, unsend, react, read -------------------------------------------------------------------
async def test_edit_unsend_react_and_read(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        await follow(bob, alice)
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        for text in ("one", "two", "three"):
            await alice.call("dm.send", conversation=conv, text=text)
        await dm_events(bob, conv, 3)
        await dm_events(alice, conv, 3)

        r = await bob.call("dm.react", conversation=conv, seq=1, emoji="❤️")
        assert r["message"]["reactions"] == [{"user": uid(bob), "emoji": "❤️"}]
        up = await one(alice, conv, "dm.updated")
        assert up["change"] == "react" and up["message"]["reactions"][0]["emoji"] == "❤️"
        await bob.call("dm.react", conversation=conv, seq=1, emoji="👍")  # one per member
        await alice.call("dm.react", conversation=conv, seq=1, emoji="😂")
        msg = (await history(alice, conv))[-1]
        assert sorted(x["emoji"] for x in msg["reactions"]) == ["👍", "😂"]
        await bob.call("dm.react", conversation=conv, seq=1, emoji=None)
        assert [x["user"] for x in (await history(alice, conv))[-1]["reactions"]] == [uid(alice)]

        edited = (await alice.call("dm.edit", conversation=conv, seq=1, text="ONE"))["message"]
        assert edited["text"] == "ONE" and edited["edited_at"] is not None
        ups = await dm_events(bob, conv, 5, "dm.updated")
        assert [u.data["change"] for u in ups] == ["react"] * 4 + ["edit"]
        assert ups[-1].data["message"]["text"] == "ONE"
        await expect(Forbidden, bob, "dm.edit", conversation=conv, seq=1, text="mine")
        await expect(Forbidden, bob, "dm.unsend", conversation=conv, seq=1)
        await sql(node, "UPDATE messages SET created_at = now() - interval '16 minutes' "
                        "WHERE conversation_id = $1 AND seq = 2", conv)
        await expect(Forbidden, alice, "dm.edit", conversation=conv, seq=2, text="too late")

        gone = (await alice.call("dm.unsend", conversation=conv, seq=3))["message"]
        assert gone["unsent"] is True and "text" not in gone
        up = await one(bob, conv, "dm.updated")
        assert up["unsent"] is True and up["seq"] == 3
        latest = (await history(bob, conv))[0]
        assert latest["seq"] == 3 and latest["unsent"] is True and "text" not in latest
        assert await sql(node, "SELECT body FROM messages WHERE conversation_id = $1 AND seq = 3",
                         conv) == ""
        await expect(NotFound, bob, "dm.react", conversation=conv, seq=3, emoji="x")

        listed = (await folder(bob, "inbox"))[conv]
        assert listed["unread"] == 2 and listed["last_message"]["unsent"] is True
        read = await bob.call("dm.read", conversation=conv, seq=2)
        assert read == {"conversation": conv, "seq": 2, "unread": 0}
        receipt = await one(alice, conv, "dm.read")
        assert receipt == {"conversation": conv, "user": uid(bob), "seq": 2}
        back = await bob.call("dm.read", conversation=conv, seq=1)  # never backwards
        assert back["seq"] == 2
        assert (await folder(bob, "inbox"))[conv]["read_seq"] == 2
        await alice.call("dm.send", conversation=conv, text="four")
        assert (await folder(bob, "inbox"))[conv]["unread"] == 1


# -- groups --------------------------------------------------------------------------------------
async def test_group_membership_changes_are_system_messages(node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, dave):
        conv = await alice.call("dm.open", users=[uid(bob), uid(carol)], title="trip")
        cid = conv["id"]
        assert conv["title"] == "trip" and conv["role"] == "admin"
        created = (await one(bob, cid))["message"]
        assert created["kind"] == "system" and created["system"]["action"] == "created"
        await alice.call("dm.send", conversation=cid, text="before dave")

        added = await bob.call("dm.add", conversation=cid, users=[uid(dave)])
        assert uid(dave) in {m["id"] for m in added["members"]}
        ev = await one(dave, cid)
        assert ev["message"]["system"] == {"action": "added", "by": uid(bob), "users": [uid(dave)]}
        assert [m["seq"] for m in await history(dave, cid)] == [3]  # no earlier history
        await dave.call("dm.send", conversation=cid, text="hi all")

        await bob.call("dm.rename", conversation=cid, title="road trip")
        await expect(Forbidden, bob, "dm.remove", conversation=cid, user=uid(carol))
        await alice.call("dm.remove", conversation=cid, user=uid(carol))
        await bob.call("dm.leave", conversation=cid)

        systems = [(e.data["message"].get("system") or {}).get("action")
                   for e in await dm_events(alice, cid, 6)]
        assert systems == ["created", None, "added", None, "renamed", "removed"]
        assert (await one(alice, cid))["message"]["system"]["action"] == "left"
        removed = await dm_events(carol, cid, 6)  # carol hears of her own removal, then nothing
        assert removed[-1].data["message"]["system"]["users"] == [uid(carol)]
        await expect(NotFound, carol, "dm.send", conversation=cid, text="still here?")
        await expect(NotFound, bob, "dm.history", conversation=cid)
        final = await alice.call("dm.open", users=[uid(bob), uid(carol)])
        assert final["id"] != cid  # a new group each time
        listed = (await folder(alice, "inbox"))[cid]
        assert listed["title"] == "road trip"
        assert {m["id"] for m in listed["members"]} == {uid(alice), uid(dave)}
        await expect(Forbidden, alice, "dm.leave",
                     conversation=(await alice.call("dm.open", user=uid(bob)))["id"])


# -- limits and robustness -----------------------------------------------------------------------
async def test_rate_limits(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actors.dm, "DM_SENDS_PER_MINUTE", 3)
    monkeypatch.setattr(actors.dm, "DM_OPENS_PER_HOUR", 2)
    async with bots(node, 4) as (alice, bob, carol, dave):
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        for i in range(3):
            await alice.call("dm.send", conversation=conv, text=str(i))
        try:
            await alice.call("dm.send", conversation=conv, text="one too many")
            raise AssertionError("the 4th send should be rate limited")
        except RateLimited as exc:
            assert exc.retry_after is not None and 0 < exc.retry_after <= 60
        await bob.call("dm.send", conversation=conv, text="bob is fine")
        await alice.call("dm.open", user=uid(carol))
        await expect(RateLimited, alice, "dm.open", user=uid(dave))
        assert (await alice.call("dm.open", user=uid(bob)))["id"] == conv  # existing: allowed


async def test_a_crashed_conversation_actor_affects_no_other(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        first = (await alice.call("dm.open", user=uid(bob)))["id"]
        second = (await alice.call("dm.open", user=uid(carol)))["id"]
        await alice.call("dm.send", conversation=first, text="a1")
        await alice.call("dm.send", conversation=second, text="b1")
        entry = node.registry.get(("conv", first))
        assert entry is not None and entry.kind == "ConversationActor"
        crashes = node.registry.crashes
        entry.tell(Crash())
        assert (await alice.call("dm.send", conversation=second, text="b2"))["message"]["seq"] == 2
        again = await bob.call("dm.send", conversation=first, text="a2 after restart")
        assert again["message"]["seq"] == 2
        assert node.registry.crashes == crashes + 1 and entry.restarts == 1
        assert node.registry.get(("conv", first)) is entry  # same address, restarted actor
        assert [m["text"] for m in await history(bob, first)] == ["a2 after restart", "a1"]


async def test_history_and_list_pages(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        first = (await alice.call("dm.open", user=uid(bob)))["id"]
        for i in range(5):
            await alice.call("dm.send", conversation=first, text=f"m{i}")
        page = await bob.call("dm.history", conversation=first, limit=2)
        assert [m["seq"] for m in page["messages"]] == [5, 4] and page["before"] == 4
        page = await bob.call("dm.history", conversation=first, limit=2, before=4)
        assert [m["seq"] for m in page["messages"]] == [3, 2] and page["before"] == 2
        page = await bob.call("dm.history", conversation=first, limit=2, before=2)
        assert [m["text"] for m in page["messages"]] == ["m0"] and page["before"] is None
        second = (await alice.call("dm.open", user=uid(carol)))["id"]
        await alice.call("dm.send", conversation=second, text="newer")
        top = await alice.call("dm.list", limit=1)
        assert [c["id"] for c in top["conversations"]] == [second] and top["cursor"]
        rest = await alice.call("dm.list", limit=1, cursor=top["cursor"])
        assert [c["id"] for c in rest["conversations"]] == [first]
        assert rest["conversations"][0]["last_message"]["text"] == "m4"
        await expect(BadRequest, alice, "dm.list", cursor="nope")


async def test_a_write_answered_unavailable_never_lands_later(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """A send stuck behind a lock past its deadline fails, and is rolled back when the
    lock goes: it does not appear afterwards (the sender would resend it)."""
    monkeypatch.setattr(actors.dm, "WRITE_SECONDS", 0.5)
    monkeypatch.setattr(actors.dm, "WRITE_GRACE_SECONDS", 0.5)
    async with bots(node, 2) as (alice, bob):
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        locked, release = threading.Event(), threading.Event()  # across the two loops

        async def hold_the_row(conn: Any) -> None:  # another node's long write, say
            await conn.execute("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", conv)
            locked.set()
            await asyncio.get_running_loop().run_in_executor(None, release.wait)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(node.storage.tx, hold_the_row)
            try:
                with trio.fail_after(WAIT):
                    await trio.to_thread.run_sync(locked.wait)
                    await expect(Unavailable, alice, "dm.send", conversation=conv, text="late")
            finally:
                release.set()
        sent = (await alice.call("dm.send", conversation=conv, text="after"))["message"]
        assert sent["seq"] == 1  # the timed-out send took no seq
        assert [m["text"] for m in await history(bob, conv)] == ["after"]
        got = await dm_events(bob, conv, 1)
        assert got[0].data["message"]["text"] == "after"


async def test_inbox_shows_each_conversations_last_message_with_its_reactions(
        node: Node) -> None:
    """dm.list reads the last messages of all its conversations at once: each one's own,
    with its own reactions, and none for a conversation its viewer joined after it."""
    async with bots(node, 4) as (alice, bob, carol, dave):
        for friend in (bob, carol, dave):
            await follow(friend, alice)
        convs = {}
        for friend, texts in ((bob, ("b1", "b2")), (carol, ("c1",)), (dave, ("d1", "d2", "d3"))):
            conv = (await alice.call("dm.open", user=uid(friend)))["id"]
            for text in texts:
                last = (await alice.call("dm.send", conversation=conv, text=text))["message"]
            convs[conv] = last
        bob_conv, carol_conv, dave_conv = convs
        await bob.call("dm.react", conversation=bob_conv, seq=convs[bob_conv]["seq"],
                       emoji="🔥")
        await dave.call("dm.react", conversation=dave_conv, seq=convs[dave_conv]["seq"],
                        emoji="👍")
        await alice.call("dm.react", conversation=dave_conv, seq=convs[dave_conv]["seq"],
                         emoji="😂")
        listed = await folder(alice, "inbox")
        assert {c: listed[c]["last_message"]["text"] for c in convs} == {
            bob_conv: "b2", carol_conv: "c1", dave_conv: "d3"}
        assert listed[bob_conv]["last_message"]["reactions"] == [
            {"user": uid(bob), "emoji": "🔥"}]
        assert listed[carol_conv]["last_message"]["reactions"] == []
        assert sorted(r["emoji"] for r in listed[dave_conv]["last_message"]["reactions"]) == [
            "👍", "😂"]
        group = (await alice.call("dm.open", users=[uid(bob), uid(carol)]))["id"]
        await alice.call("dm.send", conversation=group, text="before erin")
        async with bots(node, 1) as (erin,):
            await follow(erin, alice)
            await alice.call("dm.add", conversation=group, users=[uid(erin)])
            mine = await folder(erin, "inbox")
            joined = mine.get(group) or (await folder(erin, "requests"))[group]
            # Erin sees the "added" notice, never "before erin" (sent before she joined).
            last = joined["last_message"]
            assert last["kind"] == "system" and last["system"]["users"] == [uid(erin)]
