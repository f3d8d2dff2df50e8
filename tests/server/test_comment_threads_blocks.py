"""Threads and blocks: a comment hidden from the viewer (its author blocks them or is
blocked by them) is answered as a comment that does not exist — its replies cannot be
listed, it cannot be replied to (nor can its thread), liked or deleted, and a no-op
unlike does not reveal it — with the same code and message as for a made-up id,
changing nothing. No notification about a comment in a hidden thread is made for the
one it is hidden from, and one made before the block is left out of notif.list.
Everyone else (and the viewer after an unblock) still sees the thread."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from protocol.client import Client
from protocol.errors import GlintError
from server.node import Node
from tests.server.test_posts import (
    EVENT_WAIT,
    bots,
    make_private,
    next_event,
    quick_post,
    uid,
    uname,
)

NO_SUCH_COMMENT = (1 << 63) - 1  # a valid id that no comment has
WAYS = ("author_blocks_viewer", "viewer_blocks_author")


async def error_of(c: Client, op: str, **args: Any) -> tuple[str, str]:
    """The (code, message) `op` is refused with."""
    with pytest.raises(GlintError) as info:
        await c.call(op, **args)
    return info.value.code.value, info.value.message


async def hide(viewer: Client, author: Client, way: str) -> None:
    if way == "author_blocks_viewer":
        await author.call("block.add", user=uid(viewer))
    else:
        await viewer.call("block.add", user=uid(author))


async def unhide(viewer: Client, author: Client, way: str) -> None:
    if way == "author_blocks_viewer":
        await author.call("block.remove", user=uid(viewer))
    else:
        await viewer.call("block.remove", user=uid(author))


async def reply_ids(c: Client, post_id: int, parent: int) -> list[int]:
    return [x["id"] for x in (await c.call("comment.list", post=post_id,
                                           parent=parent))["comments"]]


@pytest.mark.parametrize("way", WAYS)
async def test_the_replies_of_a_hidden_thread_are_not_found_as_for_no_comment(
        node: Node, way: str) -> None:
    async with bots(node, 4) as (alice, bob, carol, dave):
        pid = (await quick_post(alice, "threads"))["id"]
        thread = await dave.call("comment.add", post=pid, text="dave's thread")
        reply = await carol.call("comment.add", post=pid, text="carol answers",
                                 reply_to=thread["id"])
        assert await reply_ids(bob, pid, thread["id"]) == [reply["id"]]
        await hide(bob, dave, way)

        missing = await error_of(bob, "comment.list", post=pid, parent=NO_SUCH_COMMENT)
        assert missing == ("not_found", "no such comment")
        assert await error_of(bob, "comment.list", post=pid, parent=thread["id"]) == missing
        assert await error_of(bob, "comment.list", post=pid, parent=thread["id"],
                              limit=1) == missing
        # The thread is left out of the top-level list too (as before).
        top = (await bob.call("comment.list", post=pid))["comments"]
        assert thread["id"] not in [x["id"] for x in top]
        # The thread's author may not list the hidden side's threads either.
        own = await bob.call("comment.add", post=pid, text="bob's thread")
        await carol.call("comment.add", post=pid, text="to bob", reply_to=own["id"])
        assert await error_of(dave, "comment.list", post=pid, parent=own["id"]) == missing

        # Everyone else still lists both threads; each author lists their own.
        for who in (alice, carol, dave):
            assert await reply_ids(who, pid, thread["id"]) == [reply["id"]]
        for who in (alice, carol, bob):
            assert len(await reply_ids(who, pid, own["id"])) == 1

        # An unblock shows the thread again.
        await unhide(bob, dave, way)
        assert await reply_ids(bob, pid, thread["id"]) == [reply["id"]]
        assert len(await reply_ids(dave, pid, own["id"])) == 1


async def test_deleted_foreign_and_invisible_posts_parents_are_not_found_alike(
        node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        pid = (await quick_post(alice, "public"))["id"]
        await make_private(carol)
        hidden_pid = (await quick_post(carol, "followers only"))["id"]
        on_hidden = await carol.call("comment.add", post=hidden_pid, text="mine")
        gone = await carol.call("comment.add", post=pid, text="soon gone")
        await carol.call("comment.add", post=pid, text="reply", reply_to=gone["id"])
        await carol.call("comment.delete", comment=gone["id"])

        missing = await error_of(bob, "comment.list", post=pid, parent=NO_SUCH_COMMENT)
        assert missing == ("not_found", "no such comment")
        assert await error_of(bob, "comment.list", post=pid, parent=gone["id"]) == missing
        assert await error_of(bob, "comment.list", post=pid, parent=on_hidden["id"]) == missing
        assert await error_of(bob, "comment.list", post=hidden_pid,
                              parent=on_hidden["id"]) == ("not_found", "no such post")


@pytest.mark.parametrize("way", WAYS)
async def test_replying_to_a_hidden_comment_or_into_its_thread_is_not_found_and_changes_nothing(
        node: Node, way: str) -> None:
    async with bots(node, 5) as (alice, bob, carol, dave, erin):
        pid = (await quick_post(alice, "replies"))["id"]
        thread = await dave.call("comment.add", post=pid, text="dave's thread")
        in_thread = await carol.call("comment.add", post=pid, text="carol in dave's",
                                     reply_to=thread["id"])
        visible = await carol.call("comment.add", post=pid, text="carol's thread")
        dave_reply = await dave.call("comment.add", post=pid, text="dave in carol's",
                                     reply_to=visible["id"])
        await hide(bob, dave, way)

        missing = await error_of(bob, "comment.add", post=pid, text="x",
                                 reply_to=NO_SUCH_COMMENT)
        assert missing == ("not_found", "no such comment to reply to")
        # Into dave's thread: at its top, or through carol's (visible) reply in it.
        for target in (thread, in_thread, dave_reply):
            assert await error_of(bob, "comment.add", post=pid, text="x",
                                  reply_to=target["id"]) == missing
            assert await error_of(bob, "comment.add", post=pid, text="x",
                                  reply_to=target["id"], idem=f"k{target['id']}") == missing

        # Nothing changed, as a third party sees it.
        assert await reply_ids(erin, pid, thread["id"]) == [in_thread["id"]]
        assert await reply_ids(erin, pid, visible["id"]) == [dave_reply["id"]]
        top = {x["id"]: x for x in (await erin.call("comment.list", post=pid))["comments"]}
        assert top[thread["id"]]["reply_count"] == 1 and top[visible["id"]]["reply_count"] == 1
        assert (await erin.call("post.get", post=pid))["comment_count"] == 4

        # Carol's thread itself stays open to bob (through her comment, not dave's).
        mine = await bob.call("comment.add", post=pid, text="bob answers carol",
                              reply_to=visible["id"])
        assert mine["parent"] == visible["id"]
        assert await reply_ids(erin, pid, visible["id"]) == [dave_reply["id"], mine["id"]]
        await unhide(bob, dave, way)
        again = await bob.call("comment.add", post=pid, text="hi dave", reply_to=in_thread["id"])
        assert again["parent"] == thread["id"]


@pytest.mark.parametrize("way", WAYS)
async def test_liking_or_unliking_a_hidden_comment_is_not_found_and_changes_nothing(
        node: Node, way: str) -> None:
    async with bots(node, 4) as (alice, bob, carol, dave):
        pid = (await quick_post(alice, "likes"))["id"]
        thread = await dave.call("comment.add", post=pid, text="dave's thread")
        liked = await dave.call("comment.add", post=pid, text="bob liked this before")
        await bob.call("comment.like", comment=liked["id"])
        await hide(bob, dave, way)

        missing = await error_of(bob, "comment.like", comment=NO_SUCH_COMMENT)
        assert missing == ("not_found", "no such comment")
        assert await error_of(bob, "comment.like", comment=thread["id"]) == missing
        assert await error_of(bob, "comment.unlike", comment=NO_SUCH_COMMENT) == missing
        assert await error_of(bob, "comment.unlike", comment=thread["id"]) == missing
        assert await error_of(bob, "comment.like", comment=liked["id"]) == missing
        counts = {x["id"]: x["like_count"]
                  for x in (await carol.call("comment.list", post=pid))["comments"]}
        assert counts == {thread["id"]: 0, liked["id"]: 1}

        # Taking back one's own like stays allowed after a block (as for posts).
        done = await bob.call("comment.unlike", comment=liked["id"])
        assert done == {"comment": liked["id"], "liked": False}  # no count of a hidden one
        counts = {x["id"]: x["like_count"]
                  for x in (await carol.call("comment.list", post=pid))["comments"]}
        assert counts == {thread["id"]: 0, liked["id"]: 0}  # the like was taken back
        assert await error_of(bob, "comment.unlike", comment=liked["id"]) == missing
        await unhide(bob, dave, way)
        assert (await bob.call("comment.like", comment=thread["id"]))["like_count"] == 1


async def comment_likes_heard(c: Client) -> set[int]:
    """The comments of `c`'s `comment_like` notifications."""
    items = (await c.call("notif.list"))["items"]
    return {i["comment"] for i in items if i["kind"] == "comment_like"}


