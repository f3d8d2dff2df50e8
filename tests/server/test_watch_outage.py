"""A sight lost while Redis is down: the `v` message is lost with it, so when the node's
bus comes back every watch here is re-checked (actors/watch.py, `recheck_all`)."""

from __future__ import annotations

from pathlib import Path

import trio

from server.node import Node, open_node
from storage.embedded import EmbeddedRedis
from tests.conftest import make_settings
from tests.server.test_posts import bots, next_event, quick_post, sql, uid
from tests.server.test_watch import watchers_of
from tests.server.test_watch_privacy import nothing_about, watch_scene

RECONNECT_WAIT = 30.0  # Redis start-up plus the bus's reconnect back-off


async def test_a_block_made_while_redis_is_down_ends_the_watch_once_the_bus_is_back(
        services: tuple[str, str], tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "own-redis")
    url = await trio.to_thread.run_sync(redis.start)
    try:
        async with open_node(make_settings(services, tmp_path, redis_url=url)) as node:
            watchers = watchers_of(node)
            async with bots(node, 3) as (alice, bob, carol):
                post, control = await watch_scene(alice, bob, carol)
                reconnects, sweeps = node.subscriber.reconnects, watchers.sweeps

                await trio.to_thread.run_sync(redis.stop)
                # Commits in Postgres; the `v` to the post's watchers is lost.
                await alice.call("block.add", user=uid(bob))
                await trio.to_thread.run_sync(redis.start)

                with trio.fail_after(RECONNECT_WAIT):
                    ev = await bob.next_event("post.deleted")
                assert ev.data == {"post": post}
                assert node.subscriber.reconnects > reconnects and watchers.sweeps > sweeps
                assert len(watchers._by_post[post]) == 1  # carol's

                # The watcher who still sees the post keeps getting its events; the
                # blocked one gets nothing more of it.
                c = await alice.call("comment.add", post=post, text="after the outage")
                with trio.fail_after(RECONNECT_WAIT):
                    got = await carol.next_event("comment.added")
                assert got.data["comment"]["id"] == c["id"]
                await carol.call("comment.add", post=control, text="control")
                await nothing_about(bob, post, control)
    finally:
        await trio.to_thread.run_sync(redis.stop)


async def test_a_sweep_ends_watches_of_posts_deleted_unseen_and_keeps_the_rest(
        node: Node) -> None:
    """A post deleted while its `post.deleted` was lost: the sweep ends its watches too."""
    watchers = watchers_of(node)
    async with bots(node, 2) as (alice, bob):
        gone = (await quick_post(alice, "deleted unseen"))["id"]
        kept = (await quick_post(alice, "still here"))["id"]
        for pid in (gone, kept):
            await bob.call("post.watch", post=pid)
        await sql(node, "UPDATE posts SET deleted_at = now() WHERE id = $1", gone)  # no publish

        await watchers.sweep()
        assert await next_event(bob, "post.deleted") == {"post": gone}
        assert gone not in watchers._by_post and len(watchers._by_post[kept]) == 1
        c = await alice.call("comment.add", post=kept, text="after the sweep")
        assert (await next_event(bob, "comment.added"))["comment"]["id"] == c["id"]
