"""Fan-out jobs owed by a commit survive what happens after it: the job is written in
the mutation's transaction (feed_outbox) and a sweep queues those whose enqueue never
ran — a node gone right after the commit, Redis down, the caller cancelled.

The nodes here sweep only rows older than an hour (their own sweep never finds any):
a test ages its own rows and sweeps at the moment it means to, so nothing depends on
how long the steps in between take, and no other test's rows are taken."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from actors import posts as posts_actor
from config import limits
from protocol.client import Client
from server.node import Node, open_node
from server.ops.feed import feed_of
from storage import timelines as tl
from storage.events import tx_events
from tests.conftest import make_settings
from tests.fixtures import images
from tests.server.test_admin import admins
from tests.server.test_feed import WAIT, drained, home, ids, in_timeline
from tests.server.test_posts import bots, follow, quick_post, sql, uid

HOUR = 3600.0  # feed_outbox_after_seconds in these tests


async def outbox(node: Node, post_id: int) -> list[str]:
    kinds = await sql(node, "SELECT array_agg(kind ORDER BY kind) FROM feed_outbox"
                            " WHERE post_id = $1", post_id)
    return list(kinds or [])


async def sweep_now(node: Node, post_id: int) -> None:
    """Age this post's outbox rows past the sweep's hour, and sweep."""
    assert await sql(node, "UPDATE feed_outbox SET queued_at = now() - interval '2 hours'"
                           " WHERE post_id = $1 RETURNING 1", post_id)
    assert await tl.sweep_outbox(node.storage, HOUR, limits.FEED_OUTBOX_BATCH) >= 1


async def made_without_job(node: Node, author: Client, caption: str) -> int:
    """What a node gone right after post.create's commit leaves: the post and its
    outbox row, no job on the stream."""
    rec = await author.upload(images.jpeg(320, 240))
    post, made = await tx_events(node.storage, posts_actor._create, uid(author), caption, "",
                                 None, [(rec["id"], "")], [], [])
    assert made
    return int(post["id"])


async def feed_post(c: Client, post_id: int) -> None:
    with trio.fail_after(WAIT):
        while (await c.next_event("feed.post")).data["post"]["id"] != post_id:
            pass  # an earlier post's


async def test_jobs_left_in_the_outbox_are_fanned_out_once(
        services: tuple[str, str], tmp_path: Path) -> None:
    settings = make_settings(services, tmp_path, feed_outbox_after_seconds=HOUR)
    async with open_node(settings) as node, bots(node, 2) as (alice, bob):
        await follow(alice, bob)
        normal = (await quick_post(bob, "queued at once"))["id"]
        assert await outbox(node, normal) == []  # on the stream: out of the outbox
        await drained(node)
        post = await made_without_job(node, bob, "left behind")
        assert await outbox(node, post) == ["post"]
        await sweep_now(node, post)
        await feed_post(alice, post)
        await drained(node)
        assert await outbox(node, post) == []
        assert await in_timeline(node, uid(alice), post)
        assert ids(await home(alice, mode="chronological")) == [post, normal]

        # The same after post.delete's commit: the post leaves the timelines.
        keys = posts_actor.Posts(node.storage, None).channel  # type: ignore[arg-type]
        await tx_events(node.storage, posts_actor._delete, uid(bob), post, keys)
        assert await outbox(node, post) == ["delete"]
        await sweep_now(node, post)

        async def gone() -> bool:
            return not await in_timeline(node, uid(alice), post)

        with trio.fail_after(WAIT):
            await feed_of(node).until(gone)
        await drained(node)
        assert await outbox(node, post) == []
        assert ids(await home(alice, mode="chronological")) == [normal]

        async def stream_len(r: Any) -> int:
            return int(await r.xlen(tl.stream_key(node.storage)))

        assert await node.storage.redis_op(stream_len) == 0  # each job once, then gone


async def test_a_post_fanned_out_late_is_not_ranked_as_seen(
        services: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The "seen up to" mark is a post time: a follower who read their feed after a
    post was made but before its late fan-out reached them (their mark moved past it)
    gets it above the caught-up line, not below it as seen. (Every step counts as late
    here: FEED_LATE_MS 0.)"""
    monkeypatch.setattr(limits, "FEED_LATE_MS", 0)
    settings = make_settings(services, tmp_path, feed_outbox_after_seconds=HOUR)
    async with open_node(settings) as node, bots(node, 3) as (alice, bob, carol):
        await follow(alice, bob)
        await follow(alice, carol)
        old = (await quick_post(bob, "read before"))["id"]
        await drained(node)
        assert ids(await home(alice)) == [old]  # the mark is at `old`

        late = await made_without_job(node, bob, "late")
        newer = (await quick_post(carol, "newer"))["id"]
        await drained(node)
        page = await home(alice)  # the mark moves to `newer`, past `late`
        assert ids(page) == [newer, old] and page["caught_up_at"] == 1

        await sweep_now(node, late)
        await feed_post(alice, late)
        await drained(node)
        for mode in ("ranked", "chronological"):
            page = await home(alice, mode=mode, peek=True)
            assert set(ids(page)[:2]) == {late, newer} and ids(page)[2] == old, mode
            assert page["caught_up_at"] == 2, mode

        # The same job again (an enqueue whose outbox delete was lost): the post is no
        # longer new to the timeline, and the mark stays where the reading left it.
        assert ids(await home(alice)) and (await home(alice))["caught_up_at"] == 0
        assert await sql(node, "INSERT INTO feed_outbox (post_id, kind, author_id, queued_at)"
                               " VALUES ($1, 'post', $2, now() - interval '2 hours')"
                               " RETURNING 1", late, uid(bob))
        assert await tl.sweep_outbox(node.storage, HOUR, limits.FEED_OUTBOX_BATCH) >= 1
        await feed_post(alice, late)
        await drained(node)
        assert (await home(alice, peek=True))["caught_up_at"] == 0


async def test_unsuspending_fans_out_again_what_the_suspension_stopped(
        services: tuple[str, str], tmp_path: Path) -> None:
    """A fan-out stops at a suspended author; lifting the suspension puts the posts of
    the minutes before it into the timelines that missed them (no feed.post again)."""
    settings = make_settings(services, tmp_path, feed_outbox_after_seconds=HOUR)
    async with open_node(settings) as node, bots(node, 2) as (alice, bob), \
            admins(node) as (op,):
        await follow(alice, bob)
        before = (await quick_post(bob, "fanned out"))["id"]
        await drained(node)
        assert ids(await home(alice, mode="chronological")) == [before]  # warm
        stopped = await made_without_job(node, bob, "its job runs after the suspension")
        await op.call("admin.suspend", user=uid(bob), reason="spam")
        await sweep_now(node, stopped)
        await drained(node)
        assert await outbox(node, stopped) == []
        assert not await in_timeline(node, uid(alice), stopped)

        await op.call("admin.unsuspend", user=uid(bob))

        async def back() -> bool:
            return await in_timeline(node, uid(alice), stopped)

        with trio.fail_after(WAIT):
            await feed_of(node).until(back)
        await drained(node)
        assert ids(await home(alice, mode="chronological")) == [stopped, before]
        assert await outbox(node, stopped) == []