@pytest.mark.parametrize("way", WAYS)
async def test_liking_or_unliking_a_visible_reply_in_a_hidden_thread_is_not_found(
        node: Node, way: str) -> None:
    """Carol's replies in dave's thread are hidden from bob with the thread (as in
    comment.list), though carol is not: no like, no notification to carol, no no-op
    unlike answered; taking back his own earlier like still works."""
    async with bots(node, 5) as (alice, bob, carol, dave, erin):
        pid = (await quick_post(alice, "likes in threads"))["id"]
        thread = await dave.call("comment.add", post=pid, text="dave's thread")
        fresh = await carol.call("comment.add", post=pid, text="carol answers",
                                 reply_to=thread["id"])
        liked = await carol.call("comment.add", post=pid, text="bob liked this before",
                                 reply_to=thread["id"])
        await bob.call("comment.like", comment=liked["id"])
        await hide(bob, dave, way)

        missing = await error_of(bob, "comment.like", comment=NO_SUCH_COMMENT)
        assert missing == ("not_found", "no such comment")
        for reply in (fresh, liked):
            assert await error_of(bob, "comment.like", comment=reply["id"]) == missing
            assert await error_of(bob, "comment.like", comment=reply["id"],
                                  idem=f"k{reply['id']}") == missing
        assert await error_of(bob, "comment.unlike", comment=fresh["id"]) == missing
        counts = {x["id"]: x["like_count"]
                  for x in (await erin.call("comment.list", post=pid,
                                            parent=thread["id"]))["comments"]}
        assert counts == {fresh["id"]: 0, liked["id"]: 1}
        assert await comment_likes_heard(carol) == {liked["id"]}

        # Taking back one's own like stays allowed after a block (as for posts).
        done = await bob.call("comment.unlike", comment=liked["id"])
        assert done == {"comment": liked["id"], "liked": False}  # no count of a hidden one
        counts = {x["id"]: x["like_count"]
                  for x in (await erin.call("comment.list", post=pid,
                                            parent=thread["id"]))["comments"]}
        assert counts == {fresh["id"]: 0, liked["id"]: 0}  # the like was taken back
        assert await error_of(bob, "comment.unlike", comment=liked["id"]) == missing

        # A reply by carol in a thread bob may see is likable; after an unblock so is
        # the reply in dave's thread, and carol hears of it.
        own = await carol.call("comment.add", post=pid, text="carol's thread")
        visible = await carol.call("comment.add", post=pid, text="in carol's",
                                   reply_to=own["id"])
        assert (await bob.call("comment.like", comment=visible["id"]))["like_count"] == 1
        await unhide(bob, dave, way)
        assert (await bob.call("comment.like", comment=fresh["id"]))["like_count"] == 1
        assert await comment_likes_heard(carol) == {liked["id"], visible["id"], fresh["id"]}


async def next_notification(c: Client) -> dict[str, Any]:
    """The data of the next `notification` event `c` gets, whatever it is about."""
    with trio.fail_after(EVENT_WAIT):
        return (await c.next_event("notification")).data


async def listed(c: Client) -> tuple[list[tuple[str, int | None, int]], int]:
    """`c`'s notif.list as (kind, comment, size) per item, and the unread count."""
    page = await c.call("notif.list")
    return [(i["kind"], i["comment"], i["size"]) for i in page["items"]], page["unread"]


@pytest.mark.parametrize("way", WAYS)
async def test_a_mention_in_a_hidden_thread_does_not_notify_whom_it_is_hidden_from(
        node: Node, way: str) -> None:
    """Carol mentions bob and erin in a reply in dave's thread, which is hidden from bob:
    erin hears of it, bob does not — nothing stored, nothing live (the next notification
    he gets is a later mention in a thread he may see)."""
    async with bots(node, 5) as (alice, bob, carol, dave, erin):
        pid = (await quick_post(alice, "mentions in threads"))["id"]
        thread = await dave.call("comment.add", post=pid, text="dave's thread")
        in_thread = await carol.call("comment.add", post=pid, text="carol answers",
                                     reply_to=thread["id"])
        await hide(bob, dave, way)
        hidden = await carol.call("comment.add", post=pid, reply_to=thread["id"],
                                  text=f"@{uname(bob)} @{uname(erin)} look")
        # Through a reply in the thread, too: it joins the same thread.
        deeper = await carol.call("comment.add", post=pid, reply_to=in_thread["id"],
                                  text=f"and again @{uname(bob)}")
        assert deeper["parent"] == thread["id"]
        heard = await next_notification(erin)
        assert (heard["kind"], heard["comment"]) == ("mention", hidden["id"])

        own = await carol.call("comment.add", post=pid, text="carol's thread")
        control = await carol.call("comment.add", post=pid, reply_to=own["id"],
                                   text=f"@{uname(bob)} here")
        got = await next_notification(bob)
        assert (got["kind"], got["comment"]) == ("mention", control["id"])
        assert await listed(bob) == ([("mention", control["id"], 1)], 1)

        # After an unblock a mention in dave's thread reaches bob again.
        await unhide(bob, dave, way)
        again = await carol.call("comment.add", post=pid, reply_to=thread["id"],
                                 text=f"@{uname(bob)} now")
        got = await next_notification(bob)
        assert (got["kind"], got["comment"]) == ("mention", again["id"])


