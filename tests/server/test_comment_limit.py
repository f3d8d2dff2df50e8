"""comment.add is limited per user (`comments_per_minute`) over all posts and all their
connections: the op limit is per connection, and one account on several sockets could
post comments — each notifying the post's author — without end (found by a review).
Refused and repeated calls are not counted."""

from __future__ import annotations

from pathlib import Path

from config.settings import Settings
from protocol.errors import NotFound, RateLimited
from server.node import open_node
from tests.conftest import make_settings
from tests.server.test_dm import second_device
from tests.server.test_posts import bots, expect, quick_post, sql, uid

LIMIT = 3


def limited(services: tuple[str, str], tmp_path: Path) -> Settings:
    return make_settings(services, tmp_path, comments_per_minute=LIMIT)


async def test_comments_are_limited_per_user(services: tuple[str, str], tmp_path: Path) -> None:
    async with open_node(limited(services, tmp_path)) as node, \
            bots(node, 3) as (alice, bob, carol), second_device(node, alice) as alice2:
        post = (await quick_post(bob, "a post"))["id"]
        other = (await quick_post(carol, "another"))["id"]
        await expect(NotFound, alice, "comment.add", post=post + 10**9, text="nowhere")
        await alice.call("comment.add", post=post, text="one", idem="k1")
        await alice.call("comment.add", post=post, text="one", idem="k1")  # a retry: free
        await alice2.call("comment.add", post=other, text="two")
        await alice.call("comment.add", post=post, text="three")
        for c in (alice, alice2):
            await expect(RateLimited, c, "comment.add", post=other, text="too many")
        assert await sql(node, "SELECT count(*) FROM comments WHERE author_id = $1",
                         uid(alice)) == LIMIT
        # someone else is not limited by alice's comments
        await carol.call("comment.add", post=post, text="carol's")
