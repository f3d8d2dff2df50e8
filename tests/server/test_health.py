"""/healthz says the process is alive; /readyz answers 503 while a dependency is down."""

from __future__ import annotations

from pathlib import Path

import httpx
import trio

from server.node import open_node
from storage.embedded import EmbeddedRedis
from tests.conftest import make_settings


async def test_readyz_is_503_while_redis_is_down_and_healthz_stays_200(
        services: tuple[str, str], tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "own-redis")
    url = await trio.to_thread.run_sync(redis.start)
    try:
        async with open_node(make_settings(services, tmp_path, redis_url=url)) as node, \
                httpx.AsyncClient(base_url=node.http_url) as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"ready": True, "postgres": True, "redis": True,
                                    "migrations_pending": []}

            await trio.to_thread.run_sync(redis.stop)
            down = await http.get("/readyz")
            assert down.status_code == 503
            body = down.json()
            assert body["ready"] is False and body["redis"] is False and body["postgres"] is True
            assert (await http.get("/healthz")).status_code == 200  # alive, just not ready

            await trio.to_thread.run_sync(redis.start)
            # The first check may still meet the dead connection; the client reconnects.
            codes = [(await http.get("/readyz")).status_code for _ in range(2)]
            assert codes[-1] == 200, codes
    finally:
        await trio.to_thread.run_sync(redis.stop)
