"""Upload + ping: how responsive a node stays while it takes in a burst of photos.

One node (tests.bench.common: embedded PostgreSQL/Redis, seeded users and tokens, the
node as a subprocess), `--clients` WebSocket clients in a worker process each doing
`ping` round trips, paced: one every `--interval` seconds from a staggered phase, the
next sent on schedule or at once when the reply was late. While they run the
coordinator uploads `--uploads` photos at once over HTTP (`POST {http}/api/media`,
`Authorization: Bearer <token>`, raw JPEG body; 201 expected), `--rounds` times with
`--gap` seconds between rounds. The photos are distinct generated 12 MP JPEGs
(tests.bench.media); `--source real` uploads the 8 MP iPhone JPEG each time instead,
`--source heic` the 12 MP iPhone HEIC sample re-encoded as a JPEG (the content-addressed
store then writes its files only once). Last, one burst of random bytes of the same
sizes (`--no-receive-only` skips it): the node streams them into its temp files and
refuses them (415), which leaves HTTP body handling alone.

Reports ping p50/p99/max with no uploads (the `--baseline` seconds before) and during
the uploads (pings sent between the first request of a round and its last response;
issue target: p99 <= 50 ms), upload wall time and photos/s, per-photo processing time
as the node logs it, and the node's event-loop stalls: a trio instrument, loaded into
the node through a `sitecustomize` on PYTHONPATH, logs every task step longer than
`--stall-ms` with its task name (a step's time includes waiting for the GIL).

    python -m tests.bench.upload_ping [--clients 50] [--uploads 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from tests.bench import common

MODULE = "tests.bench.upload_ping"
UPLOADS_PER_HOUR = 120  # config.limits.UPLOADS_PER_HOUR: per uploader account
UPLOAD_TIMEOUT = 300.0
PING_TIMEOUT = 30.0
SETTLE_SECONDS = 2.0
TIMELINE_BUCKET = 0.5
TARGET_P99_MS = 50.0
UNLIMITED_OPS = "1000000000"

# Loaded by the node at start-up (PYTHONPATH): wraps trio.run to add an instrument that
# logs task steps longer than a threshold: "<monotonic> <ms> <task name>" per line.
_STALL_HOOK = '''
import os, time
_path = os.environ.pop("GLINT_BENCH_STALL_LOG", None)
if _path:
    import trio

    _threshold = float(os.environ.pop("GLINT_BENCH_STALL_MS", "5")) / 1e3

    class _StallLog(trio.abc.Instrument):
        def __init__(self):
            self.log = open(_path, "a", buffering=1)
            self.t0 = 0.0

        def before_task_step(self, task):
            self.t0 = time.perf_counter()

        def after_task_step(self, task):
            d = time.perf_counter() - self.t0
            if d >= _threshold:
                self.log.write(f"{time.monotonic():.6f} {d * 1e3:.2f} {task.name}\\n")

    _run = trio.run

    def _run_with_stall_log(*args, **kw):
        kw["instruments"] = [*kw.get("instruments", ()), _StallLog()]
        return _run(*args, **kw)

    trio.run = _run_with_stall_log
'''


# -- the ping worker --------------------------------------------------------------------
async def worker(cfg: dict[str, Any]) -> None:
    io = common.WorkerIO()
    interval = float(cfg["interval"])
    sent: list[float] = []
    lat: list[float] = []
    errors = 0
    stop = False

    async def pinger(conn: common.ClientConn, phase: float) -> None:
        nonlocal errors
        rid = 1000
        await trio.sleep(phase)
        due = trio.current_time()
        while not stop:
            rid += 1
            t_sent, p0 = time.monotonic(), time.perf_counter()
            try:
                with trio.fail_after(PING_TIMEOUT):
                    reply = await common.call(conn, "ping", rid)
            except (trio.TooSlowError, common.Closed, OSError, trio.BrokenResourceError):
                errors += 1
                return
            dt = time.perf_counter() - p0
            if not reply.get("ok"):
                errors += 1
            sent.append(t_sent)
            lat.append(dt)
            if interval > 0:
                due = max(due + interval, trio.current_time())
                await trio.sleep_until(due)

    async with trio.open_nursery() as nursery:
        conns, failures = await common.connect_all(cfg["client"], cfg["url"], cfg["tokens"],
                                                   nursery, io)
        async with trio.open_nursery() as pingers:
            for i, c in enumerate(conns):
                pingers.start_soon(pinger, c, interval * i / max(1, len(conns)))
            io.emit("ready", connected=len(conns), failures=failures)
            cmd = await io.command()  # "stop" (or "quit", or stdin closed)
            stop = True
        io.emit("result", errors=errors, cpu=common.self_cpu(),
                sent=[round(t, 6) for t in sent], lat_us=[round(x * 1e6) for x in lat])
        if cmd.get("cmd") != "quit":
            await io.command()
        await common.close_all(conns)
        nursery.cancel_scope.cancel()


# -- uploads (coordinator) --------------------------------------------------------------
@dataclass
class Upload:
    status: int
    start: float
    end: float
    error: str = ""


@dataclass
class Round:
    start: float
    end: float
    uploads: list[Upload] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return self.end - self.start

    @property
    def ok(self) -> int:
        return sum(u.status == 201 for u in self.uploads)


async def upload_round(http_url: str, tokens: Sequence[str], photos: Sequence[bytes],
                       first: int) -> Round:
    """POST every photo at once, each on its own connection; photo i goes to uploader
    account (first + i) % len(tokens)."""
    import httpx

    host = http_url.split("//", 1)[-1].split(":", 1)[0]
    assert host == common.HOST, "benchmarks target 127.0.0.1 only"
    rnd = Round(0.0, 0.0)
    limits = httpx.Limits(max_connections=len(photos), max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=UPLOAD_TIMEOUT, limits=limits) as http:

        async def one(i: int) -> None:
            token = tokens[(first + i) % len(tokens)]
            t0 = time.monotonic()
            try:
                r = await http.post(f"{http_url}/api/media", content=photos[i],
                                    headers={"Authorization": f"Bearer {token}",
                                             "Content-Type": "image/jpeg"})
                up = Upload(r.status_code, t0, time.monotonic(),
                            "" if r.status_code == 201 else r.text[:300])
            except httpx.HTTPError as exc:
                up = Upload(0, t0, time.monotonic(), repr(exc))
            rnd.uploads.append(up)

        rnd.start = time.monotonic()
        async with trio.open_nursery() as nursery:
            for i in range(len(photos)):
                nursery.start_soon(one, i)
        rnd.end = time.monotonic()
    return rnd


# -- reading the node's logs ------------------------------------------------------------
def processed_ms(log_path: Path) -> list[float]:
    """Per-photo processing time from the node's "photo processed" log lines."""
    out = []
    for line in log_path.read_text(errors="replace").splitlines():
        if '"photo processed"' not in line:
            continue
        try:
            out.append(float(json.loads(line)["ms"]))
        except (ValueError, KeyError):
            continue
    return out


