"""UserActor: one per online user on a node; owns that user's devices.

It delivers the user's durable events to every device in seq order, exactly
once: each device has a `delivered` position; an event that leaves a gap (a
missed publish, a dropped bus message) makes the actor re-read the log from
Postgres. `Attach` writes the hello reply and replays `resume` before any live
event reaches the new device.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from actors.device import Device, Fanout
from actors.runtime import Actor
from config.limits import EVENT_REPLAY_BATCH
from protocol.envelope import encode, event
from protocol.names import CloseCode
from storage import bus, events
from storage.store import Storage

log = logging.getLogger(__name__)

TOKEN_DIGEST_BYTES = 32  # SHA-256 of a token (storage/accounts.py token_hash)


@dataclass(frozen=True)
class Attach:
    device: Device
    resume: int | None
    reply: Callable[[int, bool], bytes]  # (current seq, resync) -> the encoded hello reply
    done: trio.MemorySendChannel[Any]


@dataclass(frozen=True)
class Detach:
    device: Device


@dataclass(frozen=True)
class BusMessage:
    msg: bus.Message


@dataclass(frozen=True)
class CatchUp:
    """Re-read the log for every device (the bus reconnected or lagged)."""


UserMsg = Attach | Detach | BusMessage | CatchUp


class UserActor(Actor[UserMsg]):
    def __init__(self, user_id: int, *, st: Storage, subscriber: bus.Subscriber,
                 fanout: Fanout, idle_seconds: float) -> None:
        super().__init__(user_id)
        self.user_id = user_id
        self.st = st
        self.subscriber = subscriber
        self.fanout = fanout
        self.idle_timeout = idle_seconds
        self.devices: dict[int, Device] = {}
        self.delivered: dict[int, int] = {}
        self.channel = bus.user_channel(st, user_id)

    async def started(self) -> None:
        # Subscribe before any device reads its position, so nothing committed after
        # that read can be missed.
        await self.subscriber.subscribe(self.channel)

    async def stopping(self) -> None:
        # Only a crash or shutdown stops an actor that still has devices; they would
        # get nothing more from a restarted one, so they reconnect and resume.
        for dev in self.devices.values():
            dev.close(CloseCode.GOING_AWAY, "session restarting; resume")
        await self.subscriber.unsubscribe(self.channel)

    def idle(self) -> bool:
        return not self.devices

    def after_overflow(self) -> None:
        self._needs_catchup = True

    _needs_catchup = False

    async def handle(self, msg: UserMsg) -> None:
        if isinstance(msg, BusMessage):
            await self._on_bus(msg.msg)
        elif isinstance(msg, Attach):
            await self._attach(msg)
        elif isinstance(msg, Detach):
            self.devices.pop(msg.device.conn_id, None)
            self.delivered.pop(msg.device.conn_id, None)
        elif isinstance(msg, CatchUp):
            self._needs_catchup = True
        if self._needs_catchup:
            self._needs_catchup = False
            for conn_id in list(self.devices):
                await self._catch_up(conn_id)

    async def _attach(self, msg: Attach) -> None:
        dev = msg.device
        replied = False
        try:
            # Everything that can fail happens before the reply is written.
            if msg.resume is None:
                current = await events.current_seq(self.st, self.user_id)
                dev.send(msg.reply(current, False))
                self.delivered[dev.conn_id] = current
            else:
                first = await events.replay(self.st, self.user_id, msg.resume, EVENT_REPLAY_BATCH)
                if first.resync:
                    dev.send(msg.reply(first.current, True))
                    self.delivered[dev.conn_id] = first.current
                else:
                    dev.send(msg.reply(first.current, False))
                    self.delivered[dev.conn_id] = msg.resume
                    self._write(dev, first.events)
            replied = True
            self.devices[dev.conn_id] = dev
            if msg.resume is not None:
                await self._catch_up(dev.conn_id)
            _answer(msg.done, True)
        except Exception as exc:
            if not replied:
                _answer(msg.done, exc)
                return
            # The client already has its hello reply: make it reconnect and resume.
            log.warning("replay failed after hello", extra={"error": repr(exc)})
            dev.close(CloseCode.GOING_AWAY, "temporarily unavailable; resume")
            _answer(msg.done, True)

    def _write(self, dev: Device, stored: list[events.StoredEvent]) -> None:
        pos = self.delivered[dev.conn_id]
        for e in stored:
            if e.seq == pos + 1:
                dev.send(e.frame)
                pos = e.seq
        self.delivered[dev.conn_id] = pos

    async def _catch_up(self, conn_id: int) -> None:
        """Read the log after this device's position until it is current."""
        while (dev := self.devices.get(conn_id)) is not None and dev.open:
            after = self.delivered[conn_id]
            r = await events.replay(self.st, self.user_id, after, EVENT_REPLAY_BATCH)
            if r.resync:
                # Too far behind to replay: the client must reload its state.
                dev.close(CloseCode.TOO_SLOW, "too far behind; resume to resync")
                return
            if conn_id in self.devices:
                self._write(dev, r.events)
            if len(r.events) < EVENT_REPLAY_BATCH:
                return

    async def _on_bus(self, m: bus.Message) -> None:
        if m.kind == "e":
            if m.seq is None:  # ephemeral: no position, no replay
                self.fanout(self.devices.values(), m.body)
                return
            ready = []
            for conn_id, dev in list(self.devices.items()):
                pos = self.delivered[conn_id]
                if m.seq == pos + 1:
                    ready.append(dev)
                    self.delivered[conn_id] = m.seq
                elif m.seq > pos + 1:
                    await self._catch_up(conn_id)  # a gap: the log has what we missed
            if ready:
                self.fanout(ready, m.body)
        elif m.kind == "r":  # a token revoked: its 32-byte digest, then a reason if any
            digest, reason = m.body[:TOKEN_DIGEST_BYTES], m.body[TOKEN_DIGEST_BYTES:]
            for dev in list(self.devices.values()):
                if dev.token_hash == digest:
                    end_session(dev, reason.decode("utf-8", "replace") or "logged out")
        elif m.kind == "k":
            for dev in list(self.devices.values()):
                end_session(dev, m.body.decode("utf-8", "replace") or "session ended")


def end_session(dev: Device, reason: str) -> None:
    """`session.closed` with `reason`, then close 4001: how every ended session ends."""
    dev.send(encode(event("session.closed", {"reason": reason})))
    dev.close(CloseCode.UNAUTHORIZED, reason)


def _answer(done: trio.MemorySendChannel[Any], result: Any) -> None:
    """Answer an Attach; the requester may have given up (timed out) meanwhile."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        done.send_nowait(result)