@pytest.mark.parametrize("way", WAYS)
async def test_a_reply_in_a_thread_hidden_from_the_post_owner_does_not_notify_them(
        node: Node, way: str) -> None:
    """The post's owner hears `comment` of a reply only while they may see its thread."""
    async with bots(node, 3) as (alice, carol, dave):
        pid = (await quick_post(alice, "owner and threads"))["id"]
        thread = await dave.call("comment.add", post=pid, text="dave's thread")
        got = await next_notification(alice)
        assert (got["kind"], got["comment"]) == ("comment", thread["id"])
        await hide(alice, dave, way)
        await carol.call("comment.add", post=pid, text="carol answers", reply_to=thread["id"])
        control = await carol.call("comment.add", post=pid, text="carol's thread")
        got = await next_notification(alice)
        assert (got["kind"], got["comment"]) == ("comment", control["id"])
        # Only carol's visible comment is listed (dave's is hidden by his block).
        assert await listed(alice) == ([("comment", control["id"], 1)], 1)


@pytest.mark.parametrize("way", WAYS)
async def test_notifications_from_before_a_block_about_a_hidden_thread_are_not_listed(
        node: Node, way: str) -> None:
    """Carol's mention of bob and her `comment` to alice, both made in dave's thread before
    it was hidden from them, are left out of notif.list and unread while it is (carol is
    not hidden: her comments elsewhere stay listed), and come back with an unblock."""
    async with bots(node, 4) as (alice, bob, carol, dave):
        pid = (await quick_post(alice, "listed threads"))["id"]
        thread = await dave.call("comment.add", post=pid, text="dave's thread")
        reply = await carol.call("comment.add", post=pid, reply_to=thread["id"],
                                 text=f"@{uname(bob)} see this")
        top = await carol.call("comment.add", post=pid, text=f"@{uname(bob)} and this")
        await next_event(bob, "notification", comment=top["id"])
        await next_event(alice, "notification", comment=top["id"])
        assert await listed(bob) == ([("mention", top["id"], 1), ("mention", reply["id"], 1)], 2)
        assert await listed(alice) == ([("comment", top["id"], 3)], 3)

        await hide(bob, dave, way)
        await hide(alice, dave, way)
        assert await listed(bob) == ([("mention", top["id"], 1)], 1)
        assert await listed(alice) == ([("comment", top["id"], 1)], 1)

        await unhide(bob, dave, way)
        await unhide(alice, dave, way)
        assert await listed(bob) == ([("mention", top["id"], 1), ("mention", reply["id"], 1)], 2)
        assert await listed(alice) == ([("comment", top["id"], 3)], 3)


