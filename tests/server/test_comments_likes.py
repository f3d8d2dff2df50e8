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
from tests.fixtures import images
from tests.server.test_posts import (
    block,
    bots,
    expect,
    follow,
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


async def test_unliking_a_post_one_may_no_longer_see_works_and_tells_no_count(
        node: Node) -> None:
    """One's own like can always be taken back; from a post hidden since (a block, a
    private author unfollowed), the reply leaves out the post's live like_count."""
    async with bots(node, 4) as (alice, bob, carol, dave):
        pid = (await quick_post(alice, "liked, then hidden"))["id"]
        for c in (bob, carol, dave):
            await c.call("post.like", post=pid)
        await block(alice, bob)
        assert await bob.call("post.unlike", post=pid) == {"post": pid, "liked": False}
        assert await like_count(node, pid) == (2, 2)  # the like was taken back
        await expect(NotFound, bob, "post.unlike", post=pid)  # nothing left to undo
        assert (await carol.call("post.get", post=pid))["like_count"] == 2

        await make_private(alice)
        assert await carol.call("post.unlike", post=pid) == {"post": pid, "liked": False}
        await follow(dave, alice)  # a private author's follower still sees the count
        reply = await dave.call("post.unlike", post=pid)
        assert reply == {"post": pid, "liked": False, "like_count": 0}
        assert await like_count(node, pid) == (0, 0)


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
        await expect(BadRequest, bob, "comment.add", post=pid, text="\u200b\u200b \u3164")
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


async def notices_of(node: Node, comment_id: int) -> dict[int, dict[str, Any]]:
    """The stored notifications about a comment by recipient, as their live events carry them."""

    async def run(conn: Any) -> list[Any]:
        return await conn.fetch(
            """SELECT n.id, n.recipient_id, n.kind, n.actor_id, u.username, n.post_id,
                      n.comment_id, n.body, (extract(epoch FROM n.created_at) * 1000)::bigint AS at
               FROM notifications n JOIN users u ON u.id = n.actor_id
               WHERE n.comment_id = $1""", comment_id)

    return {r["recipient_id"]: {
        "id": r["id"], "kind": r["kind"], "actor": {"id": r["actor_id"], "username": r["username"]},
        "post": r["post_id"], "comment": r["comment_id"], "body": r["body"], "at": r["at"]}
        for r in await node.storage.tx(run)}


async def test_comment_replies_equal_the_listed_comments_and_notices_the_stored_rows(
        node: Node) -> None:
    """comment.add's reply is the comment as comment.list shows it; who hears of it follows
    the rules (mentions, the post's author, the thread's author on a reply; not oneself, not
    whoever muted the commenter or cannot see the post), and each live `notification` is
    its stored row."""
    async with bots(node, 5) as (alice, bob, carol, dave, erin):
        await make_private(alice)
        for c in (bob, carol, dave):
            await follow(c, alice)
        await dave.call("mute.add", user=uid(bob))
        photo = await bob.upload(images.jpeg(400, 400))
        await bob.call("user.update", avatar=photo["id"])
        post = await quick_post(alice, "private talk")
        pid = post["id"]

        text = (f"hi @{uname(carol)} @{uname(dave)} @{uname(erin)} @{uname(bob)} "
                f"@nobody_{unique()[:8]} " + "long " * 60)
        c1 = await bob.call("comment.add", post=pid, text=text)
        assert c1["author"]["avatar"] is not None and c1["text"] == text.strip()
        assert (await bob.call("comment.list", post=pid))["comments"] == [c1]
        stored = await notices_of(node, c1["id"])
        assert {r: n["kind"] for r, n in stored.items()} == {uid(alice): "comment",
                                                            uid(carol): "mention"}
        assert await next_event(alice, "notification", comment=c1["id"]) == stored[uid(alice)]
        assert await next_event(carol, "notification", comment=c1["id"]) == stored[uid(carol)]
        assert len(stored[uid(carol)]["body"]) == 200

        # A reply: the thread's author hears "reply", the post's author "comment" even
        # when mentioned too.
        r1 = await carol.call("comment.add", post=pid, text=f"@{uname(alice)} agreed",
                              reply_to=c1["id"])
        assert (await carol.call("comment.list", post=pid, parent=c1["id"]))["comments"] == [r1]
        stored = await notices_of(node, r1["id"])
        assert {r: n["kind"] for r, n in stored.items()} == {uid(alice): "comment",
                                                            uid(bob): "reply"}
        assert await next_event(bob, "notification", comment=r1["id"]) == stored[uid(bob)]

        # A reply to a reply joins the thread; the post's author hears nothing of their own.
        a1 = await alice.call("comment.add", post=pid, text="thanks", reply_to=r1["id"],
                              idem="a1")
        assert a1["parent"] == c1["id"]
        assert await alice.call("comment.add", post=pid, text="thanks", reply_to=r1["id"],
                                idem="a1") == a1
        listed = (await alice.call("comment.list", post=pid, parent=c1["id"]))["comments"]
        assert listed == [r1, a1]
        stored = await notices_of(node, a1["id"])
        assert {r: n["kind"] for r, n in stored.items()} == {uid(bob): "reply"}

        # The post's author answered in a thread of their own hears "reply".
        c2 = await alice.call("comment.add", post=pid, text="my own thread")
        assert await notices_of(node, c2["id"]) == {}
        r2 = await bob.call("comment.add", post=pid, text="answer", reply_to=c2["id"])
        stored = await notices_of(node, r2["id"])
        assert {r: n["kind"] for r, n in stored.items()} == {uid(alice): "reply"}
        assert await next_event(alice, "notification", comment=r2["id"]) == stored[uid(alice)]
        top = (await bob.call("comment.list", post=pid))["comments"]
        assert [c["id"] for c in top] == [c1["id"], c2["id"]]
        assert top[1] == {**c2, "reply_count": 1}
        assert (await bob.call("post.get", post=pid))["comment_count"] == 5


async def test_concurrent_retries_with_one_idem_make_one_comment(node: Node) -> None:
    """The same comment.add sent at once on several connections: one comment, one count,
    one notification each; every reply is that comment."""
    async with contextlib.AsyncExitStack() as stack:
        alice, bob, carol = await stack.enter_async_context(bots(node, 3))
        pid = (await quick_post(alice, "retry me"))["id"]
        conns = [await stack.enter_async_context(connect(node.ws_url, token=bob.token))
                 for _ in range(8)]
        replies: list[dict[str, Any]] = []

        async def add(c: Client) -> None:
            replies.append(await c.call("comment.add", post=pid, text=f"once @{uname(carol)}",
                                        idem="same"))

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for c in conns:
                    nursery.start_soon(add, c)
        assert len(replies) == len(conns) and all(r == replies[0] for r in replies)
        assert (await bob.call("comment.list", post=pid))["comments"] == [replies[0]]
        assert (await alice.call("post.get", post=pid))["comment_count"] == 1
        stored = await notices_of(node, replies[0]["id"])
        assert {r: n["kind"] for r, n in stored.items()} == {uid(alice): "comment",
                                                            uid(carol): "mention"}
        assert await sql(node, "SELECT count(*) FROM notifications WHERE post_id = $1",
                         pid) == 2
        assert await next_event(carol, "notification", comment=replies[0]["id"]) == \
            stored[uid(carol)]
