"""notif.list / notif.read against a real node, with notifications made by storage.notify.

The posts and graph ops may not exist yet, so notifications are created the way
those domains create them: `notify` inside `tx_events`, gated by
privacy.should_notify, with real users and real post rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import trio
from trio_websocket import open_websocket_url

from actors import privacy
from protocol.client import Client, connect
from protocol.errors import BadRequest
from server.node import Node
from storage.events import EventSink, tx_events
from storage.ids import id_time_ms, make_id
from storage.notifications import notify
from tests.conftest import PASSWORD, unique
from tests.wire import WAIT, Raw

DAY_MS = 86_400_000


@dataclass(frozen=True)
class User:
    id: int
    name: str
    token: str


async def _signup(node: Node) -> User:
    name = unique("n")
    async with connect(node.ws_url) as c:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        assert c.user is not None and c.token is not None
        return User(c.user["id"], name, c.token)


async def _signups(node: Node, n: int) -> list[User]:
    out: list[User | None] = [None] * n

    async def one(i: int) -> None:
        out[i] = await _signup(node)

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(one, i)
    return [u for u in out if u is not None]


async def _sql(node: Node, query: str, *args: Any) -> Any:
    async def run(conn: asyncpg.Connection) -> Any:
        return await conn.fetchval(query, *args)

    return await node.storage.tx(run)


async def _post(node: Node, author: User) -> int:
    return int(await _sql(
        node, "INSERT INTO posts (author_id, caption) VALUES ($1, 'hi') RETURNING id", author.id))


async def _comment(node: Node, post: int, author: User) -> int:
    return int(await _sql(
        node, "INSERT INTO comments (post_id, author_id, body) VALUES ($1, $2, 'nice') "
              "RETURNING id", post, author.id))


async def _notify(node: Node, recipient: User, actors: list[User], kind: str,
                  post: int | None = None, comment: int | None = None,
                  body: str = "") -> list[int | None]:
    """One notification per actor, in order, in one transaction (like a batch of ops)."""

    async def run(conn: asyncpg.Connection, sink: EventSink) -> list[int | None]:
        return [await notify(conn, sink, recipient_id=recipient.id, actor_id=a.id, kind=kind,
                             allowed=privacy.should_notify, post_id=post, comment_id=comment,
                             body=body) for a in actors]

    return await tx_events(node.storage, run)


async def _age(node: Node, nid: int, days: float) -> int:
    """Move a notification back in time (its id is its time, for windows and paging)."""
    new = make_id(id_time_ms(nid) - int(days * DAY_MS), 0, nid & 1023)
    await _sql(node, "UPDATE notifications SET id = $2, created_at = created_at - "
                     "make_interval(secs => $3) WHERE id = $1", nid, new, days * 86400.0)
    return new


async def _list(c: Client, **args: Any) -> dict[str, Any]:
    return await c.call("notif.list", **args)  # type: ignore[no-any-return]


async def _walk(c: Client, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = await _list(c, limit=limit, cursor=cursor)
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


async def test_live_event_then_listed(node: Node) -> None:
    with trio.fail_after(WAIT * 2):
        me, ana = await _signups(node, 2)
        post = await _post(node, me)
        async with connect(node.ws_url, token=me.token) as c:
            assert await _list(c) == {"items": [], "unread": 0, "cursor": None}
            [nid] = await _notify(node, me, [ana], "like", post=post)
            ev = await c.next_event("notification")
            assert ev.seq == 1
            assert ev.data["id"] == nid and ev.data["kind"] == "like"
            assert ev.data["actor"] == {"id": ana.id, "username": ana.name}
            assert ev.data["post"] == post and isinstance(ev.data["at"], int)

            page = await _list(c)
            assert page["unread"] == 1 and page["cursor"] is None
            [item] = page["items"]
            assert item["kind"] == "like" and item["post"] == post and item["count"] == 1
            assert item["text"] == f"{ana.name} liked your post"
            assert item["actors"] == [{"id": ana.id, "username": ana.name, "display_name": "",
                                       "avatar": None}]
            assert item["ids"] == [nid] and item["id"] == nid and item["read"] is False
            assert item["latest_at"] == ev.data["at"]


async def test_likes_aggregate_per_post_and_kinds_stay_apart(node: Node) -> None:
    with trio.fail_after(WAIT * 3):
        me, *likers = await _signups(node, 15)
        post_a, post_b = await _post(node, me), await _post(node, me)
        ids_a = await _notify(node, me, likers, "like", post=post_a)  # 14 likers
        [again] = await _notify(node, me, [likers[0]], "like", post=post_a)  # liked twice
        [on_b] = await _notify(node, me, [likers[3]], "like", post=post_b)
        comment = await _comment(node, post_a, me)
        await _notify(node, me, likers[:2], "comment_like", post=post_a, comment=comment)
        await _notify(node, me, likers[4:6], "mention", post=post_a, comment=comment, body="@me")
        await _notify(node, me, likers[6:9], "follow")

        async with connect(node.ws_url, token=me.token) as c:
            page = await _list(c)
            items = page["items"]
            assert page["unread"] == 14 + 1 + 1 + 2 + 2 + 3 and page["cursor"] is None
            assert [i["kind"] for i in items] == [
                "follow", "mention", "mention", "comment_like", "like", "like"]
            follow, m1, m2, clike, like_b, like_a = items
            assert [i["id"] for i in items] == sorted((i["id"] for i in items), reverse=True)

            assert like_a["post"] == post_a and like_a["count"] == 14 and like_a["size"] == 15
            recent = [likers[0], likers[13], likers[12]]  # likers[0] liked again, last
            assert [a["id"] for a in like_a["actors"]] == [u.id for u in recent]
            assert like_a["text"] == f"{likers[0].name}, {likers[13].name} and 12 others " \
                                     "liked your post"
            assert sorted(like_a["ids"]) == sorted([*ids_a, again])
            assert like_a["id"] == again and like_a["read"] is False

            assert like_b["post"] == post_b and like_b["ids"] == [on_b]
            assert like_b["text"] == f"{likers[3].name} liked your post"
            assert clike["comment"] == comment and clike["count"] == 2
            # Both likes come from one transaction, often in one millisecond: ids there
            # are ordered only until the 10-bit sequence wraps, so either order is right.
            assert clike["text"] in (f"{likers[1].name} and {likers[0].name} liked your comment",
                                     f"{likers[0].name} and {likers[1].name} liked your comment")
            assert {m1["actors"][0]["id"], m2["actors"][0]["id"]} == {likers[4].id, likers[5].id}
            assert m1["text"].endswith("mentioned you in a comment") and m1["body"] == "@me"
            assert follow["count"] == 3 and follow["text"] == (
                f"{likers[8].name}, {likers[7].name} and {likers[6].name} started following you")

            assert await _walk(c, 1) == items
            assert await _walk(c, 4) == items


async def test_windows_split_groups_and_paging_is_stable(node: Node) -> None:
    with trio.fail_after(WAIT * 2):
        me, ana, bo, cy = await _signups(node, 4)
        post = await _post(node, me)
        [old_like] = await _notify(node, me, [ana], "like", post=post)
        [old_follow] = await _notify(node, me, [ana], "follow")
        await _age(node, old_like, 21)  # three weeks back: its own group
        await _age(node, old_follow, 2)  # two days back
        await _notify(node, me, [bo, cy], "like", post=post)
        await _notify(node, me, [bo], "follow")
        async with connect(node.ws_url, token=me.token) as c:
            items = (await _list(c))["items"]
            assert [(i["kind"], i["count"]) for i in items] == [
                ("follow", 1), ("like", 2), ("follow", 1), ("like", 1)]
            assert await _walk(c, 1) == items

            first = await _list(c, limit=2)
            assert first["items"] == items[:2]
            # While paging, the old follow group gains nothing (new follows are today's),
            # the like group on page 1 gains a like: page 2 neither repeats nor skips.
            await _notify(node, me, [ana], "like", post=post)
            await _notify(node, me, [cy], "follow")
            rest = await _list(c, cursor=first["cursor"])
            assert rest["items"] == items[2:] and rest["cursor"] is None
            top = (await _list(c))["items"]
            assert [(i["kind"], i["count"]) for i in top[:2]] == [("follow", 2), ("like", 3)]


async def test_read_marking_and_unread_counts(node: Node) -> None:
    with trio.fail_after(WAIT * 2):
        me, other, ana, bo = await _signups(node, 4)
        post = await _post(node, me)
        likes = await _notify(node, me, [ana, bo], "like", post=post)
        [follow] = await _notify(node, me, [ana], "follow")
        [mention] = await _notify(node, me, [bo], "mention", post=post)
        [theirs] = await _notify(node, other, [ana], "follow")
        async with connect(node.ws_url, token=me.token) as c, \
                connect(node.ws_url, token=other.token) as o:
            assert (await _list(c))["unread"] == 4
            assert await c.call("notif.read", ids=[follow, theirs, 12345]) == {"unread": 3}
            assert (await _list(o))["unread"] == 1  # someone else's id was ignored
            items = {i["kind"]: i for i in (await _list(c))["items"]}
            assert items["follow"]["read"] is True and items["like"]["read"] is False

            assert await c.call("notif.read", ids=[likes[0]]) == {"unread": 2}
            items = {i["kind"]: i for i in (await _list(c))["items"]}
            assert items["like"]["read"] is False  # one of two is still unread

            assert await c.call("notif.read", before=likes[1]) == {"unread": 1}
            items = {i["kind"]: i for i in (await _list(c))["items"]}
            assert items["like"]["read"] is True and items["mention"]["read"] is False
            assert mention > likes[1]

            assert await c.call("notif.read", all=True) == {"unread": 0}
            assert all(i["read"] for i in (await _list(c))["items"])
            assert await c.call("notif.read", all=True) == {"unread": 0}
            assert (await _list(o))["unread"] == 1


async def test_mute_suppresses_new_notifications(node: Node) -> None:
    with trio.fail_after(WAIT * 2):
        me, muted, ana = await _signups(node, 3)
        post = await _post(node, me)
        await _sql(node, "INSERT INTO mutes (muter_id, muted_id) VALUES ($1, $2)",
                   me.id, muted.id)
        async with connect(node.ws_url, token=me.token) as c:
            assert await _notify(node, me, [muted], "like", post=post) == [None]
            assert await _notify(node, me, [me], "like", post=post) == [None]  # oneself
            [nid] = await _notify(node, me, [ana], "like", post=post)
            ev = await c.next_event("notification")
            assert ev.seq == 1 and ev.data["id"] == nid  # nothing came before it
            page = await _list(c)
            assert page["unread"] == 1 and [i["ids"] for i in page["items"]] == [[nid]]


async def test_blocks_and_deleted_posts_hide_existing_notifications(node: Node) -> None:
    with trio.fail_after(WAIT * 2):
        me, ana, bo, cy, dee, zed = await _signups(node, 6)
        post, gone, theirs = await _post(node, me), await _post(node, me), await _post(node, zed)
        await _notify(node, me, [ana, bo, cy], "like", post=post)
        await _notify(node, me, [ana, dee], "follow")
        await _notify(node, me, [dee], "like", post=gone)
        comment = await _comment(node, theirs, cy)
        await _notify(node, me, [cy], "mention", post=theirs, comment=comment, body="@me")
        async with connect(node.ws_url, token=me.token) as c:
            assert (await _list(c))["unread"] == 7
            await _sql(node, "UPDATE users SET is_private = true WHERE id = $1", zed.id)
            await _sql(node, "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)",
                       me.id, ana.id)
            await _sql(node, "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)",
                       bo.id, me.id)  # the other way round
            await _sql(node, "UPDATE posts SET deleted_at = now() WHERE id = $1", gone)
            page = await _list(c)
            assert page["unread"] == 2
            assert [(i["kind"], [a["id"] for a in i["actors"]], i["count"], len(i["ids"]))
                    for i in page["items"]] == [("follow", [dee.id], 1, 1),
                                                ("like", [cy.id], 1, 1)]
            assert page["items"][1]["text"] == f"{cy.name} liked your post"

            await _sql(node, "DELETE FROM blocks WHERE blocker_id = $1", me.id)
            assert (await _list(c))["unread"] == 4  # unblocking shows them again


async def test_a_page_of_hidden_rows_still_moves_on(node: Node) -> None:
    """Past the segment budget a page may be short, but its cursor leads on to the rest."""
    with trio.fail_after(WAIT * 2):
        me, spammer, ana = await _signups(node, 3)
        ids = await _notify(node, me, [spammer] * 12, "follow")
        [old] = await _notify(node, me, [ana], "follow")
        for weeks, nid in enumerate(ids, start=1):
            await _age(node, nid, weeks * 7)  # one per week, 12 weeks
        old = await _age(node, old, 13 * 7)
        await _sql(node, "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)",
                   me.id, spammer.id)
        async with connect(node.ws_url, token=me.token) as c:
            first = await _list(c)
            assert first["items"] == [] and first["cursor"] is not None
            assert first["unread"] == 1
            rest = await _list(c, cursor=first["cursor"])
            assert [i["ids"] for i in rest["items"]] == [[old]] and rest["cursor"] is None
            assert [i["ids"] for i in await _walk(c, 5)] == [[old]]


async def test_notification_made_while_offline_arrives_once_on_resume(node: Node) -> None:
    with trio.fail_after(WAIT * 2):
        me, ana, bo = await _signups(node, 3)
        post = await _post(node, me)
        async with connect(node.ws_url, token=me.token) as c:
            await _notify(node, me, [ana], "like", post=post)
            seen = (await c.next_event("notification")).seq
            assert seen == 1 and c.last_seq == 1
        [nid] = await _notify(node, me, [bo], "like", post=post)  # nobody is connected

        async with open_websocket_url(node.ws_url) as ws:
            raw = Raw(ws)
            await raw.send_obj({"op": "hello", "id": 100,
                                "args": {"proto": 1, "token": me.token, "resume": seen}})
            hello = await raw.recv()
            assert hello["re"] == 100 and hello["data"]["seq"] == 2
            ev = await raw.recv()
            assert ev["ev"] == "notification" and ev["seq"] == 2 and ev["data"]["id"] == nid
            listed = await raw.call("notif.list")  # nothing else was queued before it
            assert raw.events == [] and listed["data"]["unread"] == 2
            [item] = listed["data"]["items"]
            assert item["count"] == 2 and item["text"] == f"{bo.name} and {ana.name} liked " \
                                                          "your post"


BAD_ARGS: list[tuple[str, dict[str, Any]]] = [
    ("notif.list", {"limit": 0}),
    ("notif.list", {"limit": 51}),
    ("notif.list", {"limit": "5"}),
    ("notif.list", {"cursor": "abc"}),
    ("notif.list", {"cursor": -1}),
    ("notif.list", {"page": 2}),
    ("notif.read", {}),
    ("notif.read", {"ids": "1"}),
    ("notif.read", {"ids": [True]}),
    ("notif.read", {"ids": ["1"]}),
    ("notif.read", {"ids": [-5]}),
    ("notif.read", {"ids": [1], "all": True}),
    ("notif.read", {"all": False}),
    ("notif.read", {"all": 1}),
    ("notif.read", {"before": "x"}),
    ("notif.read", {"before": 1.5}),
    ("notif.read", {"unread": True}),
]


async def test_bad_arguments_are_bad_requests_and_change_nothing(node: Node) -> None:
    with trio.fail_after(WAIT * 2):
        me, ana = await _signups(node, 2)
        post = await _post(node, me)
        [nid] = await _notify(node, me, [ana], "like", post=post)
        async with connect(node.ws_url, token=me.token) as c:
            before = await _list(c)
            assert before["unread"] == 1
            for op, args in BAD_ARGS:
                with pytest.raises(BadRequest):
                    await c.call(op, **args)
            with pytest.raises(BadRequest):
                await c.call("notif.read", ids=[nid] * 5001)
            assert await _list(c) == before
