"""From a review, against a real node (each failed before its fix): a name taken out of a
caption and put back is not a new mention (every such edit notified again); a reply's
id as `parent` of comment.list is `not_found`, not an empty thread."""

from __future__ import annotations

from protocol.errors import Conflict, NotFound
from server.node import Node
from tests.server.test_posts import bots, expect, next_event, quick_post, sql, uid, uname


async def test_a_mention_put_back_by_an_edit_notifies_once(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        post = (await quick_post(alice, f"hi @{uname(bob)}"))["id"]
        await next_event(bob, "notification", kind="mention")
        for _ in range(3):
            await alice.call("post.edit", post=post, caption="hi")
            await alice.call("post.edit", post=post, caption=f"hi @{uname(bob)}")
        # a name new to the post is still a mention, and nothing came to bob before it
        await alice.call("post.edit", post=post, caption=f"hi @{uname(bob)} @{uname(carol)}")
        got = await next_event(carol, "notification", kind="mention")
        assert got["post"] == post
        assert await sql(node, "SELECT count(*) FROM notifications WHERE recipient_id = $1 "
                               "AND kind = 'mention' AND post_id = $2", uid(bob), post) == 1


async def test_the_thread_of_a_reply_is_not_found(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        post = (await quick_post(alice, "a post"))["id"]
        thread = (await bob.call("comment.add", post=post, text="a thread"))["id"]
        reply = (await alice.call("comment.add", post=post, text="a reply",
                                  reply_to=thread))["id"]
        await expect(NotFound, bob, "comment.list", post=post, parent=reply)
        got = await bob.call("comment.list", post=post, parent=thread)
        assert [c["id"] for c in got["comments"]] == [reply]


async def test_a_comment_retry_after_its_post_was_deleted_is_a_conflict(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        post = (await quick_post(alice, "a post"))["id"]
        await bob.call("comment.add", post=post, text="first", idem="c1")
        await alice.call("post.delete", post=post)
        await expect(Conflict, bob, "comment.add", post=post, text="first", idem="c1")
