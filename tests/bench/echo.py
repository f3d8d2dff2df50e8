"""Echo: N clients doing `ping` round trips as fast as they can for a fixed time.

Reports round trips/s (issue target: >= 8,000/s with 50 clients), p50/p99 round-trip
latency, and server CPU per round trip. The node runs with the per-connection op
rate limit lifted (GLINT_OPS_PER_SECOND): at the default 50 ops/s per connection,
50 clients could never do more than 2,500 round trips/s.

    python -m tests.bench.echo [--clients 50] [--seconds 10] [--procs 1]
"""

from __future__ import annotations

import sys
import time
from typing import Any

import trio

from tests.bench import common

MODULE = "tests.bench.echo"
UNLIMITED_OPS = "1000000000"


async def worker(cfg: dict[str, Any]) -> None:
    io = common.WorkerIO()
    async with trio.open_nursery() as nursery:
        conns, failures = await common.connect_all(cfg["client"], cfg["url"], cfg["tokens"],
                                                   nursery, io)
        io.emit("ready", connected=len(conns), failures=failures)
        cmd = await io.command()
        if cmd["cmd"] == "go":
            await _run(conns, cmd["warmup"], cmd["seconds"], io)
            await io.command()  # quit
        await common.close_all(conns)
        nursery.cancel_scope.cancel()


async def _run(conns: list[common.ClientConn], warmup: float, seconds: float,
               io: common.WorkerIO) -> None:
    latencies: list[float] = []
    counted = 0
    errors = 0
    measuring = False
    stop = False

    async def client(conn: common.ClientConn) -> None:
        nonlocal counted, errors
        rid = 1000
        perf = time.perf_counter
        while not stop:
            rid += 1
            t0 = perf()
            reply = await common.call(conn, "ping", rid)
            dt = perf() - t0
            if not reply.get("ok"):
                errors += 1
            if measuring:
                counted += 1
                latencies.append(dt)

    async with trio.open_nursery() as n:
        for c in conns:
            n.start_soon(client, c)
        await trio.sleep(warmup)
        measuring = True
        start = time.perf_counter()
        cpu0 = common.self_cpu()
        io.emit("window")
        await trio.sleep(seconds)
        measuring = False
        elapsed = time.perf_counter() - start
        cpu = common.self_cpu() - cpu0
        stop = True
    io.emit("result", count=counted, elapsed=elapsed, errors=errors, cpu=cpu,
            lat_us=[round(x * 1e6) for x in latencies])


def main() -> int:
    p = common.base_parser(__doc__ or "")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--procs", type=int, default=1, help="client processes")
    ns = p.parse_args()
    if ns.worker:
        trio.run(worker, common.worker_config(ns.worker))
        return 0

    env = {"GLINT_OPS_PER_SECOND": UNLIMITED_OPS, "GLINT_OPS_BURST": UNLIMITED_OPS}
    with common.bench_node(ns.clients, env) as s:
        node = s.node
        configs = [{"client": ns.client, "url": node.ws_url, "tokens": part}
                   for part in common.split(s.tokens, ns.procs)]
        with common.workers(MODULE, s.tmp, configs) as ws:
            ready = common.expect_all(ws, "ready", 120)
            failures = sum(r["failures"] for r in ready)
            common.wait_quiet(ns.quiet_wait, node.marker)
            for w in ws:
                w.send(cmd="go", warmup=ns.warmup, seconds=ns.seconds)
            common.expect_all(ws, "window", ns.warmup + 30)
            win = node.window().start()
            results = common.expect_all(ws, "result", ns.seconds + 60)
            win.stop()
            rss = node.rss_kb()

    count = sum(r["count"] for r in results)
    elapsed = max(r["elapsed"] for r in results)
    errors = sum(r["errors"] for r in results)
    lat = common.summarize([x / 1e6 for r in results for x in r["lat_us"]])
    rate = count / elapsed if elapsed else 0.0
    cpu = win.cpu
    client_cpu = sum(r["cpu"] for r in results)
    figures = {
        "clients": ns.clients, "client": ns.client, "procs": ns.procs, "seconds": elapsed,
        "round_trips": count, "round_trips_per_s": rate, "p50_ms": lat["p50"] * 1e3,
        "p99_ms": lat["p99"] * 1e3, "max_ms": lat["max"] * 1e3,
        **win.figures(client_cpu),
        "server_cpu_us_per_rt": cpu / count * 1e6 if count else None,
        "error_replies": errors, "connect_failures": failures, "server_rss_kb": rss,
    }
    common.print_report(f"echo: {ns.clients} clients, `ping` round trips for {elapsed:.1f}s "
                        f"({ns.client} client, {ns.procs} client process(es))", [
        ("round trips", f"{count:,}"),
        ("round trips/s", f"{rate:,.0f}   (target >= 8,000/s)"),
        ("latency p50 / p99 / max", f"{common.ms(lat['p50'])} / {common.ms(lat['p99'])} / "
                                    f"{common.ms(lat['max'])}"),
        ("server CPU per round trip", f"{figures['server_cpu_us_per_rt'] or 0:.1f} µs"),
        ("server RSS", f"{rss / 1024:.1f} MiB"),
        *win.rows(client_cpu),
        ("error replies / failed connects", f"{errors} / {failures}"),
    ])
    common.write_json(ns.json, figures)
    return 1 if errors or failures or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
