"""Dead tokens do not pile up: a login takes the user's expired and revoked tokens with
it (every login and logout used to leave a row for good), and only the user's own."""

from __future__ import annotations

import contextlib

from protocol.client import connect
from protocol.errors import Unauthorized
from server.node import Node
from tests.conftest import PASSWORD
from tests.server.test_posts import bots, expect, sql, uid, uname


async def tokens_of(node: Node, user_id: int) -> int:
    return int(await sql(node, "SELECT count(*) FROM tokens WHERE user_id = $1", user_id))


async def test_a_login_takes_the_users_dead_tokens_with_it(node: Node) -> None:
    async with bots(node, 2) as (alice, bob), contextlib.AsyncExitStack() as stack:
        a = uid(alice)
        devices = [await stack.enter_async_context(connect(node.ws_url)) for _ in range(3)]
        for device in devices:
            await device.login(uname(alice), PASSWORD)
        logged_out = [devices[0].token, devices[1].token]
        for device in devices[:2]:
            await device.logout()
        expired = devices[2].token
        await sql(node, "UPDATE tokens SET expires_at = now() - interval '1 second' "
                        "WHERE user_id = $1 AND revoked_at IS NULL "
                        "AND created_at = (SELECT max(created_at) FROM tokens "
                        "WHERE user_id = $1)", a)
        bob_before = await tokens_of(node, uid(bob))
        await sql(node, "UPDATE tokens SET revoked_at = now() WHERE user_id = $1", uid(bob))
        assert await tokens_of(node, a) == 4  # sign-up's, two logged out, one expired

        async with connect(node.ws_url) as phone:
            await phone.login(uname(alice), PASSWORD)
            assert await tokens_of(node, a) == 2  # sign-up's (live) and the phone's
            assert (await phone.call("user.get", id=a))["id"] == a
        assert (await alice.call("user.get", id=a))["id"] == a  # the live one still works
        assert await tokens_of(node, uid(bob)) == bob_before  # nobody else's
        for dead in (*logged_out, expired):  # refused as before
            async with connect(node.ws_url) as c:
                await expect(Unauthorized, c, "hello", token=dead, proto=1)
