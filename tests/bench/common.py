"""Shared set-up for the benchmarks: services, seeded users, a node process, client workers.

A benchmark process (the *coordinator*) starts embedded PostgreSQL and Redis (or
uses DATABASE_URL / REDIS_URL), bulk-inserts users and tokens straight into
Postgres (argon2 sign-ups would take minutes), starts one node as a subprocess
(`python -m server.cli serve`), and drives client *workers*: subprocesses that
hold the WebSocket connections and report JSON lines on stdout. The server is
what is measured: its CPU comes from /proc/<pid>/stat, its memory from
/proc/<pid>/status, its GC pauses from a `gc.callbacks` hook in a wrapper that
runs `server.cli` unchanged. Because the machine may be shared, each window also
accounts for CPU used by processes that are not the benchmark's own, and
`wait_quiet` holds a measurement back until such load has stopped (bounded).

Clients default to a lean WebSocket client (wsproto over a trio socket, no tasks
or channels of its own) because on a 2-core machine every microsecond a client
spends is taken from the server; `--client trio-websocket` uses trio-websocket.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import os
import queue
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import msgpack
import trio
from wsproto.utilities import LocalProtocolError

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"  # benchmarks never target anything else
NODE_START_SECONDS = 60.0
NODE_STOP_SECONDS = 20.0
WORKER_STOP_SECONDS = 20.0
READY_PREFIX = "GLINT READY"
TOKEN_TTL = timedelta(days=1)
SEED_BATCH = 5000
RECV_CHUNK = 65536
HEARTBEAT_SECONDS = 10.0  # idle clients ping this often (the node closes after 2 x 25 s silent)
HEARTBEAT_RIDS = (11, 1000)  # request ids of pings cycle through these (workers use others)
READY_BATCH = 1024  # sockets served per epoll wake-up


# -- process limits and small statistics --------------------------------------------
def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def percentile(sorted_samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (nan when empty)."""
    if not sorted_samples:
        return float("nan")
    k = max(0, min(len(sorted_samples) - 1, round(p / 100 * len(sorted_samples) + 0.5) - 1))
    return float(sorted_samples[k])