@dataclass(frozen=True)
class Stall:
    t: float
    ms: float
    task: str


def read_stalls(path: Path) -> list[Stall]:
    out = []
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            out.append(Stall(float(parts[0]), float(parts[1]), parts[2]))
    return out


def stall_summary(stalls: Sequence[Stall], seconds: float) -> str:
    if not stalls:
        return "none"
    by_task: dict[str, list[float]] = defaultdict(list)
    for s in stalls:
        by_task[s.task].append(s.ms)
    top = sorted(by_task.items(), key=lambda kv: -sum(kv[1]))[:4]
    parts = [f"{_short(name)} {len(v)}x max {max(v):.0f}" for name, v in top]
    total = sum(s.ms for s in stalls)
    return (f"{len(stalls)} steps ({len(stalls) / seconds:.1f}/s), {total:.0f} ms in all, "
            f"max {max(s.ms for s in stalls):.0f} ms; by task: " + "; ".join(parts))


def _short(task: str) -> str:
    return task.rsplit(".", 2)[-2] + "." + task.rsplit(".", 1)[-1] if "." in task else task


# -- the coordinator ----------------------------------------------------------------------
def burst_cpu_rows(wins: Sequence[common.Window], photos: int) -> list[tuple[str, str]]:
    """Where the CPU went during the bursts (gaps between them left out)."""
    wall = sum(w.wall for w in wins) or 1.0
    cpu = sum(w.cpu for w in wins)
    rest = sum(max(0.0, w.ours - w.cpu) for w in wins)
    softirq = sum(w.machine.softirq for w in wins)
    other = sum(max(0.0, w.machine.busy - w.machine.softirq - w.ours) for w in wins)
    gc = [d for w in wins for _, d in w.gc]
    rows = [
        ("bursts: server CPU", f"{cpu:.2f}s over {wall:.1f}s ({cpu / wall:.2f} cores), "
                               f"{cpu / max(1, photos) * 1e3:.0f} ms per photo (pings "
                               f"included)"),
        ("bursts: server GC pauses", f"{len(gc)} collections, {sum(gc) * 1e3:.0f} ms in all"),
        ("bursts: machine: server / rest of ours / softirq / others",
         f"{cpu / wall:.2f} / {rest / wall:.2f} / {softirq / wall:.2f} / {other / wall:.2f} "
         f"cores of 2"),
    ]
    if other / wall > common.OTHER_LOAD_WARN_CORES:
        rows.append(("bursts: WARNING", f"processes not of this benchmark used "
                                        f"{other / wall:.2f} cores: figures are disturbed"))
    return rows


