"""Actor runtime: get-or-spawn, bounded mailboxes, supervised restarts, idle stop."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pytest
import trio

from actors.runtime import Actor, Entry, MailboxFull, Registry, RestartPolicy


class Boom(Exception):
    pass


class Counter(Actor[Any]):
    idle_timeout = 0.05
    instances = 0

    def __init__(self, key: Hashable) -> None:
        super().__init__(key)
        Counter.instances += 1
        self.count = 0

    async def handle(self, msg: Any) -> None:
        kind, reply = msg
        if kind == "boom":
            raise Boom("asked to crash")
        if kind == "fatal":
            raise KeyboardInterrupt
        self.count += 1
        if reply is not None:
            reply.send_nowait(self.count)


async def ask(entry: Entry[Any], kind: str) -> Any:
    return await entry.ask(lambda ch: (kind, ch))


async def test_get_or_spawn_returns_one_actor_per_key() -> None:
    async with trio.open_nursery() as nursery:
        reg = Registry(nursery)
        a1 = await reg.get_or_spawn("a", Counter, kind="Counter")
        a2 = await reg.get_or_spawn("a", Counter, kind="Counter")
        b = await reg.get_or_spawn("b", Counter, kind="Counter")
        assert a1 is a2 and a1 is not b
        assert [await ask(a1, "inc") for _ in range(3)] == [1, 2, 3]
        assert await ask(b, "inc") == 1
        assert reg.counts() == {"Counter": 2}
        nursery.cancel_scope.cancel()


async def test_crash_restarts_with_fresh_state_and_keeps_the_mailbox() -> None:
    async with trio.open_nursery() as nursery:
        reg = Registry(nursery)
        entry = await reg.get_or_spawn("k", Counter, kind="Counter",
                                       policy=RestartPolicy(restart_on=(Boom,), initial=0.001))
        assert await ask(entry, "inc") == 1
        entry.tell(("boom", None))
        assert await ask(entry, "inc") == 1  # restarted: state rebuilt, same address
        assert entry.restarts == 1 and reg.crashes == 1
        assert reg.get("k") is entry
        nursery.cancel_scope.cancel()


async def test_unlisted_exception_types_are_not_restarted() -> None:
    with pytest.raises(BaseException) as info:
        async with trio.open_nursery() as nursery:
            reg = Registry(nursery)
            entry = await reg.get_or_spawn("k", Counter, kind="Counter",
                                           policy=RestartPolicy(restart_on=(Boom,)))
            entry.tell(("fatal", None))
            await trio.sleep_forever()
    assert info.group_contains(KeyboardInterrupt) if isinstance(
        info.value, BaseExceptionGroup) else isinstance(info.value, KeyboardInterrupt)


async def test_idle_actor_stops_and_is_respawned_on_demand() -> None:
    async with trio.open_nursery() as nursery:
        reg = Registry(nursery)
        entry = await reg.get_or_spawn("idle", Counter, kind="Counter")
        assert await ask(entry, "inc") == 1
        with trio.fail_after(5):
            while reg.get("idle") is not None:
                await trio.testing.wait_all_tasks_blocked()
                await trio.sleep(0.01)  # sync-ok: waiting out the actor's own idle timer
        again = await reg.get_or_spawn("idle", Counter, kind="Counter")
        assert again is not entry and await ask(again, "inc") == 1
        nursery.cancel_scope.cancel()


async def test_full_mailbox_refuses_without_blocking() -> None:
    async with trio.open_nursery() as nursery:
        reg = Registry(nursery, mailbox_size=2)

        class Stuck(Counter):
            async def handle(self, msg: Any) -> None:
                await trio.sleep_forever()

        entry = await reg.get_or_spawn("s", Stuck, kind="Stuck")
        entry.tell(("inc", None))
        await trio.testing.wait_all_tasks_blocked()
        entry.tell(("inc", None))
        entry.tell(("inc", None))
        with pytest.raises(MailboxFull):
            entry.tell(("inc", None))
        assert entry.overflowed
        nursery.cancel_scope.cancel()
