"""Bridge: the storage layer as the server uses it, in-process, from trio.

asyncpg and redis-py live on one asyncio loop in its own thread; trio reaches it
through `storage.bridge.AsyncioBridge` (one crossing per logical operation). Here
`--tasks` concurrent trio tasks (default 50) run one kind of operation each for
`--seconds`, and the same operation is run by as many plain asyncio tasks on the
bridge's own loop (no crossing) for comparison:

- a crossing that does nothing (what the bridge itself costs);
- Postgres `SELECT 1` through `Storage.tx` (pool acquire, BEGIN, query, COMMIT,
  release — which runs asyncpg's reset query);
- Postgres `SELECT 1` in one crossing without a transaction (`pool.fetchval`);
- the same on a pool whose release skips asyncpg's reset query (`reset=` no-op);
- Redis `GET` through `Storage.redis_op`.

Reports ops/s, p50/p99 latency, and this process's CPU per op (trio + asyncio
threads; PostgreSQL and Redis run in their own processes).

    python -m tests.bench.bridge [--tasks 50] [--seconds 3]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from tests.bench import common

AsyncOp = Callable[[], Awaitable[Any]]


async def _measure_trio(op: AsyncOp, tasks: int, seconds: float, warmup: float
                        ) -> dict[str, float]:
    lat: list[float] = []
    state = {"measuring": False, "stop": False}
    perf = time.perf_counter

    async def run() -> None:
        while not state["stop"]:
            t0 = perf()
            await op()
            if state["measuring"]:
                lat.append(perf() - t0)

    async with trio.open_nursery() as n:
        for _ in range(tasks):
            n.start_soon(run)
        await trio.sleep(warmup)
        state["measuring"] = True
        cpu0, t0 = common.self_cpu(), perf()
        await trio.sleep(seconds)
        state["measuring"] = False
        elapsed, cpu = perf() - t0, common.self_cpu() - cpu0
        state["stop"] = True
    return _figures(lat, elapsed, cpu)


async def _measure_asyncio(op: AsyncOp, tasks: int, seconds: float, warmup: float
                           ) -> dict[str, float]:
    """The same on the bridge's loop, in plain asyncio tasks (no crossing)."""
    lat: list[float] = []
    state = {"measuring": False, "stop": False}
    perf = time.perf_counter

    async def run() -> None:
        while not state["stop"]:
            t0 = perf()
            await op()
            if state["measuring"]:
                lat.append(perf() - t0)

    running = [asyncio.ensure_future(run()) for _ in range(tasks)]
    await asyncio.sleep(warmup)
    state["measuring"] = True
    cpu0, t0 = common.self_cpu(), perf()
    await asyncio.sleep(seconds)
    state["measuring"] = False
    elapsed, cpu = perf() - t0, common.self_cpu() - cpu0
    state["stop"] = True
    await asyncio.gather(*running)
    return _figures(lat, elapsed, cpu)


def _figures(lat: list[float], elapsed: float, cpu: float) -> dict[str, float]:
    s = common.summarize(lat)
    n = len(lat)
    return {"ops": n, "ops_per_s": n / elapsed, "p50_ms": s["p50"] * 1e3,
            "p99_ms": s["p99"] * 1e3, "cpu_us_per_op": cpu / n * 1e6 if n else float("nan")}


async def _noop() -> None:
    return None


async def _select1(conn: Any) -> Any:
    return await conn.fetchval("SELECT 1")


