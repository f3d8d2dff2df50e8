"""X-Forwarded-For is believed from trusted proxies only (server/proxies.py)."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgpack
from trio_websocket import open_websocket_url

from server.node import open_node
from server.proxies import client_ip
from tests.conftest import PASSWORD, make_settings, unique

PROXY = ("127.0.0.1", "10.0.0.0/8")


def test_only_a_trusted_peer_may_name_the_client() -> None:
    assert client_ip("198.51.100.7", "203.0.113.5", PROXY) == "198.51.100.7"  # not a proxy
    assert client_ip("127.0.0.1", "203.0.113.5", PROXY) == "203.0.113.5"
    assert client_ip("127.0.0.1", None, PROXY) == "127.0.0.1"
    assert client_ip("127.0.0.1", "203.0.113.5", ()) == "127.0.0.1"  # nothing trusted
    # The right-most untrusted hop: what the client wrote itself further left is ignored.
    assert client_ip("127.0.0.1", "1.2.3.4, 203.0.113.5, 10.1.2.3", PROXY) == "203.0.113.5"
    assert client_ip("127.0.0.1", "garbage, 203.0.113.5", PROXY) == "203.0.113.5"
    assert client_ip("127.0.0.1", "203.0.113.5, not-an-ip", PROXY) == "127.0.0.1"
    assert client_ip("127.0.0.1", "2001:db8::1", PROXY) == "2001:db8::1"
    assert client_ip("127.0.0.1", "10.0.0.1, 10.0.0.2", PROXY) == "10.0.0.1"  # all proxies


async def _signup(http: httpx.AsyncClient, forwarded_for: str) -> int:
    name = unique("px")
    resp = await http.post("/api/auth/signup", headers={"X-Forwarded-For": forwarded_for},
                           json={"username": name, "email": f"{name}@example.com",
                                 "password": PASSWORD})
    return resp.status_code


async def test_signup_limit_per_forwarded_client_behind_a_trusted_proxy(
        services: tuple[str, str], tmp_path: Path) -> None:
    settings = make_settings(services, tmp_path, signups_per_ip=1, trusted_proxies=PROXY)
    async with open_node(settings) as node, httpx.AsyncClient(base_url=node.http_url) as http:
        assert await _signup(http, "203.0.113.5") == 201
        assert await _signup(http, "203.0.113.5") == 429  # the same client, limited
        assert await _signup(http, "203.0.113.6") == 201  # another client behind the proxy

        # The WebSocket's handshake header counts the same way.
        async with open_websocket_url(
                node.ws_url, extra_headers=[("X-Forwarded-For", "203.0.113.6")]) as ws:
            name = unique("px")
            await ws.send_message(msgpack.packb({"id": 1, "op": "auth.signup", "args": {
                "username": name, "email": f"{name}@example.com", "password": PASSWORD}}))
            reply = msgpack.unpackb(await ws.get_message())
            assert reply["re"] == 1 and reply["error"]["code"] == "rate_limited", reply


async def test_a_forged_header_from_an_untrusted_peer_changes_nothing(
        services: tuple[str, str], tmp_path: Path) -> None:
    settings = make_settings(services, tmp_path, signups_per_ip=1)
    async with open_node(settings) as node, httpx.AsyncClient(base_url=node.http_url) as http:
        assert await _signup(http, "203.0.113.5") == 201
        assert await _signup(http, "203.0.113.99") == 429  # still this peer: limited
