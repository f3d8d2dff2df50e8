"""Likes and comments end to end: idempotency, exact counters under concurrency,
threads one level deep, who may delete, comments_off, notifications live."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import trio

from protocol.client import Client, connect
from protocol.errors import BadRequest, Forbidden, NotFound
from server.node import Node
from tests.conftest import unique
from tests.server.test_posts import (
    block,
    bots,
    expect,
    make_private,
    next_event,
    quick_post,
    sql,
    uid,
    uname,
)

CROWD = 200


async def seed_users(node: Node, n: int) -> list[str]:
    """`n` users with a live token each, straight into Postgres (sign-ups hash passwords
    with argon2, far too slow for a crowd)."""
    prefix = unique("c")
    names = [f"{prefix}_{i}" for i in range(n)]
    tokens = [secrets.token_urlsafe(32) for _ in names]
    expires = datetime.now(UTC) + timedelta(hours=1)

    async def run(conn: Any) -> None:
        rows = await conn.fetch(
            """INSERT INTO users (username, email, password_hash)
               SELECT u, u || '@example.com', 'not-a-hash' FROM unnest($1::text[]) AS u
               RETURNING id, username""", names)
        ids = {r["username"]: r["id"] for r in rows}
        await conn.executemany(
            "INSERT INTO tokens (hash, user_id, expires_at, client) VALUES ($1, $2, $3, 'test')",
            [(hashlib.sha256(t.encode()).digest(), ids[name], expires)
             for name, t in zip(names, tokens, strict=True)])

    await node.storage.tx(run)
    return tokens


async def like_count(node: Node, post_id: int) -> tuple[int, int]:
    """(the counter on the row, the rows actually there)."""
    counter = await sql(node, "SELECT like_count FROM posts WHERE id = $1", post_id)
    rows = await sql(node, "SELECT count(*) FROM likes WHERE post_id = $1", post_id)
    return int(counter), int(rows)


async def test_likes_are_idempotent_and_notify_the_author_live(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        post = await quick_post(alice, "like me")
        pid = post["id"]
        r = await bob.call("post.like", post=pid)
        assert r == {"post": pid, "liked": True, "like_count": 1}
        note = await next_event(alice, "notification", kind="like")
        assert note["post"] == pid and note["actor"] == {"id": uid(bob), "username": uname(bob)}
        assert (await bob.call("post.like", post=pid))["like_count"] == 1
        got = await bob.call("post.get", post=pid)
        assert got["liked_by_me"] is True and got["like_count"] == 1
        assert (await bob.call("post.unlike", post=pid))["like_count"] == 0
        assert (await bob.call("post.unlike", post=pid))["like_count"] == 0
        # Liking again does not notify twice; carol's like does.
        await bob.call("post.like", post=pid)
        await carol.call("post.like", post=pid)
        note = await next_event(alice, "notification", kind="like")
        assert note["actor"]["id"] == uid(carol)
        assert await like_count(node, pid) == (2, 2)
        # One's own like does not notify oneself.
        await alice.call("post.like", post=pid)
        assert await sql(node, "SELECT count(*) FROM notifications WHERE recipient_id = $1 "
                               "AND kind = 'like'", uid(alice)) == 2
        # Blocked: the post does not exist for them; nothing changes.
        await block(alice, carol)
        await expect(NotFound, carol, "post.like", post=pid)
        await expect(NotFound, carol, "comment.add", post=pid, text="hey")
        assert await like_count(node, pid) == (3, 3)
        await expect(NotFound, bob, "post.like", post=pid + 1)


async def test_200_concurrent_likes_then_unlikes_leave_exact_counts(node: Node) -> None:
    with trio.fail_after(30):
        async with contextlib.AsyncExitStack() as stack:
            author = (await stack.enter_async_context(bots(node, 1)))[0]
            post = await quick_post(author, "hot")
            pid = post["id"]
            crowd: list[Client] = [  # one connection per user: each like by a distinct user
                await stack.enter_async_context(connect(node.ws_url, token=token))
                for token in await seed_users(node, CROWD)]
            replies: list[dict[str, Any]] = []

            async def act(c: Client, op: str) -> None:
                replies.append(await c.call(op, post=pid))

            async with trio.open_nursery() as nursery:
                for c in crowd:
                    nursery.start_soon(act, c, "post.like")
            assert await like_count(node, pid) == (CROWD, CROWD)
            assert sorted(r["like_count"] for r in replies) == list(range(1, CROWD + 1))
            async with trio.open_nursery() as nursery:
                for c in crowd:
                    nursery.start_soon(act, c, "post.like")  # again: no effect
                    nursery.start_soon(act, c, "post.unlike")
            counter, rows = await like_count(node, pid)
            assert counter == rows
            async with trio.open_nursery() as nursery:
                for c in crowd:
                    nursery.start_soon(act, c, "post.unlike")
            assert await like_count(node, pid) == (0, 0)
            assert (await author.call("post.get", post=pid))["like_count"] == 0


async def test_comments_replies_lists_and_deletes(node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, dave):
        post = await quick_post(alice, "talk to me")
        pid = post["id"]
        c1 = await bob.call("comment.add", post=pid, text=f"nice one @{uname(dave)}")
        assert c1["post"] == pid and c1["author"]["id"] == uid(bob) and c1["parent"] is None
        assert c1["text"].startswith("nice") and c1["like_count"] == 0
        assert c1["liked_by_me"] is False and c1["reply_count"] == 0
        note = await next_event(alice, "notification", kind="comment")
        assert note["comment"] == c1["id"] and note["body"] == c1["text"]
        await next_event(dave, "notification", kind="mention", comment=c1["id"])

        r1 = await carol.call("comment.add", post=pid, text="agreed", reply_to=c1["id"])
        assert r1["parent"] == c1["id"]
        await next_event(bob, "notification", kind="reply", comment=r1["id"])
        # A reply to a reply joins the top-level thread.
        r2 = await alice.call("comment.add", post=pid, text="thanks", reply_to=r1["id"],
                              idem="r2")
        assert r2["parent"] == c1["id"]
        assert (await alice.call("comment.add", post=pid, text="thanks", reply_to=r1["id"],
                                 idem="r2"))["id"] == r2["id"]  # a retry: same comment
        c2 = await dave.call("comment.add", post=pid, text="second")
        assert (await bob.call("post.get", post=pid))["comment_count"] == 4

        top = await bob.call("comment.list", post=pid)
        assert [c["id"] for c in top["comments"]] == [c1["id"], c2["id"]]
        assert [c["reply_count"] for c in top["comments"]] == [2, 0]
        replies = await bob.call("comment.list", post=pid, parent=c1["id"])
        assert [c["id"] for c in replies["comments"]] == [r1["id"], r2["id"]]
        page = await bob.call("comment.list", post=pid, limit=1)
        rest = await bob.call("comment.list", post=pid, limit=1, cursor=page["cursor"])
        assert [c["id"] for c in page["comments"] + rest["comments"]] == [c1["id"], c2["id"]]

        # Comment likes: idempotent, notify the comment's author.
        assert (await carol.call("comment.like", comment=c1["id"]))["like_count"] == 1
        assert (await carol.call("comment.like", comment=c1["id"]))["like_count"] == 1
        await next_event(bob, "notification", kind="comment_like", comment=c1["id"])
        listed = (await carol.call("comment.list", post=pid))["comments"][0]
        assert listed["liked_by_me"] is True and listed["like_count"] == 1
        assert (await carol.call("comment.unlike", comment=c1["id"]))["like_count"] == 0

        # Delete: a stranger may not; the comment's author may; the post's owner may.
        await expect(Forbidden, carol, "comment.delete", comment=c2["id"])
        assert (await dave.call("comment.delete", comment=c2["id"]))["removed"] == 1
        await expect(NotFound, dave, "comment.delete", comment=c2["id"])
        gone = await alice.call("comment.delete", comment=c1["id"])  # with its two replies
        assert gone["removed"] == 3
        assert (await bob.call("post.get", post=pid))["comment_count"] == 0
        assert (await bob.call("comment.list", post=pid))["comments"] == []
        await expect(NotFound, bob, "comment.add", post=pid, text="x", reply_to=c1["id"])
        await expect(NotFound, bob, "comment.like", comment=r1["id"])

        # Bad input changes nothing.
        await expect(BadRequest, bob, "comment.add", post=pid, text="")
        await expect(BadRequest, bob, "comment.add", post=pid, text="   ")
        await expect(BadRequest, bob, "comment.add", post=pid, text="x" * 2201)
        other = await quick_post(bob, "elsewhere")
        c3 = await bob.call("comment.add", post=other["id"], text="mine")
        await expect(NotFound, carol, "comment.add", post=pid, text="x", reply_to=c3["id"])
        assert (await bob.call("post.get", post=pid))["comment_count"] == 0


async def test_comments_off_and_private_posts(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        post = await quick_post(alice, "quiet")
        pid = post["id"]
        c1 = await bob.call("comment.add", post=pid, text="before")
        await alice.call("post.edit", post=pid, comments_off=True)
        await expect(Forbidden, bob, "comment.add", post=pid, text="after")
        await expect(Forbidden, bob, "comment.add", post=pid, text="after", reply_to=c1["id"])
        assert (await bob.call("post.get", post=pid))["comment_count"] == 1
        await alice.call("post.edit", post=pid, comments_off=False)
        await bob.call("comment.add", post=pid, text="again")

        await make_private(alice)
        await expect(NotFound, carol, "comment.list", post=pid)
        await expect(NotFound, carol, "comment.add", post=pid, text="hi")
        await expect(NotFound, carol, "post.like", post=pid)
        await expect(NotFound, bob, "comment.delete", comment=c1["id"])  # no longer sees it
        assert (await alice.call("post.get", post=pid))["comment_count"] == 2
