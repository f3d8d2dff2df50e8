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