def summarize(samples: Sequence[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"n": len(s), "p50": percentile(s, 50), "p90": percentile(s, 90),
            "p99": percentile(s, 99), "max": s[-1] if s else float("nan")}


def print_report(title: str, rows: Sequence[tuple[str, Any]]) -> None:
    """The figures, at the end, in one aligned block."""
    width = max((len(k) for k, _ in rows), default=0)
    bar = "=" * max(len(title), 60)
    print(f"\n{bar}\n{title}\n{bar}")
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")
    print(bar, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--client", choices=("lean", "trio-websocket"), default="lean",
                   help="client WebSocket implementation (default: lean wsproto client)")
    p.add_argument("--json", metavar="PATH", help="also write the figures to this JSON file")
    p.add_argument("--quiet-wait", type=float, default=60.0, metavar="S",
                   help="before measuring, wait up to S seconds for other load on the machine "
                        "to stop (0: don't wait)")
    p.add_argument("--worker", metavar="CONFIG", help=argparse.SUPPRESS)
    return p


def write_json(path: str | None, figures: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(figures, indent=2, default=str) + "\n")


# -- services and users -----------------------------------------------------------------
def _precomputed_password_hash() -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash("bench-password-not-used")


async def _seed(db_url: str, prefix: str, count: int) -> list[str]:
    import asyncpg

    from storage import migrations

    pw_hash = _precomputed_password_hash()
    conn = await asyncpg.connect(db_url)
    try:
        await migrations.apply(conn)
        tokens: list[str] = []
        expires = datetime.now(UTC) + TOKEN_TTL
        for start in range(0, count, SEED_BATCH):
            names = [f"{prefix}_{i}" for i in range(start, min(count, start + SEED_BATCH))]
            rows = await conn.fetch(
                """INSERT INTO users (username, email, password_hash)
                   SELECT u, u || '@bench.invalid', $2 FROM unnest($1::text[]) AS u
                   RETURNING id, username""", names, pw_hash)
            ids = {r["username"]: r["id"] for r in rows}
            batch = [secrets.token_urlsafe(32) for _ in names]
            await conn.copy_records_to_table(
                "tokens", columns=["hash", "user_id", "expires_at", "client"],
                records=[(hashlib.sha256(t.encode()).digest(), ids[n], expires, "bench")
                         for n, t in zip(names, batch, strict=True)])
            tokens.extend(batch)
        return tokens
    finally:
        await conn.close()


def seed_users(db_url: str, count: int) -> list[str]:
    """Insert `count` users with one live token each (migrating first); returns the tokens."""
    prefix = "b" + uuid.uuid4().hex[:10]
    return asyncio.run(_seed(db_url, prefix, count))


async def _user_ids(db_url: str, tokens: Sequence[str]) -> list[int]:
    import asyncpg

    hashes = [hashlib.sha256(t.encode()).digest() for t in tokens]
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch("SELECT hash, user_id FROM tokens WHERE hash = ANY($1::bytea[])",
                                hashes)
    finally:
        await conn.close()
    by_hash = {bytes(r["hash"]): int(r["user_id"]) for r in rows}
    return [by_hash[h] for h in hashes]


def user_ids(db_url: str, tokens: Sequence[str]) -> list[int]:
    """The user id behind each token (same order)."""
    return asyncio.run(_user_ids(db_url, tokens))


# -- the node process -------------------------------------------------------------------
# -- how fast the host is right now -------------------------------------------------------
PROBE_ITEMS = 3000  # msgpack round trip of this many small maps: pure-Python/C compute
PROBE_HANDOVERS = 500  # one-byte round trips between two threads: wake-ups, as the node's
PROBE_LOOPS = 20  # round trips per timed repeat of the compute probe
PROBE_REPEATS = 5  # best of these


@dataclass(frozen=True)
class HostProbe:
    """Fixed work timed on this machine, printed beside a benchmark's figures: the same
    code and data set run 40-60% slower in some hours of this host (docs/performance.md),
    and this tells such an hour from a regression."""

    compute_ms: float  # best of PROBE_REPEATS: one msgpack round trip of PROBE_ITEMS maps
    handover_us: float  # best of PROBE_REPEATS: mean thread-to-thread byte round trip

    def __str__(self) -> str:
        return f"compute {self.compute_ms:.2f} ms, thread hand-over {self.handover_us:.1f} us"


def host_probe() -> HostProbe:
    import socket

    data = [{"id": i, "t": "x" * 10} for i in range(PROBE_ITEMS)]
    compute = []
    for _ in range(PROBE_REPEATS):
        t0 = time.perf_counter()
        for _ in range(PROBE_LOOPS):
            msgpack.unpackb(msgpack.packb(data))
        compute.append((time.perf_counter() - t0) / PROBE_LOOPS)
    handover = []
    for _ in range(PROBE_REPEATS):
        a, b = socket.socketpair()

        def echo(sock: socket.socket = b) -> None:
            for _ in range(PROBE_HANDOVERS):
                sock.sendall(sock.recv(1))

        t = threading.Thread(target=echo)
        t.start()
        t0 = time.perf_counter()
        for _ in range(PROBE_HANDOVERS):
            a.sendall(b"x")
            a.recv(1)
        handover.append((time.perf_counter() - t0) / PROBE_HANDOVERS)
        t.join()
        a.close()
        b.close()
    return HostProbe(min(compute) * 1e3, min(handover) * 1e6)


def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields_ = text[text.rindex(")") + 2:].split()
    return (int(fields_[11]) + int(fields_[12])) / _clock_ticks()


@dataclass(frozen=True)
class MachineCPU:
    """/proc/stat totals over all cores, in seconds: busy (not idle, not steal), the part of
    it in softirq (loopback TCP is largely processed there, billed to no process), steal."""

    busy: float
    softirq: float
    steal: float

    def __sub__(self, other: MachineCPU) -> MachineCPU:
        return MachineCPU(self.busy - other.busy, self.softirq - other.softirq,
                          self.steal - other.steal)


def machine_cpu() -> MachineCPU:
    """To tell the server's share from clients, the kernel and other load on the box, and to
    see CPU stolen by the hypervisor (both make runs on a shared host vary)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    v += [0] * (8 - len(v))
    user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
    tick = _clock_ticks()
    return MachineCPU((user + nice + system + irq + softirq) / tick, softirq / tick,
                      steal / tick)


def _scan_procs() -> dict[int, tuple[int, float, str]]:
    """pid -> (ppid, CPU seconds, command line) of every process on the machine."""
    out: dict[int, tuple[int, float, str]] = {}
    tick = _clock_ticks()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()
        out[int(name)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / tick, cmd)
    return out


def _with_descendants(procs: dict[int, tuple[int, float, str]], roots: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    mine = set(roots)
    stack = list(mine)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in mine:
                mine.add(child)
                stack.append(child)
    return mine


def ours_cpu(marker: str | None) -> float:
    """CPU seconds of this benchmark's processes: this one, every process whose command
    line holds `marker` (our temporary directory: the node, client workers, PostgreSQL,
    Redis), and all their descendants (PostgreSQL backends)."""
    procs = _scan_procs()
    mine = _with_descendants(procs, {os.getpid()} | {pid for pid, (_, _, cmd) in procs.items()
                                                     if marker and marker in cmd})
    return sum(procs[pid][1] for pid in mine if pid in procs)


def cpu_by_marker(marker: str) -> float:
    """CPU seconds of the processes whose command line holds `marker`, and their
    descendants (PostgreSQL backends); unlike ours_cpu, not this process's."""
    procs = _scan_procs()
    mine = _with_descendants(procs, {pid for pid, (_, _, cmd) in procs.items() if marker in cmd})
    return sum(procs[pid][1] for pid in mine)


class ServicesCPU:
    """CPU seconds of PostgreSQL (all its processes) and Redis over a window, found by their
    data directories on the command line (embedded services only)."""

    def __init__(self, tmp: Path) -> None:
        self.markers = {"postgres": str(tmp / "services" / "postgres"),
                        "redis": str(tmp / "services" / "redis")}
        self.used: dict[str, float | None] = {}
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {k: cpu_by_marker(m) for k, m in self.markers.items()}

    def start(self) -> ServicesCPU:
        self._start = self._now()
        return self

    def stop(self) -> ServicesCPU:
        end = self._now()
        self.used = {k: max(0.0, end[k] - self._start[k]) if Path(self.markers[k]).exists()
                     else None for k in end}  # None: an external service (DATABASE_URL, ...)
        return self


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds per thread of a process (the node: trio in the main thread, the asyncio
    storage thread, worker threads)."""
    tick = _clock_ticks()
    out: dict[int, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()
        out[int(tid)] = (int(rest[11]) + int(rest[12])) / tick
    return out


def thread_split(pid: int, before: dict[int, float], after: dict[int, float],
                 wall: float) -> str:
    """'main (trio) 0.31, busiest other thread 0.52 (…) cores' from two thread_cpu readings.
    The busiest other thread of a node is its asyncio storage thread."""
    used = {t: v - before.get(t, 0.0) for t, v in after.items()}
    main = used.pop(pid, 0.0)
    others = sorted(used.values(), reverse=True)
    busiest = others[0] if others else 0.0
    return (f"main (trio) {main / wall:.2f}, busiest other (asyncio storage) "
            f"{busiest / wall:.2f}, the rest {(sum(others) - busiest) / wall:.2f} cores")


def measure(nodes: Sequence[NodeProc], services: ServicesCPU, seconds: float) -> list[Window]:
    """Sleep `seconds` while measuring the nodes (a Window each) and the services."""
    wins = [n.window().start() for n in nodes]
    services.start()
    time.sleep(seconds)
    for win in wins:
        win.stop()
    services.stop()
    return wins


QUIET_CORES = 0.25  # machine busy below this (of 2 cores) counts as quiet
OTHER_LOAD_WARN_CORES = 0.15


def wait_quiet(max_wait: float, marker: str | None = None) -> float:
    """Wait (at most `max_wait` s) until the machine, apart from this benchmark's own
    processes, has been quiet for a second, so that other people's runs on a shared box do
    not disturb a measurement; returns the foreign load last seen (cores)."""
    deadline = time.monotonic() + max_wait
    announced = False
    while True:
        m0, o0 = machine_cpu(), ours_cpu(marker)
        time.sleep(1.0)
        m = machine_cpu() - m0
        load = max(0.0, m.busy - m.softirq - (ours_cpu(marker) - o0))
        if load < QUIET_CORES or time.monotonic() >= deadline:
            if announced:
                print(f"  ...other load now {load:.2f} cores; measuring", flush=True)
            return load
        if not announced:
            print(f"  the machine is busy with something else ({load:.2f} cores): waiting up "
                  f"to {max_wait:.0f}s for it to calm down", flush=True)
            announced = True


SETTLED_CORES = 0.05  # a node using less than this over SETTLE_STEP_SECONDS has settled
SETTLE_STEP_SECONDS = 0.2


async def node_settled(pid: int, max_wait: float = 10.0) -> float:
    """Wait (at most `max_wait` s) until the node has finished the background work that
    a burst of connects leaves behind (presence announcements, explore checks): its CPU
    stays under SETTLED_CORES for SETTLE_STEP_SECONDS. Returns the seconds waited."""
    import trio

    t0 = time.monotonic()
    while time.monotonic() - t0 < max_wait:
        c0 = proc_cpu_seconds(pid)
        await trio.sleep(SETTLE_STEP_SECONDS)  # sync-ok: sampling the node's CPU
        if proc_cpu_seconds(pid) - c0 < SETTLED_CORES * SETTLE_STEP_SECONDS:
            break
    return time.monotonic() - t0


class Window:
    """Server CPU, machine CPU, wall time and server GC pauses between `start()` and `stop()`."""

    def __init__(self, pid: int, marker: str | None = None, gc_log: Path | None = None) -> None:
        self.pid = pid
        self.marker = marker
        self.gc_log = gc_log
        self.cpu = self.wall = self.ours = 0.0
        self.machine = MachineCPU(0.0, 0.0, 0.0)
        self.gc: list[tuple[int, float]] = []  # (generation, pause seconds)
        self.gc_at: list[tuple[float, float]] = []  # (monotonic end, pause seconds)

    def start(self) -> Window:
        self._o0 = ours_cpu(self.marker)
        self._c0, self._m0, self._t0 = (proc_cpu_seconds(self.pid), machine_cpu(),
                                        time.monotonic())
        return self

    def stop(self) -> Window:
        self.cpu = proc_cpu_seconds(self.pid) - self._c0
        self.machine = machine_cpu() - self._m0
        self.wall = time.monotonic() - self._t0
        self.ours = ours_cpu(self.marker) - self._o0
        if self.gc_log is not None:
            timed = read_gc_log(self.gc_log, self._t0, self._t0 + self.wall)
            self.gc = [(g, d) for _, g, d in timed]
            self.gc_at = [(t, d) for t, _, d in timed]
        return self

    def gc_row(self) -> tuple[str, str]:
        if self.gc_log is None:
            return ("server GC pauses", "not recorded")
        by_gen = {g: [d for gg, d in self.gc if gg == g] for g in (0, 1, 2)}
        parts = [f"gen{g}: {len(d)}, max {max(d) * 1e3:.1f} ms" for g, d in by_gen.items() if d]
        total = sum(d for _, d in self.gc)
        return ("server GC pauses", f"{len(self.gc)} collections, {total * 1e3:.0f} ms in all"
                                    + (f" ({'; '.join(parts)})" if parts else ""))

    def _other(self) -> float:
        m = self.machine
        return max(0.0, m.busy - m.softirq - self.ours) / (self.wall or 1.0)

    def rows(self, client_cpu: float | None = None) -> list[tuple[str, str]]:
        """Report lines on where the machine's CPU went, with a warning if others used it."""
        w = self.wall or 1.0
        other = self._other()
        rest = max(0.0, self.ours - self.cpu) / w
        rows = [("server CPU", f"{self.cpu:.2f}s over {self.wall:.1f}s "
                               f"({self.cpu / w:.0%} of a core)")]
        if client_cpu is not None:
            rows.append(("client CPU (all workers)",
                         f"{client_cpu:.2f}s ({client_cpu / w:.0%} of a core)"))
        rows += [
            self.gc_row(),
            ("machine: server / rest of ours / softirq / others",
             f"{self.cpu / w:.2f} / {rest:.2f} / {self.machine.softirq / w:.2f} / {other:.2f} "
             f"cores of 2 (stolen {self.machine.steal / w:.2f})"),
        ]
        if other > OTHER_LOAD_WARN_CORES:
            rows.append(("WARNING", f"processes not of this benchmark used {other:.2f} cores: "
                                    f"figures are disturbed"))
        return rows

    def figures(self, client_cpu: float | None = None) -> dict[str, float | None]:
        w = self.wall or 1.0
        return {"window_s": self.wall, "server_cpu_s": self.cpu, "server_cores": self.cpu / w,
                "client_cores": None if client_cpu is None else client_cpu / w,
                "ours_cores": self.ours / w, "machine_busy_cores": self.machine.busy / w,
                "softirq_cores": self.machine.softirq / w,
                "other_cores": self._other(), "steal_cores": self.machine.steal / w,
                "server_gc_collections": len(self.gc),
                "server_gc_ms": sum(d for _, d in self.gc) * 1e3,
                "server_gc_max_ms": max((d for _, d in self.gc), default=0.0) * 1e3}


# The node runs under this wrapper: `server.cli` unchanged, plus a gc callback that logs
# every collection (monotonic time, generation, pause in µs), so that latency tails can
# be put next to the server's GC pauses. It costs nothing between collections.
_GC_WRAPPER = """
import gc, runpy, sys, time
log = open(sys.argv.pop(1), "a", buffering=1)
started = [0.0]
def on_gc(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        pause = (time.perf_counter() - started[0]) * 1e6
        log.write(f"{time.monotonic():.6f} {info['generation']} {pause:.0f}\\n")
gc.callbacks.append(on_gc)
runpy.run_module("server.cli", run_name="__main__", alter_sys=True)
"""


def read_gc_log(path: Path, t0: float, t1: float) -> list[tuple[float, int, float]]:
    """(monotonic end, generation, pause seconds) of the server's collections that ended
    in [t0, t1]."""
    out = []
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and t0 <= float(parts[0]) <= t1:
            out.append((float(parts[0]), int(parts[1]), int(parts[2]) / 1e6))
    return out


def met_gc_pauses(spans: Sequence[tuple[float, float]], pauses: Sequence[tuple[float, float]],
                  min_pause: float) -> list[int]:
    """Indexes of the requests (monotonic (start, end) spans) during which the server was
    in a GC pause of at least `min_pause` seconds (`pauses`: (end, seconds)): the latency
    tail a benchmark reports can then be told from the pauses."""
    big = [(end - d, end) for end, d in pauses if d >= min_pause]
    return [i for i, (a, b) in enumerate(spans) if any(pa < b and pb > a for pa, pb in big)]


def proc_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class NodeProc:
    proc: subprocess.Popen[str]
    http_url: str
    ws_url: str
    name: str
    log_path: Path
    gc_log: Path
    marker: str
    lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        return proc_cpu_seconds(self.pid)

    def window(self) -> Window:
        """A measurement window on this node (call `.start()`, then `.stop()`)."""
        return Window(self.pid, self.marker, self.gc_log)

    def rss_kb(self) -> int:
        return proc_rss_kb(self.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=NODE_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def start_node(tmp: Path, db_url: str, redis_url: str, namespace: str,
               env: dict[str, str] | None = None) -> NodeProc:
    """Start `glint serve` on free ports and wait for its READY line."""
    data = tmp / "node"
    data.mkdir(parents=True, exist_ok=True)
    log_path = tmp / "node.log"
    gc_log = tmp / "node-gc.log"
    child_env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=redis_url,
                     GLINT_NAMESPACE=namespace, GLINT_LOG_LEVEL="warning",
                     GLINT_HOST=HOST, PYTHONUNBUFFERED="1")
    child_env.update(env or {})
    log_file = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", _GC_WRAPPER, str(gc_log), "serve", "--host", HOST, "--port", "0",
         "--ws-port", "0", "--data-dir", str(data)],
        cwd=ROOT, env=child_env, stdout=subprocess.PIPE, stderr=log_file, text=True,
        stdin=subprocess.DEVNULL)
    log_file.close()
    found: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # keep draining so the node never blocks on stdout
            seen.append(line.rstrip("\n"))
            if line.startswith(READY_PREFIX):
                found.put(line)
        found.put(None)

    threading.Thread(target=pump, daemon=True, name="node-stdout").start()
    try:
        line = found.get(timeout=NODE_START_SECONDS)
    except queue.Empty:
        line = None
    if line is None:
        proc.kill()
        proc.wait()
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the node did not become ready; its log ends with:\n{tail}")
    parts = dict(p.split("=", 1) for p in line.split()[2:] if "=" in p)
    return NodeProc(proc, parts["http"], parts["ws"], parts.get("node", "?"), log_path, gc_log,
                    str(tmp), seen)


