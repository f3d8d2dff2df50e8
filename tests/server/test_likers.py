"""post.likers end to end against a real node: who liked a post, the latest like first,
paged without gaps or repeats (ties on the like's time included), the user maps, who
may ask (sight of the post), who is left out (blocked either way, suspended), and bad
arguments that change nothing."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import trio

from config.limits import LIKERS_DEFAULT, LIKERS_MAX
from protocol.client import Client, connect
from protocol.errors import BadRequest, NotFound
from server.node import Node
from tests.server.test_comments_likes import like_count, seed_users
from tests.server.test_posts import (
    block,
    bots,
    expect,
    follow,
    make_private,
    quick_post,
    sql,
    uid,
)

WAIT = 30.0


@contextlib.asynccontextmanager
async def crowd(node: Node, n: int) -> AsyncIterator[list[Client]]:
    """`n` users seeded straight into Postgres, each on its own connection."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(connect(node.ws_url, token=token))
               for token in await seed_users(node, n)]


async def all_likers(c: Client, post_id: int, limit: int) -> tuple[list[int], int]:
    """Every liker's id, page by page; and how many pages it took."""
    ids: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        args: dict[str, Any] = {"post": post_id, "limit": limit}
        if cursor is not None:
            args["cursor"] = cursor
        r = await c.call("post.likers", **args)
        pages += 1
        assert len(r["users"]) <= limit
        ids += [u["id"] for u in r["users"]]
        cursor = r["cursor"]
        if cursor is None:
            return ids, pages
        assert isinstance(cursor, str) and pages < 100


