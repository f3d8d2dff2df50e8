"""Live watches end when the watcher loses sight of the post: a block either way, a
private account's follow gone (unfollowed or removed), an account turned private —
with `post.deleted` to those watchers only, on every node; everyone else keeps
getting the post's events."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import trio

from actors.errors import Missing
from actors.watch import SIGHT
from protocol.client import Client, connect
from protocol.errors import NotFound
from server.node import Node, open_node
from storage import bus
from tests.conftest import make_settings
from tests.rowlock import holding
from tests.server.test_posts import (
    EVENT_WAIT,
    bots,
    expect,
    follow,
    make_private,
    next_event,
    quick_post,
    uid,
)
from tests.server.test_watch import watchers_of

POST_EVENTS = {"post.updated", "comment.added", "comment.deleted", "post.deleted"}


async def nothing_about(c: Client, post_id: int, control: int) -> None:
    """Read `c`'s events up to the comment.added on `control` (made after everything
    about `post_id` that others got): no post event about `post_id` came in between."""
    with trio.fail_after(EVENT_WAIT):
        while True:
            ev = await c.next_event()
            if ev.name in POST_EVENTS:
                assert ev.data.get("post") != post_id, (ev.name, ev.data)
            if ev.name == "comment.added" and ev.data["post"] == control:
                return


async def watch_scene(alice: Client, bob: Client, carol: Client) -> tuple[int, int]:
    """Alice's post, watched by bob and carol, and carol's control post, watched by bob:
    (alice's post, control)."""
    a_post = (await quick_post(alice, "alice's"))["id"]
    control = (await quick_post(carol, "control"))["id"]
    for pid in (a_post, control):
        await bob.call("post.watch", post=pid)
    await carol.call("post.watch", post=a_post)
    return a_post, control


async def collect(c: Client, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], Any]:
    """The first event of each (name, post) wanted; post.updated ones with a comment."""
    seen: dict[tuple[str, int], Any] = {}
    with trio.fail_after(EVENT_WAIT):
        while set(seen) != wanted:
            ev = await c.next_event()
            key = (ev.name, ev.data.get("post"))
            if key in wanted and (ev.name != "post.updated" or ev.data["comment_count"] == 1):
                seen.setdefault(key, ev.data)  # type: ignore[arg-type]
    return seen


async def test_a_block_ends_the_watches_of_both_on_each_others_posts(node: Node) -> None:
    watchers = watchers_of(node)
    async with bots(node, 4) as (alice, bob, carol, dave):
        a_post = (await quick_post(alice, "alice's"))["id"]
        b_post = (await quick_post(bob, "bob's"))["id"]
        control = (await quick_post(carol, "control"))["id"]
        await bob.call("post.watch", post=a_post)
        await alice.call("post.watch", post=b_post)
        for pid in (a_post, b_post):
            await dave.call("post.watch", post=pid)
        for c in (alice, bob):
            await c.call("post.watch", post=control)

        await alice.call("block.add", user=uid(bob))
        # The blocked watcher on the blocker's post, and the blocker on the blocked's.
        assert await next_event(bob, "post.deleted") == {"post": a_post}
        assert await next_event(alice, "post.deleted") == {"post": b_post}
        assert len(watchers._by_post[a_post]) == len(watchers._by_post[b_post]) == 1  # dave

        # The node keeps serving the third watcher; the two get nothing more of those posts.
        ca = await carol.call("comment.add", post=a_post, text="on alice's")
        cb = await carol.call("comment.add", post=b_post, text="on bob's")
        seen = await collect(dave, {("comment.added", a_post), ("comment.added", b_post),
                                    ("post.updated", a_post), ("post.updated", b_post)})
        assert seen[("comment.added", a_post)]["comment"]["id"] == ca["id"]
        assert seen[("comment.added", b_post)]["comment"]["id"] == cb["id"]
        await carol.call("comment.add", post=control, text="after")
        await nothing_about(bob, a_post, control)
        await nothing_about(alice, b_post, control)

        # Watching again is refused now, as for any post they may not see.
        await expect(NotFound, bob, "post.watch", post=a_post)
        assert (await bob.call("post.unwatch", post=a_post))["was_watching"] is False


