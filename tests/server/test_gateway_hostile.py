"""Hostile bytes below the protocol (found by a review): each of these ended the whole
node, or held its loop, from one connection. Now the one connection is closed with a
clear code and everyone else is served on. Raw TCP, so the test says exactly what is
sent; wsproto only frames the test's own handshake and reads the server's close."""

from __future__ import annotations

import socket

import msgpack
import pytest
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Request

from protocol.envelope import encode, request
from server.connection import Connection
from server.node import Node
from tests.server.test_garbage import bystander, still_fine
from tests.wire import WAIT

MASK0 = b"\x00\x00\x00\x00"  # a zero masking key: the payload bytes stay as written


async def _read_until(stream: trio.SocketStream, ws: WSConnection,
                      want: type) -> object | None:
    """Feed the server's bytes to `ws` until an event of type `want` (None: EOF first)."""
    with trio.fail_after(WAIT):
        while True:
            for ev in ws.events():
                if isinstance(ev, want):
                    return ev
            try:
                data = await stream.receive_some(65536)
            except trio.BrokenResourceError:  # reset: our unread bytes were still there
                return None
            if not data:
                return None
            ws.receive_data(data)


async def _upgraded(node: Node) -> tuple[trio.SocketStream, WSConnection]:
    stream = await trio.open_tcp_stream("127.0.0.1", node.ws_port)
    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(ws.send(Request(host="127.0.0.1", target="/ws")))
    assert isinstance(await _read_until(stream, ws, AcceptConnection), AcceptConnection)
    return stream, ws


async def test_a_host_header_that_is_not_idna_is_refused(node: Node) -> None:
    """wsproto decodes Host as IDNA and raised UnicodeError, which nothing caught."""
    async with bystander(node) as ok:
        for host in (b"xn--zz", b"caf\xe9"):
            stream = await trio.open_tcp_stream("127.0.0.1", node.ws_port)
            async with stream:
                await stream.send_all(
                    b"GET /ws HTTP/1.1\r\nHost: " + host + b"\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
                got = b""
                with trio.fail_after(WAIT):
                    while chunk := await stream.receive_some(4096):
                        got += chunk
                assert got == b"" or got.startswith(b"HTTP/1.1 400"), got[:40]
            await still_fine(ok)


async def test_a_flood_of_empty_fragments_is_closed(node: Node) -> None:
    """Empty continuation frames grew the message's parts with its size at 0, never
    reaching the 1009 limit; a read of them was ~11,000 events parsed in one go."""
    async with bystander(node) as ok:
        stream, ws = await _upgraded(node)
        async with stream:
            try:
                await stream.send_all(b"\x02\x80" + MASK0 + (b"\x00\x80" + MASK0) * 20_000)
            except trio.BrokenResourceError:
                pass  # closed before it had all: its close frame may still be read
            close = await _read_until(stream, ws, CloseConnection)  # closed, not held
            assert close is None or close.code in (1008, 1009), close  # type: ignore[attr-defined]
        await still_fine(ok)


@pytest.mark.parametrize("frame", [
    b"\x82\x01\x80",  # not masked
    b"\xc2\x80" + MASK0,  # a reserved bit set
    b"\x83\x80" + MASK0,  # an unknown opcode
    b"\x81\x81" + MASK0 + b"\xff",  # a text frame that is not UTF-8
])
async def test_websocket_protocol_violations_close_1008(node: Node, frame: bytes) -> None:
    """As documented (1003/1008 for misuse): wsproto's own 1002/1007 were echoed."""
    async with bystander(node) as ok:
        stream, ws = await _upgraded(node)
        async with stream:
            await stream.send_all(frame)
            close = await _read_until(stream, ws, CloseConnection)
            assert isinstance(close, CloseConnection) and close.code == 1008, close
        await still_fine(ok)


async def test_an_overflow_while_draining_ends_only_that_connection() -> None:
    """The drain task woke to an empty queue (an overflow had cleared it) and read its
    head: IndexError out of the connection's nursery, and so out of the node's."""
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    try:
        async with trio.open_nursery() as nursery:
            conn = Connection(a, "test:1", nursery=nursery, queue_limit=10_000,
                              ops_per_second=50.0, ops_burst=50)
            while True:  # fill the socket's buffers
                try:
                    a.send(b"\x00" * 65536)
                except BlockingIOError:
                    break
            conn._write(b"x" * 5_000)  # queued: the drain task waits to write it
            assert conn.draining
            await trio.testing.wait_all_tasks_blocked()
            while True:  # the peer reads everything: writable again
                try:
                    if not b.recv(1 << 20):
                        break
                except BlockingIOError:
                    break
            conn._write(b"y" * 6_000)  # past the limit before the drain task ran
            assert conn.closing and not conn.queue
            await trio.testing.wait_all_tasks_blocked()
            assert not conn.draining
    finally:
        a.close()
        b.close()



async def test_a_large_frame_read_in_pieces_is_one_fragment(node: Node) -> None:
    """A single frame just under max_frame arrives over many socket reads: its per-
    fragment cost was charged per read, and it was closed with 1009."""
    limit = node.settings.max_frame_bytes
    body = encode(request("search", 7, {"q": "x" * (limit - 200)}))
    assert limit - 300 < len(body) <= limit - 64  # one fragment's cost still fits
    stream, ws = await _upgraded(node)
    async with stream:
        await stream.send_all(ws.send(BytesMessage(data=body)))
        with trio.fail_after(WAIT):
            while True:
                got = await _read_until(stream, ws, BytesMessage)
                assert isinstance(got, BytesMessage), got  # answered, not closed
                reply = msgpack.unpackb(got.data, raw=False)
                if reply.get("re") == 7:
                    break
        assert reply["error"]["code"] == "unauthorized"  # no hello yet: an answer
