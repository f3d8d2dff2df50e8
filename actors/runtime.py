"""The actor runtime: bounded mailboxes, a registry with get-or-spawn, supervision.

An actor owns its state and reads one bounded mailbox; nothing else touches the
state. The mailbox belongs to the registry entry, not to the actor object, so a
restarted actor keeps its queue and senders keep their reference. A supervisor
restarts an actor that crashed with one of the listed exception *types*, with
exponential back-off; an actor that returns normally (idle) is removed from the
registry and re-spawned on demand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import trio

from config.limits import (
    AFTER_COMMIT_SECONDS,
    MAILBOX_SIZE,
    RESTART_BACKOFF_INITIAL,
    RESTART_BACKOFF_MAX,
)

log = logging.getLogger(__name__)

M = TypeVar("M")


@contextmanager
def after_commit() -> Iterator[None]:
    """Work a commit owes (queueing its fan-out job, counting its tags): an op is
    cancelled with its connection (an operator's kick, an outbound overflow, a peer
    found dead, the node shutting down), commit or not. Shielded from that, for at
    most AFTER_COMMIT_SECONDS."""
    with trio.CancelScope(shield=True), trio.move_on_after(AFTER_COMMIT_SECONDS):
        yield


class MailboxFull(Exception):
    """The actor is not keeping up; the sender decides what that means."""


class ActorStopped(Exception):
    """The actor behind this entry has stopped; look it up again."""


class Actor(Generic[M]):
    """Subclasses implement `handle`; `run` is the loop a supervisor drives."""

    idle_timeout: float | None = None  # stop after this long without messages (and `idle()`)

    def __init__(self, key: Hashable) -> None:
        self.key = key

    async def started(self) -> None:
        """Set-up after (re)start, before the first message."""

    async def stopping(self) -> None:
        """Clean-up on stop or crash; runs shielded with a deadline."""

    def idle(self) -> bool:
        """Whether the actor may stop when no message came for `idle_timeout`."""
        return True

    async def handle(self, msg: M) -> None:
        raise NotImplementedError

    def after_overflow(self) -> None:
        """Called (from the loop) when messages to this actor were dropped."""

    async def run(self, entry: Entry[M], *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await self.started()
            task_status.started()
            while True:
                msg: Any = None
                with trio.move_on_after(self.idle_timeout or float("inf")) as idle_scope:
                    msg = await entry.receive.receive()
                if idle_scope.cancelled_caught:
                    if self.idle():
                        return
                    continue
                await self.handle(msg)
                if entry.overflowed:
                    entry.overflowed = False
                    self.after_overflow()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await self.stopping()


@dataclass(eq=False)
class Entry(Generic[M]):
    """A registered actor's address: its mailbox, shared across restarts."""

    key: Hashable
    send: trio.MemorySendChannel[M]
    receive: trio.MemoryReceiveChannel[M]
    kind: str
    overflowed: bool = False
    restarts: int = 0
    alive: trio.Event = field(default_factory=trio.Event)

    def tell(self, msg: M) -> None:
        """Deliver without waiting; a full mailbox raises MailboxFull and marks overflow."""
        try:
            self.send.send_nowait(msg)
        except trio.WouldBlock:
            self.overflowed = True
            raise MailboxFull(f"{self.kind} {self.key!r}") from None
        except trio.ClosedResourceError:
            raise ActorStopped(f"{self.kind} {self.key!r}") from None

    async def ask(self, make: Callable[[trio.MemorySendChannel[Any]], M]) -> Any:
        """Send a request built around a reply channel and wait for the answer."""
        reply_send, reply_recv = trio.open_memory_channel[Any](1)
        await self.send.send(make(reply_send))
        async with reply_recv:
            result = await reply_recv.receive()
        if isinstance(result, BaseException):
            raise result
        return result


@dataclass(frozen=True)
class RestartPolicy:
    restart_on: tuple[type[BaseException], ...] = (Exception,)
    initial: float = RESTART_BACKOFF_INITIAL
    maximum: float = RESTART_BACKOFF_MAX
    max_restarts: int | None = None  # None: forever


class Registry:
    """get-or-spawn by key, under one nursery; counts actors by kind for metrics."""

    def __init__(self, nursery: trio.Nursery, *, mailbox_size: int = MAILBOX_SIZE) -> None:
        self._nursery = nursery
        self._mailbox_size = mailbox_size
        self._entries: dict[Hashable, Entry[Any]] = {}
        self.crashes = 0

    def get(self, key: Hashable) -> Entry[Any] | None:
        return self._entries.get(key)

    def __len__(self) -> int:
        return len(self._entries)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self._entries.values():
            out[e.kind] = out.get(e.kind, 0) + 1
        return out

    def entries(self) -> list[Entry[Any]]:
        return list(self._entries.values())

    async def get_or_spawn(self, key: Hashable, factory: Callable[[Hashable], Actor[Any]], *,
                           kind: str, policy: RestartPolicy = RestartPolicy()) -> Entry[Any]:
        """The live actor for `key`, spawning it (and waiting until started) if needed."""
        entry = self._entries.get(key)
        if entry is None:
            send, receive = trio.open_memory_channel[Any](self._mailbox_size)
            entry = Entry(key, send, receive, kind=kind)
            self._entries[key] = entry
            self._nursery.start_soon(self._supervise, entry, factory, policy)
        await entry.alive.wait()
        return entry

    async def _supervise(self, entry: Entry[Any], factory: Callable[[Hashable], Actor[Any]],
                         policy: RestartPolicy) -> None:
        delay = policy.initial
        try:
            while True:
                actor = factory(entry.key)
                began = trio.current_time()
                try:
                    await actor.run(entry, task_status=_SetOnStart(entry.alive))
                except BaseException as exc:
                    if not _restartable(exc, policy.restart_on):
                        raise
                    self.crashes += 1
                    entry.restarts += 1
                    log.exception("actor crashed; restarting",
                                  extra={"actor": entry.kind, "key": str(entry.key),
                                         "restarts": entry.restarts, "error": repr(exc)})
                    if policy.max_restarts is not None and entry.restarts > policy.max_restarts:
                        raise
                    if trio.current_time() - began > policy.maximum:
                        delay = policy.initial  # it ran well for a while: start over
                    await trio.sleep(delay)
                    delay = min(delay * 2, policy.maximum)
                    continue
                # Returned normally: idle. Stop unless mail arrived meanwhile (no await
                # between this check and the removal, so nothing can slip in).
                if entry.receive.statistics().current_buffer_used == 0:
                    return
                delay = policy.initial
        finally:
            if self._entries.get(entry.key) is entry:
                del self._entries[entry.key]
            entry.alive.set()
            entry.send.close()


class _SetOnStart:
    """A task_status for an actor run directly by its supervisor (no nursery in between,
    so its exceptions reach the supervisor unwrapped)."""

    def __init__(self, event: trio.Event) -> None:
        self._event = event

    def started(self, value: object = None) -> None:
        self._event.set()


def _restartable(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    if isinstance(exc, trio.Cancelled | KeyboardInterrupt | SystemExit):
        return False
    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split(kinds)
        return rest is None
    return isinstance(exc, kinds)
