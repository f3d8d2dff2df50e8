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
from tests.server.test_posts import bots, expect, sql, uid

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