def _lat_text(s: dict[str, float]) -> str:
    return (f"p50 {s['p50'] * 1e3:.1f} / p99 {s['p99'] * 1e3:.1f} / max {s['max'] * 1e3:.1f} ms"
            f"  ({s['n']:,} pings)")


def timeline(rnd: Round, sent: Sequence[float], lat: Sequence[float],
             stalls: Sequence[Stall]) -> str:
    """Worst ping (ms) and the longest node task step (ms) per half second of a round."""
    n = max(1, math.ceil(rnd.wall / TIMELINE_BUCKET))
    worst = [0.0] * n
    step = [0.0] * n
    for t, x in zip(sent, lat, strict=True):
        if rnd.start <= t <= rnd.end:
            i = min(n - 1, int((t - rnd.start) / TIMELINE_BUCKET))
            worst[i] = max(worst[i], x * 1e3)
    for s in stalls:
        if rnd.start <= s.t - s.ms / 1e3 <= rnd.end:
            i = min(n - 1, int((s.t - s.ms / 1e3 - rnd.start) / TIMELINE_BUCKET))
            step[i] = max(step[i], s.ms)
    return " ".join(f"{w:.0f}/{s:.0f}" for w, s in zip(worst, step, strict=True))


def prepare_photos(ns: Any) -> tuple[list[list[bytes]], str]:
    from tests.bench.media import HEIC_PHOTO, PHOTOS_DIR, REAL_PHOTO, distinct_photos, heic_as_jpeg

    if ns.source in ("real", "heic"):
        if ns.source == "heic":
            name, data = f"{HEIC_PHOTO} as a q90 JPEG", heic_as_jpeg(PHOTOS_DIR / HEIC_PHOTO)
        else:
            path = Path(ns.photo) if ns.photo else PHOTOS_DIR / REAL_PHOTO
            name, data = path.name, path.read_bytes()
        return ([[data] * ns.uploads for _ in range(ns.rounds)],
                f"{name} ({len(data) / 1e6:.1f} MB), the same file every time")
    t0 = time.monotonic()
    photos = distinct_photos(ns.uploads * ns.rounds, seed=ns.seed)
    mb = sum(map(len, photos)) / len(photos) / 1e6
    print(f"generated {len(photos)} distinct 12 MP JPEGs ({mb:.1f} MB each on average) in "
          f"{time.monotonic() - t0:.1f}s", flush=True)
    return ([photos[r * ns.uploads:(r + 1) * ns.uploads] for r in range(ns.rounds)],
            f"distinct generated 4000x3000 JPEGs, q90, {mb:.1f} MB average")


