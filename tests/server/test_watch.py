"""Live watching: comment.added/deleted at once, post.updated coalesced, post.deleted,
privacy at watch time, caps, clean-up on disconnect, and events from another node."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

import trio

from actors.watch import Watchers
from protocol.client import connect
from protocol.errors import BadRequest, NotFound
from server.node import Node, open_node
from tests.conftest import make_settings
from tests.server.test_comments_likes import seed_users
from tests.server.test_posts import (
    EVENT_WAIT,
    bots,
    expect,
    make_private,
    next_event,
    quick_post,
)

BURST = 50


def watchers_of(node: Node) -> Watchers:
    handler: Any = node.channel_handlers[node.storage.key("p", "")]
    return handler.__self__  # type: ignore[no-any-return]


async def test_watcher_gets_comments_edits_coalesced_counts_and_deletion(node: Node) -> None:
    async with contextlib.AsyncExitStack() as stack:
        alice, bob, carol = await stack.enter_async_context(bots(node, 3))
        post = await quick_post(alice, "watch this")
        pid = post["id"]
        now = await bob.call("post.watch", post=pid)
        assert now["id"] == pid and now["comment_count"] == 0  # the state to apply events to

        c1 = await carol.call("comment.add", post=pid, text="first!")
        added = await next_event(bob, "comment.added")
        assert added == {"post": pid, "comment": c1}
        updated = await next_event(bob, "post.updated", comment_count=1)
        assert updated["post"] == pid and updated["like_count"] == 0

        await alice.call("post.edit", post=pid, caption="now with #tags")
        edit = await next_event(bob, "post.updated", caption="now with #tags")
        assert edit["tags"] == ["tags"] and edit["comment_count"] == 1

        # A burst of likes from distinct users: far fewer post.updated, the last one exact.
        crowd = [await stack.enter_async_context(connect(node.ws_url, token=t))
                 for t in await seed_users(node, BURST)]
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            for c in crowd:
                nursery.start_soon(functools.partial(c.call, "post.like", post=pid))
        updates = 0
        with trio.fail_after(EVENT_WAIT):
            while True:
                ev = await bob.next_event("post.updated")
                updates += 1
                if ev.data["like_count"] == BURST:
                    break
        # At most one per flush interval (plus the first, sent at once).
        elapsed = trio.current_time() - started
        assert 1 <= updates <= min(BURST // 5, elapsed / watchers_of(node).interval + 2), (
            updates, elapsed)
        assert ev.data["comment_count"] == 1

        await carol.call("comment.delete", comment=c1["id"])
        gone = await next_event(bob, "comment.deleted")
        assert gone["post"] == pid and gone["comment"] == c1["id"]
        await next_event(bob, "post.updated", comment_count=0)

        await alice.call("post.delete", post=pid)
        assert await next_event(bob, "post.deleted") == {"post": pid}
        assert watchers_of(node)._by_post.get(pid) is None  # nothing more to watch


async def test_watch_needs_sight_of_the_post_is_capped_and_ends_with_the_socket(
        node: Node) -> None:
    watchers = watchers_of(node)
    watchers.per_connection = 2
    dropped = trio.Event()
    node.disconnect_hooks.append(lambda conn: dropped.set())
    async with bots(node, 3) as (alice, bob, carol):
        await make_private(carol)
        secret = await quick_post(carol, "hidden")
        await expect(NotFound, bob, "post.watch", post=secret["id"])
        await expect(NotFound, bob, "post.watch", post=secret["id"] + 1)
        assert not watchers._by_post and not watchers._by_conn  # failed watches leave nothing

        posts = [await quick_post(alice, f"p{i}") for i in range(3)]
        await bob.call("post.watch", post=posts[0]["id"])
        await bob.call("post.watch", post=posts[0]["id"])  # again: still one
        await bob.call("post.watch", post=posts[1]["id"])
        await expect(BadRequest, bob, "post.watch", post=posts[2]["id"])
        assert (await bob.call("post.unwatch", post=posts[0]["id"]))["was_watching"] is True
        await bob.call("post.watch", post=posts[2]["id"])
        # Not watching posts[0] any more: its comments don't reach bob, posts[2]'s do.
        await carol.call("comment.add", post=posts[0]["id"], text="unseen")
        await carol.call("comment.add", post=posts[2]["id"], text="seen")
        added = await next_event(bob, "comment.added")
        assert added["post"] == posts[2]["id"] and added["comment"]["text"] == "seen"

        watched = {posts[1]["id"], posts[2]["id"]}
        assert set(watchers._by_post) == watched
        await bob.aclose()
        with trio.fail_after(EVENT_WAIT):
            await dropped.wait()
        assert not watchers._by_conn and not watchers._by_post


async def test_events_reach_watchers_on_another_node(node: Node, services: tuple[str, str],
                                                     tmp_path: Path) -> None:
    other = make_settings(services, tmp_path / "b", namespace=node.settings.namespace,
                          node_name="node-b")
    async with open_node(other) as node_b, bots(node, 2) as (alice, carol):
        post = await quick_post(alice, "across nodes")
        pid = post["id"]
        async with connect(node_b.ws_url, token=carol.token) as far:
            assert far.hello_data is not None and far.hello_data["node"] == "node-b"
            await far.call("post.watch", post=pid)
            c = await alice.call("comment.add", post=pid, text="from node a")
            assert (await next_event(far, "comment.added"))["comment"]["id"] == c["id"]
            await alice.call("post.like", post=pid)
            await next_event(far, "post.updated", like_count=1, comment_count=1)
            await alice.call("post.delete", post=pid)
            await next_event(far, "post.deleted", post=pid)

