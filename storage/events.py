"""The per-user durable event log: next seq, store, then publish — in one crossing.

Every durable event for a user gets that user's next `seq`, is committed to
Postgres, and only then published on the user's bus channel. Nodes that miss a
publish (Redis restart, overflow) re-read the log, so nothing is silently lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgpack

from config.limits import EVENT_DATA_MAX_BYTES
from protocol.envelope import encode, event
from storage import bus
from storage.store import Storage, retry_conflicts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredEvent:
    user_id: int
    seq: int
    kind: str
    frame: bytes  # the encoded {"ev", "seq", "data"} map, ready to send


@dataclass(frozen=True)
class Replay:
    events: list[StoredEvent]
    resync: bool  # the requested position is older than what is kept
    current: int  # the user's latest seq


def _frame(kind: str, seq: int, data_packed: bytes) -> bytes:
    return encode(event(kind, msgpack.unpackb(data_packed, raw=False), seq))


async def _append(conn: asyncpg.Connection, items: Sequence[tuple[int, str, dict[str, Any]]],
                  retention: int) -> list[StoredEvent]:
    out = []
    for user_id, kind, data in items:
        seq = await conn.fetchval(
            "UPDATE users SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq",
            user_id)
        if seq is None:
            continue  # the user is gone
        packed = encode(data)
        if len(packed) > EVENT_DATA_MAX_BYTES:
            raise ValueError(f"event data over {EVENT_DATA_MAX_BYTES} bytes")
        await conn.execute(
            "INSERT INTO user_events (user_id, seq, kind, data) VALUES ($1, $2, $3, $4)",
            user_id, seq, kind, packed)
        if seq > retention and seq % 16 == 0:  # trim in steps, not on every append
            await conn.execute(
                "DELETE FROM user_events WHERE user_id = $1 AND seq <= $2",
                user_id, seq - retention)
        out.append(StoredEvent(user_id, seq, kind, encode(event(kind, data, seq))))
    return out


async def append(st: Storage,
                 items: Sequence[tuple[int, str, dict[str, Any]]]) -> list[StoredEvent]:
    """Append durable events (user_id, kind, data) and publish them after commit."""

    async def run(st: Storage) -> list[StoredEvent]:
        assert st.pool is not None
        async with st.pool.acquire() as conn, conn.transaction():
            stored = await _append(conn, items, st.settings.event_retention)
        await bus.publish_raw(
            st, [(bus.user_channel(st, e.user_id), bus.pack_event(e.seq, e.frame)) for e in stored])
        return stored

    return await st.both(run)


async def _replay(conn: asyncpg.Connection, user_id: int, after: int, limit: int,
                  retention: int) -> Replay:
    current = await conn.fetchval("SELECT event_seq FROM users WHERE id = $1", user_id) or 0
    if after > current or after < current - retention:
        return Replay([], True, current)
    rows = await conn.fetch(
        "SELECT seq, kind, data FROM user_events WHERE user_id = $1 AND seq > $2 "
        "ORDER BY seq LIMIT $3", user_id, after, limit)
    if rows and rows[0]["seq"] != after + 1:
        return Replay([], True, current)  # trimmed under us
    return Replay([StoredEvent(user_id, r["seq"], r["kind"], _frame(r["kind"], r["seq"], r["data"]))
                   for r in rows], False, current)


async def replay(st: Storage, user_id: int, after: int, limit: int) -> Replay:
    """Events with seq > after, oldest first, at most `limit`."""
    return await st.tx(_replay, user_id, after, limit, st.settings.event_retention)


async def _current(conn: asyncpg.Connection, user_id: int) -> int:
    return await conn.fetchval("SELECT event_seq FROM users WHERE id = $1", user_id) or 0


async def current_seq(st: Storage, user_id: int) -> int:
    return await st.read(_current, user_id)


class EventSink:
    """Collects the events a transaction produces; they are published after it commits.

    Durable events get their seq inside the transaction (so the mutation and the
    notification commit together); ephemeral ones (live counters, comment.added to
    watchers) are only published.
    """

    def __init__(self, conn: asyncpg.Connection, retention: int) -> None:
        self._conn = conn
        self._retention = retention
        self.durable: list[StoredEvent] = []
        self.ephemeral: list[tuple[str, bytes]] = []

    async def to_user(self, user_id: int, kind: str, data: dict[str, Any]) -> StoredEvent | None:
        stored = await _append(self._conn, [(user_id, kind, data)], self._retention)
        self.durable.extend(stored)
        return stored[0] if stored else None

    def to_channel(self, channel: str, kind: str, data: dict[str, Any]) -> None:
        self.ephemeral.append((channel, bus.pack_event(None, encode(event(kind, data)))))


async def tx_events(st: Storage, fn: Any, *args: Any) -> Any:
    """Run `fn(conn, sink, *args)` in one transaction, then publish what it produced.

    One crossing of the bridge for the whole mutation and its fan-out.
    """

    async def run(st: Storage) -> Any:
        assert st.pool is not None

        async def once() -> tuple[Any, EventSink]:
            async with st.pool.acquire() as conn, conn.transaction():
                sink = EventSink(conn, st.settings.event_retention)
                return await fn(conn, sink, *args), sink

        result, sink = await retry_conflicts(once)
        items = [(bus.user_channel(st, e.user_id), bus.pack_event(e.seq, e.frame))
                 for e in sink.durable]
        await bus.publish_raw(st, items + sink.ephemeral)
        return result

    return await st.both(run)
