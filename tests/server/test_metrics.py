"""/metrics is Prometheus text that parses, and its counters move with traffic."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from protocol.client import connect
from server.node import Node
from tests.conftest import PASSWORD, unique


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_parse_and_move(node: Node) -> None:
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        before = _samples((await http.get("/metrics")).text)
        name = unique("m")
        async with connect(node.ws_url) as c:
            await c.signup(name, f"{name}@example.com", PASSWORD)
            for _ in range(3):
                await c.call("ping")
            during = _samples((await http.get("/metrics")).text)
        r = await http.get("/metrics")
        assert r.headers["content-type"].startswith("text/plain")
        after = _samples(r.text)
    ping = ("glint_ops_total", (("op", "ping"), ("outcome", "ok")))
    assert after[ping] - before.get(ping, 0) == 3
    assert during[("glint_connections", ())] >= 1
    assert after[("glint_connections_opened_total", ())] > before.get(
        ("glint_connections_opened_total", ()), 0)
    assert during[("glint_actors", (("kind", "UserActor"),))] == 1
    assert after[("glint_storage_seconds_count", (("backend", "pg"),))] > 0
