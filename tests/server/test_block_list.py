"""`block.list` and `mute.list` (extensions): the users you blocked or muted, newest
first, so that a block can be undone from a list (the web's settings) and not only from
a profile that a block hides."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.client import Client
from protocol.errors import BadRequest
from server.node import Node
from tests.server.test_posts import bots, sql, uid, uname


async def names(c: Client, op: str, **args: Any) -> list[str]:
    return [u["username"] for u in (await c.call(op, **args))["items"]]


async def all_pages(c: Client, op: str) -> list[str]:
    seen, cursor = [], None
    while True:
        page = await c.call(op, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [u["username"] for u in page["items"]]
        cursor = page["cursor"]
        if cursor is None:
            return seen


async def test_block_list_names_whom_you_blocked_newest_first_and_unblock_works(
        node: Node) -> None:
    async with bots(node, 5) as (me, a, b, c, other):
        for x in (a, b, c):
            await me.call("block.add", user=uid(x))
        await other.call("block.add", user=uid(a))  # someone else's block: not mine
        usernames = [uname(x) for x in (c, b, a)]
        assert await names(me, "block.list") == usernames
        assert await all_pages(me, "block.list") == usernames  # pages: no gap, no repeat
        listed = (await me.call("block.list"))["items"][0]
        assert listed["id"] == uid(c) and listed["followed_by_me"] is False
        await me.call("block.remove", user=uid(b))
        assert await names(me, "block.list") == [uname(c), uname(a)]
        # A suspended user is left out, as everywhere else.
        await sql(node, "UPDATE users SET suspended_at = now() WHERE id = $1 RETURNING id",
                  uid(a))
        assert await names(me, "block.list") == [uname(c)]
        assert await names(a, "block.list") == []  # the blocked side has nothing listed
        # Blocked both ways (block.add refuses it, a race could make it): c's profile is
        # hidden from me, so my list does not show it either.
        await sql(node, "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2) "
                        "RETURNING 1", uid(c), uid(me))
        assert await names(me, "block.list") == []


async def test_mute_list_names_whom_you_muted_but_not_the_hidden(node: Node) -> None:
    async with bots(node, 4) as (me, a, b, c):
        for x in (a, b, c):
            await me.call("mute.add", user=uid(x))
        await me.call("follow.add", user=uid(a))
        await b.call("block.add", user=uid(me))  # b is hidden from me now
        page = (await me.call("mute.list"))["items"]
        assert [u["username"] for u in page] == [uname(c), uname(a)]
        assert [u["followed_by_me"] for u in page] == [False, True]
        await me.call("mute.remove", user=uid(c))
        assert await names(me, "mute.list") == [uname(a)]
        assert await names(me, "block.list") == []


@pytest.mark.parametrize("args", [{"cursor": "fr.1.2"}, {"cursor": "bl.x.1"},
                                  {"limit": 0}, {"limit": 101}, {"user": 1}])
async def test_bad_list_arguments_are_refused(node: Node, args: dict[str, Any]) -> None:
    async with bots(node, 2) as (me, a):
        await me.call("block.add", user=uid(a))
        with pytest.raises(BadRequest):
            await me.call("block.list", **args)
        with pytest.raises(BadRequest):
            await me.call("mute.list", **{k: v.replace("bl", "mu") if isinstance(v, str)
                                          else v for k, v in args.items()})
        assert await names(me, "block.list") == [uname(a)]  # nothing changed
