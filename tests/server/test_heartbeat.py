"""A client silent for two heartbeat intervals is closed; one that pings stays."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from protocol.client import connect
from server.node import open_node
from tests.conftest import PASSWORD, make_settings, unique
from tests.wire import Raw


async def test_silent_client_is_closed_and_pinging_one_is_not(
        services: tuple[str, str], tmp_path: Path) -> None:
    settings = make_settings(services, tmp_path, heartbeat_seconds=0.4)
    async with open_node(settings) as node:
        name = unique("hb")
        async with connect(node.ws_url) as lively:
            hello = await lively.signup(name, f"{name}@example.com", PASSWORD)
            assert hello["heartbeat_ms"] == 400
            async with open_websocket_url(node.ws_url) as ws:
                raw = Raw(ws)
                assert (await raw.call("hello", token=lively.token))["ok"]
                with trio.fail_after(5), pytest.raises(ConnectionClosed) as info:
                    await ws.get_message()  # say nothing, wait to be closed
                assert info.value.reason.code == 1008
            assert "t" in await lively.call("ping")
            assert lively.close_code is None
