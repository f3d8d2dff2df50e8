"""A post.create retry that loses the race to its first call (found by a review): it
answers the first call's post, and must change nothing. It enqueued that post's fan-out
again (followers got `feed.post` twice) and counted its hashtags again."""

from __future__ import annotations

from typing import Any

import trio

from server.node import Node
from tests.fixtures import images
from tests.rowlock import holding
from tests.server.test_posts import EVENT_WAIT, bots, follow, next_event, uid

KEY = "retry-1"


async def test_a_create_retry_that_lost_the_race_fans_out_nothing(node: Node) -> None:
    async with bots(node, 2) as (author, fan):
        await follow(fan, author)
        upload = await author.upload(images.jpeg(320, 240))
        got: dict[str, Any] = {}

        async def retry() -> None:
            got["post"] = await author.call("post.create", caption="#x", idem=KEY,
                                            media=[{"id": upload["id"]}])

        # The first call, in flight: its row holds the key (the test's transaction).
        async with (holding(node.storage, "INSERT INTO posts (author_id, caption, idem) "
                                          "VALUES ($1, 'first', $2)", uid(author), KEY)
                    as first, trio.open_nursery() as nursery):
            nursery.start_soon(retry)
            await first.wait_statement_waits("%INSERT INTO posts%")
            await first.commit()
        assert got["post"]["caption"] == "first"  # the first call's post is the answer
        marker = await author.call("post.create", caption="marker",
                                   media=[{"id": (await author.upload(
                                       images.jpeg(330, 240)))["id"]}])
        with trio.fail_after(EVENT_WAIT):
            ev = await next_event(fan, "feed.post")
        assert ev["post"]["id"] == marker["id"], ev  # no feed.post for the retry's answer
