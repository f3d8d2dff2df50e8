"""Idle: hold N authenticated connections on one node; memory per connection and heartbeats.

Every connection is a distinct seeded user that said `hello` (so the node also holds
one UserActor and one bus subscription per connection, as it would in production).
Each connection sends a heartbeat `ping` every `--ping-period` seconds from a
random phase, from the moment it said hello; while the connections are held for
`--hold` seconds every heartbeat round trip is measured.

Reports server RSS before connecting, with all connections held, and after the
hold; RSS per connection (issue target: <= 40 KB); heartbeat round trip p50/p99;
how fast the connections were accepted and authenticated.

    python -m tests.bench.idle [--connections 10000] [--procs 2] [--hold 10]
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

import trio

from tests.bench import common

MODULE = "tests.bench.idle"
SETTLE_SECONDS = 2.0


async def worker(cfg: dict[str, Any]) -> None:
    io = common.WorkerIO()
    period = float(cfg["ping_period"])
    measuring = False
    rtts: list[float] = []
    errors = 0
    closed = 0

    async def keepalive(conn: common.ClientConn) -> None:
        nonlocal errors, closed
        rid = 100
        perf = time.perf_counter
        await trio.sleep(random.uniform(0, period))
        try:
            while True:
                rid += 1
                t0 = perf()
                reply = await common.call(conn, "ping", rid)
                if measuring:
                    rtts.append(perf() - t0)
                if not reply.get("ok"):
                    errors += 1
                await trio.sleep(period)
        except (common.Closed, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            closed += 1

    async with trio.open_nursery() as nursery:
        tasks: trio.Nursery | None = None

        async def pinger_host(*, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            nonlocal tasks
            async with trio.open_nursery() as n:
                tasks = n
                task_status.started()
                await trio.sleep_forever()

        await nursery.start(pinger_host)
        assert tasks is not None
        started = time.perf_counter()
        conns, failures = await common.connect_all(
            cfg["client"], cfg["url"], cfg["tokens"], nursery, io, concurrency=cfg["concurrency"],
            on_connect=lambda c: tasks.start_soon(keepalive, c))  # type: ignore[union-attr]
        io.emit("ready", connected=len(conns), failures=failures,
                seconds=time.perf_counter() - started)
        while True:
            cmd = await io.command()
            if cmd["cmd"] == "measure":
                rtts.clear()
                cpu0 = common.self_cpu()
                measuring = True
            elif cmd["cmd"] == "report":
                measuring = False
                io.emit("result", rtt_us=[round(x * 1e6) for x in rtts], errors=errors,
                        closed=closed, cpu=common.self_cpu() - cpu0)
            else:
                break
        tasks.cancel_scope.cancel()
        await common.close_all(conns)
        nursery.cancel_scope.cancel()


def main() -> int:
    p = common.base_parser(__doc__ or "")
    p.add_argument("--connections", type=int, default=10_000)
    p.add_argument("--procs", type=int, default=2, help="client processes")
    p.add_argument("--hold", type=float, default=10.0, help="seconds of measured holding")
    p.add_argument("--ping-period", type=float, default=5.0,
                   help="seconds between heartbeats of one connection")
    p.add_argument("--concurrency", type=int, default=100,
                   help="connection attempts in flight per client process")
    ns = p.parse_args()
    if ns.worker:
        trio.run(worker, common.worker_config(ns.worker))
        return 0

    n = ns.connections
    with common.bench_node(n) as s:
        node = s.node
        common.wait_quiet(ns.quiet_wait, node.marker)
        rss_before = node.rss_kb()
        configs = [{"client": ns.client, "url": node.ws_url, "tokens": part,
                    "ping_period": ns.ping_period, "concurrency": ns.concurrency}
                   for part in common.split(s.tokens, ns.procs)]
        with common.workers(MODULE, s.tmp, configs) as ws:
            connect = node.window().start()
            ready = common.expect_all(ws, "ready", 600)
            connect.stop()
            connected = sum(r["connected"] for r in ready)
            failures = sum(r["failures"] for r in ready)
            print(f"{connected} connections held ({failures} failed) in {connect.wall:.1f}s",
                  flush=True)
            time.sleep(SETTLE_SECONDS)
            rss_held = node.rss_kb()
            common.wait_quiet(ns.quiet_wait, node.marker)
            win = node.window().start()
            for w in ws:
                w.send(cmd="measure")
            time.sleep(ns.hold)
            for w in ws:
                w.send(cmd="report")
            results = common.expect_all(ws, "result", 120)
            win.stop()
            rss_after = node.rss_kb()

    rtt = common.summarize([x / 1e6 for r in results for x in r["rtt_us"]])
    errors = sum(r["errors"] for r in results)
    closed = sum(r["closed"] for r in results)
    client_cpu = sum(r["cpu"] for r in results)
    per_conn = (rss_held - rss_before) * 1024 / connected if connected else 0.0
    pings = int(rtt["n"])
    figures = {
        "connections": connected, "connect_failures": failures, "closed_during_hold": closed,
        "client": ns.client, "procs": ns.procs,
        "connect_seconds": connect.wall, "hellos_per_s": connected / connect.wall,
        "server_cpu_us_per_connect": connect.cpu / connected * 1e6 if connected else None,
        "rss_before_kb": rss_before, "rss_held_kb": rss_held, "rss_after_hold_kb": rss_after,
        "rss_per_connection_bytes": per_conn, "pings": pings, "pings_per_s": pings / win.wall,
        "ping_p50_ms": rtt["p50"] * 1e3, "ping_p99_ms": rtt["p99"] * 1e3,
        "ping_max_ms": rtt["max"] * 1e3, "error_replies": errors,
        "server_cpu_us_per_ping": win.cpu / pings * 1e6 if pings else None,
        **win.figures(client_cpu),
    }
    common.print_report(f"idle: {connected:,} authenticated connections held for "
                        f"{win.wall:.0f}s ({ns.client} client, {ns.procs} client processes)", [
        ("connected / failed / closed", f"{connected:,} / {failures} / {closed}"),
        ("connect + hello", f"{connect.wall:.1f}s = {connected / connect.wall:,.0f}/s, "
                            f"server CPU {figures['server_cpu_us_per_connect'] or 0:.0f} µs each"),
        ("server RSS before", f"{rss_before / 1024:.1f} MiB"),
        ("server RSS, all held", f"{rss_held / 1024:.1f} MiB"),
        ("server RSS after the hold", f"{rss_after / 1024:.1f} MiB"),
        ("RSS per connection", f"{per_conn / 1024:.1f} KB   (target <= 40 KB)"),
        ("heartbeats measured", f"{pings:,} ({pings / win.wall:,.0f}/s, one per connection "
                                f"every {ns.ping_period:g}s)"),
        ("heartbeat RTT p50 / p99 / max", f"{common.ms(rtt['p50'])} / {common.ms(rtt['p99'])} "
                                          f"/ {common.ms(rtt['max'])}"),
        ("server CPU per heartbeat", f"{figures['server_cpu_us_per_ping'] or 0:.1f} µs"),
        *win.rows(client_cpu),
        ("error replies", str(errors)),
    ])
    common.write_json(ns.json, figures)
    return 1 if failures or closed or errors or connected < n else 0


if __name__ == "__main__":
    sys.exit(main())