@dataclass
class Setup:
    tmp: Path
    db_url: str
    redis_url: str
    namespace: str
    tokens: list[str]
    node: NodeProc


@contextlib.contextmanager
def bench_node(users: int, node_env: dict[str, str] | None = None) -> Iterator[Setup]:
    """Services (embedded unless DATABASE_URL / REDIS_URL), `users` seeded users, a node."""
    from storage.embedded import embedded_services

    raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="glint-bench-") as tmpdir:
        tmp = Path(tmpdir)
        os.chmod(tmp, 0o755)  # pgserver may run postgres as its own system user
        t0 = time.monotonic()
        with embedded_services(tmp / "services", database_url=os.environ.get("DATABASE_URL"),
                               redis_url=os.environ.get("REDIS_URL")) as (db_url, redis_url):
            t1 = time.monotonic()
            tokens = seed_users(db_url, users)
            t2 = time.monotonic()
            namespace = "bench" + uuid.uuid4().hex[:8]
            node = start_node(tmp, db_url, redis_url, namespace, node_env)
            t3 = time.monotonic()
            print(f"setup: services {t1 - t0:.1f}s, {users} users seeded {t2 - t1:.1f}s, "
                  f"node ready {t3 - t2:.1f}s (pid {node.pid}, {node.ws_url})", flush=True)
            try:
                yield Setup(tmp, db_url, redis_url, namespace, tokens, node)
            finally:
                code = node.stop()
                if code not in (0, -signal.SIGTERM):
                    print(f"node exited with {code}; log tail:\n{node.log_tail()}",
                          file=sys.stderr)


