"""Connects and disconnects waiting for the presence task are never dropped: past the
queue size (a burst, or the reconnection of every device after the node's mark was
lost) a dropped connect left its device out of Redis and the instance's index, and a
dropped disconnect left an index entry behind and announced nothing. A connected
device that its instance's index does not list (its connect failed) is connected again
at its refresh."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from actors.accounts import Session
from actors.presence import Presence
from server.node import Node
from storage import presence as pdb
from storage.store import Storage
from tests.server.test_posts import EVENT_WAIT

QUEUE = 2


@dataclass
class Conn:
    conn_id: int
    session: Session | None
    open: bool = True


def conns(n: int) -> list[Conn]:
    base = random.randrange(1 << 40, 1 << 50)
    return [Conn(i, Session(base + i, f"q{i}", b"")) for i in range(1, n + 1)]


@asynccontextmanager
async def applying(st: Storage, *, queue: int = QUEUE) -> AsyncIterator[Presence]:
    """A presence service of its own (not the node's), with a small queue: the changes
    made before its apply task starts wait for it."""
    p = Presence(st, instance=f"q{uuid.uuid4().hex[:8]}", heartbeat_seconds=25.0,
                 queue_size=queue)
    await p.mark_alive()
    try:
        yield p
    finally:
        await pdb.forget_instance(st, p.instance)


async def idle(p: Presence) -> None:
    with trio.fail_after(EVENT_WAIT):
        await p.wait_until(lambda: p.idle)


async def indexed(st: Storage, p: Presence) -> set[str]:
    async def run(r: Any) -> set[Any]:
        return set(await r.smembers(pdb.node_index(st, p.instance)))

    return {m.decode() for m in await st.redis_op(run)}


def members(cs: list[Conn], p: Presence) -> set[str]:
    assert all(c.session is not None for c in cs)
    return {f"{c.session.user_id}:{p.instance}:{c.conn_id}" for c in cs if c.session}


async def test_a_burst_past_the_queue_size_is_applied_in_full(node: Node) -> None:
    st = node.storage
    async with applying(st) as p:
        cs = conns(QUEUE + 3)
        for c in cs:
            p.connected(c)
        p.disconnected(cs[0])  # gone before its connect was applied: nothing to do
        async with trio.open_nursery() as nursery:
            nursery.start_soon(p._apply_loop)
            await idle(p)
            assert await indexed(st, p) == members(cs[1:], p)
            for c in cs[1:]:
                p.disconnected(c)
            await idle(p)
            assert await indexed(st, p) == set()
            nursery.cancel_scope.cancel()


async def test_every_device_is_connected_again_after_the_mark_was_lost(node: Node) -> None:
    st = node.storage
    async with applying(st) as p:
        cs = conns(QUEUE + 3)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(p._apply_loop)
            for c in cs:
                p.connected(c)
            await idle(p)

            async def lose(r: Any) -> None:  # Redis restarted empty
                async for key in r.scan_iter(match=f"{st.ns}:pres*"):
                    await r.delete(key)

            await st.redis_op(lose)
            await p.mark_alive()  # finds the mark gone: every device again, none dropped
            await idle(p)
            assert await indexed(st, p) == members(cs, p)
            nursery.cancel_scope.cancel()


async def test_a_connected_device_left_out_of_the_index_is_connected_at_its_refresh(
        node: Node) -> None:
    st = node.storage
    async with applying(st) as p:
        [c] = conns(1)
        assert c.session is not None
        user = c.session.user_id
        device = f"{p.instance}:{c.conn_id}"
        async with trio.open_nursery() as nursery:
            nursery.start_soon(p._apply_loop)
            p.connected(c)
            await idle(p)

            async def fail(r: Any) -> None:  # as if its connect had not reached Redis
                await r.srem(pdb.node_index(st, p.instance), f"{user}:{device}")
                await r.delete(pdb.device_key(st, user, device))

            await st.redis_op(fail)
            await p.refresh()
            await idle(p)
            assert await indexed(st, p) == members([c], p)

            async def alive(r: Any) -> int:
                return int(await r.exists(pdb.device_key(st, user, device)))

            assert await st.redis_op(alive) == 1
            nursery.cancel_scope.cancel()


async def test_a_device_gone_while_its_connect_is_queued_again_is_disconnected(
        node: Node) -> None:
    """The mark found gone (a stall) queues every device's connect again, though their
    index entries and keys may have lived on: a device that leaves before that connect
    is applied must be disconnected, not have the connect cancelled as if it had never
    been applied (its index entry stayed, and no offline went out)."""
    st = node.storage
    async with applying(st) as p:
        [c] = conns(1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(p._apply_loop)
            p.connected(c)
            await idle(p)
            nursery.cancel_scope.cancel()
        assert await indexed(st, p) == members([c], p)
        await st.redis_op(lambda r: r.delete(pdb.node_mark(st, p.instance)))  # lapsed
        await p.mark_alive()  # queues the connect again; nothing applies it yet
        p.disconnected(c)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(p._apply_loop)
            await idle(p)
            nursery.cancel_scope.cancel()
        assert await indexed(st, p) == set()
