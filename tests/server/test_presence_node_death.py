"""A node that dies (SIGKILL) cannot announce its users: another node notices its
liveness mark is gone, takes its devices out of Redis and announces `presence`
offline for the users left with no live device, to the peers allowed to see it. A node
stopped cleanly is covered too, and a live node taken for dead comes back."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path
from typing import Any

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

from protocol.client import Client, connect
from server.node import Node
from storage import presence as db
from tests.conftest import PASSWORD, unique
from tests.nodeproc import node_process
from tests.server.test_posts import bots, next_event, uid
from tests.server.test_presence import conversation, online_status, presence_of, until

HEARTBEAT = 1.0  # device keys and liveness marks live 2 s
# Mark TTL (2 heartbeats) + a sweep interval (up to 1.2 heartbeats) + processes' slack.
DEATH_NOTICED = 15.0
WAIT = 20.0


def _env(services: tuple[str, str]) -> dict[str, str]:
    """Node processes on the test services, in a namespace of their own, short heartbeat."""
    return {"DATABASE_URL": services[0], "REDIS_URL": services[1],
            "GLINT_NAMESPACE": f"pd{uuid.uuid4().hex[:8]}",
            "GLINT_HEARTBEAT_SECONDS": str(HEARTBEAT)}


async def _signup(c: Client) -> None:
    name = unique("nd")
    await c.signup(name, f"{name}@example.com", PASSWORD)


async def _until(c: Client, want: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every event `c` gets, up to and including the first for which `want(name, data)`."""
    seen: list[tuple[str, dict[str, Any]]] = []
    while True:
        ev = await c.next_event()
        seen.append((ev.name, ev.data))
        if want(ev.name, ev.data):
            return seen


def _presence(user: int, online: bool) -> Any:
    return lambda name, data: name == "presence" and data["user"] == user \
        and data["online"] is online


async def test_sigkilled_node_users_go_offline_for_their_peers(
        services: tuple[str, str], tmp_path: Path) -> None:
    env = _env(services)
    async with node_process(tmp_path / "one", env=env, name="one") as one, \
            connect(one.ws_url) as bob, connect(one.ws_url) as carol, \
            connect(one.ws_url) as dave:
        for c in (bob, carol, dave):
            await _signup(c)
        # Dave hides his activity: he sees no one's either.
        assert (await dave.call("user.update", hide_activity=True))["hide_activity"] is True
        async with node_process(tmp_path / "two", env=env, name="two") as two:
            async with connect(two.ws_url, reconnect=False) as first:
                await _signup(first)
                assert first.token is not None
                alice, token = uid(first), first.token
                group = (await first.call("dm.open", users=[uid(bob), uid(carol), uid(dave)],
                                          title="four"))["id"]
            # In their requests (they do not follow Alice): Carol accepts, so Bob may see
            # hers; Bob's stays his own.
            await carol.call("dm.accept", conversation=group)
            with trio.fail_after(WAIT):  # her first device left: the clean path announces it
                await _until(bob, _presence(alice, False))
            async with connect(two.ws_url, token=carol.token, reconnect=False), \
                    connect(two.ws_url, token=token, reconnect=False):
                # Alice only on node two, Carol on both nodes. Alice's coming online (queued
                # after Carol's second device on that node) says both are in Redis.
                with trio.fail_after(WAIT):
                    await _until(bob, _presence(alice, True))
                [item] = (await bob.call("presence.get", users=[alice]))["items"]
                assert item["online"] is True
                started = trio.current_time()
                two.process.send_signal(signal.SIGKILL)
                await two.process.wait()
                with trio.fail_after(DEATH_NOTICED):
                    await _until(bob, _presence(alice, False))
                noticed = trio.current_time() - started
        # Carol's typing, sent after Bob learnt of Alice, is a marker: whatever the sweep
        # announced reached Bob and Dave before it.
        assert (await carol.call("dm.typing", conversation=group))["sent"] is True

        def marker(name: str, data: dict[str, Any]) -> bool:
            return name == "dm.typing" and data["user"] == uid(carol)

        with trio.fail_after(WAIT):
            bob_saw = await _until(bob, marker)
            dave_saw = await _until(dave, marker)
        # Carol kept a device on node one: she never went offline.
        assert not [d for n, d in bob_saw if n == "presence" and d["user"] == uid(carol)]
        # Dave may not see Alice's activity: nothing about her (or anyone) reached him.
        assert not [d for n, d in dave_saw if n == "presence"]
        items = (await bob.call("presence.get", users=[alice, uid(carol)]))["items"]
        assert [(i["user"], i["online"]) for i in items] == [(alice, False), (uid(carol), True)]
        assert noticed < DEATH_NOTICED
        # Node one took two's devices offline (Alice's and Carol's second): it counts them.
        async with httpx.AsyncClient(base_url=one.http_url) as http:
            text = (await http.get("/metrics")).text
        [swept] = [s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "glint_presence_swept_total"]
        assert swept >= 2


async def test_stopped_node_users_go_offline_for_their_peers(
        services: tuple[str, str], tmp_path: Path) -> None:
    env = _env(services)
    async with node_process(tmp_path / "one", env=env, name="one") as one, \
            connect(one.ws_url) as bob:
        await _signup(bob)
        async with node_process(tmp_path / "two", env=env, name="two") as two:
            async with connect(two.ws_url, reconnect=False) as first:
                await _signup(first)
                assert first.token is not None
                alice, token = uid(first), first.token
                await first.call("dm.open", user=uid(bob))
            with trio.fail_after(WAIT):
                await _until(bob, _presence(alice, False))
            async with connect(two.ws_url, token=token, reconnect=False):
                with trio.fail_after(WAIT):
                    await _until(bob, _presence(alice, True))
                two.process.send_signal(signal.SIGTERM)  # a clean stop, her socket still open
                with trio.fail_after(DEATH_NOTICED):
                    await _until(bob, _presence(alice, False))
                    await two.process.wait()
        [item] = (await bob.call("presence.get", users=[alice]))["items"]
        assert item["online"] is False


async def test_live_node_taken_for_dead_connects_its_devices_again(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        await conversation(node, alice, bob, kind="direct")
        a, b = uid(alice), uid(bob)
        p = presence_of(node)
        await until(node, lambda: p.devices_of(a) == 1 and p.devices_of(b) == 1)
        st = node.storage
        # The node stalled past its mark's TTL and another node swept its devices.
        await st.redis_op(lambda r: r.delete(db.node_mark(st, p.instance)))
        [found] = [d for d in await db.dead_instances(st) if d.instance == p.instance]
        assert await db.claim(st, p.instance, "other", p.claim_ms) is True
        swept = await db.sweep_chunk(st, found, "other", p.claim_ms, 100, set())
        assert {t.user_id for t in swept.offline} == {a, b}
        [item] = await online_status(bob, a)
        assert item["online"] is False
        await p.mark_alive()  # its next renewal finds the mark gone: devices connect again
        back = await next_event(bob, "presence", user=a)
        assert back["online"] is True
        await until(node, lambda: True)
        [item] = await online_status(bob, a)
        assert item["online"] is True
        assert await db.dead_instances(st) == []