# -- client workers (coordinator side) -------------------------------------------------
class WorkerFailed(RuntimeError):
    pass


class Worker:
    """A client subprocess speaking JSON lines: commands on stdin, reports on stdout."""

    def __init__(self, module: str, tmp: Path, index: int, config: dict[str, Any]) -> None:
        self.index = index
        cfg_path = tmp / f"worker-{index}.json"
        cfg_path.write_text(json.dumps(config))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--worker", str(cfg_path)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True, name=f"worker-{index}").start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                sys.stderr.write(f"[worker {self.index}] {line}")
                continue
            if isinstance(msg, dict):
                self._inbox.put(msg)
        self._inbox.put(None)

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerFailed(f"worker {self.index} is gone ({exc})") from None

    def expect(self, ev: str, timeout: float) -> dict[str, Any]:
        """The next report named `ev` (progress reports are printed on the way)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerFailed(f"worker {self.index}: no `{ev}` within {timeout:.0f}s")
            try:
                msg = self._inbox.get(timeout=left)
            except queue.Empty:
                continue
            if msg is None:
                raise WorkerFailed(f"worker {self.index} exited ({self.proc.wait()}) "
                                   f"while we waited for `{ev}`")
            if msg.get("ev") == "error":
                raise WorkerFailed(f"worker {self.index}: {msg.get('message')}")
            if msg.get("ev") == "progress":
                print(f"  [worker {self.index}] {msg.get('message')}", flush=True)
                continue
            if msg.get("ev") == ev:
                return msg

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(WorkerFailed):
                self.send(cmd="quit")
            try:
                self.proc.wait(timeout=WORKER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def split(items: Sequence[Any], parts: int) -> list[list[Any]]:
    return [list(items[i::parts]) for i in range(parts)]


@contextlib.contextmanager
def workers(module: str, tmp: Path, configs: Sequence[dict[str, Any]]) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        for i, cfg in enumerate(configs):
            started.append(Worker(module, tmp, i, cfg))
        yield started
    finally:
        for w in started:
            w.stop()


def expect_all(ws: Sequence[Worker], ev: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    return [w.expect(ev, max(0.1, deadline - time.monotonic())) for w in ws]


# -- client workers (worker side) -------------------------------------------------------
class WorkerIO:
    """Commands from the coordinator (stdin) and reports to it (stdout), one JSON line each."""

    def __init__(self) -> None:
        self._stream = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        self._buf = b""

    @staticmethod
    def emit(ev: str, **data: Any) -> None:
        sys.stdout.write(json.dumps({"ev": ev, **data}) + "\n")
        sys.stdout.flush()

    def progress(self, message: str) -> None:
        self.emit("progress", message=message)

    async def command(self) -> dict[str, Any]:
        while b"\n" not in self._buf:
            chunk = await self._stream.receive_some(RECV_CHUNK)
            if not chunk:
                return {"cmd": "quit"}
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)  # type: ignore[no-any-return]


def self_cpu() -> float:
    """This process's user + system CPU seconds (a client worker reports its own load)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


