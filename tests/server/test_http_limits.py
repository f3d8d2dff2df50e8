"""The HTTP layer at its edges (found by a review of server/http.py): what is left on
disk, bodies that are too large, slow or of the wrong type, proxies' headers, routes
and the Host header.

Most talk raw HTTP/1.1 over a socket: a client library sends a whole body before it
reads the answer, and these tests are about answers that come before the body ends.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
import trio
from trio_websocket import open_websocket_url

from config import limits as L
from server.node import Node, open_node
from tests.conftest import PASSWORD, make_settings, unique
from tests.fixtures import images

WAIT = 10  # seconds any answer or clean-up here may take
POLL = 0.01
PROXY = ("127.0.0.1", "10.0.0.0/8")


# --- raw HTTP -------------------------------------------------------------------------

def _address(node: Node) -> tuple[str, int]:
    host, port = node.http_url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


@asynccontextmanager
async def _raw(node: Node, head: str, body: bytes = b"") -> AsyncIterator[trio.SocketStream]:
    """A connection that has sent `head` (the request line and headers, `\\r\\n`-separated,
    without the blank line) and the first `body` bytes; the rest is up to the test."""
    host, _ = _address(node)
    stream = await trio.open_tcp_stream(*_address(node))
    async with stream:
        await stream.send_all(f"{head}\r\nHost: {host}\r\n\r\n".encode() + body)
        yield stream


async def _reply(stream: trio.SocketStream) -> tuple[int, dict[str, str], Any]:
    """Status, headers (lower-case names) and JSON body of the answer, within WAIT."""
    data = b""
    with trio.fail_after(WAIT):
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            assert chunk, f"closed without an answer: {data!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip()
                   for k, v in (line.split(":", 1) for line in lines[1:])}
        while len(rest) < int(headers.get("content-length", 0)):
            chunk = await stream.receive_some(65536)
            assert chunk, "closed in the middle of the answer"
            rest += chunk
    return int(lines[0].split()[1]), headers, json.loads(rest) if rest else None


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _upload_head(token: str, length: int, query: str = "") -> str:
    return (f"POST /api/media{query} HTTP/1.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {length}")


# --- helpers --------------------------------------------------------------------------

def _temp_files(node: Node) -> list[Path]:
    tmp = node.settings.data_dir / "tmp"
    return sorted(tmp.glob("up-*")) if tmp.is_dir() else []


async def _until(what: Callable[[], bool]) -> None:
    """Wait for a condition seen only on disk or in a counter (nothing to wait on)."""
    with trio.fail_after(WAIT):
        while True:
            if what():
                return
            await trio.sleep(POLL)  # sync-ok: polling the disk or a limiter's counters


async def _account(http: httpx.AsyncClient) -> str:
    name = unique("hl")
    r = await http.post("/api/auth/signup", json={
        "username": name, "email": f"{name}@example.com", "password": PASSWORD})
    assert r.status_code == 201, r.text
    return r.json()["token"]


async def _upload(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post("/api/media", content=images.jpeg(200, 200),
                           headers={"Authorization": f"Bearer {token}"})


async def _still_serves(node: Node, http: httpx.AsyncClient) -> None:
    """The node keeps serving: a fresh account uploads a photo and leaves no temp file."""
    r = await _upload(http, await _account(http))
    assert r.status_code == 201, r.text
    assert _temp_files(node) == []


# --- temp files go with their request -------------------------------------------------

async def test_an_upload_cut_off_halfway_leaves_no_temp_file(node: Node) -> None:
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        token = await _account(http)
        async with _raw(node, _upload_head(token, 1_000_000), b"\xff\xd8\xff" + b"\0" * 400_000):
            await _until(lambda: len(_temp_files(node)) == 1)
        # The client is gone: its temp file goes with the request.
        await _until(lambda: _temp_files(node) == [])
        await _still_serves(node, http)


async def test_an_upload_dropped_while_waiting_for_a_media_worker_leaves_no_temp_file(
        node: Node) -> None:
    limiter = node.media.workers.limiter
    holders = [object() for _ in range(int(limiter.total_tokens))]
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        token = await _account(http)
        photo = images.jpeg(300, 300)
        for h in holders:  # every media worker busy
            await limiter.acquire_on_behalf_of(h)
        try:
            async with _raw(node, _upload_head(token, len(photo)), photo):
                await _until(lambda: limiter.statistics().tasks_waiting == 1)
                assert len(_temp_files(node)) == 1
            await _until(lambda: _temp_files(node) == [])
        finally:
            for h in holders:
                limiter.release_on_behalf_of(h)
        await _still_serves(node, http)


async def test_an_upload_in_flight_at_shutdown_leaves_no_temp_file(
        services: tuple[str, str], tmp_path: Path) -> None:
    settings = make_settings(services, tmp_path)
    async with open_node(settings) as node:
        async with httpx.AsyncClient(base_url=node.http_url) as http:
            token = await _account(http)
        stream = await trio.open_tcp_stream(*_address(node))
        await stream.send_all(f"{_upload_head(token, 1_000_000)}\r\nHost: x\r\n\r\n".encode()
                              + b"\xff\xd8\xff" + b"\0" * 1000)
        await _until(lambda: len(_temp_files(node)) == 1)
    await stream.aclose()
    assert not list((settings.data_dir / "tmp").glob("up-*"))


async def test_old_upload_temp_files_are_swept_by_the_media_collector(node: Node) -> None:
    """Left by a process killed mid-upload. Only old ones: processes started with
    --workers share the directory, and a young file may be another's upload."""
    tmp = node.settings.data_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    old, young, other = tmp / "up-0ld", tmp / "up-y0ung", tmp / "not-an-upload"
    for p in (old, young, other):
        p.write_bytes(b"x")
    long_ago = time.time() - L.UPLOAD_TMP_MAX_AGE_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    os.utime(other, (long_ago, long_ago))
    await node.media.collect()
    assert not old.exists()
    assert young.exists() and other.exists()


