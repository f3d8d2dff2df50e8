"""Fan-out jobs against a real node (found by a review, each test failed before its fix):
a post deleted, or its author suspended, during its fan-out stops it at the next batch;
a job another node claimed is left to that node; a node holds one job at a time; an
author who falls back to the celebrity threshold keeps the posts that skipped the
timelines; unmuting brings back the posts of the mute's time; a ranked page never
points its caught-up line past its end.

A batch is held, where a test needs it, by a gate around the batch query
(`storage.timelines._batch`) on the storage thread: the fan-out otherwise runs as is."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from protocol.client import Client
from server.node import Node, open_node
from server.ops.feed import feed_of
from storage import timelines as tl
from tests.conftest import make_settings
from tests.server.test_feed import drained, home, ids, in_timeline, no_feed_post
from tests.server.test_posts import EVENT_WAIT, bots, follow, quick_post, sql, uid

GATE_WAIT = 20.0


class Gate:
    """Holds the batches after the first (`after > 0`) of the jobs that `match` until
    `release`. A job is matched by what is known before its post is made (its author):
    the job starts at the commit, before `post.create`'s reply gives the post's id, and
    a gate waiting for that id let a quick job's batches through (two flakes)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, match: Callable[[tl.Job], bool]):
        self.entered, self.released = threading.Event(), threading.Event()
        real = tl._batch

        async def gated(conn: Any, job: tl.Job, after: int, limit: int) -> Any:
            if match(job) and after > 0 and not self.released.is_set():
                self.entered.set()
                await asyncio.get_running_loop().run_in_executor(
                    None, self.released.wait, GATE_WAIT)
            return await real(conn, job, after, limit)

        monkeypatch.setattr(tl, "_batch", gated)

    async def wait_entered(self) -> None:
        assert await trio.to_thread.run_sync(self.entered.wait, GATE_WAIT)

    def release(self) -> None:
        self.released.set()


def by_author(author: list[Client]) -> Callable[[tl.Job], bool]:
    """A Gate's match: the jobs of `author[0]`'s posts (set once the bots exist)."""
    return lambda job: bool(author) and job.author_id == uid(author[0])


@pytest.fixture
def one_by_one(services: tuple[str, str], tmp_path: Path) -> Any:
    """Settings for a node that fans out one follower per batch."""
    return make_settings(services, tmp_path, feed_fanout_batch=1)


async def first_feed_post(c: Client, post: int) -> None:
    with trio.fail_after(EVENT_WAIT):
        while (await c.next_event("feed.post")).data["post"]["id"] != post:
            pass


async def fans_of(node: Node, author: Client, fans: list[Client]) -> list[Client]:
    """The fans follow the author; returned in id order (the fan-out's order)."""
    for f in fans:
        await follow(f, author)
    return sorted(fans, key=uid)


