"""Live comment events and blocks: a watcher gets no `comment.added` or `comment.deleted`
for a comment whose author they block or who blocks them (as `comment.list` hides it),
nor for a reply in a thread whose top-level comment is hidden from them so, whenever
the block was made, on every node; everyone else gets them as before, and each node
checks a comment event for all its watchers in one query."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
import trio

from protocol.client import Client, connect
from server.node import Node, open_node
from storage import posts as posts_db
from storage import watching
from storage.errors import Unavailable
from tests.conftest import make_settings
from tests.server.test_admin import admins
from tests.server.test_posts import EVENT_WAIT, bots, next_event, uid
from tests.server.test_watch import watchers_of
from tests.server.test_watch_privacy import watch_scene

COMMENT_EVENTS = ("comment.added", "comment.deleted")


def comment_of(name: str, data: dict[str, Any]) -> int:
    return int(data["comment"]["id"] if name == "comment.added" else data["comment"])


async def nothing_of(c: Client, comment_id: int | Collection[int], control: int) -> None:
    """Read `c`'s events up to the comment.added on `control` (made after the comments'
    events reached everyone else): no comment event about `comment_id` (one id or
    several) came in between."""
    hidden = {comment_id} if isinstance(comment_id, int) else set(comment_id)
    with trio.fail_after(EVENT_WAIT):
        while True:
            ev = await c.next_event()
            if ev.name in COMMENT_EVENTS:
                assert comment_of(ev.name, ev.data) not in hidden, (ev.name, ev.data)
                if ev.name == "comment.added" and ev.data["post"] == control:
                    return


async def test_the_watcher_who_blocks_the_commenter_gets_none_of_their_comment_events(
        node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, dave):
        post, control = await watch_scene(alice, bob, carol)
        await bob.call("block.add", user=uid(dave))  # while bob watches
        c = await dave.call("comment.add", post=post, text="bob blocked me")
        assert (await next_event(carol, "comment.added"))["comment"]["id"] == c["id"]
        await dave.call("comment.delete", comment=c["id"])
        assert (await next_event(carol, "comment.deleted"))["comment"] == c["id"]
        await carol.call("comment.add", post=control, text="control")
        await nothing_of(bob, c["id"], control)

        # The watch itself goes on: bob still gets the post's other comments and counts.
        other = await carol.call("comment.add", post=post, text="visible to bob")
        assert (await next_event(bob, "comment.added", post=post))["comment"]["id"] == other["id"]
        await next_event(bob, "post.updated", post=post, comment_count=1)

        # An unblock shows the commenter's new comments again (nothing is cached).
        await bob.call("block.remove", user=uid(dave))
        again = await dave.call("comment.add", post=post, text="unblocked")
        assert (await next_event(bob, "comment.added", post=post))["comment"]["id"] == again["id"]
        assert not watchers_of(node)._held  # every check let its post go


async def test_the_watcher_whom_the_commenter_blocks_gets_none_of_their_comment_events(
        node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, dave):
        post, control = await watch_scene(alice, bob, carol)
        await dave.call("post.watch", post=post)
        await dave.call("block.add", user=uid(bob))
        c = await dave.call("comment.add", post=post, text="not for bob")
        reply = await carol.call("comment.add", post=post, text="a reply", reply_to=c["id"])
        for who in (carol, dave):  # the author's own watch too
            assert (await next_event(who, "comment.added"))["comment"]["id"] == c["id"]
            got = await next_event(who, "comment.added", post=post)
            assert got["comment"]["id"] == reply["id"]
        # Bob is not blocked by carol, but her reply is in dave's thread, hidden from him
        # (comment.list with that parent is not_found for him): it does not reach him.
        await carol.call("comment.add", post=control, text="control")
        await nothing_of(bob, {c["id"], reply["id"]}, control)


async def test_a_reply_in_a_thread_hidden_from_the_watcher_reaches_them_in_no_event(
        node: Node) -> None:
    """The watcher blocks the thread's author; a third party's reply in that thread, its
    deletion and the thread's own deletion (which takes the reply with it) send the
    watcher nothing, while a reply in a visible thread reaches them."""
    async with bots(node, 4) as (alice, bob, carol, dave):
        post, control = await watch_scene(alice, bob, carol)
        c = await dave.call("comment.add", post=post, text="dave's thread")
        assert (await next_event(bob, "comment.added", post=post))["comment"]["id"] == c["id"]
        await bob.call("block.add", user=uid(dave))  # while bob watches
        reply = await carol.call("comment.add", post=post, text="carol answers dave",
                                 reply_to=c["id"])
        gone = await carol.call("comment.add", post=post, text="soon deleted",
                                reply_to=c["id"])
        await carol.call("comment.delete", comment=gone["id"])
        assert (await next_event(carol, "comment.deleted"))["comment"] == gone["id"]
        await carol.call("comment.add", post=control, text="control")
        await nothing_of(bob, {c["id"], reply["id"], gone["id"]}, control)

        # A reply in a thread bob may see still reaches him, in the same watch.
        own = await carol.call("comment.add", post=post, text="carol's thread")
        answer = await alice.call("comment.add", post=post, text="alice answers carol",
                                  reply_to=own["id"])
        for want in (own, answer):
            got = await next_event(bob, "comment.added", post=post)
            assert got["comment"]["id"] == want["id"]

        # Dave deletes his thread: one comment.deleted (removed 2), judged by dave.
        await dave.call("comment.delete", comment=c["id"])
        got = await next_event(carol, "comment.deleted", comment=c["id"])
        assert got["removed"] == 2
        await carol.call("comment.add", post=control, text="control again")
        await nothing_of(bob, {c["id"], reply["id"]}, control)
        assert not watchers_of(node)._held


async def test_a_block_made_after_the_comment_hides_its_deletion(node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, dave):
        post, control = await watch_scene(alice, bob, carol)
        c = await dave.call("comment.add", post=post, text="seen by all, then blocked")
        for who in (bob, carol):
            assert (await next_event(who, "comment.added"))["comment"]["id"] == c["id"]
        await dave.call("block.add", user=uid(bob))
        # The post's author removes it (the comment's author is still the one checked).
        await alice.call("comment.delete", comment=c["id"])
        assert (await next_event(carol, "comment.deleted"))["comment"] == c["id"]
        await carol.call("comment.add", post=control, text="control")
        await nothing_of(bob, c["id"], control)


async def test_a_removal_by_an_operator_is_hidden_from_the_blocking_watcher(
        node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, dave), admins(node) as (admin,):
        post, control = await watch_scene(alice, bob, carol)
        c = await dave.call("comment.add", post=post, text="rude words")
        assert (await next_event(bob, "comment.added"))["comment"]["id"] == c["id"]
        await bob.call("block.add", user=uid(dave))
        await admin.call("admin.remove_comment", comment=c["id"], reason="rude")
        assert (await next_event(carol, "comment.deleted"))["comment"] == c["id"]
        await carol.call("comment.add", post=control, text="control")
        await nothing_of(bob, c["id"], control)


async def test_one_query_per_comment_event_for_all_the_watchers_of_a_node(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[set[int]] = []
    real = watching.comment_viewers

    async def counted(conn: Any, comments: Any, viewers: Any) -> Any:
        calls.append(set(viewers))
        return await real(conn, comments, viewers)

    monkeypatch.setattr(watching, "comment_viewers", counted)
    async with bots(node, 5) as (alice, bob, carol, dave, erin):
        post, _ = await watch_scene(alice, bob, carol)
        for who in (alice, dave):
            await who.call("post.watch", post=post)
        c = await erin.call("comment.add", post=post, text="to four watchers")
        for who in (alice, bob, carol, dave):
            assert (await next_event(who, "comment.added"))["comment"]["id"] == c["id"]
        # A reply is judged by its author and its thread's in that same one query.
        reply = await dave.call("comment.add", post=post, text="a reply", reply_to=c["id"])
        for who in (alice, bob, carol, dave):
            assert (await next_event(who, "comment.added"))["comment"]["id"] == reply["id"]
        assert calls == [{uid(alice), uid(bob), uid(carol), uid(dave)}] * 2


async def test_comments_that_come_during_a_check_are_checked_together_and_counters_go_on(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hot post: comments that arrive while one is being checked wait for it and then
    go through one query together (not a round trip each), still in order and still
    hidden from whoever blocks their author; the post's counters are not held behind
    the check meanwhile."""
    calls: list[set[int]] = []
    entered, gate = threading.Event(), threading.Event()
    real = watching.comment_viewers

    async def gated(conn: Any, comments: Any, viewers: Any) -> Any:
        calls.append(set(comments))
        if len(calls) == 1:  # hold the first check until the test lets it go
            entered.set()
            await asyncio.get_running_loop().run_in_executor(None, gate.wait, EVENT_WAIT)
        return await real(conn, comments, viewers)

    monkeypatch.setattr(watching, "comment_viewers", gated)
    async with bots(node, 5) as (alice, bob, carol, dave, erin):
        post, control = await watch_scene(alice, bob, carol)
        await bob.call("block.add", user=uid(dave))
        first = await erin.call("comment.add", post=post, text="first")
        assert await trio.to_thread.run_sync(entered.wait, EVENT_WAIT)
        later = [await who.call("comment.add", post=post, text=text)
                 for who, text in ((dave, "by dave"), (erin, "by erin"), (dave, "dave again"))]
        # The count of all four reaches a watcher while the first check still waits.
        await next_event(carol, "post.updated", post=post, comment_count=4)
        assert not gate.is_set() and len(calls) == 1
        gate.set()
        ids = [first["id"], *(c["id"] for c in later)]
        got = [(await next_event(carol, "comment.added", post=post))["comment"]["id"]
               for _ in ids]
        assert got == ids  # in order
        assert calls == [{first["id"]}, set(ids[1:])]  # the three in one query
        seen_by_bob = [(await next_event(bob, "comment.added", post=post))["comment"]["id"]
                       for _ in range(2)]
        assert seen_by_bob == [first["id"], later[1]["id"]]
        await carol.call("comment.add", post=control, text="control")
        await nothing_of(bob, {later[0]["id"], later[2]["id"]}, control)
        w = watchers_of(node)
        assert not w._held and not w._counters_held and not w._rechecks


