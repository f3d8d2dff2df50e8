"""The Python client against a real node: backpressure, limits, timeouts and closes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from config.limits import DM_HISTORY_MAX, DM_TEXT_MAX
from protocol import client as client_module
from protocol.client import ConnectionLost, connect
from protocol.envelope import decode_map, encode
from protocol.errors import GlintError, Internal, RateLimited, TooLarge, Unavailable
from server.node import Node, open_node
from storage.bridge import BridgeClosed
from tests.conftest import PASSWORD, make_settings, unique
from tests.fixtures import images
from tests.server.test_resume import _account, _notify
from tests.wire import Raw

WAIT = 20.0
QUEUE = client_module.EVENT_QUEUE_SIZE
BACKLOG = QUEUE + 76  # more durable events than the client's queue holds


@dataclass
class Proxy:
    """A TCP proxy in front of a node. A connection planned as a hole passes the
    WebSocket handshake and then nothing either way: a path whose far end vanished."""

    target: tuple[str, int]
    port: int = 0
    plan: list[bool] = field(default_factory=list)  # the next connections: hole or not
    accepted: int = 0
    _scopes: list[trio.CancelScope] = field(default_factory=list)
    _changed: trio.Event = field(default_factory=trio.Event)

    async def start(self, nursery: trio.Nursery) -> str:
        listeners = await nursery.start(trio.serve_tcp, self._handle, 0)
        self.port = listeners[0].socket.getsockname()[1]
        return f"ws://127.0.0.1:{self.port}/ws"

    async def wait_accepted(self, n: int) -> None:
        while self.accepted < n:
            await self._changed.wait()

    def drop_all(self) -> None:
        """End every proxied connection (the client sees its socket die)."""
        for scope in self._scopes:
            scope.cancel()

    async def _handle(self, down: trio.SocketStream) -> None:
        self.accepted += 1
        self._changed.set()
        self._changed = trio.Event()
        hole = self.plan.pop(0) if self.plan else False
        up = await trio.open_tcp_stream(*self.target)
        async with down, up, trio.open_nursery() as nursery:
            self._scopes.append(nursery.cancel_scope)
            nursery.start_soon(self._pump, down, up, hole, nursery.cancel_scope)
            nursery.start_soon(self._pump, up, down, hole, nursery.cancel_scope)

    async def _pump(self, src: trio.SocketStream, dst: trio.SocketStream, hole: bool,
                    scope: trio.CancelScope) -> None:
        head = b""  # with a hole: what passed of the HTTP handshake so far
        try:
            while data := await src.receive_some():
                if hole and head is not None:
                    end = (head + data).find(b"\r\n\r\n")
                    if end >= 0:
                        data, head = data[:end + 4 - len(head)], None
                    else:
                        head += data
                    await dst.send_all(data)
                elif not hole:
                    await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        scope.cancel()


@pytest.fixture
async def roomy(services: tuple[str, str], tmp_path: Path) -> AsyncIterator[Node]:
    """A node that keeps the whole backlog and lets a bot call as fast as it likes."""
    settings = make_settings(services, tmp_path, event_retention=5000,
                             ops_per_second=100_000.0, ops_burst=100_000)
    async with open_node(settings) as n:
        yield n


async def test_calls_are_answered_while_nobody_reads_a_full_event_queue(roomy: Node) -> None:
    uid, token = await _account(roomy)
    await _notify(roomy, uid, range(1, BACKLOG + 1))
    with trio.fail_after(WAIT):
        async with connect(roomy.ws_url, token=token, resume=0) as c:
            # The node writes the whole replay before it answers the next request: the
            # reply is behind more events than the queue holds. (It used to wait there.)
            assert "t" in await c.call("ping")
            assert c.last_seq == QUEUE  # the rest was dropped: resumed once read
            seqs = [(await c.next_event()).seq for _ in range(BACKLOG)]
            assert seqs == list(range(1, BACKLOG + 1))
            assert "t" in await c.call("ping")
            assert c.close_code is None


async def test_a_loop_that_calls_for_each_event_does_not_deadlock(roomy: Node) -> None:
    uid, token = await _account(roomy)
    await _notify(roomy, uid, range(1, BACKLOG + 1))
    seqs: list[int | None] = []
    with trio.fail_after(WAIT):
        async with connect(roomy.ws_url, token=token, resume=0) as c:
            async for ev in c.events():
                seqs.append(ev.seq)
                await c.call("ping")  # its reply is behind the rest of the backlog
                if ev.seq == BACKLOG:
                    break
    assert seqs == list(range(1, BACKLOG + 1))


async def test_without_reconnect_an_overflow_ends_the_client_with_4008(roomy: Node) -> None:
    uid, token = await _account(roomy)
    await _notify(roomy, uid, range(1, BACKLOG + 1))
    with trio.fail_after(WAIT):
        async with connect(roomy.ws_url, token=token, resume=0, reconnect=False) as c:
            assert "t" in await c.call("ping")
            # What was queued is still handed out, then the stream ends where the gap
            # would have begun: resume from there.
            assert [ev.seq async for ev in c.events()] == list(range(1, QUEUE + 1))
            assert c.close_code == 4008


async def test_a_reply_over_a_mebibyte_is_received(node: Node) -> None:
    """A full page of dm.history with long emoji messages is ~1.6 MB."""
    _, token_a = await _account(node)
    b_id, token_b = await _account(node)
    text = "\U0001F600" * DM_TEXT_MAX  # 4 bytes each in UTF-8
    with trio.fail_after(WAIT):
        async with connect(node.ws_url, token=token_a) as alice, \
                connect(node.ws_url, token=token_b) as bob:
            conv = (await alice.call("dm.open", user=b_id))["id"]
            for i in range(DM_HISTORY_MAX):  # taking turns: each under its send limit
                await (alice if i % 2 == 0 else bob).call("dm.send", conversation=conv,
                                                          text=text)
            page = await alice.call("dm.history", conversation=conv, limit=DM_HISTORY_MAX)
            assert len(encode(page)) > 1 << 20
            assert [m["text"] for m in page["messages"]] == [text] * DM_HISTORY_MAX
            assert alice.close_code is None


async def test_a_socket_idle_before_hello_is_kept_open(
        services: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """E.g. a bot sleeping out a login's retry_after before it tries again."""
    monkeypatch.setattr(client_module, "PRE_HELLO_PING_SECONDS", 0.1, raising=False)
    settings = make_settings(services, tmp_path, heartbeat_seconds=0.3)
    async with open_node(settings) as node:
        name = unique("idle")
        with trio.fail_after(WAIT):
            async with connect(node.ws_url) as c:
                # A socket opened after the client's and silent: once the node closes it
                # for want of a heartbeat, the client has been idle longer still.
                async with open_websocket_url(node.ws_url) as silent:
                    with pytest.raises(ConnectionClosed) as info:
                        await silent.get_message()
                    assert info.value.reason.code == 1008
                hello = await c.signup(name, f"{name}@example.com", PASSWORD)
                assert hello["user"]["username"] == name