@pytest.mark.parametrize("how", ["deleted", "suspended"])
async def test_a_post_gone_during_its_fan_out_stops_it(
        one_by_one: Any, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    poster: list[Client] = []
    gate = Gate(monkeypatch, by_author(poster))
    async with open_node(one_by_one) as node, bots(node, 4) as (author, *others):
        fans = await fans_of(node, author, others)
        poster.append(author)
        post = (await quick_post(author, "oops"))["id"]
        await first_feed_post(fans[0], post)  # the first batch went out
        await gate.wait_entered()  # the second waits
        if how == "deleted":
            await author.call("post.delete", post=post)
        else:
            await sql(node, "UPDATE users SET suspended_at = now() WHERE id = $1 RETURNING id",
                      uid(author))
        gate.release()
        await drained(node)
        for fan in fans[1:]:
            await no_feed_post(fan, fans[0])
            assert not await in_timeline(node, uid(fan), post)


async def test_a_job_another_node_claimed_is_left_to_it(
        one_by_one: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """This node stalls mid-job (held at its second batch) long enough for another to
    claim it: it then sends nothing more and leaves the job pending to the other."""
    poster: list[Client] = []
    gate = Gate(monkeypatch, by_author(poster))
    async with open_node(one_by_one) as node, bots(node, 4) as (author, *others):
        fans = await fans_of(node, author, others)
        poster.append(author)
        post = (await quick_post(author, "contested"))["id"]
        await first_feed_post(fans[0], post)
        await gate.wait_entered()
        stream = tl.stream_key(node.storage)
        [pending] = await node.storage.redis_op(
            lambda r: r.xpending_range(stream, tl.GROUP, "-", "+", 10))
        mine = pending["consumer"].decode()
        entry = pending["message_id"]
        # what another node's XAUTOCLAIM does once the job sat idle past the claim time
        await node.storage.redis_op(
            lambda r: r.xclaim(stream, tl.GROUP, "other-node", 0, [entry], justid=True))
        jobs_done = feed_of(node).jobs_done
        gate.release()
        for fan in fans[1:]:
            await no_feed_post(fan, fans[0])
        [still] = await node.storage.redis_op(
            lambda r: r.xpending_range(stream, tl.GROUP, "-", "+", 10))
        assert (still["message_id"], still["consumer"].decode()) == (entry, "other-node")
        assert mine != "other-node" and feed_of(node).jobs_done == jobs_done


async def test_a_node_holds_one_job_at_a_time(
        one_by_one: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs queued while one runs are not taken with the next read all at once: those
    waiting behind would age in this node's pending list until another claimed them."""
    poster: list[Client] = []
    gate = Gate(monkeypatch, by_author(poster))  # p0: the author's first job
    async with open_node(one_by_one) as node, bots(node, 3) as (author, *others):
        fans = await fans_of(node, author, others)
        poster.append(author)
        await quick_post(author, "p0")
        await gate.wait_entered()
        queued = [(await quick_post(author, f"p{i}"))["id"] for i in (1, 2)]
        second = Gate(monkeypatch, lambda job: job.post_id == queued[0])
        gate.release()  # p0 ends; the worker reads again with p1 and p2 both waiting
        await second.wait_entered()  # p1 is under way
        stream = tl.stream_key(node.storage)
        pending = await node.storage.redis_op(
            lambda r: r.xpending_range(stream, tl.GROUP, "-", "+", 10))
        second.release()
        assert len(pending) == 1  # p1 only: p2 still waits in the stream for any node
        await drained(node)
        for p in queued:
            await first_feed_post(fans[-1], p)


async def test_an_author_back_at_the_threshold_keeps_the_skipped_posts(
        services: tuple[str, str], tmp_path: Path) -> None:
    settings = make_settings(services, tmp_path, feed_celebrity_threshold=2)
    async with open_node(settings) as node, bots(node, 4) as (alice, star, x, y):
        for fan in (alice, x, y):
            await follow(fan, star)
        assert ids(await home(alice, mode="chronological")) == []  # alice's timeline: built
        post = (await quick_post(star, "as a celebrity"))["id"]
        await drained(node)
        assert not await in_timeline(node, uid(alice), post)  # skipped the timelines
        assert ids(await home(alice, mode="chronological")) == [post]
        await y.call("follow.remove", user=uid(star))  # 3 -> 2 followers: not above 2
        assert ids(await home(alice, mode="chronological")) == [post]
        assert ids(await home(alice)) == [post]
        later = (await quick_post(star, "back among the many"))["id"]
        await drained(node)
        assert await in_timeline(node, uid(alice), later)  # fanned out again
        assert ids(await home(alice, mode="chronological")) == [later, post]


async def test_unmuting_brings_back_the_posts_of_the_mute(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        await follow(alice, bob)
        before = (await quick_post(bob, "before the mute"))["id"]
        await drained(node)
        assert ids(await home(alice, mode="chronological")) == [before]
        await alice.call("mute.add", user=uid(bob))
        during = (await quick_post(bob, "while muted"))["id"]
        await drained(node)
        assert ids(await home(alice, mode="chronological")) == []
        await alice.call("mute.remove", user=uid(bob))
        after = (await quick_post(bob, "after the mute"))["id"]
        await drained(node)
        assert ids(await home(alice, mode="chronological")) == [after, during, before]


async def test_a_muted_celebrity_is_not_merged_at_read(
        services: tuple[str, str], tmp_path: Path) -> None:
    """Its posts never show; merged, they only used up the read rounds of a page."""
    settings = make_settings(services, tmp_path, feed_celebrity_threshold=1)
    async with open_node(settings) as node, bots(node, 3) as (alice, star, x):
        for fan in (alice, x):
            await follow(fan, star)

        async def merged(conn: Any) -> list[int]:
            return await tl.celebrity_followees(conn, uid(alice), 1)

        assert await node.storage.read(merged) == [uid(star)]
        await alice.call("mute.add", user=uid(star))
        assert await node.storage.read(merged) == []


async def test_the_caught_up_line_never_points_past_a_ranked_page(node: Node) -> None:
    async with bots(node, 2) as (me, a):
        await follow(me, a)
        olds = [(await quick_post(a, f"old {i}"))["id"] for i in range(3)]
        await drained(node)
        await home(me)  # seen up to the newest old post
        news = [(await quick_post(a, f"new {i}"))["id"] for i in range(3)]
        await drained(node)
        first = await home(me, limit=2)
        assert set(ids(first)) == set(news[1:]) and "caught_up_at" not in first
        await a.call("post.delete", post=olds[2])  # the post the line stood before
        second = await home(me, limit=2, cursor=first["cursor"])
        assert ids(second) == [news[0]]
        assert "caught_up_at" not in second  # was 1: one past the page's only post


async def test_a_celebritys_deletion_clears_its_own_timeline(
        services: tuple[str, str], tmp_path: Path) -> None:
    """Its followers' timelines never held the post: the delete job goes no further than
    the author's own (it walked every follower, doing nothing)."""
    settings = make_settings(services, tmp_path, feed_celebrity_threshold=1)
    async with open_node(settings) as node, bots(node, 3) as (star, x, y):
        for fan in (x, y):
            await follow(fan, star)
        post = (await quick_post(star, "soon gone"))["id"]
        await drained(node)
        assert await in_timeline(node, uid(star), post)
        await star.call("post.delete", post=post)
        await drained(node)
        assert not await in_timeline(node, uid(star), post)
        for c in (star, x):
            assert post not in ids(await home(c, mode="chronological"))
