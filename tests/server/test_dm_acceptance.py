"""DM acceptance: bots on two node processes, and a Redis restart mid-conversation."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import trio

from protocol.client import Client, connect
from protocol.errors import Unavailable
from server.node import open_node
from storage.embedded import EmbeddedRedis
from tests.conftest import PASSWORD, make_settings, unique
from tests.nodeproc import node_process
from tests.server.test_posts import uid

WAIT = 20.0


async def _signup_all(clients: list[Client]) -> None:
    async def one(c: Client) -> None:
        name = unique("dm")
        await c.signup(name, f"{name}@example.com", PASSWORD)

    async with trio.open_nursery() as nursery:
        for c in clients:
            nursery.start_soon(one, c)


async def _texts(c: Client, conv: int, want: set[str]) -> list[tuple[int, str]]:
    """(seq, text) of every dm.message about `conv` until all of `want` arrived."""
    got: list[tuple[int, str]] = []
    with trio.fail_after(WAIT):
        while not want <= {t for _, t in got}:
            ev = await c.next_event("dm.message")
            if ev.data["conversation"] == conv:
                got.append((ev.data["message"]["seq"], ev.data["message"].get("text", "")))
    return got


async def test_bots_on_two_node_processes_chat_one_to_one_and_in_a_group_of_ten(
        services: tuple[str, str], tmp_path: Path) -> None:
    db, redis = services
    env = {"DATABASE_URL": db, "REDIS_URL": redis, "GLINT_NAMESPACE": f"d{uuid.uuid4().hex[:8]}"}
    async with node_process(tmp_path / "a", env=env, name="a") as a, \
            node_process(tmp_path / "b", env=env, name="b") as b, \
            contextlib.AsyncExitStack() as stack:
        bots = [await stack.enter_async_context(connect((a if i % 2 else b).ws_url))
                for i in range(10)]
        await _signup_all(bots)
        # 1:1 across the nodes
        x, y = bots[0], bots[1]
        conv = (await x.call("dm.open", user=uid(y)))["id"]
        assert (await y.call("dm.open", user=uid(x)))["id"] == conv
        for i in range(5):
            await (x if i % 2 == 0 else y).call("dm.send", conversation=conv, text=f"p{i}")
        want = {f"p{i}" for i in range(5)}
        seen_x, seen_y = await _texts(x, conv, want), await _texts(y, conv, want)
        assert seen_x == seen_y and [s for s, _ in seen_x] == sorted({s for s, _ in seen_x})

        # a group of ten, everyone sending at once, half the members on each node
        group = (await bots[0].call("dm.open", users=[uid(c) for c in bots[1:]],
                                    title="ten"))["id"]
        texts = {f"g{i}-{j}" for i in range(10) for j in range(3)}

        async def chat(i: int) -> None:
            for j in range(3):
                await bots[i].call("dm.send", conversation=group, text=f"g{i}-{j}")

        async with trio.open_nursery() as nursery:
            for i in range(10):
                nursery.start_soon(chat, i)
        views = [await _texts(c, group, texts) for c in bots]
        first = [t for _, t in views[0] if t in texts]
        for view in views:
            seqs = [s for s, _ in view]
            assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))  # in order, once
            assert [t for _, t in view if t in texts] == first  # one order for everyone
        history = await bots[5].call("dm.history", conversation=group, limit=100)
        assert {m.get("text") for m in history["messages"]} >= texts


async def test_redis_restart_mid_conversation_loses_no_acknowledged_message(
        services: tuple[str, str], tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "own-redis")
    url = await trio.to_thread.run_sync(redis.start)
    try:
        async with open_node(make_settings(services, tmp_path, redis_url=url)) as node, \
                connect(node.ws_url) as alice, connect(node.ws_url) as bob:
            await _signup_all([alice, bob])
            conv = (await alice.call("dm.open", user=uid(bob)))["id"]
            acked: list[tuple[int, str]] = []
            refused = 0
            stop_sending = trio.Event()
            milestones = {5: trio.Event(), 20: trio.Event()}  # acked messages so far

            async def sender() -> None:
                nonlocal refused
                i = 0
                while not stop_sending.is_set():
                    text = f"m{i}"
                    i += 1
                    try:
                        r = await alice.call("dm.send", conversation=conv, text=text)
                        acked.append((r["message"]["seq"], text))
                        if len(acked) in milestones:
                            milestones[len(acked)].set()
                    except Unavailable:
                        refused += 1  # not acknowledged: the sender knows to retry
                    if len(acked) >= 40 or i > 400:
                        return
                    await trio.sleep(0.01)  # sync-ok: pacing the sender, not waiting

            async with trio.open_nursery() as nursery:
                nursery.start_soon(sender)
                with trio.fail_after(WAIT):
                    await milestones[5].wait()
                await trio.to_thread.run_sync(redis.stop)
                await trio.to_thread.run_sync(redis.start)
                with trio.fail_after(WAIT * 2):
                    await milestones[20].wait()
                stop_sending.set()
            assert node.subscriber.reconnects >= 1  # the bus really went down and came back
            want = {t for _, t in acked}
            got = await _texts(bob, conv, want)
            seqs = [s for s, _ in got]
            assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
            assert sorted(acked) == sorted(p for p in got if p[1] in want)
            history = (await bob.call("dm.history", conversation=conv, limit=100))["messages"]
            assert want <= {m.get("text") for m in history}
    finally:
        await trio.to_thread.run_sync(redis.stop)