async def test_a_resume_hello_that_is_never_answered_is_given_up(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "HELLO_TIMEOUT", 1.0, raising=False)
    monkeypatch.setattr(client_module, "CLOSE_TIMEOUT", 0.2)  # no closing handshake on a hole
    _, token = await _account(node)
    proxy = Proxy(("127.0.0.1", node.ws_port))
    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            url = await proxy.start(nursery)
            async with connect(url, token=token) as c:
                proxy.plan = [True]  # the reconnect's path goes dead after the handshake
                proxy.drop_all()
                await proxy.wait_accepted(2)  # the call below is not for the old socket
                assert "t" in await c.call("ping")  # on a third socket
                assert proxy.accepted == 3 and c.close_code is None
            nursery.cancel_scope.cancel()


async def test_a_call_before_hello_on_a_dead_path_fails(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """A login in flight waits longer (PRE_HELLO_CALL_SILENCE: the server reads nothing
    else of the socket while logins queue for argon2), but not for ever."""
    monkeypatch.setattr(client_module, "HELLO_TIMEOUT", 0.5, raising=False)
    monkeypatch.setattr(client_module, "PRE_HELLO_CALL_SILENCE", 1.0, raising=False)
    monkeypatch.setattr(client_module, "CLOSE_TIMEOUT", 0.2)  # no closing handshake on a hole
    monkeypatch.setattr(client_module, "PRE_HELLO_PING_SECONDS", 0.1)
    proxy = Proxy(("127.0.0.1", node.ws_port), plan=[True])
    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            url = await proxy.start(nursery)
            async with connect(url) as c:
                with pytest.raises(ConnectionLost):
                    await c.login(unique("nobody"), PASSWORD)
            nursery.cancel_scope.cancel()


async def test_a_close_for_rate_limiting_is_rate_limited_and_backed_off(
        services: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "RATE_LIMITED_CLOSE_DELAY", 1.0, raising=False)
    # Two tokens a socket, hardly refilled: hello takes one, the first ping the other.
    settings = make_settings(services, tmp_path, ops_per_second=0.001, ops_burst=2)
    async with open_node(settings) as node:
        _, token = await _account(node)
        errors: list[GlintError] = []
        with trio.fail_after(WAIT):
            async with connect(node.ws_url, token=token) as c:

                async def ping() -> None:
                    try:
                        await c.call("ping")
                    except GlintError as exc:
                        errors.append(exc)

                async with trio.open_nursery() as nursery:
                    for _ in range(205):  # the 200th refusal in a row closes with 4029
                        nursery.start_soon(ping)
                closed_at = trio.current_time()
                at_close = [e for e in errors if isinstance(e, ConnectionLost)]
                assert len(at_close) == 5  # the 200th refused, unanswered, and 4 not read
                assert all(isinstance(e, RateLimited) and e.code == "rate_limited"
                           and e.retry_after == 1.0 for e in at_close)
                assert "t" in await c.call("ping")  # on the next socket, which...
                assert trio.current_time() - closed_at >= 1.0  # ...came after a pause
                assert c.close_code is None


async def test_a_request_over_the_frame_limit_is_refused_before_it_is_sent(
        services: tuple[str, str], tmp_path: Path) -> None:
    settings = make_settings(services, tmp_path, max_frame_bytes=64 * 1024)
    async with open_node(settings) as node:
        _, token = await _account(node)
        with trio.fail_after(WAIT):
            async with connect(node.ws_url, token=token) as c:
                with pytest.raises(TooLarge) as info:
                    await c.call("user.update", bio="x" * 70_000)
                assert not isinstance(info.value, ConnectionLost)  # the socket lives on
                assert "t" in await c.call("ping")
            # Before hello the limit is not known yet: the node's close says it.
            async with connect(node.ws_url) as fresh:
                with pytest.raises(TooLarge):
                    await fresh.login("x" * 70_000, PASSWORD)
                assert fresh.close_code == 1009


async def test_processed_seq_counts_what_was_handed_out_so_a_restart_misses_nothing(
        node: Node) -> None:
    uid, token = await _account(node)
    await _notify(node, uid, range(1, 6))
    with trio.fail_after(WAIT):
        async with connect(node.ws_url, token=token, resume=0) as c:
            assert c.processed_seq == 0
            assert "t" in await c.call("ping")  # answered after the whole replay
            assert c.last_seq == 5 and c.processed_seq == 0  # queued, not yet handled
            assert [(await c.next_event()).seq for _ in range(2)] == [1, 2]
            assert c.processed_seq == 2
            saved = c.processed_seq
        # The bot restarts: what was queued but never handled comes again.
        async with connect(node.ws_url, token=token, resume=saved) as again:
            assert [(await again.next_event()).seq for _ in range(3)] == [3, 4, 5]
            assert again.processed_seq == 5
        async with connect(node.ws_url, token=token) as fresh:
            assert fresh.processed_seq == 5  # no resume: nothing before hello's seq is owed


async def test_logout_replies_once_and_closes_even_when_telling_other_nodes_fails(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    _, token = await _account(node)

    async def bus_gone(user_id: int, token_digest: bytes) -> None:
        raise BridgeClosed("the node is shutting down")

    monkeypatch.setattr(node.accounts, "close_sessions", bus_gone)
    async with open_websocket_url(node.ws_url) as ws:
        raw = Raw(ws)
        assert (await raw.call("hello", token=token))["ok"]
        await raw.send_obj({"op": "auth.logout", "id": 99, "args": {}})
        frames: list[dict[str, Any]] = []
        with trio.fail_after(WAIT), pytest.raises(ConnectionClosed) as info:
            while True:
                frames.append(decode_map(await ws.get_message()))
        assert [f for f in frames if f.get("re") == 99] == [{"re": 99, "ok": True, "data": {}}]
        assert [f["data"] for f in frames if f.get("ev") == "session.closed"] == [
            {"reason": "logged out"}]
        assert info.value.reason.code == 4001


@dataclass
class ErrorPages:
    """An HTTP server answering every request with the next of `pages`: (status line,
    extra headers), an HTML body, as a proxy in front of a node does when it fails."""

    pages: list[tuple[str, str]]
    port: int = 0

    async def start(self, nursery: trio.Nursery) -> str:
        listeners = await nursery.start(trio.serve_tcp, self._handle, 0)
        self.port = listeners[0].socket.getsockname()[1]
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, stream: trio.SocketStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                data += await stream.receive_some()
            head, _, body = data.partition(b"\r\n\r\n")
            found = re.search(rb"(?i)content-length:\s*(\d+)", head)
            length = int(found.group(1)) if found else 0
            while len(body) < length:
                body += await stream.receive_some()
            status, extra = self.pages.pop(0)
            page = f"<html><body><h1>{status}</h1></body></html>".encode()
            await stream.send_all(
                f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\n{extra}"
                f"Content-Length: {len(page)}\r\nConnection: close\r\n\r\n".encode() + page)


async def test_upload_errors_without_an_error_map_are_typed_by_http_status(
        services: tuple[str, str], tmp_path: Path) -> None:
    pages = ErrorPages([("413 Request Entity Too Large", ""), ("502 Bad Gateway", ""),
                        ("429 Too Many Requests", "Retry-After: 30\r\n"),
                        ("500 Internal Server Error", ""), ("200 OK", "")])
    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            base = await pages.start(nursery)
            settings = make_settings(services, tmp_path, public_http_url=base)
            async with open_node(settings) as node:
                _, token = await _account(node)
                async with connect(node.ws_url, token=token) as c:
                    with pytest.raises(TooLarge):
                        await c.upload(images.jpeg(64, 48))
                    with pytest.raises(Unavailable) as unavailable:
                        await c.upload(images.jpeg(64, 48))
                    assert not isinstance(unavailable.value, ConnectionLost)
                    with pytest.raises(RateLimited) as limited:
                        await c.upload(images.jpeg(64, 48))
                    assert limited.value.retry_after == 30.0
                    with pytest.raises(Internal):
                        await c.upload(images.jpeg(64, 48))
                    with pytest.raises(Internal):  # a 200 that is not our reply
                        await c.upload(images.jpeg(64, 48))
            nursery.cancel_scope.cancel()


async def test_http_url_follows_the_host_the_client_reached(node: Node) -> None:
    """As protocol.md says of hello's http_url when public_http_url is unset."""
    _, token = await _account(node)
    with trio.fail_after(WAIT):
        async with connect(f"ws://localhost:{node.ws_port}/ws", token=token) as c:
            assert c.hello_data is not None
            assert c.hello_data["http_url"] == f"http://localhost:{node.http_port}"


async def test_events_is_still_used_as_the_channel_it_was(node: Node) -> None:
    """events() returned the trio channel before: `async with`, statistics() and
    clone() still work on what it returns now, and leaving the block closes nothing."""
    async with connect(node.ws_url) as c:
        name = unique("ev")
        await c.signup(name, f"{name}@example.com", PASSWORD)
        async with c.events() as ch:
            assert ch.statistics().current_buffer_used >= 0
            assert ch.clone() is not ch
        await c.call("user.update", bio="still reading")
        assert "t" in await c.call("ping")
        with pytest.raises(trio.WouldBlock):  # open and empty, not closed
            c.events().receive_nowait()
