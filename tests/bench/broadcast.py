"""Broadcast: N authenticated clients on one node; one event published M times to all.

Events are published on the node's broadcast channel in Redis
(`{namespace}:all`, as `storage.bus.pack_event(None, <encoded announcement>)`);
the node frames each once and writes it to every authenticated connection. Two
phases, each of `--events` events (default 100):

- **burst**: all events published at once (one Redis pipeline): the node's
  fan-out throughput;
- **paced**: events published at `--rate` per second: delivery latency when the
  node is not saturated.

Every client checks that it got every event of a phase exactly once and in
order; a lost, duplicated or reordered event makes the run fail. Reports
deliveries/s (issue target: >= 40,000/s), server CPU per delivery, publish ->
deliver latency p50/p99 (wall clock of the same machine).

    python -m tests.bench.broadcast [--clients 1000] [--events 100] [--rate 20] [--procs 2]
"""

from __future__ import annotations

import sys
import time
import urllib.request
from typing import Any

import trio

from tests.bench import common

MODULE = "tests.bench.broadcast"
HEARTBEAT_SECONDS = 10.0  # clients ping this often (the node closes after 2 x 25 s silent)
PHASE_TIMEOUT = 120.0


async def worker(cfg: dict[str, Any]) -> None:
    io = common.WorkerIO()
    async with trio.open_nursery() as nursery:
        conns, failures = await common.connect_all(cfg["client"], cfg["url"], cfg["tokens"],
                                                   nursery, io)
        st = _State(len(conns))
        for i, c in enumerate(conns):
            nursery.start_soon(_reader, st, i, c)
        nursery.start_soon(_heartbeat, conns)
        io.emit("ready", connected=len(conns), failures=failures)
        while True:
            cmd = await io.command()
            if cmd["cmd"] != "arm":
                break
            st.arm(cmd["phase"], cmd["count"])
            cpu0 = common.self_cpu()
            io.emit("armed")
            with trio.move_on_after(cmd["timeout"]):
                await st.all_done.wait()
            io.emit("phase_done", **st.report(), cpu=common.self_cpu() - cpu0)
        await common.close_all(conns)
        nursery.cancel_scope.cancel()


class _State:
    def __init__(self, n: int) -> None:
        self.n = n
        self.phase = ""
        self.count = 0
        self.expected = [0] * n
        self.lat: list[float] = []
        self.ev_first: list[float] = []  # per event: the earliest and latest delivery latency
        self.ev_last: list[float] = []
        self.gaps = self.dups = self.stray = self.closed = 0
        self.done = 0
        self.first = self.last = 0.0
        self.all_done = trio.Event()

    def arm(self, phase: str, count: int) -> None:
        self.phase, self.count = phase, count
        self.expected = [0] * self.n
        self.lat = []
        self.ev_first = [float("inf")] * count
        self.ev_last = [0.0] * count
        self.gaps = self.dups = self.stray = 0
        self.done = 0
        self.first = self.last = 0.0
        self.all_done = trio.Event()
        if self.n == 0:
            self.all_done.set()

    def on_event(self, i: int, data: dict[str, Any], now: float) -> None:
        if data.get("phase") != self.phase:
            self.stray += 1
            return
        n = data["n"]
        exp = self.expected[i]
        if n < exp:
            self.dups += 1
            return
        if n > exp:
            self.gaps += n - exp
        self.expected[i] = n + 1
        lat = now - data["t"]
        self.lat.append(lat)
        if lat < self.ev_first[n]:
            self.ev_first[n] = lat
        if lat > self.ev_last[n]:
            self.ev_last[n] = lat
        if not self.first:
            self.first = now
        self.last = now
        if n + 1 == self.count:
            self.done += 1
            if self.done == self.n:
                self.all_done.set()

    def report(self) -> dict[str, Any]:
        missing = sum(self.count - e for e in self.expected) + self.gaps
        return {"received": len(self.lat), "missing": missing, "gaps": self.gaps,
                "dups": self.dups, "stray": self.stray, "closed": self.closed,
                "complete": self.done, "first": self.first, "last": self.last,
                "lat_us": [round(x * 1e6) for x in self.lat],
                "ev_first_us": [round(x * 1e6) if x != float("inf") else None
                                for x in self.ev_first],
                "ev_last_us": [round(x * 1e6) for x in self.ev_last]}