# --- JSON bodies are counted as they arrive -------------------------------------------

async def test_a_chunked_json_body_is_refused_as_soon_as_it_passes_the_limit(
        node: Node) -> None:
    """No Content-Length: the body was buffered whole (up to upload_max_bytes) before it
    was measured. Here it passes 64 KiB and then stalls: the answer comes at once."""
    head = ("POST /api/auth/login HTTP/1.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked")
    async with _raw(node, head, _chunk(b" " * 40_000) + _chunk(b" " * 40_000)) as s:
        status, headers, body = await _reply(s)
    assert status == 413 and body["error"]["code"] == "too_large"
    assert headers.get("connection") == "close"
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        await _still_serves(node, http)


# --- uploads in flight, stalled bodies, options first ---------------------------------

async def test_bad_upload_options_are_refused_before_the_body(node: Node) -> None:
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        token = await _account(http)
        for query in ("?filter=nope", "?kind=banner", "?warmth=hot"):
            async with _raw(node, _upload_head(token, 1_000_000, query), b"\xff\xd8") as s:
                status, _, body = await _reply(s)
            assert status == 400 and body["error"]["code"] == "bad_request", query
        assert _temp_files(node) == []
        await _still_serves(node, http)


async def test_uploads_in_flight_are_capped_per_user(node: Node) -> None:
    cap = L.UPLOADS_IN_FLIGHT_PER_USER
    async with httpx.AsyncClient(base_url=node.http_url) as http, AsyncExitStack() as held:
        token = await _account(http)
        stalled = [await held.enter_async_context(
            _raw(node, _upload_head(token, 1_000_000), b"\xff\xd8\xff")) for _ in range(cap)]
        await _until(lambda: len(_temp_files(node)) == cap)
        # One more, whole and valid, is refused at once, before its body.
        r = await _upload(http, token)
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1
        assert len(_temp_files(node)) == cap
        # Another user is not held back, and a place frees when an upload ends.
        assert (await _upload(http, await _account(http))).status_code == 201
        await stalled[0].aclose()
        await _until(lambda: len(_temp_files(node)) == cap - 1)
        assert (await _upload(http, token)).status_code == 201
    await _until(lambda: _temp_files(node) == [])


