"""Fixed-window rate limits in Redis, shared by every node (login, signup, uploads...)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as aioredis

from storage.errors import Unavailable
from storage.store import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float  # seconds until the window resets, when refused


async def _hit(r: aioredis.Redis, key: str, limit: int, window: int, cost: int = 1) -> Verdict:
    async with r.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=window, nx=True)  # Redis 6.2 has no EXPIRE NX
        pipe.incrby(key, cost)
        pipe.pttl(key)
        _, count, ttl_ms = await pipe.execute()
    if count <= limit:
        return Verdict(True, 0.0)
    return Verdict(False, max(ttl_ms, 1) / 1000.0)


async def hit(st: Storage, scope: str, subject: str, limit: int, window_seconds: int,
              cost: int = 1) -> Verdict:
    """Count `cost` attempts for (scope, subject); refused past `limit` per window."""
    return await st.redis_op(_hit, st.key("rl", scope, subject), limit, window_seconds, cost)


async def _spent(r: aioredis.Redis, key: str, limit: int) -> Verdict:
    async with r.pipeline(transaction=True) as pipe:
        pipe.get(key)
        pipe.pttl(key)
        count, ttl_ms = await pipe.execute()
    if int(count or 0) < limit:
        return Verdict(True, 0.0)
    return Verdict(False, max(ttl_ms, 1) / 1000.0)


async def spent(st: Storage, scope: str, subject: str, limit: int) -> Verdict:
    """Whether (scope, subject) has no attempt left in its window, counting nothing: for
    a refusal that should come before costly work (an upload's body), the attempt itself
    being counted after it."""
    return await st.redis_op(_spent, st.key("rl", scope, subject), limit)


class Charge:
    """One attempt for (scope, subject), taken on the asyncio side from inside a crossing
    already under way: for a limit that counts only the calls that pass their checks.
    Taken in the call's transaction once its checks passed and before its effect, a
    refused call leaves the counter alone (no window even starts), and an accepted one is
    counted before it commits; INCR is atomic, so racing calls cannot slip past the
    limit. Taken at most once, however often the transaction is re-run after a conflict.
    """

    def __init__(self, st: Storage, scope: str, subject: str, limit: int,
                 window_seconds: int) -> None:
        self._st = st
        self._key = st.key("rl", scope, subject)
        self._limit = limit
        self._window = window_seconds
        self._verdict: Verdict | None = None

    async def take(self) -> Verdict:
        """Count the attempt, the first time only (asyncio side)."""
        if self._verdict is None:
            assert self._st.redis is not None
            self._verdict = await _hit(self._st.redis, self._key, self._limit, self._window)
        return self._verdict

    @contextlib.asynccontextmanager
    async def given_back_on(self, *refusals: type[Exception]) -> AsyncIterator[None]:
        """Around the call's transaction (trio side): if it ends in one of `refusals`
        (raised inside it, so nothing committed) after the attempt was taken and
        allowed, give the attempt back. That happens when a run passed every check and
        took it, then lost a conflict, and its re-run met a check that now refuses (a
        block landed in between): a refused call counts nothing, re-run or not. Best
        effort: Redis unreachable leaves it counted."""
        try:
            yield
        except refusals:
            if self._verdict is not None and self._verdict.allowed:
                self._verdict = None
                try:
                    await self._st.redis_op(_refund, [self._key])
                except Unavailable as exc:
                    log.warning("rate limit not given back", extra={"error": str(exc)})
            raise


async def _hit_many(r: aioredis.Redis, checks: list[tuple[str, int, int]]) -> Verdict:
    worst = Verdict(True, 0.0)
    for key, limit, window in checks:
        v = await _hit(r, key, limit, window)
        if not v.allowed and v.retry_after >= worst.retry_after:
            worst = v
    return worst


async def hit_many(st: Storage, checks: list[tuple[str, str, int, int]]) -> Verdict:
    """Several limits (scope, subject, limit, window) in one crossing; refused if any is."""
    return await st.redis_op(
        _hit_many, [(st.key("rl", s, subj), lim, win) for s, subj, lim, win in checks])


# DECR only a live counter above zero: a refund never creates a key or goes negative.
_REFUND = """
for _, key in ipairs(KEYS) do
    local n = tonumber(redis.call('GET', key) or '0')
    if n > 0 then redis.call('DECR', key) end
end
return 0
"""


async def _refund(r: aioredis.Redis, keys: list[str]) -> None:
    await r.eval(_REFUND, len(keys), *keys)


async def refund(st: Storage, attempts: list[tuple[str, str]]) -> None:
    """Give back one counted attempt per (scope, subject): for limits that should count
    failures only (a successful login is not a guess)."""
    await st.redis_op(_refund, [st.key("rl", scope, subj) for scope, subj in attempts])
