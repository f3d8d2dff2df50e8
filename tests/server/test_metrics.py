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


async def test_every_operator_metric_exists_and_moves(node: Node) -> None:
    """Ops by outcome, latency, events, bus lag, DB and Redis latency, media time."""
    import pytest

    from protocol.errors import NotFound
    from storage.accounts import set_admin
    from tests.fixtures import images

    families = ("glint_connections", "glint_ops", "glint_op_seconds", "glint_events_delivered",
                "glint_queue_overflows", "glint_bus_lag_seconds", "glint_storage_seconds",
                "glint_media_seconds", "glint_actors", "glint_frame_errors")
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        text = (await http.get("/metrics")).text
        assert {f.name for f in text_string_to_metric_families(text)} >= set(families)
        before = _samples(text)
        name, other = unique("mo"), unique("mo")
        async with connect(node.ws_url) as c, connect(node.ws_url) as d:
            await c.signup(name, f"{name}@example.com", PASSWORD)
            await d.signup(other, f"{other}@example.com", PASSWORD)
            assert await set_admin(node.storage, name, True)
            await c.call("admin.watch")
            for _ in range(2):  # each pushed stats event is one more tick: a bus-lag probe
                await c.next_event("admin.stats")
            with pytest.raises(NotFound):
                await d.call("post.get", post=1)
            await c.upload(images.jpeg(320, 240))
            after = _samples((await http.get("/metrics")).text)

    def grew(key: tuple[str, tuple[tuple[str, str], ...]]) -> bool:
        return after.get(key, 0) > before.get(key, 0)

    assert grew(("glint_ops_total", (("op", "post.get"), ("outcome", "not_found"))))
    assert grew(("glint_op_seconds_count", (("op", "admin.watch"),)))
    assert grew(("glint_events_delivered_total", ()))  # the pushed admin.stats events
    assert grew(("glint_bus_lag_seconds_count", ()))
    assert grew(("glint_storage_seconds_count", (("backend", "redis"),)))
    assert grew(("glint_storage_seconds_count", (("backend", "pg"),)))
    assert grew(("glint_media_seconds_count", ()))
    assert after[("glint_connections", ())] >= 2


def test_quantile_interpolates_within_buckets() -> None:
    from server.metrics import LATENCY_BUCKETS, quantile

    n = len(LATENCY_BUCKETS) + 1
    assert quantile(tuple([0.0] * n), 0.5) is None
    # 10 observations in the (0.001, 0.0025] bucket, cumulative counts.
    cum = tuple(0.0 if b < 0.0025 else 10.0 for b in [*LATENCY_BUCKETS, float("inf")])
    p50 = quantile(cum, 0.5)
    assert p50 is not None and 0.001 < p50 <= 0.0025
    assert quantile(cum, 0.99) == 0.001 + (0.0025 - 0.001) * 0.99


async def test_unknown_op_names_add_no_label_values(node: Node) -> None:
    """An attacker sending random op names must not grow /metrics: they all count as
    `other` (also `admin.*` names, before and after hello)."""
    import uuid

    from protocol.errors import GlintError

    def op_labels(text: str) -> set[str]:
        return {s.labels["op"] for fam in text_string_to_metric_families(text)
                for s in fam.samples if "op" in s.labels}

    async with httpx.AsyncClient(base_url=node.http_url) as http:
        name = unique("mc")
        async with connect(node.ws_url, reconnect=False) as anon, connect(node.ws_url) as c:
            await c.signup(name, f"{name}@example.com", PASSWORD)
            for client in (anon, c):  # warm up: `other` exists from here on
                try:
                    await client.call("no.such.op")
                except GlintError:
                    pass
            before = op_labels((await http.get("/metrics")).text)
            for i in range(20):  # 80 ops a connection: within the per-connection burst
                junk = uuid.uuid4().hex
                for op in (junk, f"admin.{junk}", f"post.{junk}", "x" * (i + 1) * 10):
                    for client in (anon, c):
                        try:
                            await client.call(op)
                        except GlintError:
                            pass
            assert "t" in await c.call("ping")
            after = op_labels((await http.get("/metrics")).text)
    assert after - before <= {"ping"}
    assert "other" in after