@pytest.mark.parametrize("multipart", [False, True], ids=["raw", "multipart"])
async def test_a_stalled_upload_body_times_out(
        node: Node, monkeypatch: pytest.MonkeyPatch, multipart: bool) -> None:
    """The raw body's loop waited for the next chunk for ever (quart's BODY_TIMEOUT
    covers only get_data and forms), holding a socket and a temp file; a multipart one
    was cut at 60 s however fast it came. Now each chunk must come within
    HTTP_BODY_IDLE_SECONDS, and the answer is 408."""
    monkeypatch.setattr(L, "HTTP_BODY_IDLE_SECONDS", 0.5)
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        token = await _account(http)
        if multipart:
            head = (f"POST /api/media HTTP/1.1\r\nAuthorization: Bearer {token}\r\n"
                    "Content-Type: multipart/form-data; boundary=b0undary\r\n"
                    "Content-Length: 1000000")
            first = (b'--b0undary\r\nContent-Disposition: form-data; name="file"; '
                     b'filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff')
        else:
            head, first = _upload_head(token, 1_000_000), b"\xff\xd8\xff" + b"\0" * 1000
        async with _raw(node, head, first) as s:
            status, headers, body = await _reply(s)
        assert status == 408 and body["error"]["code"] == "bad_request"
        assert headers.get("connection") == "close"
        await _until(lambda: _temp_files(node) == [])
        await _still_serves(node, http)


async def test_a_stalled_json_body_times_out(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(L, "HTTP_BODY_IDLE_SECONDS", 0.5)
    head = ("POST /api/auth/login HTTP/1.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 100")
    async with _raw(node, head, b'{"username": ') as s:
        status, _, body = await _reply(s)
    assert status == 408 and body["error"]["code"] == "bad_request"
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        await _still_serves(node, http)


# --- JSON endpoints need the JSON content type ----------------------------------------

async def test_json_endpoints_need_the_json_content_type(node: Node) -> None:
    """A cross-site page may POST text/plain without a preflight (fetch no-cors): with
    any type accepted, every visitor's browser could sign up accounts from its own
    address. application/json needs a preflight, which this server never grants."""
    name = unique("ct")
    args = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"Content-Type": ctype} if ctype else {}
            for path in ("/api/auth/signup", "/api/auth/login"):
                r = await http.post(path, content=json.dumps(args), headers=headers)
                assert r.status_code == 415, (path, ctype, r.text)
                assert r.json()["error"]["code"] == "unsupported"
        r = await http.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 401  # no account was made
        r = await http.post("/api/auth/signup", content=json.dumps(args),
                            headers={"Content-Type": "application/json; charset=utf-8"})
        assert r.status_code == 201, r.text
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        r = await http.post("/api/auth/password", headers={**auth, "Content-Type": "text/plain"},
                            content=json.dumps({"old_password": PASSWORD,
                                                "new_password": PASSWORD + "!"}))
        assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported"
        r = await http.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200  # the password is unchanged, and the node serves on


# --- every X-Forwarded-For line counts ------------------------------------------------

async def test_every_forwarded_for_line_counts_over_http_and_websocket(
        services: tuple[str, str], tmp_path: Path) -> None:
    """A proxy that adds its own header line after the client's: HTTP read the first
    line (the client's, forged) and the WebSocket the last (the nearest proxy's)."""
    settings = make_settings(services, tmp_path, signups_per_ip=1, trusted_proxies=PROXY)

    async def signup(lines: list[str]) -> int:
        name = unique("xf")
        r = await http.post("/api/auth/signup", headers=[("X-Forwarded-For", v) for v in lines],
                            json={"username": name, "email": f"{name}@example.com",
                                  "password": PASSWORD})
        return r.status_code

    async with open_node(settings) as node, httpx.AsyncClient(base_url=node.http_url) as http:
        assert await signup(["198.51.100.1", "203.0.113.5"]) == 201
        assert await signup(["198.51.100.2", "203.0.113.5"]) == 429  # the same client
        # Two trusted proxies, each adding a line: the client is the first line's.
        async with open_websocket_url(node.ws_url, extra_headers=[
                ("X-Forwarded-For", "203.0.113.5"), ("X-Forwarded-For", "10.0.0.7")]) as ws:
            name = unique("xf")
            await ws.send_message(msgpack.packb({"id": 1, "op": "auth.signup", "args": {
                "username": name, "email": f"{name}@example.com", "password": PASSWORD}}))
            reply = msgpack.unpackb(await ws.get_message())
            assert reply["re"] == 1 and reply["error"]["code"] == "rate_limited", reply
        assert await signup(["203.0.113.6", "10.0.0.7"]) == 201  # the node serves on


