"""Node snapshots and session lists in Redis: what admin.stats and admin.sessions read."""

from __future__ import annotations

import redis.asyncio as aioredis

from config import Settings
from config.limits import ADMIN_STATS_TTL_SECONDS
from server.node import open_storage
from storage import nodestats


async def test_snapshots_sessions_incremental_and_full_and_forget(settings: Settings) -> None:
    async with open_storage(settings) as st:
        assert await nodestats.snapshots(st) == []
        one = {"user": 1, "username": "ann", "client": "c", "ip": "1.2.3.4", "since": 10}
        two = {"user": 2, "username": "bob", "client": "", "ip": "::1", "since": 20}
        await nodestats.publish(st, "b", {"node": "b", "connections": 2}, {7: one, 8: two}, [],
                                full=True)
        await nodestats.publish(st, "a", {"node": "a", "connections": 0}, {}, [], full=True)
        assert [s["node"] for s in await nodestats.snapshots(st)] == ["a", "b"]
        listed = sorted(await nodestats.sessions(st), key=lambda s: s["conn"])
        assert listed == [{**one, "node": "b", "conn": 7}, {**two, "node": "b", "conn": 8}]

        # Incremental: conn 7 goes, 9 comes; a full rewrite drops whatever is not listed.
        three = {**one, "since": 30}
        await nodestats.publish(st, "b", {"node": "b"}, {9: three}, [7], full=False)
        assert sorted(s["conn"] for s in await nodestats.sessions(st)) == [8, 9]
        await nodestats.publish(st, "b", {"node": "b"}, {9: three}, [], full=True)
        assert [s["conn"] for s in await nodestats.sessions(st)] == [9]
        assert await nodestats.session(st, "b", 9) == {**three, "node": "b", "conn": 9}
        assert await nodestats.session(st, "b", 8) is None

        async def ttl(r: aioredis.Redis) -> int:
            return int(await r.ttl(st.key("nodestat", "b")))

        assert 0 < await st.redis_op(ttl) <= ADMIN_STATS_TTL_SECONDS
        await nodestats.forget(st, "b")
        assert [s["node"] for s in await nodestats.snapshots(st)] == ["a"]
        assert await nodestats.sessions(st) == []


async def test_probe_times_postgres_and_redis(settings: Settings) -> None:
    async with open_storage(settings) as st:
        health = await nodestats.probe(st)
        assert health.postgres_ok and health.redis_ok
        assert health.postgres_ms is not None and health.postgres_ms >= 0
        assert health.redis_ms is not None and health.redis_ms >= 0
        assert 1 <= health.pool_size <= health.pool_max
