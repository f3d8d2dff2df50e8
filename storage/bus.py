"""The bus: Redis pub/sub between nodes, feeding trio through one bounded channel.

Every delivery goes through the bus, even on one node, so scaling out is
configuration. A node subscribes to a user's channel while it holds one of that
user's connections. Payloads are msgpack arrays `[kind, seq, body]`:
  - ("e", seq|None, frame): an encoded event map, sent as is to every device;
  - ("r", None, token_hash): a token was revoked, close its connections (4001);
  - ("k", None, reason): close every connection of the user (4001).
On the broadcast channel (every node reads it) also:
  - ("m", None, [user ids, frame]): the event frame for each of those users — one
    message per node instead of one per user (a post's `feed.post` to its followers:
    each node delivers to those it holds; `pack_multicast`, `unpack_multicast`).
If the subscription drops, the reader reconnects, resubscribes, and emits
`Reconnected`, upon which the node re-reads the event log for its sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import redis.exceptions
import trio

from config.limits import (
    BUS_INBOX_SIZE,
    BUS_READ_BATCH,
    BUS_RECONNECT_INITIAL,
    BUS_RECONNECT_MAX,
)
from storage.store import Storage

log = logging.getLogger(__name__)

PUBLISH_ATTEMPTS = 3


@dataclass(frozen=True)
class Message:
    channel: str
    kind: str
    seq: int | None
    body: bytes


@dataclass(frozen=True)
class Reconnected:
    """The subscription was re-established; anything published meanwhile was missed."""


@dataclass(frozen=True)
class Lagged:
    """The inbox overflowed and messages were dropped; re-read the logs."""


def user_channel(st: Storage, user_id: int) -> str:
    return st.key("u", user_id)


def broadcast_channel(st: Storage) -> str:
    return st.key("all")


def pack_event(seq: int | None, frame: bytes) -> bytes:
    return msgpack.packb(["e", seq, frame], use_bin_type=True)


def pack(kind: str, body: bytes) -> bytes:
    return msgpack.packb([kind, None, body], use_bin_type=True)


MULTICAST = "m"


def pack_multicast(user_ids: Sequence[int], frame: bytes) -> bytes:
    return pack(MULTICAST, msgpack.packb([list(user_ids), frame], use_bin_type=True))


def unpack_multicast(body: bytes) -> tuple[list[int], bytes] | None:
    """(user ids, frame) of a multicast message; None if it is malformed."""
    try:
        ids, frame = msgpack.unpackb(body, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if not isinstance(frame, bytes) or not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return None
    return ids, frame


async def publish_raw(st: Storage, items: Sequence[tuple[str, bytes]]) -> None:
    """Publish a batch in one pipeline (asyncio side); failures are logged, not raised:
    the event log is the truth and subscribers catch up from it."""
    if not items:
        return
    assert st.redis is not None
    delay = 0.05
    for attempt in range(PUBLISH_ATTEMPTS):
        try:
            async with st.redis.pipeline(transaction=False) as pipe:
                for channel, payload in items:
                    pipe.publish(channel, payload)
                await pipe.execute()
            return
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            if attempt == PUBLISH_ATTEMPTS - 1:
                log.warning("bus publish failed; subscribers will catch up from the log",
                            extra={"error": repr(exc), "messages": len(items)})
            await asyncio.sleep(delay)
            delay *= 4


async def publish(st: Storage, items: Sequence[tuple[str, bytes]]) -> None:
    """Trio side: publish a batch with one crossing."""
    await st.redis_op(lambda _r: publish_raw(st, items))


class Subscriber:
    """One pub/sub connection per node; channels are added and removed as users come and go."""

    def __init__(self, st: Storage) -> None:
        self._st = st
        self._channels: set[str] = set()
        self._pubsub: Any = None
        self._send, self.inbox = trio.open_memory_channel[Message | Reconnected | Lagged](
            BUS_INBOX_SIZE)
        self._token: trio.lowlevel.TrioToken | None = None
        self._task: asyncio.Task[None] | None = None
        self._lagging = False
        self.connected = False
        self.reconnects = 0

    async def start(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        await self._st.bridge.run(self._start)

    async def _start(self) -> None:
        await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._read_forever())

    async def stop(self) -> None:
        async def run() -> None:
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
            await self._close_pubsub()

        with contextlib.suppress(Exception):
            await self._st.bridge.run(run)

    async def subscribe(self, *channels: str) -> None:
        await self._st.bridge.run(self._change, channels, True)

    async def unsubscribe(self, *channels: str) -> None:
        await self._st.bridge.run(self._change, channels, False)

    async def _change(self, channels: Sequence[str], add: bool) -> None:
        if add:
            self._channels.update(channels)
        else:
            self._channels.difference_update(channels)
        if self._pubsub is None or not self.connected:
            return  # the reconnect loop subscribes to whatever is wanted then
        try:
            if add:
                await self._pubsub.subscribe(*channels)
            else:
                await self._pubsub.unsubscribe(*channels)
        except (redis.exceptions.ConnectionError, OSError):
            self.connected = False  # the reader will notice and reconnect

    async def _connect(self) -> None:
        assert self._st.redis is not None
        await self._close_pubsub()
        self._pubsub = self._st.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.ping()
        # A permanent channel keeps the connection in subscribed mode even when no
        # user is online (redis-py's get_message needs at least one subscription).
        await self._pubsub.subscribe(self._st.key("node-keepalive"), *self._channels)
        self.connected = True

    async def _close_pubsub(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None

    async def _read_forever(self) -> None:
        delay = BUS_RECONNECT_INITIAL
        while True:
            try:
                if not self.connected:
                    await self._connect()
                    self.reconnects += 1
                    delay = BUS_RECONNECT_INITIAL
                    self._to_trio(Reconnected())
                msg = await self._pubsub.get_message(timeout=1.0)
                batch: list[Message] = []
                while msg is not None and len(batch) < BUS_READ_BATCH:
                    if msg.get("type") == "message":
                        item = self._decode(msg)
                        if item is not None:
                            batch.append(item)
                    # What the connection has already buffered goes in the same batch:
                    # one trio wake-up for many messages, not one each.
                    msg = await self._pubsub.get_message(timeout=0)
                if batch:
                    self._to_trio_many(batch)
            except asyncio.CancelledError:
                raise
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError,
                    AttributeError, RuntimeError) as exc:
                if self.connected:
                    log.warning("bus connection lost", extra={"error": repr(exc)})
                self.connected = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, BUS_RECONNECT_MAX)

    def _decode(self, msg: dict[str, Any]) -> Message | None:
        channel = msg["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        try:
            kind, seq, body = msgpack.unpackb(msg["data"], raw=False)
        except Exception:
            log.warning("malformed bus message", extra={"channel": channel})
            return None
        return Message(channel, kind, seq, body)

    def _to_trio_many(self, items: list[Message]) -> None:
        assert self._token is not None
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._push_many, items)

    def _push_many(self, items: list[Message]) -> None:
        for item in items:
            self._push(item)

    def _to_trio(self, item: Message | Reconnected | Lagged) -> None:
        assert self._token is not None
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._push, item)

    def _push(self, item: Message | Reconnected | Lagged) -> None:
        try:
            if self._lagging:
                self._send.send_nowait(Lagged())
                self._lagging = False
            self._send.send_nowait(item)
        except trio.WouldBlock:
            self._lagging = True
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass
