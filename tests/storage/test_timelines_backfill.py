"""A follow's backfill and a cold rebuild racing (found by a review): the rebuild read
the follows before the follow committed, and the backfill, finding the timeline not
built yet, skipped it, counting on that rebuild. The followee's posts were then missing
until the next rebuild (days). Now the backfill adds to a cold timeline too, and the
rebuild's union keeps them."""

from __future__ import annotations

from server.node import Node
from storage import timelines as tl
from tests.server.test_posts import bots, quick_post, uid

TTL_MS = 60_000


async def members(node: Node, key: str) -> list[str]:
    raw = await node.storage.redis_op(lambda r: r.zrange(key, 0, -1))
    return [m.decode() if isinstance(m, bytes) else m for m in raw]


async def test_a_backfill_before_a_rebuild_it_raced_is_kept(node: Node) -> None:
    async with bots(node, 2) as (reader, star):
        posts = [str((await quick_post(star, f"old {i}"))["id"]) for i in range(2)]
        key = tl.timeline_key(node.storage, uid(reader))
        await node.storage.redis_op(lambda r: r.delete(key))  # cold: never read yet
        # The rebuild has read the follows already (without the star); the follow now
        # commits and backfills, then the rebuild writes what it read.
        built = await tl.backfill(node.storage, uid(reader), uid(star), TTL_MS)
        assert built is False
        await node.storage.redis_op(
            lambda r: tl.rebuild(r, key, [], node.settings.feed_timeline_cap, TTL_MS))
        got = await members(node, key)
        assert set(posts) <= set(got) and tl.SENTINEL in got
        # A built timeline is backfilled as before, and the cap keeps the sentinel.
        assert await tl.backfill(node.storage, uid(reader), uid(star), TTL_MS) is True
        assert (await members(node, key))[0] == tl.SENTINEL
