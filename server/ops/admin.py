"""Ops of the operators (`admin.*`, `report.create`) and what each node does for them.

The rules live in actors/admin.py and actors/reports.py. Here, per node:
every ADMIN_STATS_INTERVAL_SECONDS publish this node's snapshot (the numbers
/metrics exposes) and its session changes to Redis (storage/nodestats.py),
probe the bus delivery time, and push `admin.stats` to admin connections that
said `admin.watch`; on this node's own bus channel, close a kicked connection.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

import msgpack
import trio

from actors import args as A
from actors.admin import Admin, cluster_stats, node_channel, unpack_kick
from actors.reports import Reports
from actors.user import end_session
from config.limits import (
    ADMIN_LATENCY_WINDOW,
    ADMIN_SESSIONS_RESYNC_SECONDS,
    ADMIN_STATS_INTERVAL_SECONDS,
)
from protocol.envelope import encode, event
from server.connection import Connection
from server.metrics import Totals, quantile
from server.ops import Op, session_of
from storage import bus, moderation, nodestats
from storage.errors import Unavailable

if TYPE_CHECKING:
    from server.node import Node

log = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 10.0  # op latency percentiles are over this recent window
SUSPEND_SWEEP_SECONDS = 2.0  # a suspended user's sessions are closed again this much later
STATS_EVENT = "admin.stats"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


class Operators:
    """This node's part: its sessions and snapshot in Redis, kicks, live stats to watchers."""

    def __init__(self, node: Node, admin: Admin) -> None:
        self.node = node
        self.admin = admin
        self.started = time.time()
        self.sessions: dict[int, dict[str, Any]] = {}
        self.users: Counter[int] = Counter()
        self.added: dict[int, dict[str, Any]] = {}
        self.removed: set[int] = set()
        self.full_sync = True
        self.last_full = 0.0
        self.watchers: dict[int, Connection] = {}
        self.probes: deque[float] = deque(maxlen=ADMIN_LATENCY_WINDOW)
        self.history: deque[tuple[float, Totals]] = deque()
        self.channel = node_channel(node.storage, node.name)

    # -- hooks ------------------------------------------------------------------------------
    def on_connect(self, conn: Connection) -> None:
        s = conn.session
        if s is None:
            return
        record = {"user": s.user_id, "username": s.username,
                  "client": conn.client,
                  "ip": conn.ip, "since": int(time.time() * 1000)}
        self.sessions[conn.conn_id] = record
        self.users[s.user_id] += 1
        self.added[conn.conn_id] = record
        self.removed.discard(conn.conn_id)

    def on_disconnect(self, conn: Connection) -> None:
        self.watchers.pop(conn.conn_id, None)
        record = self.sessions.pop(conn.conn_id, None)
        if record is None:
            return
        self.users[record["user"]] -= 1
        if self.users[record["user"]] <= 0:
            del self.users[record["user"]]
        if self.added.pop(conn.conn_id, None) is None:
            self.removed.add(conn.conn_id)

    def on_message(self, msg: bus.Message) -> None:
        if msg.channel != self.channel:
            return
        if msg.kind == "x":
            conn_id, user_id, reason = unpack_kick(msg.body)
            conn = self.node.gateway.connections.get(conn_id)
            if conn is not None and conn.attached and conn.session is not None \
                    and conn.session.user_id == user_id:
                end_session(conn, reason)
        elif msg.kind == "l":
            lag = max(0.0, time.time() - float(msgpack.unpackb(msg.body)))
            self.probes.append(lag)
            self.node.metrics.bus_lag.observe(lag)

    # -- the loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        await self.node.subscriber.subscribe(self.channel)
        try:
            while True:
                try:
                    await self.tick()
                except Unavailable as exc:
                    self.full_sync = True  # Redis may have lost our sessions: rewrite them
                    log.warning("operator stats not published", extra={"error": str(exc)})
                except Exception:  # a background chore must never take the node down
                    self.full_sync = True
                    log.exception("operator stats failed; will retry")
                await trio.sleep(ADMIN_STATS_INTERVAL_SECONDS)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2), \
                    contextlib.suppress(Exception):
                await nodestats.forget(self.node.storage, self.node.name)

    async def tick(self) -> None:
        st = self.node.storage
        health = await nodestats.probe(st)
        snapshot = self.snapshot(health)
        now = time.monotonic()
        full = self.full_sync or now - self.last_full >= ADMIN_SESSIONS_RESYNC_SECONDS
        if full:
            added, removed = dict(self.sessions), []
        else:
            added, removed = self.added, sorted(self.removed)
        self.added, self.removed = {}, set()
        try:
            await nodestats.publish(st, self.node.name, snapshot, added, removed, full=full)
        except BaseException:
            self.full_sync = True
            raise
        if full:
            self.full_sync, self.last_full = False, now
        await bus.publish(st, [(self.channel, bus.pack("l", msgpack.packb(time.time())))])
        if self.watchers:
            watchers = await self.operators_watching()
            stats = cluster_stats(await nodestats.snapshots(st))
            self.node.gateway.fanout(watchers, encode(event(STATS_EVENT, stats)))

    async def operators_watching(self) -> list[Connection]:
        """The open watchers whose user is still an operator: the role is read every tick,
        so a revoked (or suspended) admin stops getting live stats at once."""
        users = sorted({c.session.user_id for c in self.watchers.values() if c.session})
        allowed = await self.node.storage.read(moderation.operators_among, users)
        for conn_id, c in list(self.watchers.items()):
            if c.session is None or c.session.user_id not in allowed:
                self.watchers.pop(conn_id, None)
        return [c for c in self.watchers.values() if c.open]

    def snapshot(self, health: nodestats.Health) -> dict[str, Any]:
        """This node's numbers: from the metrics /metrics renders, as rates over the last tick."""
        node = self.node
        now = time.monotonic()
        totals = node.metrics.totals()
        self.history.append((now, totals))
        while len(self.history) > 2 and now - self.history[1][0] >= RATE_WINDOW_SECONDS:
            self.history.popleft()
        prev_t, prev = self.history[-2] if len(self.history) > 1 else (now, totals)
        first_t, first = self.history[0]
        dt = max(now - prev_t, 1e-9)
        ops = totals.ops - prev.ops
        errors = totals.errors - prev.errors
        events = totals.events - prev.events
        window = tuple(a - b for a, b in zip(totals.latency_buckets, first.latency_buckets,
                                              strict=True))
        probes = sorted(self.probes)

        def pick(q: float) -> float | None:
            return probes[min(len(probes) - 1, int(q * len(probes)))] if probes else None

        in_per_s = ops / dt if len(self.history) > 1 else 0.0
        events_per_s = events / dt if len(self.history) > 1 else 0.0
        return {
            "node": node.name,
            "ts": int(time.time() * 1000),
            "started_at": int(self.started * 1000),
            "uptime_s": round(time.time() - self.started, 1),
            "connections": len(node.gateway.connections),
            "sessions": len(self.sessions),
            "online_users": len(self.users),
            "actors": node.registry.counts(),
            "in_per_s": round(in_per_s, 2),
            "events_per_s": round(events_per_s, 2),
            "out_per_s": round(in_per_s + events_per_s, 2),
            "op_latency_ms": {"p50": _ms(quantile(window, 0.5)),
                              "p99": _ms(quantile(window, 0.99))},
            "delivery_ms": {"p50": _ms(pick(0.5)), "p99": _ms(pick(0.99))},
            "errors_per_s": round(errors / dt, 3) if len(self.history) > 1 else 0.0,
            "error_ratio": round(errors / ops, 4) if ops > 0 else 0.0,
            "postgres": {"ok": health.postgres_ok, "latency_ms": _round(health.postgres_ms),
                         "pool_size": health.pool_size, "pool_idle": health.pool_idle,
                         "pool_max": health.pool_max},
            "redis": {"ok": health.redis_ok, "latency_ms": _round(health.redis_ms)},
            "bus": {"connected": node.subscriber.connected,
                    "reconnects": node.subscriber.reconnects},
            "window_s": round(now - first_t, 1),
        }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def ops(node: Node) -> dict[str, Op]:
    admin = Admin(node.storage, node.media)
    reports = Reports(node.storage)
    operators = Operators(node, admin)
    node.connect_hooks.append(operators.on_connect)
    node.disconnect_hooks.append(operators.on_disconnect)
    node.channel_handlers[node.storage.key("adm", "")] = operators.on_message
    node.nursery.start_soon(operators.run)

    def call(method: Any) -> Op:
        async def handler(conn: Connection, args: dict[str, Any], rid: int) -> Any:
            return await method(session_of(conn), args)

        return handler

    async def watch(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        await admin.require(session_of(conn))
        A.only(args, set())
        operators.watchers[conn.conn_id] = conn
        return {"watching": True, "interval_ms": int(ADMIN_STATS_INTERVAL_SECONDS * 1000)}

    async def unwatch(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        await admin.require(session_of(conn))
        A.only(args, set())
        return {"watching": False,
                "was_watching": operators.watchers.pop(conn.conn_id, None) is not None}

    async def unknown(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        await admin.unknown(session_of(conn))

    async def sweep(user_id: int) -> None:
        """A `hello` that read its token just before the suspension committed may attach
        just after the first close went out: close again a little later."""
        await trio.sleep(SUSPEND_SWEEP_SECONDS)
        with contextlib.suppress(Exception):
            if await node.storage.read(moderation.is_suspended, user_id):
                await admin.close_all(user_id)

    async def suspend(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        done = await admin.suspend(session_of(conn), args)
        node.nursery.start_soon(sweep, done["user"])
        return done

    async def resolve(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        done = await admin.resolve(session_of(conn), args)
        if done.get("action") == "suspend":
            node.nursery.start_soon(sweep, done["user"])
        return done

    return {
        "report.create": call(reports.create),
        "admin.stats": call(admin.stats),
        "admin.watch": watch,
        "admin.unwatch": unwatch,
        "admin.sessions": call(admin.sessions),
        "admin.kick": call(admin.kick),
        "admin.users": call(admin.users),
        "admin.suspend": suspend,
        "admin.unsuspend": call(admin.unsuspend),
        "admin.posts": call(admin.posts),
        "admin.comments": call(admin.comments),
        "admin.remove_post": call(admin.remove_post),
        "admin.remove_comment": call(admin.remove_comment),
        "admin.reports": call(admin.reports),
        "admin.resolve": resolve,
        "admin.announce": call(admin.announce),
        "admin.audit": call(admin.audit),
        UNKNOWN_ADMIN_OP: unknown,
    }


# The router sends any other `admin.*` name here: forbidden to non-admins, unsupported to admins.
UNKNOWN_ADMIN_OP = "admin.*"
