"""A bare WebSocket peer for tests that must send what a good client never would."""

from __future__ import annotations

import itertools
from typing import Any

import msgpack
import trio
from trio_websocket import WebSocketConnection

from protocol.envelope import encode

WAIT = 10.0  # seconds any single expected thing may take in a test


class Raw:
    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def send_obj(self, obj: Any) -> None:
        await self.ws.send_message(encode(obj))

    async def recv(self) -> dict[str, Any]:
        with trio.fail_after(WAIT):
            data = await self.ws.get_message()
        return msgpack.unpackb(data, raw=False)

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Send a request and return its reply, keeping events that arrive first."""
        rid = next(self._ids)
        await self.send_obj({"op": op, "id": rid, "args": args})
        return await self.reply(rid)

    async def reply(self, rid: int | None) -> dict[str, Any]:
        while True:
            msg = await self.recv()
            if "re" in msg and msg["re"] == rid:
                return msg
            if "ev" in msg:
                self.events.append(msg)

    async def event(self, name: str | None = None) -> dict[str, Any]:
        for i, ev in enumerate(self.events):
            if name is None or ev["ev"] == name:
                return self.events.pop(i)
        while True:
            msg = await self.recv()
            if "ev" in msg and (name is None or msg["ev"] == name):
                return msg
            if "ev" in msg:
                self.events.append(msg)


class TinyBufferPeer:
    """A WebSocket client on a socket with a tiny receive buffer, driven by wsproto.

    trio-websocket cannot shrink its socket buffers, and loopback buffers grow to
    tens of MB; this peer lets a test stop reading and fill the server's queue.
    """

    RCVBUF = 16 * 1024

    def __init__(self, sock: trio.socket.SocketType) -> None:
        from wsproto import ConnectionType, WSConnection

        self.sock = sock
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Any] = []

    @classmethod
    async def connect(cls, host: str, port: int) -> TinyBufferPeer:
        import socket as stdsock

        from wsproto.events import AcceptConnection, Request

        sock = trio.socket.socket()
        sock.setsockopt(stdsock.SOL_SOCKET, stdsock.SO_RCVBUF, cls.RCVBUF)
        await sock.connect((host, port))
        peer = cls(sock)
        await sock.send(peer.ws.send(Request(host=f"{host}:{port}", target="/ws")))
        with trio.fail_after(WAIT):
            while not any(isinstance(e, AcceptConnection) for e in await peer._pump()):
                pass
        return peer

    async def _pump(self) -> list[Any]:
        data = await self.sock.recv(65536)
        if not data:
            raise EOFError("server closed the socket")
        self.ws.receive_data(data)
        return list(self.ws.events())

    async def send_obj(self, obj: Any) -> None:
        from wsproto.events import BytesMessage

        await self.sock.send(self.ws.send(BytesMessage(data=encode(obj))))

    async def read_until_close(self) -> tuple[int, int]:
        """Read everything; returns (messages received, close code)."""
        from wsproto.events import BytesMessage, CloseConnection

        count = 0
        with trio.fail_after(WAIT * 3):
            while True:
                for ev in await self._pump():
                    if isinstance(ev, BytesMessage) and ev.message_finished:
                        count += 1
                    if isinstance(ev, CloseConnection):
                        await self.sock.send(self.ws.send(ev.response()))
                        return count, ev.code

    def close(self) -> None:
        self.sock.close()
