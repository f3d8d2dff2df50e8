"""Per-user limits on the social ops that notify someone (found by a review): the op
limit is per connection, so one account on several sockets could follow, like and
like comments without end, each making a durable notification. Only calls that add
something count; a refused call changes nothing, and one that changes nothing is free."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings
from protocol.errors import Forbidden, NotFound, RateLimited
from server.node import open_node
from tests.conftest import make_settings
from tests.server.test_dm import second_device
from tests.server.test_posts import bots, expect, quick_post, sql, uid

LIMIT = 3


def limited(services: tuple[str, str], tmp_path: Path, **over: object) -> Settings:
    return make_settings(services, tmp_path, **over)


async def test_follows_are_limited_per_user(services: tuple[str, str], tmp_path: Path) -> None:
    settings = limited(services, tmp_path, follows_per_hour=LIMIT)
    async with open_node(settings) as node, bots(node, 6) as (me, a, b, c, d, e), \
            second_device(node, me) as me2:
        await e.call("user.update", private=True)
        await expect(Forbidden, me, "follow.add", user=uid(me))  # refused: not counted
        await expect(NotFound, me, "follow.add", user=uid(me) + 10**9)
        await me.call("follow.add", user=uid(a))
        await me.call("follow.add", user=uid(a))  # following already: free
        assert (await me2.call("follow.add", user=uid(e)))["state"] == "requested"  # counts
        await me.call("follow.add", user=uid(b))
        for conn, target in ((me, c), (me2, d)):
            with pytest.raises(RateLimited) as info:
                await conn.call("follow.add", user=uid(target))
            assert info.value.retry_after is not None and 0 < info.value.retry_after <= 3600
        await me.call("follow.add", user=uid(b))  # nothing to add: answered past the limit
        # refused: nothing changed, nobody was told
        assert await sql(node, "SELECT count(*) FROM follows WHERE follower_id = $1",
                         uid(me)) == 2
        assert await sql(node, "SELECT count(*) FROM notifications WHERE actor_id = $1",
                         uid(me)) == 3
        await c.call("follow.add", user=uid(d))  # someone else is not limited by mine


async def test_likes_of_posts_and_comments_are_limited_per_user(
        services: tuple[str, str], tmp_path: Path) -> None:
    settings = limited(services, tmp_path, likes_per_hour=LIMIT)
    async with open_node(settings) as node, bots(node, 3) as (me, bob, carol), \
            second_device(node, me) as me2:
        posts = [(await quick_post(bob, f"p{i}"))["id"] for i in range(2)]
        comments = [(await carol.call("comment.add", post=posts[0], text=t))["id"]
                    for t in ("one", "two")]
        await expect(NotFound, me, "post.like", post=posts[0] + 10**9)  # refused: free
        await me.call("post.like", post=posts[0])
        await me.call("post.like", post=posts[0])  # liked already: free
        await me.call("post.unlike", post=posts[0])  # taking back is never limited
        await me2.call("post.like", post=posts[0])  # liked again: counts (a new row)
        await me.call("comment.like", comment=comments[0])  # posts and comments: one allowance
        await expect(NotFound, me2, "comment.like", comment=comments[0] + 10**9)  # still so
        for conn, op, arg in ((me, "post.like", {"post": posts[1]}),
                              (me2, "comment.like", {"comment": comments[1]})):
            with pytest.raises(RateLimited) as info:
                await conn.call(op, **arg)
            assert info.value.retry_after is not None and 0 < info.value.retry_after <= 3600
        # nothing to add: answered as before past the limit
        assert (await me.call("post.like", post=posts[0]))["like_count"] == 1
        assert (await me2.call("comment.like", comment=comments[0]))["like_count"] == 1
        # refused: no like, no count, nobody told
        assert await sql(node, "SELECT count(*) FROM likes WHERE user_id = $1", uid(me)) == 1
        assert await sql(node, "SELECT like_count FROM posts WHERE id = $1", posts[1]) == 0
        assert await sql(node, "SELECT count(*) FROM comment_likes WHERE user_id = $1",
                         uid(me)) == 1
        assert await sql(node, "SELECT like_count FROM comments WHERE id = $1",
                         comments[1]) == 0
        kinds = await sql(node, "SELECT array_agg(kind ORDER BY kind) FROM notifications "
                                "WHERE actor_id = $1", uid(me))
        assert kinds == ["comment_like", "like"]  # the post's like told once
        await carol.call("post.like", post=posts[1])  # someone else is not limited by mine
