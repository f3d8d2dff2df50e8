"""Prometheus metrics for one node (its own registry, so several nodes can share a process)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
MEDIA_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32)
SERVER_ERRORS = frozenset({"internal", "unavailable"})  # outcomes that count as errors


class _ActorCollector:
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self):  # type: ignore[no-untyped-def]
        g = GaugeMetricFamily("glint_actors", "Live actors by type", labels=["kind"])
        for kind, n in self._counts().items():
            g.add_metric([kind], n)
        yield g


class _SweptCollector:
    def __init__(self, swept: Callable[[], int]) -> None:
        self._swept = swept

    def collect(self):  # type: ignore[no-untyped-def]
        yield CounterMetricFamily("glint_presence_swept", "Devices of dead nodes this node "
                                  "took offline (actors/presence.py sweep)", value=self._swept())


@dataclass(frozen=True)
class Totals:
    ops: float
    errors: float
    events: float
    latency_buckets: tuple[float, ...]  # cumulative counts, one per LATENCY_BUCKETS bound + inf


def quantile(buckets: tuple[float, ...], q: float) -> float | None:
    """The q-quantile (seconds) of cumulative histogram counts, interpolated in its bucket."""
    total = buckets[-1] if buckets else 0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cum in zip(LATENCY_BUCKETS, buckets, strict=False):
        if cum >= rank:
            inside = cum - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cum
    return float(LATENCY_BUCKETS[-1])


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
        self.bus_lag = Histogram("glint_bus_lag_seconds", "Bus delivery: a probe published "
                                 "each second until this node dispatches it",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.media_seconds = Histogram("glint_media_seconds", "Photo processing of an upload "
                                       "(decode, variants, encode)", buckets=MEDIA_BUCKETS,
                                       registry=r)

    def watch_actors(self, counts: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_ActorCollector(counts))  # type: ignore[arg-type]

    def watch_presence(self, swept: Callable[[], int]) -> None:
        self.registry.register(_SweptCollector(swept))  # type: ignore[arg-type]

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

    def media_processed(self, seconds: float) -> None:
        self.media_seconds.observe(seconds)

    def totals(self) -> Totals:
        """Running totals of ops, server errors, events and the op-latency histogram, read
        from the same collectors /metrics renders (for the admin dashboard's rates)."""
        ops = errors = events = 0.0
        for fam in self.ops.collect():
            for s in fam.samples:
                if s.name.endswith("_total"):
                    ops += s.value
                    if s.labels.get("outcome") in SERVER_ERRORS:
                        errors += s.value
        for fam in self.events.collect():
            for s in fam.samples:
                if s.name.endswith("_total"):
                    events += s.value
        bounds = [*LATENCY_BUCKETS, float("inf")]
        buckets = [0.0] * len(bounds)
        for fam in self.op_seconds.collect():
            for s in fam.samples:
                if s.name.endswith("_bucket"):
                    buckets[bounds.index(float(s.labels["le"]))] += s.value
        return Totals(ops, errors, events, tuple(buckets))

    def render(self) -> bytes:
        return generate_latest(self.registry)
