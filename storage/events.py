"""The per-user durable event log: next seq, store, then publish — in one crossing.

Every durable event for a user gets that user's next `seq`, is committed to
Postgres, and only then published on the user's bus channel. Nodes that miss a
publish (Redis restart, overflow) re-read the log, so nothing is silently lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgpack

from config.limits import EVENT_DATA_MAX_BYTES
from protocol.envelope import encode, event
from storage import bus
from storage.errors import Unavailable
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


def append_ctes(p: int, guard: str = "true") -> str:
    """CTEs that append durable events in the statement that embeds them (one round trip).

    Parameters from `$p`: user ids (bigint[]), kinds (text[]), packed data (bytea[]),
    retention (int). Each user's rows are locked in id order (as concurrent appends
    do), its `event_seq` moves by its number of events, and each event gets the next
    seq in item order. Nothing is appended unless `guard` (an SQL condition, may name
    earlier CTEs) holds. `ev_seq` (user_id, seq, ord — ord counts items from 1) names
    what was stored; a user who is gone gets nothing. Every 16th seq trims the log.
    """
    r = p + 3
    return f"""ev_item AS (
        SELECT t.user_id, t.kind, t.data, t.ord
        FROM unnest(${p}::bigint[], ${p + 1}::text[], ${p + 2}::bytea[])
             WITH ORDINALITY AS t (user_id, kind, data, ord)
        WHERE {guard}
    ), ev_n AS (
        SELECT user_id, count(*) AS n FROM ev_item GROUP BY user_id
    ), ev_lock AS (  -- the strength an UPDATE of a non-key column takes: no deadlock with FK checks
        SELECT u.id FROM users u WHERE u.id IN (SELECT user_id FROM ev_n)
        ORDER BY u.id FOR NO KEY UPDATE
    ), ev_bump AS (
        UPDATE users u SET event_seq = u.event_seq + ev_n.n FROM ev_n
        WHERE u.id = ev_n.user_id AND u.id IN (SELECT id FROM ev_lock)
        RETURNING u.id, u.event_seq AS last, ev_n.n
    ), ev_seq AS (
        SELECT i.user_id, i.kind, i.data, i.ord,
               b.last - b.n + row_number() OVER (PARTITION BY i.user_id ORDER BY i.ord) AS seq
        FROM ev_item i JOIN ev_bump b ON b.id = i.user_id
    ), ev_ins AS (
        INSERT INTO user_events (user_id, seq, kind, data)
        SELECT user_id, seq, kind, data FROM ev_seq
    ), ev_trim AS (
        DELETE FROM user_events ue USING ev_seq x
        WHERE ue.user_id = x.user_id AND x.seq > ${r}::int AND x.seq % 16 = 0
          AND ue.seq <= x.seq - ${r}::int
    )"""


def pack_items(items: Sequence[tuple[int, str, dict[str, Any]]]
               ) -> tuple[list[int], list[str], list[bytes]]:
    """`append_ctes`' three array parameters; over-large data is a ValueError."""
    packed = [encode(data) for _, _, data in items]
    if any(len(d) > EVENT_DATA_MAX_BYTES for d in packed):
        raise ValueError(f"event data over {EVENT_DATA_MAX_BYTES} bytes")
    return [u for u, _, _ in items], [k for _, k, _ in items], packed


def stored_events(items: Sequence[tuple[int, str, dict[str, Any]]],
                  seqs: Sequence[tuple[int, int]]) -> list[StoredEvent]:
    """The StoredEvents of `items` given (ord, seq) pairs read from `ev_seq`, item order."""
    out = []
    for ord_, seq in sorted(seqs):
        user_id, kind, data = items[ord_ - 1]
        out.append(StoredEvent(user_id, seq, kind, encode(event(kind, data, seq))))
    return out


_APPEND = f"WITH {append_ctes(1)} SELECT ord, seq FROM ev_seq"


async def _append(conn: asyncpg.Connection, items: Sequence[tuple[int, str, dict[str, Any]]],
                  retention: int) -> list[StoredEvent]:
    if not items:
        return []
    rows = await conn.fetch(_APPEND, *pack_items(items), retention)
    return stored_events(items, [(r["ord"], r["seq"]) for r in rows])


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

    Durable events are queued and stored in one statement when the transaction's
    work is done (`flush`, still inside it: the mutation and its events commit
    together); ephemeral ones (live counters, comment.added to watchers) are only
    published. A statement that stores events itself (`append_ctes`) hands them
    over with `stored`.
    """

    def __init__(self, conn: asyncpg.Connection, retention: int) -> None:
        self._conn = conn
        self.retention = retention
        self.durable: list[StoredEvent] = []
        self.ephemeral: list[tuple[str, bytes]] = []
        self._queued: list[tuple[int, str, dict[str, Any]]] = []

    async def to_user(self, user_id: int, kind: str, data: dict[str, Any]) -> None:
        """Queue a durable event for the user (its seq is given at `flush`)."""
        self._queued.append((user_id, kind, data))

    def stored(self, events: Sequence[StoredEvent]) -> None:
        self.durable.extend(events)

    def to_channel(self, channel: str, kind: str, data: dict[str, Any]) -> None:
        self.ephemeral.append((channel, bus.pack_event(None, encode(event(kind, data)))))

    async def flush(self) -> None:
        """Store the queued durable events in one statement."""
        queued, self._queued = self._queued, []
        self.durable.extend(await _append(self._conn, queued, self.retention))


async def tx_events(st: Storage, fn: Any, *args: Any, deadline: float | None = None) -> Any:
    """Run `fn(conn, sink, *args)` in one transaction, then publish what it produced.

    One crossing of the bridge for the whole mutation and its fan-out. With a
    `deadline` (time.monotonic()), a transaction still running then is rolled back
    (`Unavailable`): whoever gave up waiting for it was told it failed.
    """

    async def run(st: Storage) -> Any:
        assert st.pool is not None

        async def once() -> tuple[Any, EventSink]:
            async with st.pool.acquire() as conn, conn.transaction():
                sink = EventSink(conn, st.settings.event_retention)
                result = await fn(conn, sink, *args)
                await sink.flush()
                if deadline is not None and time.monotonic() >= deadline:
                    raise Unavailable("past its deadline: rolled back")
                return result, sink

        result, sink = await retry_conflicts(once)
        items = [(bus.user_channel(st, e.user_id), bus.pack_event(e.seq, e.frame))
                 for e in sink.durable]
        await bus.publish_raw(st, items + sink.ephemeral)
        return result

    return await st.both(run)
