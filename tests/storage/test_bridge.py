"""The asyncio bridge: results, errors and cancellation cross both ways."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import trio

from storage.bridge import AsyncioBridge, BridgeClosed


@pytest.fixture
def bridge() -> Iterator[AsyncioBridge]:
    b = AsyncioBridge()
    b.start()
    yield b
    b.stop()


async def test_result_and_exception_cross(bridge: AsyncioBridge) -> None:
    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    async def boom() -> None:
        raise KeyError("nope")

    assert await bridge.run(add, 2, 3) == 5
    with pytest.raises(KeyError):
        await bridge.run(boom)


async def test_trio_cancellation_cancels_the_asyncio_task(bridge: AsyncioBridge) -> None:
    cancelled = asyncio.Event()
    started = trio.Event()
    token = trio.lowlevel.current_trio_token()

    async def forever() -> None:
        token.run_sync_soon(started.set)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def was_cancelled() -> bool:
        await asyncio.wait_for(cancelled.wait(), 5)
        return cancelled.is_set()

    with trio.move_on_after(5) as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(bridge.run, forever)
            await started.wait()
            nursery.cancel_scope.cancel()
    assert not scope.cancelled_caught
    assert await bridge.run(was_cancelled)


async def test_asyncio_side_cancellation_surfaces_as_bridge_closed(bridge: AsyncioBridge) -> None:
    async def cancelled_inside() -> None:
        raise asyncio.CancelledError

    with pytest.raises(BridgeClosed):
        await bridge.run(cancelled_inside)


async def test_many_concurrent_calls(bridge: AsyncioBridge) -> None:
    results: list[int] = []

    async def echo(i: int) -> int:
        await asyncio.sleep(0.001)
        return i

    async def one(i: int) -> None:
        results.append(await bridge.run(echo, i))

    async with trio.open_nursery() as nursery:
        for i in range(200):
            nursery.start_soon(one, i)
    assert sorted(results) == list(range(200))


async def test_stopped_bridge_refuses() -> None:
    b = AsyncioBridge()
    with pytest.raises(BridgeClosed):
        await b.run(asyncio.sleep, 0)


async def test_the_storage_thread_runs_uvloop(bridge: AsyncioBridge) -> None:
    """Where uvloop is installed (everywhere but Windows) the bridge's loop is uvloop's."""
    uvloop = pytest.importorskip("uvloop")

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert issubclass(await bridge.run(loop_type), uvloop.Loop)
