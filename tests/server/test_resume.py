"""Resume: what was appended while away arrives on reconnect, in order, exactly once."""

from __future__ import annotations

from pathlib import Path

import trio
from trio_websocket import open_websocket_url

from config import Settings
from protocol.client import connect
from server.node import Node, open_node
from storage import events
from tests.conftest import PASSWORD, make_settings, unique
from tests.wire import Raw


async def _account(node: Node) -> tuple[int, str]:
    name = unique("res")
    async with connect(node.ws_url) as c:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        assert c.user is not None and c.token is not None
        return c.user["id"], c.token


async def _notify(node: Node, uid: int, numbers: range) -> None:
    await events.append(node.storage, [(uid, "notification", {"n": n}) for n in numbers])


async def test_live_then_resume_in_order_exactly_once(node: Node) -> None:
    uid, token = await _account(node)
    async with open_websocket_url(node.ws_url) as ws:
        raw = Raw(ws)
        hello = await raw.call("hello", proto=1, token=token)
        assert hello["data"]["seq"] == 0 and hello["data"]["resync"] is False
        await _notify(node, uid, range(1, 4))
        got = [await raw.event("notification") for _ in range(3)]
        assert [(e["seq"], e["data"]["n"]) for e in got] == [(1, 1), (2, 2), (3, 3)]

    await _notify(node, uid, range(4, 14))  # while away

    async with open_websocket_url(node.ws_url) as ws:
        raw = Raw(ws)
        await raw.send_obj({"op": "hello", "id": 1, "args": {"proto": 1, "token": token,
                                                             "resume": 3}})
        first = await raw.recv()
        assert first["re"] == 1 and first["data"]["seq"] == 13  # the reply comes first
        replayed = [await raw.recv() for _ in range(10)]
        assert [e["seq"] for e in replayed] == list(range(4, 14))
        assert [e["data"]["n"] for e in replayed] == list(range(4, 14))
        await _notify(node, uid, range(14, 15))
        live = await raw.recv()
        assert live["seq"] == 14
        pong = await raw.call("ping")  # nothing else (no duplicate) was queued before it
        assert pong["ok"] and raw.events == []


async def test_events_appended_during_resume_are_neither_lost_nor_doubled(node: Node) -> None:
    uid, token = await _account(node)
    await _notify(node, uid, range(1, 201))
    async with open_websocket_url(node.ws_url) as ws, trio.open_nursery() as nursery:
        raw = Raw(ws)

        async def writer() -> None:
            for n in range(201, 301):
                await _notify(node, uid, range(n, n + 1))

        await raw.send_obj({"op": "hello", "id": 1, "args": {"token": token, "resume": 0}})
        nursery.start_soon(writer)
        assert (await raw.recv())["re"] == 1
        seqs = [(await raw.recv())["seq"] for _ in range(300)]
        assert seqs == list(range(1, 301))


async def test_too_old_resume_gets_resync(services: tuple[str, str], tmp_path: Path) -> None:
    settings: Settings = make_settings(services, tmp_path, event_retention=20)
    async with open_node(settings) as node:
        uid, token = await _account(node)
        await _notify(node, uid, range(1, 61))
        async with open_websocket_url(node.ws_url) as ws:
            raw = Raw(ws)
            hello = await raw.call("hello", proto=1, token=token, resume=2)
            assert hello["data"]["resync"] is True and hello["data"]["seq"] == 60
            await _notify(node, uid, range(61, 62))
            assert (await raw.recv())["seq"] == 61  # nothing stale was replayed
        async with connect(node.ws_url, token=token, resume=55) as c:
            assert c.hello_data is not None and c.hello_data["resync"] is False
            assert [(await c.next_event()).seq for _ in range(6)] == list(range(56, 62))
