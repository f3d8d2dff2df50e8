"""X-Forwarded-For is believed from trusted proxies only (server/proxies.py)."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgpack
from trio_websocket import open_websocket_url

from actors.accounts import email_ok, ip_subject
from server.node import open_node
from server.proxies import client_ip
from tests.conftest import PASSWORD, make_settings, unique

PROXY = ("127.0.0.1", "10.0.0.0/8")


def test_only_a_trusted_peer_may_name_the_client() -> None:
    assert client_ip("198.51.100.7", ["203.0.113.5"], PROXY) == "198.51.100.7"  # not a proxy
    assert client_ip("127.0.0.1", ["203.0.113.5"], PROXY) == "203.0.113.5"
    assert client_ip("127.0.0.1", [], PROXY) == "127.0.0.1"
    assert client_ip("127.0.0.1", ["203.0.113.5"], ()) == "127.0.0.1"  # nothing trusted
    # The right-most untrusted hop: what the client wrote itself further left is ignored.
    assert client_ip("127.0.0.1", ["1.2.3.4, 203.0.113.5, 10.1.2.3"], PROXY) == "203.0.113.5"
    assert client_ip("127.0.0.1", ["garbage, 203.0.113.5"], PROXY) == "203.0.113.5"
    assert client_ip("127.0.0.1", ["203.0.113.5, not-an-ip"], PROXY) == "127.0.0.1"
    assert client_ip("127.0.0.1", ["2001:db8::1"], PROXY) == "2001:db8::1"
    assert client_ip("127.0.0.1", ["10.0.0.1, 10.0.0.2"], PROXY) == "10.0.0.1"  # all proxies
    # every header line counts, in order (a proxy that adds its own line)
    assert client_ip("127.0.0.1", ["1.2.3.4", "203.0.113.5, 10.1.2.3"], PROXY) == "203.0.113.5"


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


def test_limits_count_an_ipv6_client_by_its_64_network() -> None:
    assert ip_subject("203.0.113.5") == "203.0.113.5"
    assert ip_subject("::ffff:203.0.113.5") == "203.0.113.5"  # IPv4-mapped: the same client
    assert ip_subject("2001:db8:1:2::1") == ip_subject("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert ip_subject("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert ip_subject("2001:db8:1:3::1") != ip_subject("2001:db8:1:2::1")
    assert ip_subject("[2001:db8:1:2::1]") == "2001:db8:1:2::/64"
    assert ip_subject("unknown") == "unknown"
    # NAT64: an IPv4 client behind the gateway is that IPv4 client, not the gateway's /64
    assert ip_subject("64:ff9b::203.0.113.5") == "203.0.113.5"
    assert ip_subject("64:ff9b::cb00:7106") == "203.0.113.6"


async def test_signup_limit_per_ipv6_network_behind_a_trusted_proxy(
        services: tuple[str, str], tmp_path: Path) -> None:
    """One IPv6 client holds a /64: a fresh address in it per request is the same client
    (each address counted apart had an unlimited budget)."""
    settings = make_settings(services, tmp_path, signups_per_ip=1, trusted_proxies=PROXY)
    async with open_node(settings) as node, httpx.AsyncClient(base_url=node.http_url) as http:
        assert await _signup(http, "2001:db8:1:2::1") == 201
        assert await _signup(http, "2001:db8:1:2::2") == 429  # same /64: limited
        assert await _signup(http, "2001:db8:1:2:abcd::9") == 429
        assert await _signup(http, "2001:db8:1:3::1") == 201  # another network
        assert await _signup(http, "::ffff:203.0.113.9") == 201
        assert await _signup(http, "203.0.113.9") == 429  # the same IPv4 client


def test_an_email_with_control_or_invisible_characters_is_refused() -> None:
    assert email_ok("ann@example.com")
    assert email_ok("ann.o'neil+tag@exämple.co.uk")
    assert email_ok("अनु@उदाहरण.भारत")  # letters and vowel signs of any script
    for bad in ("an\x00n@example.com", "ann@exa\x07mple.com", "ann@example.c\x7fom",
                "ann\x85@example.com", "an\u200bn@example.com", "ann@\u202eelpmaxe.com",
                "ann@example.com\ufeff", "an n@example.com", "ann@example",
                "a\u2066nn@example.com", "an\u00adn@example.com", "ann\u061c@example.com",
                "ann\ufe0f@example.com", "ann@exa\U000e0041mple.com", "an\u3164n@example.com",
                "an\u034fn@example.com", "ann@example.com\ue000"):
        assert not email_ok(bad), repr(bad)


async def test_signup_with_a_control_character_in_the_email_changes_nothing(
        services: tuple[str, str], tmp_path: Path) -> None:
    settings = make_settings(services, tmp_path)
    async with open_node(settings) as node, httpx.AsyncClient(base_url=node.http_url) as http:
        name = unique("px")
        resp = await http.post("/api/auth/signup", json={
            "username": name, "email": f"{name}\x1b[31m@example.com", "password": PASSWORD})
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["code"] == "bad_request"
        resp = await http.post("/api/auth/login", json={"username": name,
                                                        "password": PASSWORD})
        assert resp.status_code == 401  # no account was made
        resp = await http.post("/api/auth/signup", json={
            "username": name, "email": f"{name}@example.com", "password": PASSWORD})
        assert resp.status_code == 201  # the node still serves, and the name is free