async def _bench(ns: Any, db_url: str, redis_url: str) -> list[dict[str, Any]]:
    import asyncpg

    from config import load_settings
    from storage.bridge import AsyncioBridge
    from storage.store import Storage

    settings = load_settings(env={}, database_url=db_url, redis_url=redis_url,
                             namespace="bench" + uuid.uuid4().hex[:8])
    bridge = AsyncioBridge()
    bridge.start()
    st = Storage(bridge, settings, db_url, redis_url)
    rows: list[dict[str, Any]] = []
    try:
        await st.open()
        key = st.key("bench", "k")
        await st.redis_op(lambda r: r.set(key, b"x" * 16))

        async def no_reset(_conn: Any) -> None:
            return None

        async def make_pool() -> asyncpg.Pool:
            return await asyncpg.create_pool(db_url, min_size=2, max_size=settings.pg_pool_max,
                                             reset=no_reset)

        lean_pool = await bridge.run(make_pool)
        assert st.pool is not None and st.redis is not None
        pool, rds = st.pool, st.redis

        async def tx_asyncio() -> Any:
            async with pool.acquire() as conn, conn.transaction():
                return await conn.fetchval("SELECT 1")

        cases: list[tuple[str, AsyncOp, AsyncOp | None]] = [
            ("crossing that does nothing", lambda: bridge.run(_noop), None),
            ("Postgres SELECT 1 via Storage.tx", lambda: st.tx(_select1), tx_asyncio),
            ("Postgres SELECT 1, no transaction", lambda: bridge.run(pool.fetchval, "SELECT 1"),
             lambda: pool.fetchval("SELECT 1")),
            ("  ... and pool without reset query",
             lambda: bridge.run(lean_pool.fetchval, "SELECT 1"),
             lambda: lean_pool.fetchval("SELECT 1")),
            ("Redis GET via Storage.redis_op", lambda: st.redis_op(lambda r: r.get(key)),
             lambda: rds.get(key)),
        ]
        for name, trio_op, asyncio_op in cases:
            await trio.to_thread.run_sync(common.wait_quiet, ns.quiet_wait, ns.marker)
            win = common.Window(os.getpid(), ns.marker).start()
            row: dict[str, Any] = {"op": name}
            if name.startswith("crossing"):
                row["one_task"] = await _measure_trio(trio_op, 1, ns.seconds, ns.warmup)
            row["trio"] = await _measure_trio(trio_op, ns.tasks, ns.seconds, ns.warmup)
            if asyncio_op is not None:
                row["asyncio"] = await bridge.run(_measure_asyncio, asyncio_op, ns.tasks,
                                                  ns.seconds, ns.warmup)
            win.stop()
            row["machine"] = win.figures()
            rows.append(row)
            print(f"  done: {name} (machine: {win.machine.busy / win.wall:.2f} cores busy, "
                  f"{row['machine']['other_cores']:.2f} of them not ours)", flush=True)
        await bridge.run(lean_pool.close)
    finally:
        with trio.CancelScope(shield=True):
            await st.close()
        bridge.stop()
    return rows


def main() -> int:
    p = common.base_parser(__doc__ or "")
    p.add_argument("--tasks", type=int, default=50, help="concurrent tasks")
    p.add_argument("--seconds", type=float, default=3.0, help="measured seconds per case")
    p.add_argument("--warmup", type=float, default=0.5)
    ns = p.parse_args()
    common.raise_fd_limit()

    from storage.embedded import embedded_services

    with tempfile.TemporaryDirectory(prefix="glint-bench-") as tmpdir:
        tmp = Path(tmpdir)
        os.chmod(tmp, 0o755)
        with embedded_services(tmp / "services", database_url=os.environ.get("DATABASE_URL"),
                               redis_url=os.environ.get("REDIS_URL")) as (db_url, redis_url):
            ns.marker = str(tmp)
            rows = trio.run(_bench, ns, db_url, redis_url)

    def fmt(f: dict[str, float] | None) -> str:
        if f is None:
            return "-"
        return (f"{f['ops_per_s']:>8,.0f}/s  p50 {f['p50_ms']:6.2f} ms  p99 {f['p99_ms']:6.2f} ms"
                f"  {f['cpu_us_per_op']:5.0f} µs CPU/op")

    report: list[tuple[str, str]] = []
    for r in rows:
        mark = "  (disturbed)" if r["machine"]["other_cores"] > common.OTHER_LOAD_WARN_CORES else ""
        if "one_task" in r:
            report.append((f"{r['op']}, 1 task", fmt(r["one_task"]) + mark))
        report.append((f"{r['op']}, {ns.tasks} trio tasks", fmt(r["trio"]) + mark))
        if "asyncio" in r:
            report.append((f"  same, plain asyncio ({ns.tasks} tasks)",
                           fmt(r["asyncio"]) + mark))
    other = max(r["machine"]["other_cores"] for r in rows)
    report.append(("others' load on the machine", f"at most {other:.2f} cores during a case"))
    if other > common.OTHER_LOAD_WARN_CORES:
        report.append(("WARNING", "processes not of this benchmark used the machine: "
                                  "figures are disturbed"))
    common.print_report(f"bridge: storage from trio through the asyncio thread "
                        f"({ns.seconds:g}s per case; CPU/op = this process only)", report)
    common.write_json(ns.json, {"tasks": ns.tasks, "seconds": ns.seconds, "cases": rows})
    bad = any(r["trio"]["ops"] == 0 for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
