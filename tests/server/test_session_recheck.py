"""Open sessions are checked again (found by a review, each failed before its fix): a
token that expired while its socket stayed open kept working; a revoke whose bus message
was lost (Redis down at that moment) left the other sockets on that token open, and the
logout that made it answered twice. Each node now checks its sessions' tokens every
`session_recheck_seconds` and closes those no longer live with 4001."""

from __future__ import annotations

from pathlib import Path

import pytest

import actors.accounts
from protocol.client import connect
from server.node import open_node
from storage.errors import Unavailable
from tests.conftest import make_settings
from tests.server.sessions import session_ended
from tests.server.test_posts import bots, sql, uid


async def test_an_expired_token_ends_its_open_sessions(
        services: tuple[str, str], tmp_path: Path) -> None:
    settings = make_settings(services, tmp_path, session_recheck_seconds=0.2)
    async with open_node(settings) as node, bots(node, 2) as (alice, bob):
        await sql(node, "UPDATE tokens SET expires_at = now() - interval '1 second' "
                        "WHERE user_id = $1 RETURNING 1", uid(alice))
        assert await session_ended(alice) == "session ended"  # the periodic round
        assert (await bob.call("ping")) is not None  # a live session is left alone


async def test_a_revoke_the_bus_could_not_carry_still_ends_the_sessions(
        services: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The node's own rounds never come during the test (one once ended the twin first
    # and left the round called here with nothing to do: a flake under load).
    settings = make_settings(services, tmp_path, session_recheck_seconds=3600)
    async with open_node(settings) as node, bots(node, 1) as (alice,), \
            connect(node.ws_url, token=alice.token) as twin:

        async def down(*_: object, **__: object) -> None:
            raise Unavailable("redis is down")

        monkeypatch.setattr(actors.accounts.bus, "publish", down)
        await alice.call("auth.logout")  # answered once, though the news could not go out
        assert await session_ended(alice) == "logged out"  # its own connection
        assert (await twin.call("ping")) is not None  # the other one missed it...
        assert await node.recheck_sessions() == 1  # ...until the node's next round
        assert await session_ended(twin) == "session ended"
        assert await node.recheck_sessions() == 0