CLIENT_GC_THRESHOLDS = (100_000, 50, 1000)  # keep client GC pauses out of the latencies


def worker_config(path: str) -> dict[str, Any]:
    raise_fd_limit()
    gc.set_threshold(*CLIENT_GC_THRESHOLDS)
    return json.loads(Path(path).read_text())  # type: ignore[no-any-return]


# -- WebSocket clients ------------------------------------------------------------------
class Closed(Exception):
    """The server closed the connection."""


#: What sending or receiving on a client socket raises once it is closed; the last:
#: sending on a socket we are already closing.
CLOSED = (Closed, trio.BrokenResourceError, trio.ClosedResourceError, OSError,
          LocalProtocolError)


def encode(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def decode(data: bytes) -> dict[str, Any]:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)  # type: ignore[no-any-return]


class LeanWS:
    """A minimal WebSocket client: wsproto on a trio socket, no tasks or queues of its own.

    One task may `send` while another `recv`s; two concurrent senders are not allowed.
    """

    def __init__(self, stream: trio.SocketStream, ws: Any) -> None:
        self.stream = stream
        self.ws = ws
        self.pending: deque[bytes] = deque()
        self._parts: list[bytes] = []

    @classmethod
    async def connect(cls, url: str, nursery: trio.Nursery | None = None) -> LeanWS:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import AcceptConnection, RejectConnection, Request

        u = urlsplit(url)
        assert u.hostname == HOST, "benchmarks target 127.0.0.1 only"
        stream = await trio.open_tcp_stream(HOST, u.port or 80)
        ws = WSConnection(ConnectionType.CLIENT)
        self = cls(stream, ws)
        try:
            await stream.send_all(ws.send(Request(host=f"{HOST}:{u.port}", target=u.path)))
            while True:
                data = await stream.receive_some(RECV_CHUNK)
                if not data:
                    raise Closed("closed during the handshake")
                ws.receive_data(data)
                for ev in ws.events():
                    if isinstance(ev, AcceptConnection):
                        return self
                    if isinstance(ev, RejectConnection):
                        raise Closed(f"handshake rejected ({ev.status_code})")
        except BaseException:
            await stream.aclose()
            raise

    async def send(self, payload: bytes) -> None:
        from wsproto.events import Message

        await self.stream.send_all(self.ws.send(Message(data=payload)))

    async def recv(self) -> bytes:
        from wsproto.events import BytesMessage, CloseConnection, Ping

        while not self.pending:
            data = await self.stream.receive_some(RECV_CHUNK)
            if not data:
                raise Closed("connection lost")
            self.ws.receive_data(data)
            for ev in self.ws.events():
                if isinstance(ev, BytesMessage):
                    self._parts.append(ev.data)
                    if ev.message_finished:
                        self.pending.append(b"".join(self._parts))
                        self._parts = []
                elif isinstance(ev, CloseConnection):
                    raise Closed(f"closed by the server ({ev.code} {ev.reason})")
                elif isinstance(ev, Ping):
                    pass  # the node never pings; answering here could race a sender task
        return self.pending.popleft()

    async def aclose(self) -> None:
        from wsproto.events import CloseConnection

        with trio.move_on_after(2), contextlib.suppress(Exception):
            await self.stream.send_all(self.ws.send(CloseConnection(code=1000)))
        with contextlib.suppress(Exception):
            await self.stream.aclose()


