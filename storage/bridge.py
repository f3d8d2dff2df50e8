"""The asyncio side of the house: one event loop in its own thread, called from trio.

asyncpg and redis-py are asyncio libraries. They live on one dedicated loop, and
trio reaches it through `AsyncioBridge.run` — one crossing per logical operation
(a whole transaction, a batch of publishes), because each crossing costs
~150 µs. Cancelling the trio caller cancels the asyncio task; an asyncio task
cancelled from its own side surfaces in trio as `BridgeClosed`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import outcome
import trio

T = TypeVar("T")


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (not on Windows): the loop asyncpg was built for. Its
    loop machinery in C took 7-10% off the node's CPU per warm feed page and per explore
    call against asyncio's selector loop (docs/performance.md, fifth sitting)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.SelectorEventLoop()
    return uvloop.new_event_loop()


class BridgeClosed(RuntimeError):
    """The asyncio loop is gone or cancelled the operation."""


class AsyncioBridge:
    """Owns the asyncio thread; `run` awaits an asyncio coroutine from trio."""

    def __init__(self, name: str = "glint-asyncio") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise BridgeClosed("bridge not started")
        return self._loop

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _main(self) -> None:
        loop = _new_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Stop the loop (after its clients are closed) and join the thread."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop = None

    def submit(self, coro: Awaitable[Any]) -> None:
        """Fire and forget (used by long-lived asyncio tasks such as the bus reader)."""
        asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `fn(*args)` on the asyncio loop and wait for it without blocking trio."""
        loop = self.loop
        token = trio.lowlevel.current_trio_token()
        task = trio.lowlevel.current_task()
        aborted = False

        def deliver(fut: Any) -> None:
            if aborted:
                return
            if fut.cancelled():
                result: outcome.Outcome[Any] = outcome.Error(BridgeClosed("operation cancelled"))
            else:
                result = outcome.capture(fut.result)
            trio.lowlevel.reschedule(task, result)

        def done(fut: Any) -> None:
            try:
                token.run_sync_soon(deliver, fut)
            except trio.RunFinishedError:
                pass

        try:
            fut = asyncio.run_coroutine_threadsafe(fn(*args), loop)  # type: ignore[arg-type]
        except RuntimeError as exc:
            raise BridgeClosed(str(exc)) from None
        fut.add_done_callback(done)

        def abort(_: Any) -> trio.lowlevel.Abort:
            nonlocal aborted
            aborted = True
            fut.cancel()
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)  # type: ignore[no-any-return]