# --- unknown paths 404, wrong methods 405 ---------------------------------------------

async def test_unknown_paths_are_404_and_wrong_methods_405(node: Node) -> None:
    key = "/media/" + "a" * 64 + ".jpg"
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        for method, path, status in (
                ("GET", "/api/media", 405), ("GET", "/api/auth/login", 405),
                ("PUT", "/api/auth/login", 405), ("DELETE", key, 405),
                ("POST", "/healthz", 405), ("POST", "/api/nope", 404),
                ("GET", "/api/nope", 404), ("POST", "/media/a/b", 404),
                ("GET", key, 404), ("POST", "/some/page", 405)):
            r = await http.request(method, path)
            assert r.status_code == status, (method, path, r.status_code, r.text)
            assert r.json()["error"]["code"] in ("not_found", "bad_request"), r.text
            if status == 405:
                assert method not in r.headers["allow"]
        r = await http.get("/api/media")
        assert "POST" in r.headers["allow"]
        r = await http.post("/api/auth/login", json={"username": "nobody", "password": "x"})
        assert r.status_code == 401  # the real routes still answer


# --- /api/info with an IPv6 Host ------------------------------------------------------

async def test_info_ws_url_keeps_an_ipv6_host(node: Node) -> None:
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        for host, want in (("[::1]", "[::1]"), ("[::1]:8080", "[::1]"),
                           ("example.com", "example.com"), ("example.com:8080", "example.com"),
                           ("[2001:db8::5]:80", "[2001:db8::5]")):
            r = await http.get("/api/info", headers={"Host": host})
            assert r.json()["ws_url"] == f"ws://{want}:{node.ws_port}/ws", host
            assert node.http_url_for(host) == f"http://{want}:{node.http_port}", host


async def test_a_multipart_upload_whose_body_comes_after_the_handler_started(
        node: Node) -> None:
    """A multipart body that is still arriving once the handler began reading it (a
    large photo, sent in pieces after `Expect: 100-continue`): the metered stand-in put
    in place of request.body had no `append`, and the parts arriving after it ended the
    request with a bare 500."""
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        token = await _account(http)
        boundary = "glintboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() \
            + images.jpeg(3000, 2000, quality=100) + f"\r\n--{boundary}--\r\n".encode()
        head = (f"POST /api/media HTTP/1.1\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(body)}\r\nExpect: 100-continue")
        async with _raw(node, head) as stream:
            data = b""
            with trio.fail_after(WAIT):
                while b"\r\n\r\n" not in data:
                    chunk = await stream.receive_some(4096)
                    assert chunk, data
                    data += chunk
            assert data.startswith(b"HTTP/1.1 100"), data[:40]
            for i in range(0, len(body), 4096):  # in pieces, as a network delivers it
                await stream.send_all(body[i:i + 4096])
            status, _, reply = await _reply(stream)
        assert status == 201, reply
        assert reply["width"] == 1080
        await _still_serves(node, http)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_a_node_bound_to_an_ipv6_address_gives_usable_urls(
        services: tuple[str, str], tmp_path: Path) -> None:
    """http_url and ws_url put an IPv6 bind host in brackets (they were unusable)."""
    async with open_node(make_settings(services, tmp_path, host="::1")) as node:
        assert node.http_url == f"http://[::1]:{node.http_port}"
        async with httpx.AsyncClient(base_url=node.http_url) as http:
            r = await http.get("/api/info")
        assert r.json()["ws_url"] == node.ws_url == f"ws://[::1]:{node.ws_port}/ws"
        async with open_websocket_url(node.ws_url) as ws:
            await ws.send_message(msgpack.packb({"op": "ping", "id": 1}))
            assert msgpack.unpackb(await ws.get_message())["re"] == 1
