"""Redis restarted under a running node: it recovers and no durable event is lost."""

from __future__ import annotations

from pathlib import Path

import trio
from trio_websocket import open_websocket_url

from protocol.client import connect
from server.node import open_node
from storage import events
from storage.embedded import EmbeddedRedis
from tests.conftest import PASSWORD, make_settings, unique
from tests.wire import Raw


async def test_node_recovers_from_a_redis_restart_without_losing_events(
        services: tuple[str, str], tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "own-redis")
    url = await trio.to_thread.run_sync(redis.start)
    try:
        settings = make_settings(services, tmp_path, redis_url=url)
        async with open_node(settings) as node:
            name = unique("rr")
            async with connect(node.ws_url) as c:
                await c.signup(name, f"{name}@example.com", PASSWORD)
                assert c.user is not None
                uid, token = c.user["id"], c.token
            async with open_websocket_url(node.ws_url) as ws:
                raw = Raw(ws)
                assert (await raw.call("hello", token=token))["ok"]
                await events.append(node.storage, [(uid, "notification", {"n": 1})])
                assert (await raw.recv())["seq"] == 1

                await trio.to_thread.run_sync(redis.stop)
                # Committed while Redis is down: the publish fails, the log keeps them.
                await events.append(node.storage,
                                    [(uid, "notification", {"n": n}) for n in range(2, 6)])
                await trio.to_thread.run_sync(redis.start)

                with trio.fail_after(30):
                    seqs = [(await raw.recv())["seq"] for _ in range(4)]
                assert seqs == [2, 3, 4, 5]
                await events.append(node.storage, [(uid, "notification", {"n": 6})])
                assert (await raw.recv())["seq"] == 6
                assert (await raw.call("ping"))["ok"] and raw.events == []
                assert node.subscriber.reconnects >= 1
    finally:
        await trio.to_thread.run_sync(redis.stop)
