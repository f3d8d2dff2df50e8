from __future__ import annotations

import httpx
from trio_websocket import open_websocket_url

from server.node import Node
from tests.conftest import PASSWORD, unique
from tests.wire import Raw


async def test_signup_hello_profile_over_raw_websocket(node: Node) -> None:
    async with open_websocket_url(node.ws_url) as ws:
        c = Raw(ws)
        name = unique()
        r = await c.call("auth.signup", username=name, email=f"{name}@example.com",
                         password=PASSWORD)
        assert r["ok"], r
        token = r["data"]["token"]
        r = await c.call("hello", proto=1, token=token, client="test/1")
        assert r["ok"], r
        assert r["data"]["user"]["username"] == name
        assert r["data"]["seq"] == 0
        r = await c.call("user.update", bio="hi there", private=True)
        assert r["ok"] and r["data"]["bio"] == "hi there" and r["data"]["private"] is True
        r = await c.call("user.get", username=name)
        assert r["data"]["bio"] == "hi there"


async def test_http_health_and_info(node: Node) -> None:
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        assert (await http.get("/healthz")).json()["ok"] is True
        ready = (await http.get("/readyz")).json()
        assert ready["ready"] is True and ready["postgres"] and ready["redis"]
        info = (await http.get("/api/info")).json()
        assert info["ws_url"].endswith(f":{node.ws_port}/ws")
