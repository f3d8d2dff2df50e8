"""What every node tells the operators, through Redis: a stats snapshot and its sessions.

Each node writes, every ADMIN_STATS_INTERVAL_SECONDS, a JSON snapshot under
`{ns}:nodestat:<node>` with a TTL and its name into the sorted set `{ns}:nodes`
(scored by time), so a reader on any node sees every live node and a dead one
drops out within ADMIN_STATS_TTL_SECONDS. Connected sessions live in a hash per
node, `{ns}:sessions:<node>` (field: connection id), changed in batches by the
same loop and rewritten whole now and then, with the same TTL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from config.limits import ADMIN_PROBE_TIMEOUT_SECONDS, ADMIN_STATS_TTL_SECONDS
from storage.store import Storage


@dataclass(frozen=True)
class Health:
    """This node's view of its dependencies, measured with one round trip each."""

    postgres_ok: bool
    postgres_ms: float | None
    pool_size: int
    pool_idle: int
    pool_max: int
    redis_ok: bool
    redis_ms: float | None


def _nodes_key(st: Storage) -> str:
    return st.key("nodes")


def _stat_key(st: Storage, node: str) -> str:
    return st.key("nodestat", node)


def _sessions_key(st: Storage, node: str) -> str:
    return st.key("sessions", node)


async def probe(st: Storage) -> Health:
    """Time `SELECT 1` and a Redis PING (one crossing; failures are reported, not raised)."""

    async def run() -> Health:
        pg_ok, pg_ms = False, None
        pool = st.pool
        try:
            assert pool is not None
            started = time.perf_counter()
            async with pool.acquire(timeout=ADMIN_PROBE_TIMEOUT_SECONDS) as conn:
                await conn.fetchval("SELECT 1", timeout=ADMIN_PROBE_TIMEOUT_SECONDS)
            pg_ok, pg_ms = True, (time.perf_counter() - started) * 1000
        except Exception:  # a probe reports the failure
            pass
        redis_ok, redis_ms = False, None
        try:
            assert st.redis is not None
            started = time.perf_counter()
            async with asyncio.timeout(ADMIN_PROBE_TIMEOUT_SECONDS):  # runs on the asyncio loop
                await st.redis.ping()
            redis_ok, redis_ms = True, (time.perf_counter() - started) * 1000
        except Exception:
            pass
        return Health(pg_ok, pg_ms,
                      pool.get_size() if pool else 0, pool.get_idle_size() if pool else 0,
                      pool.get_max_size() if pool else 0, redis_ok, redis_ms)

    return await st.bridge.run(run)


async def publish(st: Storage, node: str, snapshot: Mapping[str, Any],
                  sessions_added: Mapping[int, Mapping[str, Any]],
                  sessions_removed: Sequence[int], *, full: bool) -> None:
    """Write this node's snapshot and its session changes (all of them when `full`)."""
    now_ms = int(time.time() * 1000)
    ttl = ADMIN_STATS_TTL_SECONDS
    skey = _sessions_key(st, node)

    async def run(r: aioredis.Redis) -> None:
        async with r.pipeline(transaction=True) as pipe:
            pipe.set(_stat_key(st, node), json.dumps(snapshot), ex=ttl)
            pipe.zadd(_nodes_key(st), {node: now_ms})
            pipe.zremrangebyscore(_nodes_key(st), "-inf", now_ms - 60_000)
            if full:
                pipe.delete(skey)
            elif sessions_removed:
                pipe.hdel(skey, *map(str, sessions_removed))
            if sessions_added:
                pipe.hset(skey, mapping={str(k): json.dumps(v)
                                         for k, v in sessions_added.items()})
            pipe.expire(skey, ttl)
            await pipe.execute()

    await st.redis_op(run)


async def forget(st: Storage, node: str) -> None:
    """A node shutting down removes itself at once."""

    async def run(r: aioredis.Redis) -> None:
        async with r.pipeline(transaction=True) as pipe:
            pipe.zrem(_nodes_key(st), node)
            pipe.delete(_stat_key(st, node), _sessions_key(st, node))
            await pipe.execute()

    await st.redis_op(run)


async def _live_nodes(r: aioredis.Redis, st: Storage) -> list[str]:
    since = int(time.time() * 1000) - ADMIN_STATS_TTL_SECONDS * 1000
    names = await r.zrangebyscore(_nodes_key(st), since, "+inf")
    return sorted(n.decode() if isinstance(n, bytes) else n for n in names)


async def snapshots(st: Storage) -> list[dict[str, Any]]:
    """The latest snapshot of every live node, by node name."""

    async def run(r: aioredis.Redis) -> list[dict[str, Any]]:
        names = await _live_nodes(r, st)
        if not names:
            return []
        raw = await r.mget([_stat_key(st, n) for n in names])
        return [json.loads(v) for v in raw if v is not None]

    return await st.redis_op(run)


async def sessions(st: Storage) -> list[dict[str, Any]]:
    """Every connected session on every live node (each with its `node` and `conn`)."""

    async def run(r: aioredis.Redis) -> list[dict[str, Any]]:
        names = await _live_nodes(r, st)
        async with r.pipeline(transaction=False) as pipe:
            for n in names:
                pipe.hgetall(_sessions_key(st, n))
            tables = await pipe.execute()
        out = []
        for name, table in zip(names, tables, strict=True):
            for conn_id, value in table.items():
                item = json.loads(value)
                item["node"], item["conn"] = name, int(conn_id)
                out.append(item)
        return out

    return await st.redis_op(run)


async def session(st: Storage, node: str, conn_id: int) -> dict[str, Any] | None:
    async def run(r: aioredis.Redis) -> Any:
        return await r.hget(_sessions_key(st, node), str(conn_id))

    raw = await st.redis_op(run)
    if raw is None:
        return None
    item = json.loads(raw)
    item["node"], item["conn"] = node, conn_id
    return item