async def _reader(st: _State, i: int, conn: common.ClientConn) -> None:
    decode = common.decode
    now = time.time
    try:
        while True:
            msg = decode(await conn.recv())
            if msg.get("ev") == "announcement":
                st.on_event(i, msg["data"], now())
    except (common.Closed, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        st.closed += 1


async def _heartbeat(conns: list[common.ClientConn]) -> None:
    rid = 10
    ping = common.encode
    while True:
        await trio.sleep(HEARTBEAT_SECONDS)
        rid += 1
        frame = ping({"op": "ping", "id": rid})
        for c in conns:
            try:
                await c.send(frame)
            except (common.Closed, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass


def _announcement(phase: str, n: int) -> bytes:
    from protocol.envelope import encode, event
    from storage.bus import pack_event

    data = {"phase": phase, "n": n, "t": time.time(), "text": "benchmark announcement"}
    return pack_event(None, encode(event("announcement", data)))


def _delivered_counter(http_url: str) -> float | None:
    """The node's own count of event frames written (glint_events_delivered)."""
    try:
        with urllib.request.urlopen(f"{http_url}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("glint_events_delivered_total"):
            return float(line.split()[-1])
    return None


def _phase(name: str, ws: list[common.Worker], node: common.NodeProc, redis: Any,
           channel: str, events: int, rate: float, quiet_wait: float) -> dict[str, Any]:
    common.wait_quiet(quiet_wait, node.marker)
    for w in ws:
        w.send(cmd="arm", phase=name, count=events, timeout=PHASE_TIMEOUT)
    common.expect_all(ws, "armed", 30)
    counted0 = _delivered_counter(node.http_url)
    win = node.window().start()
    t_first = time.time()
    if rate <= 0:
        pipe = redis.pipeline(transaction=False)
        for n in range(events):
            pipe.publish(channel, _announcement(name, n))
        pipe.execute()
    else:
        start = time.monotonic()
        for n in range(events):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            redis.publish(channel, _announcement(name, n))
    t_published = time.time()
    results = common.expect_all(ws, "phase_done", PHASE_TIMEOUT + 30)
    win.stop()
    counted1 = _delivered_counter(node.http_url)
    received = sum(r["received"] for r in results)
    last = max((r["last"] for r in results if r["last"]), default=t_published)
    span = max(1e-9, last - t_first)
    lat = common.summarize([x / 1e6 for r in results for x in r["lat_us"]])
    client_cpu = sum(r["cpu"] for r in results)
    firsts = [min(x for x in col if x is not None) / 1e6
              for col in zip(*(r["ev_first_us"] for r in results), strict=True)
              if any(x is not None for x in col)]
    lasts = [max(col) / 1e6 for col in zip(*(r["ev_last_us"] for r in results), strict=True)]
    first, last_ = common.summarize(firsts), common.summarize(lasts)
    return {
        "phase": name, "events": events, "rate": rate or "burst",
        "received": received, "missing": sum(r["missing"] for r in results),
        "dups": sum(r["dups"] for r in results), "stray": sum(r["stray"] for r in results),
        "closed": sum(r["closed"] for r in results),
        "complete_clients": sum(r["complete"] for r in results),
        "publish_seconds": t_published - t_first, "span_seconds": span,
        "deliveries_per_s": received / span,
        "server_cpu_us_per_delivery": win.cpu / received * 1e6 if received else None,
        "node_counted": (counted1 - counted0) if counted0 is not None and counted1 is not None
        else None,
        "p50_ms": lat["p50"] * 1e3, "p99_ms": lat["p99"] * 1e3, "max_ms": lat["max"] * 1e3,
        "first_p50_ms": first["p50"] * 1e3, "first_p99_ms": first["p99"] * 1e3,
        "all_p50_ms": last_["p50"] * 1e3, "all_p99_ms": last_["p99"] * 1e3,
        **win.figures(client_cpu), "_rows": win.rows(client_cpu),
    }


def main() -> int:
    p = common.base_parser(__doc__ or "")
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--events", type=int, default=100)
    p.add_argument("--rate", type=float, default=20.0,
                   help="events/s in the paced phase (the burst phase publishes all at once)")
    p.add_argument("--phases", default="burst,paced", help="comma-separated: burst, paced")
    p.add_argument("--procs", type=int, default=2, help="client processes")
    ns = p.parse_args()
    if ns.worker:
        trio.run(worker, common.worker_config(ns.worker))
        return 0

    import redis as redis_py

    phases = [x.strip() for x in ns.phases.split(",") if x.strip()]
    out: list[dict[str, Any]] = []
    with common.bench_node(ns.clients) as s:
        node = s.node
        channel = f"{s.namespace}:all"
        r = redis_py.Redis.from_url(s.redis_url)
        configs = [{"client": ns.client, "url": node.ws_url, "tokens": part}
                   for part in common.split(s.tokens, ns.procs)]
        try:
            with common.workers(MODULE, s.tmp, configs) as ws:
                ready = common.expect_all(ws, "ready", 300)
                connected = sum(x["connected"] for x in ready)
                failures = sum(x["failures"] for x in ready)
                print(f"{connected} clients connected ({failures} failed)", flush=True)
                for name in phases:
                    rate = 0.0 if name == "burst" else ns.rate
                    out.append(_phase(name, ws, node, r, channel, ns.events, rate,
                                      ns.quiet_wait))
                rss = node.rss_kb()
        finally:
            r.close()

    bad = failures > 0
    for ph in out:
        rows = ph.pop("_rows")
        expected = ns.events * connected
        ok = ph["received"] == expected and not (ph["missing"] or ph["dups"] or ph["closed"])
        bad = bad or not ok
        how = ("all published at once (one pipeline)" if ph["rate"] == "burst"
               else f"paced at {ph['rate']:g}/s")
        common.print_report(
            f"broadcast/{ph['phase']}: {ns.events} events to {connected:,} clients, {how} "
            f"({ns.client} client, {ns.procs} client processes)", [
                ("deliveries", f"{ph['received']:,} of {expected:,} "
                               f"({'all, in order' if ok else 'LOST OR DISORDERED'}; "
                               f"node counted {ph['node_counted']:,.0f})"
                 if ph["node_counted"] is not None else f"{ph['received']:,} of {expected:,}"),
                ("missing / duplicate / closed", f"{ph['missing']} / {ph['dups']} / "
                                                 f"{ph['closed']}"),
                ("first publish -> last delivery",
                 f"{ph['span_seconds']:.3f}s (publishing took {ph['publish_seconds']:.3f}s)"),
                ("deliveries/s", f"{ph['deliveries_per_s']:,.0f}   (target >= 40,000/s)"),
                ("server CPU per delivery", f"{ph['server_cpu_us_per_delivery'] or 0:.2f} µs "
                 f"(= {1e6 / (ph['server_cpu_us_per_delivery'] or 1e9):,.0f} deliveries per "
                 f"server CPU-second)"),
                ("publish -> deliver p50 / p99 / max", f"{ph['p50_ms']:.2f} ms / "
                                                       f"{ph['p99_ms']:.2f} ms / "
                                                       f"{ph['max_ms']:.2f} ms"),
                ("per event: first client p50 / p99", f"{ph['first_p50_ms']:.2f} ms / "
                                                      f"{ph['first_p99_ms']:.2f} ms"),
                ("per event: last client p50 / p99", f"{ph['all_p50_ms']:.2f} ms / "
                                                     f"{ph['all_p99_ms']:.2f} ms"),
                *rows,
            ])
    print(f"server RSS at the end: {rss / 1024:.1f} MiB", flush=True)
    common.write_json(ns.json, {"clients": connected, "connect_failures": failures,
                                "client": ns.client, "procs": ns.procs, "server_rss_kb": rss,
                                "phases": out})
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