async def test_latest_like_first_paged_without_gaps_or_repeats(node: Node) -> None:
    with trio.fail_after(WAIT):
        async with bots(node, 1) as (alice,), crowd(node, 7) as fans:
            post = await quick_post(alice, "liked")
            pid = post["id"]
            for f in fans:  # one after another: each like is later than the one before
                await f.call("post.like", post=pid)
            newest_first = [uid(f) for f in reversed(fans)]

            r = await alice.call("post.likers", post=pid)
            assert [u["id"] for u in r["users"]] == newest_first and r["cursor"] is None
            for limit in (1, 2, 3, 7):
                ids, pages = await all_likers(alice, pid, limit)
                assert ids == newest_first
                assert pages == -(-7 // limit)  # a full last page has no cursor after it

            # Likes at the very same time are ordered by user id, and paging through
            # them (cursor in the middle of the tie) skips and repeats nobody.
            await sql(node, "UPDATE likes SET created_at = '2026-01-01T00:00:00Z' "
                            "WHERE post_id = $1 AND user_id = ANY($2::bigint[])",
                      pid, newest_first[2:6])
            tied = sorted(newest_first[2:6], reverse=True)
            expected = [*newest_first[:2], newest_first[6], *tied]
            for limit in (1, 2, 3):
                assert (await all_likers(alice, pid, limit))[0] == expected

            # A like taken back leaves the list; a like made while paging comes first
            # next time and does not shift the pages after the cursor.
            first = await alice.call("post.likers", post=pid, limit=3)
            await fans[0].call("post.unlike", post=pid)
            await alice.call("post.like", post=pid)
            rest, _ = await all_likers_from(alice, pid, first["cursor"], 3)
            assert [u["id"] for u in first["users"]] + rest == expected
            again = [u["id"] for u in (await alice.call("post.likers", post=pid))["users"]]
            assert again == [uid(alice)] + [i for i in expected if i != uid(fans[0])]


async def all_likers_from(c: Client, post_id: int, cursor: str | None,
                          limit: int) -> tuple[list[int], int]:
    ids: list[int] = []
    pages = 0
    while cursor is not None:
        r = await c.call("post.likers", post=post_id, cursor=cursor, limit=limit)
        ids += [u["id"] for u in r["users"]]
        cursor = r["cursor"]
        pages += 1
    return ids, pages


async def test_user_maps_say_how_the_viewer_stands_to_each_liker(node: Node) -> None:
    with trio.fail_after(WAIT):
        async with bots(node, 4) as (alice, bob, carol, dave):
            pid = (await quick_post(alice, "maps"))["id"]
            await make_private(dave)
            for c in (bob, carol, dave, alice):
                await c.call("post.like", post=pid)
            await follow(alice, bob)  # alice follows bob
            await follow(carol, alice)  # carol follows alice
            await alice.call("follow.add", user=uid(dave))  # a pending request
            r = await alice.call("post.likers", post=pid)
            users = {u["id"]: u for u in r["users"]}
            assert list(users) == [uid(alice), uid(dave), uid(carol), uid(bob)]
            me = users[uid(alice)]  # one's own map has none of the relation flags
            assert "followed_by_me" not in me and "email" not in me
            b, c, d = users[uid(bob)], users[uid(carol)], users[uid(dave)]
            assert (b["followed_by_me"], b["follows_me"], b["requested"]) == (True, False, False)
            assert (c["followed_by_me"], c["follows_me"], c["requested"]) == (False, True, False)
            assert (d["followed_by_me"], d["follows_me"], d["requested"]) == (False, False, True)
            assert d["private"] is True  # private accounts are listed: their profile is public
            assert b["username"] == bob.user["username"] and "followers_count" in b
            assert "avatar" in b and "email" not in b and "muted" not in b


async def test_who_may_ask_and_who_is_left_out(node: Node) -> None:
    with trio.fail_after(WAIT):
        async with bots(node, 6) as (alice, bob, carol, dave, eve, stranger):
            pid = (await quick_post(alice, "private"))["id"]
            await make_private(alice)
            for c in (bob, carol, dave, eve):
                await follow(c, alice)
                await c.call("post.like", post=pid)
            # A private account's post: not_found for a stranger, as post.get says.
            await expect(NotFound, stranger, "post.get", post=pid)
            await expect(NotFound, stranger, "post.likers", post=pid)
            assert len((await bob.call("post.likers", post=pid))["users"]) == 4

            # Blocked either way: left out of the viewer's list, still counted.
            await block(bob, carol)  # bob blocked carol
            await block(dave, bob)  # dave blocked bob
            ids = [u["id"] for u in (await bob.call("post.likers", post=pid))["users"]]
            assert ids == [uid(eve), uid(bob)]
            ids = [u["id"] for u in (await carol.call("post.likers", post=pid))["users"]]
            assert ids == [uid(eve), uid(dave), uid(carol)]
            assert (await bob.call("post.get", post=pid))["like_count"] == 4

            # The author blocking a liker: gone from the author's list; the blocked liker
            # no longer sees the post at all.
            await block(alice, eve)
            ids = [u["id"] for u in (await alice.call("post.likers", post=pid))["users"]]
            assert ids == [uid(dave), uid(carol), uid(bob)]
            await expect(NotFound, eve, "post.likers", post=pid)

            # Suspended: left out for everyone (paging stays whole: the cursor is the
            # position of the page as cut, so a short page still leads on).
            await sql(node, "UPDATE users SET suspended_at = now() WHERE id = $1", uid(carol))
            ids, _ = await all_likers(alice, pid, 1)
            assert ids == [uid(dave), uid(bob)]

            # Muting hides nothing; hiding one's activity status is not about likes.
            await alice.call("mute.add", user=uid(bob))
            await bob.call("user.update", hide_activity=True)
            await alice.call("user.update", hide_activity=True)
            ids = [u["id"] for u in (await alice.call("post.likers", post=pid))["users"]]
            assert ids == [uid(dave), uid(bob)]

            # A deleted post, a post that never was.
            await alice.call("post.delete", post=pid)
            await expect(NotFound, alice, "post.likers", post=pid)
            await expect(NotFound, bob, "post.likers", post=pid)
            await expect(NotFound, alice, "post.likers", post=pid + 1)


async def test_bad_arguments_are_bad_requests_and_change_nothing(node: Node) -> None:
    with trio.fail_after(WAIT):
        async with bots(node, 2) as (alice, bob):
            pid = (await quick_post(alice, "args"))["id"]
            await bob.call("post.like", post=pid)
            before = await like_count(node, pid)
            bad: list[dict[str, Any]] = [
                {}, {"post": "1"}, {"post": True}, {"post": -1},
                {"post": pid, "limit": 0}, {"post": pid, "limit": LIKERS_MAX + 1},
                {"post": pid, "limit": "5"}, {"post": pid, "limit": 2.5},
                {"post": pid, "cursor": "nope"}, {"post": pid, "cursor": "1.2.3"},
                {"post": pid, "cursor": "-1.5"}, {"post": pid, "cursor": 12},
                {"post": pid, "cursor": "9" * 70}, {"post": pid, "user": uid(bob)},
            ]
            for args in bad:
                await expect(BadRequest, alice, "post.likers", **args)
            assert await like_count(node, pid) == before == (1, 1)
            # The connection and the node keep serving: the next calls are answered.
            r = await alice.call("post.likers", post=pid, limit=LIKERS_MAX, cursor=None)
            assert [u["id"] for u in r["users"]] == [uid(bob)] and r["cursor"] is None
            assert [u["id"] for u in (await bob.call("post.likers", post=pid))["users"]] == [
                uid(bob)]
            r = await alice.call("post.likers", post=pid, cursor="")
            assert len(r["users"]) == 1


async def test_default_page_size(node: Node) -> None:
    with trio.fail_after(WAIT * 2):
        async with bots(node, 1) as (alice,):
            pid = (await quick_post(alice, "popular"))["id"]
            n = LIKERS_DEFAULT + 1
            async with crowd(node, n) as fans:
                async def like(f: Client) -> None:
                    await f.call("post.like", post=pid)

                async with trio.open_nursery() as nursery:
                    for f in fans:
                        nursery.start_soon(like, f)
            r = await alice.call("post.likers", post=pid)
            assert len(r["users"]) == LIKERS_DEFAULT and r["cursor"] is not None
            r2 = await alice.call("post.likers", post=pid, cursor=r["cursor"])
            assert len(r2["users"]) == 1 and r2["cursor"] is None
            ids = {u["id"] for u in r["users"] + r2["users"]}
            assert ids == {uid(f) for f in fans}