def main() -> int:
    p = common.base_parser(__doc__ or "")
    p.add_argument("--clients", type=int, default=50, help="pinging WebSocket clients")
    p.add_argument("--interval", type=float, default=0.02,
                   help="seconds between one client's pings (0: back to back, and the "
                        "node's per-connection op limit lifted)")
    p.add_argument("--uploads", type=int, default=20, help="photos uploaded at once")
    p.add_argument("--rounds", type=int, default=3, help="upload bursts")
    p.add_argument("--gap", type=float, default=2.0, help="seconds between bursts")
    p.add_argument("--baseline", type=float, default=5.0,
                   help="seconds of pings without uploads, before the first burst")
    p.add_argument("--source", choices=("generated", "real", "heic"), default="generated",
                   help="generated: distinct 12 MP JPEGs; real: the 8 MP iPhone JPEG (or "
                        "--photo); heic: the 12 MP iPhone HEIC sample re-encoded as a JPEG")
    p.add_argument("--photo", help="with --source real: this file instead of the iPhone one")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--media-workers", type=int, help="the node's GLINT_MEDIA_WORKERS")
    p.add_argument("--receive-only", action=argparse.BooleanOptionalAction, default=True,
                   help="after the photos, one burst of random bytes of the same size: the "
                        "node streams them to its temp files and refuses them (415), so "
                        "only HTTP body handling is left")
    p.add_argument("--stall-ms", type=float, default=5.0,
                   help="log the node's task steps longer than this")
    ns = p.parse_args()
    if ns.worker:
        trio.run(worker, common.worker_config(ns.worker))
        return 0

    photos, photo_text = prepare_photos(ns)
    bursts = ns.rounds + (1 if ns.receive_only else 0)  # refused uploads count too
    uploaders = max(1, math.ceil(ns.uploads * bursts / UPLOADS_PER_HOUR))
    junk_size = sum(map(len, photos[0])) // len(photos[0])
    with tempfile.TemporaryDirectory(prefix="glint-bench-hook-") as hook_dir:
        Path(hook_dir, "sitecustomize.py").write_text(_STALL_HOOK)
        stall_log = Path(hook_dir) / "stalls.log"
        env = {"GLINT_LOG_LEVEL": "info", "GLINT_BENCH_STALL_LOG": str(stall_log),
               "GLINT_BENCH_STALL_MS": str(ns.stall_ms),
               "PYTHONPATH": os.pathsep.join(
                   x for x in (hook_dir, os.environ.get("PYTHONPATH")) if x)}
        if ns.interval <= 0:
            env |= {"GLINT_OPS_PER_SECOND": UNLIMITED_OPS, "GLINT_OPS_BURST": UNLIMITED_OPS}
        if ns.media_workers:
            env["GLINT_MEDIA_WORKERS"] = str(ns.media_workers)
        with common.bench_node(ns.clients + uploaders, env) as s:
            node = s.node
            ping_tokens, up_tokens = s.tokens[:ns.clients], s.tokens[ns.clients:]
            cfg = {"client": ns.client, "url": node.ws_url, "tokens": ping_tokens,
                   "interval": ns.interval}
            with common.workers(MODULE, s.tmp, [cfg]) as ws:
                ready = common.expect_all(ws, "ready", 120)[0]
                common.wait_quiet(ns.quiet_wait, node.marker)
                time.sleep(SETTLE_SECONDS)
                rss_before = node.rss_kb()
                base_win = node.window().start()
                b0 = time.monotonic()
                time.sleep(ns.baseline)
                b1 = time.monotonic()
                base_win.stop()
                rounds: list[Round] = []
                wins: list[common.Window] = []
                for r in range(ns.rounds):
                    if r:
                        time.sleep(ns.gap)
                    print(f"  burst {r + 1}/{ns.rounds}: {ns.uploads} uploads", flush=True)
                    wins.append(node.window().start())
                    rounds.append(trio.run(upload_round, node.http_url, up_tokens, photos[r],
                                           r * ns.uploads))
                    wins[-1].stop()
                rss_after = node.rss_kb()
                recv: Round | None = None
                if ns.receive_only:
                    time.sleep(ns.gap)
                    print(f"  receive-only burst: {ns.uploads} x {junk_size / 1e6:.1f} MB that "
                          f"is not an image", flush=True)
                    junk = [os.urandom(junk_size) for _ in range(ns.uploads)]
                    recv = trio.run(upload_round, node.http_url, up_tokens, junk,
                                    ns.rounds * ns.uploads)
                ws[0].send(cmd="stop")
                res = ws[0].expect("result", 120)
            log_ms = processed_ms(node.log_path)
        stalls = read_stalls(stall_log)

    sent, lat = res["sent"], [x / 1e6 for x in res["lat_us"]]
    base = [x for t, x in zip(sent, lat, strict=True) if b0 <= t <= b1]
    during = [x for t, x in zip(sent, lat, strict=True)
              if any(r.start <= t <= r.end for r in rounds)]
    base_s, during_s = common.summarize(base), common.summarize(during)
    walls = [r.wall for r in rounds]
    n_ok = sum(r.ok for r in rounds)
    n_up = sum(len(r.uploads) for r in rounds)
    failures = [u for r in rounds for u in r.uploads if u.status != 201]
    per_upload = common.summarize([u.end - u.start for r in rounds for u in r.uploads])
    proc = common.summarize([x / 1e3 for x in log_ms])
    in_rounds = sum(walls)
    base_stalls = [x for x in stalls if b0 <= x.t <= b1]
    up_stalls = [x for x in stalls if any(r.start <= x.t <= r.end for r in rounds)]
    verdict = "meets" if during_s["p99"] * 1e3 <= TARGET_P99_MS else "MISSES"
    statuses = Counter(u.status for u in failures)
    workers_text = ns.media_workers or "default"

    rows: list[tuple[str, Any]] = [
        ("pinging clients", f"{ready['connected']} (failed {ready['failures']}), one ping "
                            f"per {ns.interval * 1e3:.0f} ms each" if ns.interval > 0 else
                            f"{ready['connected']}, back to back"),
        ("photos", photo_text),
        ("ping, no uploads", _lat_text(base_s)),
        ("ping, during uploads", f"{_lat_text(during_s)}   ({verdict} p99 <= "
                                 f"{TARGET_P99_MS:.0f} ms)"),
        ("uploads", f"{n_ok}/{n_up} answered 201, {ns.rounds} bursts of {ns.uploads}, "
                    f"{uploaders} uploader account(s), node media workers: {workers_text}"),
        ("burst wall time", " / ".join(f"{w:.2f}s" for w in walls)
         + f"  ->  {n_ok / in_rounds:.2f} photos/s" if in_rounds else "-"),
        ("one upload, client side", f"p50 {per_upload['p50']:.2f}s / max "
                                    f"{per_upload['max']:.2f}s"),
        ("queue + processing (node log)",
         f"p50 {proc['p50'] * 1e3:.0f} / p99 {proc['p99'] * 1e3:.0f} / max "
         f"{proc['max'] * 1e3:.0f} ms ({proc['n']} photos)"),
        ("server RSS before / after", f"{rss_before / 1024:.0f} / {rss_after / 1024:.0f} MiB"),
        (f"node steps > {ns.stall_ms:g} ms, no uploads",
         stall_summary(base_stalls, max(1e-9, b1 - b0))),
        (f"node steps > {ns.stall_ms:g} ms, uploads",
         stall_summary(up_stalls, max(1e-9, in_rounds))),
        *[(f"no uploads: {k}", v) for k, v in base_win.rows()
          if k in ("server CPU", "WARNING")],
        *burst_cpu_rows(wins, n_ok),
    ]
    for i, r in enumerate(rounds):
        rows.append((f"burst {i + 1}: worst ping / longest step per "
                     f"{TIMELINE_BUCKET:g}s (ms)", timeline(r, sent, lat, stalls)))
    recv_fig: dict[str, Any] = {}
    if recv is not None:
        in_recv = [x for t, x in zip(sent, lat, strict=True) if recv.start <= t <= recv.end]
        recv_stalls = [x for x in stalls if recv.start <= x.t <= recv.end]
        codes = Counter(u.status for u in recv.uploads)
        recv_s = common.summarize(in_recv)
        recv_fig = {"wall_s": recv.wall, "statuses": dict(codes),
                    "ping_ms": {k: v * 1e3 if k != "n" else v for k, v in recv_s.items()}}
        rows += [
            ("receive only: burst wall time",
             f"{recv.wall:.2f}s for {len(recv.uploads)} x {junk_size / 1e6:.1f} MB "
             f"({junk_size * len(recv.uploads) / recv.wall / 1e6:.0f} MB/s), answers "
             f"{dict(codes)}"),
            ("receive only: ping", _lat_text(recv_s)),
            (f"receive only: node steps > {ns.stall_ms:g} ms",
             stall_summary(recv_stalls, max(1e-9, recv.wall))),
            (f"receive only: worst ping / longest step per {TIMELINE_BUCKET:g}s (ms)",
             timeline(recv, sent, lat, stalls)),
        ]
    if failures:
        rows.append(("FAILED uploads", f"{dict(statuses)}: {failures[0].error}"))
    if res["errors"]:
        rows.append(("ping errors", res["errors"]))
    common.print_report(f"upload + ping: {ns.clients} clients pinging while {ns.uploads} "
                        f"photos are uploaded at once", rows)
    common.write_json(ns.json, {
        "clients": ns.clients, "interval_s": ns.interval, "uploads_at_once": ns.uploads,
        "rounds": ns.rounds, "source": ns.source, "media_workers": ns.media_workers,
        "ping_base_ms": {k: v * 1e3 if k != "n" else v for k, v in base_s.items()},
        "ping_uploads_ms": {k: v * 1e3 if k != "n" else v for k, v in during_s.items()},
        "burst_wall_s": walls, "photos_per_s": n_ok / in_rounds if in_rounds else None,
        "processing_ms": log_ms, "uploads_ok": n_ok, "uploads_total": n_up,
        "stalls_base": len(base_stalls), "stalls_uploads": len(up_stalls),
        "stall_max_ms": max((x.ms for x in up_stalls), default=0.0),
        "rss_before_kb": rss_before, "rss_after_kb": rss_after,
        "burst_windows": [w.figures(None) for w in wins],
        "base_window": base_win.figures(None),
        "ping_errors": res["errors"], "receive_only": recv_fig})
    return 1 if failures or res["errors"] or not during else 0


if __name__ == "__main__":
    sys.exit(main())
