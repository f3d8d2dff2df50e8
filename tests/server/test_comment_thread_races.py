"""A reply racing the deletion of its thread (found by a review): the delete's update did
not see the reply, not yet committed, and both committed — a live reply under a deleted
thread, counted in the post's comment_count for good and reachable by no list. Now
whichever comes second sees the first: a delete after the reply removes both, a reply
after the delete is `not_found`. The test's own transaction holds the post's row so
that both queue on it in the order chosen, then lets them go."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from protocol.errors import NotFound
from server.node import Node
from tests.rowlock import WAIT_SECONDS, holding
from tests.server.test_posts import bots, quick_post, sql, uid


@pytest.mark.parametrize("first", ["reply", "delete"])
async def test_a_reply_racing_its_threads_deletion(node: Node, first: str) -> None:
    async with bots(node, 2) as (a, b):
        post = (await quick_post(a, "a post"))["id"]
        thread = (await b.call("comment.add", post=post, text="a thread"))["id"]
        got: dict[str, Any] = {}

        async def reply() -> None:
            try:
                got["reply"] = await a.call("comment.add", post=post, text="a reply",
                                            reply_to=thread)
            except NotFound as exc:
                got["reply"] = exc

        async def delete() -> None:
            got["delete"] = await b.call("comment.delete", comment=thread)

        order = [reply, delete] if first == "reply" else [delete, reply]
        async with (holding(node.storage, "SELECT 1 FROM posts WHERE id = $1 FOR UPDATE",
                            post) as holder,
                    trio.open_nursery() as nursery):
            nursery.start_soon(order[0])
            await holder.wait_blocked()  # the first waits for the post's row
            nursery.start_soon(order[1])
            await holder.wait_lock_waits(2)  # the second waits too (on the first)
            await holder.commit()

        with trio.fail_after(WAIT_SECONDS):
            counted = (await a.call("post.get", post=post))["comment_count"]
        live = await sql(node, "SELECT count(*) FROM comments "
                               "WHERE post_id = $1 AND deleted_at IS NULL", post)
        assert (counted, live) == (0, 0)
        assert (await a.call("comment.list", post=post))["comments"] == []
        if first == "reply":
            assert got["delete"]["removed"] == 2  # the thread and the reply
        else:
            assert isinstance(got["reply"], NotFound)
            assert got["delete"]["removed"] == 1


async def test_comments_take_their_ids_in_commit_order(node: Node) -> None:
    """A comment waiting for its post's row (a like's or another comment's transaction
    holds it) takes its id once it has the row: one that committed meanwhile lists
    before it, so a reader whose cursor is past that one still gets this one with
    "load more". (Ids taken before the wait listed it first: a cursor skipped it.)"""
    async with bots(node, 2) as (a, b):
        post = (await quick_post(a, "a post"))["id"]
        got: dict[str, Any] = {}

        async def comment() -> None:
            got["late"] = await b.call("comment.add", post=post, text="waited")

        async with (holding(node.storage, "SELECT 1 FROM posts WHERE id = $1 FOR UPDATE",
                            post) as holder,
                    trio.open_nursery() as nursery):
            nursery.start_soon(comment)
            await holder.wait_blocked()
            # Another writer's comment, committed first (the test's own transaction).
            await holder.execute("INSERT INTO comments (id, post_id, author_id, body) "
                                 "VALUES (glint_next_id(), $1, $2, 'first')", post, uid(a))
            await holder.execute("UPDATE posts SET comment_count = comment_count + 1 "
                                 "WHERE id = $1", post)
            await holder.commit()

        listed = (await a.call("comment.list", post=post))["comments"]
        assert [c["text"] for c in listed] == ["first", "waited"]
        after_first = await a.call("comment.list", post=post, limit=1)
        more = await a.call("comment.list", post=post, cursor=after_first["cursor"])
        assert [c["id"] for c in more["comments"]] == [got["late"]["id"]]
        assert (await a.call("post.get", post=post))["comment_count"] == 2