async def test_a_comments_count_follows_its_event_with_one_read_of_the_counts(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flusher does not re-read counts it must hold back for a comment check (it
    used to, and again after its window), and sends them once the check is over."""
    reads: list[list[int]] = []
    real = posts_db.counts

    async def counted(st: Any, post_ids: Any) -> Any:
        reads.append(list(post_ids))
        return await real(st, post_ids)

    monkeypatch.setattr(posts_db, "counts", counted)
    async with bots(node, 4) as (alice, bob, carol, dave):
        post, _ = await watch_scene(alice, bob, carol)
        c = await dave.call("comment.add", post=post, text="one")
        await next_event(bob, "post.updated", post=post, comment_count=1)
        assert (await next_event(carol, "comment.added"))["comment"]["id"] == c["id"]
        assert [ids for ids in reads if post in ids] == [[post]]


async def test_if_the_database_cannot_say_the_comment_event_goes_to_no_one(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """Better a comment seen on the next comment.list than a leak; the post's later events
    are not held back."""
    async def failing(conn: Any, comments: Any, viewers: Any) -> Any:
        raise Unavailable("postgres is down")

    real = watching.comment_viewers
    monkeypatch.setattr(watching, "comment_viewers", failing)
    async with bots(node, 4) as (alice, bob, carol, dave):
        post, control = await watch_scene(alice, bob, carol)
        c = await dave.call("comment.add", post=post, text="unscreened")
        # The count after it still comes (flushes wait for the check, then go on).
        await next_event(carol, "post.updated", post=post, comment_count=1)
        monkeypatch.setattr(watching, "comment_viewers", real)
        later = await dave.call("comment.add", post=post, text="screened")
        assert (await next_event(carol, "comment.added"))["comment"]["id"] == later["id"]
        await alice.call("comment.add", post=control, text="control")
        await nothing_of(bob, c["id"], control)
        assert not watchers_of(node)._held


async def test_a_block_hides_comment_events_on_another_node(
        node: Node, services: tuple[str, str], tmp_path: Path) -> None:
    other = make_settings(services, tmp_path / "b", namespace=node.settings.namespace,
                          node_name="node-b")
    async with open_node(other) as node_b, bots(node, 4) as (alice, bob, carol, dave), \
            connect(node_b.ws_url, token=bob.token) as far_bob, \
            connect(node_b.ws_url, token=carol.token) as far_carol:
        post, control = await watch_scene(alice, far_bob, far_carol)  # watched on node b
        await far_bob.call("block.add", user=uid(dave))  # on node b
        c = await dave.call("comment.add", post=post, text="from node a")  # on node a
        got = await next_event(far_carol, "comment.added")
        assert got["comment"]["id"] == c["id"]
        await carol.call("comment.add", post=control, text="control")
        await nothing_of(far_bob, c["id"], control)
        assert len(watchers_of(node_b)._by_post[post]) == 2  # the watches go on
