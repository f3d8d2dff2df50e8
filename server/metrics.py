"""Prometheus metrics for one node (its own registry, so several nodes can share a process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class _ActorCollector:
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self):  # type: ignore[no-untyped-def]
        g = GaugeMetricFamily("glint_actors", "Live actors by type", labels=["kind"])
        for kind, n in self._counts().items():
            g.add_metric([kind], n)
        yield g


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.connections = Gauge("glint_connections", "Open WebSocket connections", registry=r)
        self.connections_total = Counter("glint_connections_opened", "WebSocket connections "
                                         "accepted", registry=r)
        self.ops = Counter("glint_ops", "Ops handled", ["op", "outcome"], registry=r)
        self.op_seconds = Histogram("glint_op_seconds", "Op latency", ["op"],
                                    buckets=LATENCY_BUCKETS, registry=r)
        self.events = Counter("glint_events_delivered", "Event frames written to sockets",
                              registry=r)
        self.overflows = Counter("glint_queue_overflows", "Connections closed with 4008",
                                 registry=r)
        self.frame_errors = Counter("glint_frame_errors", "Malformed or refused frames",
                                    ["kind"], registry=r)
        self.storage_seconds = Histogram("glint_storage_seconds", "Storage call latency "
                                         "(one bridge crossing)", ["backend"],
                                         buckets=LATENCY_BUCKETS, registry=r)
        self._op_children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.bus_reconnects = Counter("glint_bus_reconnects", "Bus subscription re-established",
                                      registry=r)

    def watch_actors(self, counts: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_ActorCollector(counts))  # type: ignore[arg-type]

    def connection_opened(self) -> None:
        self.connections.inc()
        self.connections_total.inc()

    def connection_closed(self) -> None:
        self.connections.dec()

    def op(self, name: str, outcome: str, seconds: float) -> None:
        key = (name, outcome)
        children = self._op_children.get(key)
        if children is None:  # labels() costs ~2 µs a call: resolve each pair once
            children = self._op_children[key] = (self.ops.labels(name, outcome),
                                                 self.op_seconds.labels(name))
        children[0].inc()
        children[1].observe(seconds)

    def delivered(self, n: int) -> None:
        if n:
            self.events.inc(n)

    def overflow(self, _conn: object) -> None:
        self.overflows.inc()

    def frame_error(self, kind: str) -> None:
        self.frame_errors.labels(kind).inc()

    def storage(self, backend: str, seconds: float) -> None:
        self.storage_seconds.labels(backend).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