class TrioWS:
    """The same interface on trio-websocket (for comparison)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def connect(cls, url: str, nursery: trio.Nursery | None = None) -> TrioWS:
        from trio_websocket import connect_websocket_url

        assert nursery is not None and urlsplit(url).hostname == HOST
        return cls(await connect_websocket_url(nursery, url, message_queue_size=256))

    async def send(self, payload: bytes) -> None:
        from trio_websocket import ConnectionClosed

        try:
            await self.ws.send_message(payload)
        except ConnectionClosed as exc:
            raise Closed(str(exc)) from None

    async def recv(self) -> bytes:
        from trio_websocket import ConnectionClosed

        try:
            data = await self.ws.get_message()
        except ConnectionClosed as exc:
            raise Closed(str(exc)) from None
        return data if isinstance(data, bytes) else data.encode()

    async def aclose(self) -> None:
        with trio.move_on_after(2), contextlib.suppress(Exception):
            await self.ws.aclose()


ClientConn = LeanWS | TrioWS


async def open_client(kind: str, url: str, nursery: trio.Nursery) -> ClientConn:
    if kind == "trio-websocket":
        return await TrioWS.connect(url, nursery)
    return await LeanWS.connect(url, nursery)


async def call(conn: ClientConn, op: str, rid: int, args: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """Send one request and read until its reply (events in between are skipped)."""
    msg: dict[str, Any] = {"op": op, "id": rid}
    if args:
        msg["args"] = args
    await conn.send(encode(msg))
    while True:
        reply = decode(await conn.recv())
        if reply.get("re") == rid:
            return reply


async def hello(conn: ClientConn, token: str) -> dict[str, Any]:
    reply = await call(conn, "hello", 1, {"proto": 1, "token": token, "client": "glint-bench/1"})
    if not reply.get("ok"):
        raise Closed(f"hello refused: {reply.get('error')}")
    return reply["data"]  # type: ignore[no-any-return]


async def connect_all(kind: str, url: str, tokens: Sequence[str], nursery: trio.Nursery,
                      io: WorkerIO, *, concurrency: int = 100,
                      on_connect: Callable[[ClientConn], None] | None = None,
                      ) -> tuple[list[ClientConn], int]:
    """Connect and say hello on one socket per token; returns (connections, failures).

    `on_connect` runs as soon as a socket has said hello (e.g. to start its heartbeat).
    """
    conns: list[ClientConn | None] = [None] * len(tokens)
    failures = 0
    limiter = trio.CapacityLimiter(concurrency)
    done = 0
    step = max(1000, len(tokens) // 5)

    async def one(i: int) -> None:
        nonlocal failures, done
        async with limiter:
            try:
                with trio.fail_after(60):
                    c = await open_client(kind, url, nursery)
                    await hello(c, tokens[i])
                conns[i] = c
                if on_connect is not None:
                    on_connect(c)
            except (OSError, Closed, trio.TooSlowError, trio.BrokenResourceError) as exc:
                failures += 1
                if failures <= 3:
                    io.progress(f"connection {i} failed: {exc!r}")
            done += 1
            if done % step == 0:
                io.progress(f"{done}/{len(tokens)} connected")

    async with trio.open_nursery() as n:
        for i in range(len(tokens)):
            n.start_soon(one, i)
    gc.collect()
    gc.freeze()  # the connections live to the end: never scan them again
    return [c for c in conns if c is not None], failures


async def close_all(conns: Sequence[ClientConn]) -> None:
    async with trio.open_nursery() as n:
        for c in conns:
            n.start_soon(c.aclose)


# -- reading and keeping alive many client sockets (worker side) ------------------------
class ClosedCount(Protocol):
    closed: int  # sockets the server closed or lost


class FrameCounts(ClosedCount, Protocol):
    stray: int  # frames no node sends (text, fragmented, masked)
    reads: int  # socket reads
    frames: int  # frames in them
    batched: int  # reads of more than one frame


#: Called with (socket index, payload of one binary frame, clock() at its read).
FrameHandler = Callable[[int, bytes, float], None]


async def read_frames(i: int, conn: ClientConn, on_frame: FrameHandler, counts: ClosedCount,
                      clock: Callable[[], float] = time.perf_counter) -> None:
    """Feed one socket's frames to `on_frame`, read through its client's own receive path."""
    try:
        while True:
            on_frame(i, await conn.recv(), clock())
    except CLOSED:
        counts.closed += 1


class EpollReader:
    """Every socket of this process in one epoll set, read by one trio task.

    With a task per socket, each frame costs a trio wake-up (~20-30 µs of client CPU);
    here one wake-up serves every socket that became readable together, and the node's
    frames (unmasked, unfragmented binary) are parsed by hand. The sockets are dups of
    the lean clients' ones, which are only written to (sends, pings) from here on.
    """

    def __init__(self, conns: Sequence[LeanWS], on_frame: FrameHandler, counts: FrameCounts,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        import select
        import socket

        self.on_frame = on_frame
        self.counts = counts
        self.clock = clock
        self.ep = select.epoll()
        self.socks: dict[int, tuple[int, socket.socket]] = {}
        self.bufs: dict[int, bytes] = {}
        for i, c in enumerate(conns):
            while c.pending:  # anything the lean client already read
                on_frame(i, c.pending.popleft(), clock())
            raw = socket.socket(fileno=os.dup(c.stream.socket.fileno()))
            raw.setblocking(False)
            self.ep.register(raw.fileno(), select.EPOLLIN)
            self.socks[raw.fileno()] = (i, raw)
            self.bufs[raw.fileno()] = b""

    async def run(self) -> None:
        try:
            while self.socks:
                await trio.lowlevel.wait_readable(self.ep.fileno())
                for fd, _ in self.ep.poll(0, READY_BATCH):
                    self._read(fd)
        finally:
            for _, raw in self.socks.values():
                raw.close()
            self.ep.close()

    def _drop(self, fd: int) -> None:
        self.counts.closed += 1
        self.ep.unregister(fd)
        self.socks.pop(fd)[1].close()

    def _read(self, fd: int) -> None:
        i, raw = self.socks[fd]
        try:
            data = raw.recv(RECV_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(fd)
            return
        now = self.clock()
        on_frame = self.on_frame
        buf = self.bufs[fd] + data if self.bufs[fd] else data
        pos, end = 0, len(buf)
        frames = 0
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            size, head = b1 & 0x7F, 2
            if size == 126:
                if end - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif size == 127:
                if end - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if end - pos < head + size:
                break
            opcode = b0 & 0x0F
            frames += 1
            if opcode == 0x2 and b0 & 0x80 and not b1 & 0x80:
                on_frame(i, buf[pos + head:pos + head + size], now)
            elif opcode == 0x8:  # the node closed
                self._drop(fd)
                return
            elif opcode not in (0x9, 0xA):  # text, fragments, masked: not what a node sends
                self.counts.stray += 1
            pos += head + size
        self.bufs[fd] = buf[pos:] if pos < end else b""
        counts = self.counts
        counts.reads += 1
        counts.frames += frames
        counts.batched += frames > 1


def start_readers(nursery: trio.Nursery, conns: Sequence[ClientConn], on_frame: FrameHandler,
                  counts: FrameCounts, clock: Callable[[], float] = time.perf_counter) -> None:
    """Read every socket: one EpollReader for lean clients, else a task per socket."""
    if all(isinstance(c, LeanWS) for c in conns):
        nursery.start_soon(EpollReader(conns, on_frame, counts, clock).run)  # type: ignore[arg-type]
    else:
        for i, c in enumerate(conns):
            nursery.start_soon(read_frames, i, c, on_frame, counts, clock)


async def heartbeat(conns: Sequence[ClientConn], lock: trio.Lock | None = None) -> None:
    """Ping every socket every HEARTBEAT_SECONDS, so that idle ones stay open; with `lock`,
    only while nobody else holds it (never two senders on a socket)."""
    first, last = HEARTBEAT_RIDS
    rid = first - 1
    while True:
        await trio.sleep(HEARTBEAT_SECONDS)
        rid = rid + 1 if rid < last else first
        frame = encode({"op": "ping", "id": rid})
        async with lock or contextlib.nullcontext():
            for c in conns:
                try:
                    await c.send(frame)
                except CLOSED:
                    pass


async def serve_phases(io: WorkerIO,
                       run_phase: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
    """Run a phase for each `run` command and report it (`phase_done`, with the CPU this
    process used), until another command (quit)."""
    while True:
        cmd = await io.command()
        if cmd["cmd"] != "run":
            return
        cpu0 = self_cpu()
        report = await run_phase(cmd)
        io.emit("phase_done", **report, cpu=self_cpu() - cpu0)
