"""Storage's Redis pool: a burst beyond its size waits for a connection (bounded)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
import trio

from config.limits import REDIS_POOL_MAX, REDIS_POOL_WAIT_SECONDS
from server.node import Node
from storage.errors import Unavailable

EXTRA_HOLDERS = 5  # queued behind the held connections, ahead of the ping


async def _hold(r: aioredis.Redis, key: str, seconds: float) -> None:
    await r.blpop([key], timeout=seconds)  # keeps one pooled connection for `seconds`


async def test_a_burst_beyond_the_pool_waits_instead_of_failing(node: Node) -> None:
    st = node.storage
    free = REDIS_POOL_MAX - 1  # the bus's subscription holds one
    done: list[bool] = []

    async def op() -> None:
        await st.redis_op(_hold, st.key("pool-test"), 0.3)
        done.append(True)

    with trio.fail_after(REDIS_POOL_WAIT_SECONDS * 5):
        async with trio.open_nursery() as nursery:
            for _ in range(free + 20):  # 20 more than there are connections
                nursery.start_soon(op)
    assert len(done) == free + 20
    assert await st.redis_op(lambda r: r.ping())  # and the node's Redis still answers


async def _blocked_clients(redis_url: str) -> int:
    """Clients blocked in BLPOP, asked on a connection of its own (not the node's pool)."""
    aux = aioredis.Redis.from_url(redis_url)
    try:
        return int((await aux.info("clients"))["blocked_clients"])
    finally:
        await aux.aclose()


async def test_waiting_for_a_connection_is_bounded(node: Node) -> None:
    st = node.storage
    free = REDIS_POOL_MAX - 1  # the bus's subscription holds one
    hold = REDIS_POOL_WAIT_SECONDS + 1.5  # under redis-py's socket timeout
    held: list[bool] = []

    async def holder() -> None:
        # The node's own users share the pool: the feed worker's blocking read can take
        # a connection a holder wanted, and then that holder is refused instead.
        try:
            await st.redis_op(_hold, st.key("pool-test"), hold)
            held.append(True)
        except Unavailable:
            pass

    async with trio.open_nursery() as nursery:
        # A few more holders than connections: they queue ahead of the ping, so a
        # connection the feed worker hands back goes to one of them, never to the ping.
        for _ in range(free + EXTRA_HOLDERS):
            nursery.start_soon(holder)
        with trio.fail_after(hold - 0.5):  # every connection is taken
            while True:  # Redis has no event for it: ask until they are all blocked
                if await st.bridge.run(_blocked_clients, st.redis_url) >= free:
                    break
                await trio.sleep(0.02)  # sync-ok: polling a count Redis has no event for
        started = trio.current_time()
        with trio.fail_after(REDIS_POOL_WAIT_SECONDS + 1.0), pytest.raises(Unavailable):
            await st.redis_op(lambda r: r.ping())
        assert trio.current_time() - started >= REDIS_POOL_WAIT_SECONDS * 0.9
    assert len(held) >= free - 1  # at most the feed worker's one connection was not ours
    assert await st.redis_op(lambda r: r.ping())  # and the node's Redis answers again
