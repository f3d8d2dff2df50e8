"""`Storage`: the trio-facing handle on Postgres and Redis, one crossing per operation.

Query modules (accounts, events, ...) write small asyncio functions that take an
asyncpg connection (inside a transaction) or the Redis client, and call them
through `Storage.tx` / `Storage.redis_op`, so one logical operation is one
crossing of the asyncio bridge.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import asyncpg
import redis.asyncio as aioredis
import redis.exceptions

from config import Settings
from config.limits import PG_POOL_MIN, REDIS_POOL_MAX, REDIS_POOL_WAIT_SECONDS
from storage import migrations
from storage.bridge import AsyncioBridge, BridgeClosed
from storage.errors import Duplicate, Unavailable

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_UNAVAILABLE = (
    OSError,
    asyncpg.exceptions.DeadlockDetectedError,  # still losing after TX_ATTEMPTS runs
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    BridgeClosed,
)


TX_ATTEMPTS = 3  # a transaction that lost a deadlock or serialization race is re-run
_RETRYABLE = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)


async def retry_conflicts(once: Callable[[], Awaitable[T]]) -> T:
    """Re-run a whole transaction that Postgres aborted to break a deadlock (asyncio side)."""
    for attempt in range(TX_ATTEMPTS):
        try:
            return await once()
        except _RETRYABLE:
            if attempt == TX_ATTEMPTS - 1:
                raise
            log.info("transaction conflict; retrying", extra={"attempt": attempt + 1})
    raise AssertionError("unreachable")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release: a round trip per call for nothing, as
    no session state is used (advisory locks are per transaction, settings fixed)."""


class Storage:
    """Owns the asyncpg pool and the Redis client, both living on the bridge's loop."""

    def __init__(self, bridge: AsyncioBridge, settings: Settings, database_url: str,
                 redis_url: str) -> None:
        self.bridge = bridge
        self.settings = settings
        self.database_url = database_url
        self.redis_url = redis_url
        self.ns = settings.namespace
        self.pool: asyncpg.Pool | None = None
        self.redis: aioredis.Redis | None = None
        self.observe: Callable[[str, float], None] = lambda kind, seconds: None

    # -- lifecycle (trio side) ------------------------------------------------
    async def open(self) -> None:
        await self.bridge.run(self._open)

    async def _open(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.database_url,
            min_size=PG_POOL_MIN,
            max_size=self.settings.pg_pool_max,
            server_settings={"glint.shard": str(self.settings.shard),
                             "application_name": "glint"},
            reset=_keep_session,
        )
        # A blocking pool: under a burst, callers wait (at most REDIS_POOL_WAIT_SECONDS)
        # for a connection instead of failing at once when the pool is full.
        pool = aioredis.BlockingConnectionPool.from_url(
            self.redis_url, max_connections=REDIS_POOL_MAX, timeout=REDIS_POOL_WAIT_SECONDS,
            health_check_interval=10)
        self.redis = aioredis.Redis.from_pool(pool)  # owns the pool: aclose() closes it

    async def close(self) -> None:
        await self.bridge.run(self._close)

    async def _close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        if self.pool is not None:
            await self.pool.close()

    async def migrate(self) -> list[int]:
        async def run() -> list[int]:
            assert self.pool is not None
            async with self.pool.acquire() as conn:
                applied = await migrations.apply(conn)
                if not await migrations.text_locale_ok(conn):
                    log.warning("the database's LC_CTYPE knows only ASCII letters: search "
                                "matches other scripts only as typed, some not at all "
                                "(create it with a UTF-8 locale, e.g. C.UTF-8)")
                return applied

        return await self.bridge.run(run)

    # -- one crossing per logical operation ------------------------------------
    async def tx(self, fn: Callable[Concatenate[asyncpg.Connection, P], Awaitable[T]],
                 *args: Any) -> T:
        """Run `fn(conn, *args)` inside one transaction on the asyncio loop."""

        async def run() -> T:
            assert self.pool is not None

            async def once() -> T:
                async with self.pool.acquire() as conn, conn.transaction():
                    return await fn(conn, *args)

            return await retry_conflicts(once)

        return await self._call("pg", run)

    async def read(self, fn: Callable[Concatenate[asyncpg.Connection, P], Awaitable[T]],
                   *args: Any) -> T:
        """Run `fn(conn, *args)` without a transaction: for a single-statement read."""

        async def run() -> T:
            assert self.pool is not None
            async with self.pool.acquire() as conn:
                return await fn(conn, *args)

        return await self._call("pg", run)

    async def redis_op(self, fn: Callable[Concatenate[aioredis.Redis, P], Awaitable[T]],
                       *args: Any) -> T:
        """Run `fn(redis, *args)` (a pipeline, a script, ...) on the asyncio loop."""

        async def run() -> T:
            assert self.redis is not None
            return await fn(self.redis, *args)

        return await self._call("redis", run)

    async def both(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `fn(storage, *args)` on the asyncio loop: Postgres and Redis in one crossing."""

        async def run() -> T:
            return await fn(self, *args)

        return await self._call("pg", run)

    async def _call(self, kind: str, run: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        try:
            return await self.bridge.run(run)
        except asyncpg.exceptions.UniqueViolationError as exc:
            raise Duplicate(exc.constraint_name or "unique") from None
        except _UNAVAILABLE as exc:
            raise Unavailable(f"{kind}: {type(exc).__name__}: {exc}") from None
        finally:
            self.observe(kind, time.perf_counter() - started)

    # -- health ----------------------------------------------------------------
    async def check(self) -> dict[str, Any]:
        """Postgres and Redis reachable, migrations applied (for /readyz)."""

        async def run() -> dict[str, Any]:
            status: dict[str, Any] = {}
            try:
                assert self.pool is not None
                async with self.pool.acquire(timeout=2) as conn:
                    status["postgres"] = await conn.fetchval("SELECT 1") == 1
                    status["migrations_pending"] = await migrations.pending(conn)
            except Exception as exc:
                status["postgres"] = False
                status["postgres_error"] = type(exc).__name__
            try:
                assert self.redis is not None
                status["redis"] = bool(await self.redis.ping())
            except Exception as exc:
                status["redis"] = False
                status["redis_error"] = type(exc).__name__
            return status

        try:
            return await self.bridge.run(run)
        except BridgeClosed:
            return {"postgres": False, "redis": False}

    def key(self, *parts: object) -> str:
        return ":".join([self.ns, *map(str, parts)])
