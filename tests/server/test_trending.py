"""Trending hashtags take back the uses of deleted and removed posts (storage/search.py
`uncount_public_tags`), end to end against a real node."""

from __future__ import annotations

import time

from protocol.errors import NotFound
from server.node import Node
from storage import search as db
from tests.server.test_admin import admins
from tests.server.test_discover import code
from tests.server.test_posts import bots, expect, make_private, quick_post, uid


async def _uses(node: Node, *tags: str) -> list[float | None]:
    """Each tag's count in this hour's bucket (None: not in it)."""
    bucket = node.storage.key("trend", db.trend_hour(time.time()))
    return [await node.storage.redis_op(lambda r, t=t: r.zscore(bucket, t)) for t in tags]


async def _trending(node: Node, viewer: object, k: str) -> list[tuple[str, int]]:
    """The viewer's trending tags of this test, after the cached sum is rebuilt."""
    await node.storage.redis_op(lambda r: r.delete(node.storage.key("trend", "sum")))
    tags = (await viewer.call("feed.explore"))["tags"]  # type: ignore[attr-defined]
    return [(t["tag"], t["posts"]) for t in tags if t["tag"].startswith(k)]


async def test_deleted_and_removed_posts_stop_counting_in_trending(node: Node) -> None:
    async with bots(node, 3) as (me, author, private), admins(node) as (admin,):
        k = code()
        big, small = f"{k}big", f"{k}small"
        posts = [await quick_post(author, f"#{big} #{small}") for _ in range(2)]
        third = await quick_post(author, f"#{big}")
        assert await _uses(node, big, small) == [3, 2]
        # a private author's post is not counted, so its deletion takes nothing back
        await make_private(private)
        hidden = await quick_post(private, f"#{small}")
        assert await _uses(node, small) == [2]
        await private.call("post.delete", post=hidden["id"])
        assert await _uses(node, small) == [2]

        assert await _trending(node, me, k) == [(big, 3), (small, 2)]
        await author.call("post.delete", post=posts[0]["id"])
        assert await _uses(node, big, small) == [2, 1]
        await admin.call("admin.remove_post", post=posts[1]["id"], reason="spam")
        assert await _uses(node, big, small) == [1, None]  # no use left: out of the bucket
        assert await _trending(node, me, k) == [(big, 1)]
        # removing a gone post again is refused, and takes nothing back
        await expect(NotFound, admin, "admin.remove_post", post=posts[1]["id"], reason="x")
        await expect(NotFound, author, "post.delete", post=posts[0]["id"])
        assert await _uses(node, big, small) == [1, None]
        await author.call("post.delete", post=third["id"])
        assert await _uses(node, big) == [None]
        assert await _trending(node, me, k) == []


async def test_removing_a_suspended_authors_posts_takes_their_uses_back(node: Node) -> None:
    """Suspend the spammer first, then remove their posts: the uses were counted while
    they could post, so the removal takes them back (it checked "public and not
    suspended", so the spam kept trending for the rest of the day)."""
    async with bots(node, 1) as (spammer,), admins(node) as (admin,):
        k = code()
        spam = [await quick_post(spammer, f"#{k}crypto") for _ in range(3)]
        assert await _uses(node, f"{k}crypto") == [3]
        await admin.call("admin.suspend", user=uid(spammer), reason="spam")
        for p in spam[:2]:
            await admin.call("admin.remove_post", post=p["id"], reason="spam")
        assert await _uses(node, f"{k}crypto") == [1]


async def test_a_tag_edited_out_of_a_post_stops_counting(node: Node) -> None:
    """An edit that takes a tag out takes its use back, as a deletion does: 999 posts
    edited out of #target after posting kept it trending for a day."""
    async with bots(node, 2) as (me, author):
        k = code()
        target, kept = f"{k}target", f"{k}kept"
        posts = [await quick_post(author, f"#{target} #{kept}") for _ in range(2)]
        assert await _uses(node, target, kept) == [2, 2]
        await author.call("post.edit", post=posts[0]["id"], caption=f"#{kept} only")
        assert await _uses(node, target, kept) == [1, 2]
        await author.call("post.edit", post=posts[0]["id"], caption=f"#{kept} again")
        assert await _uses(node, target, kept) == [1, 2]  # nothing more to take back
        assert await _trending(node, me, k) == [(kept, 2), (target, 1)]
        # Putting it back is not counted, so taking it out again takes nothing back:
        # toggling a tag by edits cannot wear down other posts' uses of it.
        for _ in range(3):
            await author.call("post.edit", post=posts[0]["id"], caption=f"#{target}")
            await author.call("post.edit", post=posts[0]["id"], caption="none")
        assert await _uses(node, target, kept) == [1, 1]
        await author.call("post.delete", post=posts[0]["id"])  # its tags now: none
        assert await _uses(node, target, kept) == [1, 1]
        await author.call("post.edit", post=posts[1]["id"], caption=f"#{target}")
        await author.call("post.delete", post=posts[1]["id"])  # #target, counted once
        assert await _uses(node, target, kept) == [None, None]
