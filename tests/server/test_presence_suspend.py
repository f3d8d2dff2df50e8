"""A suspension takes the user's activity status back from those who could see it: the
disconnects it causes come after it committed, when no one may see the user any more,
so no "offline" went out and their peers kept showing them online."""

from __future__ import annotations

import pytest

from server.node import Node
from tests.server.test_admin import admins, closed_code
from tests.server.test_posts import bots, next_event, uid
from tests.server.test_presence import conversation, online_status
from tests.server.test_presence_hidden import presence_until_typing


@pytest.mark.parametrize("how", ["suspend", "resolve"])
async def test_a_suspended_user_is_taken_back_from_their_peers(node: Node, how: str) -> None:
    async with bots(node, 3) as (alice, bob, carol), admins(node) as (admin,):
        b = uid(bob)
        cid = await conversation(node, alice, bob, carol)
        await carol.call("block.add", user=b)  # Carol does not see Bob: she is not told
        assert (await alice.call("dm.typing", conversation=cid, typing=True))["sent"]
        await presence_until_typing(carol, alice)
        assert [i["online"] for i in await online_status(alice, b)] == [True]

        if how == "suspend":
            await admin.call("admin.suspend", user=b, reason="spam")
        else:
            await alice.call("report.create", kind="user", target=b, reason="spam")
            await admin.call("admin.resolve", kind="user", target=b, action="suspend")
        assert await closed_code(bob) == 4001
        hidden = await next_event(alice, "presence", user=b)
        assert hidden == {"user": b, "online": None, "last_active_at": None}
        [item] = await online_status(alice, b)
        assert item["online"] is None
        assert (await alice.call("dm.typing", conversation=cid, typing=False))["sent"]
        assert await presence_until_typing(carol, alice) == []