async def test_the_blocked_side_blocking_ends_its_watch_too(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        a_post, control = await watch_scene(alice, bob, carol)
        await bob.call("block.add", user=uid(alice))  # the watcher blocks the author
        assert await next_event(bob, "post.deleted") == {"post": a_post}
        c = await alice.call("comment.add", post=a_post, text="still here")
        assert (await next_event(carol, "comment.added"))["comment"]["id"] == c["id"]
        await carol.call("comment.add", post=control, text="after")
        await nothing_about(bob, a_post, control)


async def test_a_private_accounts_follow_gone_ends_the_watch(node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, dave):
        await make_private(alice)
        for c in (bob, carol):
            await follow(c, alice)
        a_post = (await quick_post(alice, "for followers"))["id"]
        control = (await quick_post(dave, "control"))["id"]
        for c in (bob, carol):
            await c.call("post.watch", post=a_post)
            await c.call("post.watch", post=control)
        await alice.call("post.watch", post=a_post)

        await bob.call("follow.remove", user=uid(alice))  # bob unfollows
        assert await next_event(bob, "post.deleted") == {"post": a_post}
        c1 = await alice.call("comment.add", post=a_post, text="one")
        assert (await next_event(carol, "comment.added"))["comment"]["id"] == c1["id"]
        await next_event(carol, "post.updated", post=a_post, comment_count=1)
        await dave.call("comment.add", post=control, text="after one")
        await nothing_about(bob, a_post, control)

        await alice.call("follow.remove", user=uid(carol), follower=True)  # carol is removed
        assert await next_event(carol, "post.deleted") == {"post": a_post}
        c2 = await alice.call("comment.add", post=a_post, text="two")
        # The author's own watch goes on.
        assert (await next_event(alice, "comment.added"))["comment"]["id"] == c1["id"]
        assert (await next_event(alice, "comment.added"))["comment"]["id"] == c2["id"]
        await dave.call("comment.add", post=control, text="after two")
        await nothing_about(carol, a_post, control)
        await expect(NotFound, carol, "post.watch", post=a_post)


async def test_unfollowing_a_public_account_keeps_the_watch(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        await follow(bob, alice)
        a_post = (await quick_post(alice, "public"))["id"]
        await bob.call("post.watch", post=a_post)
        await bob.call("follow.remove", user=uid(alice))
        await bob.call("mute.add", user=uid(alice))  # muting hides nothing either
        c = await alice.call("comment.add", post=a_post, text="still visible")
        assert (await next_event(bob, "comment.added"))["comment"]["id"] == c["id"]


async def test_turning_private_ends_the_watches_of_non_followers_only(node: Node) -> None:
    watchers = watchers_of(node)
    async with bots(node, 4) as (alice, bob, carol, dave):
        await follow(bob, alice)
        a_post = (await quick_post(alice, "public for now"))["id"]
        control = (await quick_post(dave, "control"))["id"]
        for c in (alice, bob, carol):
            await c.call("post.watch", post=a_post)
        await carol.call("post.watch", post=control)

        await make_private(alice)
        assert await next_event(carol, "post.deleted") == {"post": a_post}
        assert len(watchers._by_post[a_post]) == 2  # alice and bob
        c = await alice.call("comment.add", post=a_post, text="followers only now")
        for who in (alice, bob):
            assert (await next_event(who, "comment.added"))["comment"]["id"] == c["id"]
        await next_event(bob, "post.updated", post=a_post, comment_count=1)
        await dave.call("comment.add", post=control, text="after")
        await nothing_about(carol, a_post, control)
        assert not watchers._held  # every re-check let its post go


async def test_a_malformed_sight_message_changes_nothing(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        a_post = (await quick_post(alice, "p"))["id"]
        await bob.call("post.watch", post=a_post)
        await bus.publish(node.storage, [(node.storage.key("p", a_post),
                                          bus.pack(SIGHT, b"\xc1 not msgpack"))])
        c = await alice.call("comment.add", post=a_post, text="still watched")
        assert (await next_event(bob, "comment.added"))["comment"]["id"] == c["id"]


async def test_a_block_on_one_node_ends_the_watch_on_another(node: Node,
                                                             services: tuple[str, str],
                                                             tmp_path: Path) -> None:
    other = make_settings(services, tmp_path / "b", namespace=node.settings.namespace,
                          node_name="node-b")
    async with open_node(other) as node_b, bots(node, 3) as (alice, bob, carol), \
            connect(node_b.ws_url, token=bob.token) as far_bob, \
            connect(node_b.ws_url, token=carol.token) as far_carol:
        a_post, control = await watch_scene(alice, far_bob, far_carol)  # on node b
        await alice.call("block.add", user=uid(bob))  # on node a
        assert await next_event(far_bob, "post.deleted") == {"post": a_post}
        c = await alice.call("comment.add", post=a_post, text="from node a")
        assert (await next_event(far_carol, "comment.added"))["comment"]["id"] == c["id"]
        await carol.call("comment.add", post=control, text="after")
        await nothing_about(far_bob, a_post, control)
        assert len(watchers_of(node_b)._by_post[a_post]) == 1


async def test_a_watch_whose_check_raced_a_block_fails_and_is_undone(node: Node) -> None:
    """The check read the relation before the block committed; the block's re-check
    finds the watch registered, ends it, and the watch answers not_found."""
    watchers = watchers_of(node)
    async with bots(node, 2) as (alice, bob):
        a_post = (await quick_post(alice, "raced"))["id"]
        seen = await bob.call("post.get", post=a_post)  # what a check before the block read
        (conn,) = [c for c in node.gateway.connections.values()
                   if c.session is not None and c.session.user_id == uid(bob)]
        checking, release = trio.Event(), trio.Event()

        async def stale_check() -> dict[str, Any]:
            checking.set()
            await release.wait()
            return seen

        async def watch() -> None:
            try:
                await watchers.watch(conn, a_post, stale_check, viewer=uid(bob))
            except Missing:  # the op answers not_found
                failed.set()

        failed = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            with trio.fail_after(EVENT_WAIT):
                await checking.wait()  # registered and subscribed
            await alice.call("block.add", user=uid(bob))
            assert await next_event(bob, "post.deleted") == {"post": a_post}
            release.set()
            with trio.fail_after(EVENT_WAIT):
                await failed.wait()
        assert a_post not in watchers._by_post and not watchers.watching(conn)


async def test_an_unfollow_racing_a_turn_to_private_still_ends_the_watch(node: Node) -> None:
    """The unfollow read the account as public (no sight lost); the account turned
    private and re-checked its watchers while the unfollow was uncommitted (the follow
    still there); then the unfollow committed. Each missed the other: a non-follower of a
    private account kept getting its post's events. Now any follow gone re-checks."""
    async with bots(node, 2) as (x, y):
        # The follower's id first: the unfollow bumps its counter first, where the test
        # holds it, before the owner's row (which turning private writes too).
        fan, owner = sorted((x, y), key=uid)
        await follow(fan, owner)
        post = (await quick_post(owner, "soon private"))["id"]
        await fan.call("post.watch", post=post)
        async with (holding(node.storage, "SELECT 1 FROM users WHERE id = $1 FOR UPDATE",
                            uid(fan)) as holder,
                    trio.open_nursery() as nursery):
            nursery.start_soon(functools.partial(fan.call, "follow.remove", user=uid(owner)))
            await holder.wait_statement_waits("%following_count%")  # the follow row is gone
            await make_private(owner)  # its re-check still sees the uncommitted follow
            c = await owner.call("comment.add", post=post, text="after the re-check")
            # Held behind that re-check, then sent: the fan still watched at that point.
            assert (await next_event(fan, "comment.added"))["comment"]["id"] == c["id"]
            await holder.commit()
        assert (await next_event(fan, "post.deleted"))["post"] == post
        await expect(NotFound, fan, "post.get", post=post)
