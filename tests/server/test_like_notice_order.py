"""A like's notification takes its id once the like holds its post's (or comment's) row,
so on a hot post the ids commit in order (found by a review): the id was taken before
the like waited for that row, so a like that waited committed below ids the recipient
had already seen — `notif.read {before: top}` then marked it read unseen."""

from __future__ import annotations

import functools

import trio

from protocol.client import Client
from server.node import Node
from tests.rowlock import holding
from tests.server.test_posts import bots, quick_post, uid


async def seen_then_read(node: Node, author: Client, liker: Client, follower: Client,
                         row: str, op: str, **args: int) -> int:
    """While `liker`'s like waits for `row` (held by the test), `follower` follows the
    author; the author lists that as the newest and marks it and everything older read;
    then the like lands. The author's unread count after that."""
    async with holding(node.storage, row) as held, trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(liker.call, op, **args))
        await held.wait_blocked()
        await follower.call("follow.add", user=uid(author))
        top = (await author.call("notif.list"))["items"][0]
        assert top["kind"] == "follow"
        await held.commit()
    # the like has landed (the nursery waited for it): it is newer than what was seen
    return int((await author.call("notif.read", before=top["id"]))["unread"])


async def test_a_like_that_waited_for_its_post_is_not_marked_read_unseen(node: Node) -> None:
    async with bots(node, 3) as (author, liker, follower):
        post = (await quick_post(author, "hot"))["id"]
        row = f"SELECT 1 FROM posts WHERE id = {int(post)} FOR NO KEY UPDATE"
        assert await seen_then_read(node, author, liker, follower, row, "post.like",
                                    post=post) == 1
        assert (await author.call("notif.list"))["items"][0]["kind"] == "like"


async def test_a_comment_like_that_waited_is_not_marked_read_unseen(node: Node) -> None:
    async with bots(node, 4) as (poster, author, liker, follower):
        post = (await quick_post(poster, "hot"))["id"]
        comment = (await author.call("comment.add", post=post, text="mine"))["id"]
        row = f"SELECT 1 FROM comments WHERE id = {int(comment)} FOR NO KEY UPDATE"
        assert await seen_then_read(node, author, liker, follower, row, "comment.like",
                                    comment=comment) == 1
        assert (await author.call("notif.list"))["items"][0]["kind"] == "comment_like"