@pytest.mark.parametrize("way", WAYS)
async def test_deleting_a_hidden_comment_is_not_found_as_for_no_comment(
        node: Node, way: str) -> None:
    """Bob, neither a comment's author nor the post's owner, is answered "no such comment"
    for dave's thread and carol's reply in it, as for a made-up id (not forbidden, which
    told him they exist), and nothing changes. The post's owner and the reply's author
    keep their right to delete while the thread is hidden from them."""
    async with bots(node, 5) as (alice, bob, carol, dave, erin):
        pid = (await quick_post(alice, "deletes"))["id"]
        thread = await dave.call("comment.add", post=pid, text="dave's thread")
        in_thread = await carol.call("comment.add", post=pid, text="carol answers",
                                     reply_to=thread["id"])
        later = await carol.call("comment.add", post=pid, text="and again",
                                 reply_to=thread["id"])
        visible = await carol.call("comment.add", post=pid, text="carol's thread")
        await hide(bob, dave, way)

        missing = await error_of(bob, "comment.delete", comment=NO_SUCH_COMMENT)
        assert missing == ("not_found", "no such comment")
        for target in (thread, in_thread):
            assert await error_of(bob, "comment.delete", comment=target["id"]) == missing
        # A comment bob may see is still forbidden to him.
        assert await error_of(bob, "comment.delete", comment=visible["id"]) == (
            "forbidden", "only the comment's author or the post's owner may delete it")
        assert (await erin.call("post.get", post=pid))["comment_count"] == 4
        assert await reply_ids(erin, pid, thread["id"]) == [in_thread["id"], later["id"]]

        await hide(carol, dave, way)
        await hide(alice, dave, way)
        done = await carol.call("comment.delete", comment=later["id"])
        assert done == {"comment": later["id"], "post": pid, "deleted": True, "removed": 1}
        done = await alice.call("comment.delete", comment=in_thread["id"])
        assert done["deleted"] is True and done["removed"] == 1
        done = await alice.call("comment.delete", comment=thread["id"])
        assert done["deleted"] is True and done["removed"] == 1
        assert (await erin.call("post.get", post=pid))["comment_count"] == 1


@pytest.mark.parametrize("way", WAYS)
async def test_a_like_of_ones_reply_in_a_thread_now_hidden_does_not_notify(
        node: Node, way: str) -> None:
    """Bob replied in dave's thread before it was hidden from him: carol (who may see it)
    likes that reply, and bob hears nothing of it — nothing stored for him, nothing live;
    the next notification he gets is carol's like of his reply in a thread he may see."""
    async with bots(node, 4) as (alice, bob, carol, dave):
        pid = (await quick_post(alice, "likes of replies"))["id"]
        thread = await dave.call("comment.add", post=pid, text="dave's thread")
        mine = await bob.call("comment.add", post=pid, text="bob answers",
                              reply_to=thread["id"])
        own = await carol.call("comment.add", post=pid, text="carol's thread")
        control = await bob.call("comment.add", post=pid, text="bob here too",
                                 reply_to=own["id"])
        await hide(bob, dave, way)
        assert (await carol.call("comment.like", comment=mine["id"]))["liked"] is True
        await carol.call("comment.like", comment=control["id"])
        got = await next_notification(bob)
        assert (got["kind"], got["comment"]) == ("comment_like", control["id"])
        assert await listed(bob) == ([("comment_like", control["id"], 1)], 1)
