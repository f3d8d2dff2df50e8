"""Fan-out jobs owed by a commit survive what happens after it: the job is written in
the mutation's transaction (feed_outbox) and a sweep queues those whose enqueue never
ran — a node gone right after the commit, Redis down, the caller cancelled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from actors import posts as posts_actor
from server.node import Node, open_node
from server.ops.feed import feed_of
from storage import timelines as tl
from storage.events import tx_events
from tests.conftest import make_settings
from tests.fixtures import images
from tests.server.test_feed import WAIT, drained, home, ids, in_timeline
from tests.server.test_posts import bots, follow, quick_post, sql, uid

OUTBOX_AFTER = 0.3  # seconds: the sweep's age in these tests (30 s by default)


async def outbox(node: Node, post_id: int) -> list[str]:
    kinds = await sql(node, "SELECT array_agg(kind ORDER BY kind) FROM feed_outbox"
                            " WHERE post_id = $1", post_id)
    return list(kinds or [])


async def test_jobs_left_in_the_outbox_are_fanned_out_once(
        services: tuple[str, str], tmp_path: Path) -> None:
    settings = make_settings(services, tmp_path, feed_outbox_after_seconds=OUTBOX_AFTER)
    async with open_node(settings) as node, bots(node, 2) as (alice, bob):
        await follow(alice, bob)
        normal = (await quick_post(bob, "queued at once"))["id"]
        assert await outbox(node, normal) == []  # on the stream: out of the outbox
        await drained(node)
        rec = await bob.upload(images.jpeg(320, 240))

        # What a node gone right after post.create's commit leaves: the post and its
        # outbox row, no job on the stream.
        post, made = await tx_events(node.storage, posts_actor._create, uid(bob),
                                     "left behind", "", None, [(rec["id"], "")], [], [])
        assert made and await outbox(node, post["id"]) == ["post"]
        with trio.fail_after(WAIT):
            while (await alice.next_event("feed.post")).data["post"]["id"] != post["id"]:
                pass  # the first post's
        await drained(node)
        assert await outbox(node, post["id"]) == []
        assert await in_timeline(node, uid(alice), post["id"])
        assert ids(await home(alice, mode="chronological")) == [post["id"], normal]

        # The same after post.delete's commit: the post leaves the timelines.
        keys = posts_actor.Posts(node.storage, None).channel  # type: ignore[arg-type]
        await tx_events(node.storage, posts_actor._delete, uid(bob), post["id"], keys)
        assert await outbox(node, post["id"]) == ["delete"]

        async def gone() -> bool:
            return not await in_timeline(node, uid(alice), post["id"])

        with trio.fail_after(WAIT):
            await feed_of(node).until(gone)
        await drained(node)
        assert await outbox(node, post["id"]) == []
        assert ids(await home(alice, mode="chronological")) == [normal]

        async def stream_len(r: Any) -> int:
            return int(await r.xlen(tl.stream_key(node.storage)))

        assert await node.storage.redis_op(stream_len) == 0  # each job once, then gone
