"""Follow requests and their notifications (found by a review): a request withdrawn by
its sender leaves no "X requested to follow you" behind, listed or counted unread."""

from __future__ import annotations

from server.node import Node
from tests.server.test_posts import bots, uid


async def test_a_withdrawn_follow_request_leaves_no_notification(node: Node) -> None:
    """"X requested to follow you" stayed listed, and unread, after X withdrew the
    request: nothing left to answer (found by a review). Other notifications stay."""
    async with bots(node, 3) as (private, asker, liker):
        await private.call("user.update", private=True)
        await asker.call("follow.add", user=uid(private))
        await liker.call("follow.add", user=uid(private))
        before = await private.call("notif.list")
        assert {i["kind"] for i in before["items"]} == {"follow_request"}
        assert before["unread"] == 2
        await asker.call("follow.remove", user=uid(private))  # withdrawn
        after = await private.call("notif.list")
        assert after["unread"] == 1
        [item] = after["items"]
        assert [a["id"] for a in item["actors"]] == [uid(liker)]
