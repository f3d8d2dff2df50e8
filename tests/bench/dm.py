"""Direct messages: 1:1 conversations between connected users, send -> recipient latency.

`--users` users (default 2,000) are paired into `--users / 2` 1:1 conversations,
opened in the set-up through the protocol (`dm.open`, one per pair: far inside
the 30 new conversations per user per hour). Every user is connected. Message
k of a client process goes to its conversation k mod C, sent by one member and
then, on the next round, by the other, so sends are spread evenly over all
users (the node allows 60 `dm.send` per user per minute — config/limits.py
DM_SENDS_PER_MINUTE, no setting — and the benchmark checks its plan against that
before each phase, waiting for the limit's window to pass if needed). Sends are
open loop: message k is due at t0 + k / rate, whatever the replies do.

Every message must reach the recipient once and the sender's own device once
(durable `dm.message`), each user's event `seq` must go up by one. The latency
is send -> `dm.message` on the recipient's socket, stamped by one clock
(`perf_counter`: both members of a conversation are in the same client process).

Phases (`--phases`, default `one,steps,two`):

- **one**: `--rate` messages/s (default 500) for `--seconds` s (default 20) on one
  node (issue target: recipient p99 <= 30 ms);
- **steps**: one node, the offered rate stepped up (`--steps`, default
  200,300,400,500,750,1000,1500,2000,3000/s, `--step-seconds` s each): the achieved
  rate, p50/p99 and server CPU per message of each step; the highest step that keeps
  up (>= 95 % of the offered rate) with p99 <= `--p99-limit` ms (default 100) is the
  maximum sustained rate (issue target: >= 1,500/s). Stops after a step that falls
  well behind (achieved < 80 % of the offered rate, or recipient p99 > 1 s);
- **two**: like **one**, on two node processes sharing Postgres and Redis, the two
  members of every conversation on different nodes (every delivery to the
  recipient crosses nodes through Redis).

Exit status 1 on a lost, duplicated, misrouted or reordered message or event, or a
connection closed; in phases one and two also on error replies or unanswered sends
(past the node's capacity, in the steps, those are reported, not failed).

    python -m tests.bench.dm [--users 2000] [--rate 500] [--seconds 20]
        [--steps 200,300,500,1000,1500] [--step-seconds 10] [--phases one,steps,two]
"""

from __future__ import annotations

import asyncio
import itertools
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import trio
from wsproto.events import Message

from tests.bench import common

MODULE = "tests.bench.dm"
DRAIN_SECONDS = 15.0  # after the last send, how long replies and deliveries may take,
DRAIN_QUIET_SECONDS = 3.0  # or longer while something still arrives within this,
MAX_DRAIN_SECONDS = 90.0  # up to this
REPORT_TIMEOUT = 120.0
OPEN_CONCURRENCY = 50  # dm.open requests in flight during the set-up
LATE_SECONDS = 0.010  # a send this far behind its schedule counts as late
SLOW_SECONDS = 0.050  # deliveries slower than this are reported by send time (the tail's shape)
SLOW_KEEP = 20_000
SLOW_BUCKET = 0.5  # seconds
RID_SPAN = 10_000_000  # request id = phase tag * RID_SPAN + message index
TEXT = "bench-dm"
SENDS_PER_MINUTE = 60  # config/limits.py DM_SENDS_PER_MINUTE (fixed 60 s windows in Redis)
SENDS_MARGIN = 4  # plan at most SENDS_PER_MINUTE - this per user in any 60 s
KEEP_UP = 0.95  # a step keeps up when it achieves this share of the offered rate
GIVE_UP = 0.80  # ... and the ladder stops after a step below this share,
GIVE_UP_P99_MS = 1000.0  # or with a recipient p99 above this (queues were growing)
SETTLED_CORES = 0.10  # before a phase, the node(s) must be this idle (a backlog is done)
SETTLE_SECONDS = 60.0

_TAGS = itertools.count(1)  # phase tags, unique in the run (texts and request ids carry them)


# -- set-up: user ids, conversations --------------------------------------------------------
async def _committed(db_url: str, tag: int) -> int:
    """How many messages of phase `tag` Postgres holds."""
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM messages WHERE body LIKE $1",
                                       f"{TEXT} {tag} %"))
    finally:
        await conn.close()


async def _open_conversations(ws_url: str, pairs: list[tuple[str, int]]) -> list[int]:
    """`dm.open` as the first user of each pair (its token) with the second (its id)."""
    out: list[int] = [0] * len(pairs)
    limiter = trio.CapacityLimiter(OPEN_CONCURRENCY)

    async def one(i: int) -> None:
        token, peer = pairs[i]
        async with limiter:
            conn = await common.LeanWS.connect(ws_url)
            try:
                with trio.fail_after(60):
                    await common.hello(conn, token)
                    reply = await common.call(conn, "dm.open", 2, {"user": peer})
            finally:
                await conn.aclose()
        if not reply.get("ok"):
            raise RuntimeError(f"dm.open failed: {reply.get('error')}")
        out[i] = int(reply["data"]["id"])

    async with trio.open_nursery() as n:
        for i in range(len(pairs)):
            n.start_soon(one, i)
    return out


# -- the client worker ------------------------------------------------------------------------
@dataclass
class _Phase:
    tag: int
    rate: float  # this worker's messages/s
    count: int  # messages this worker sends in the phase
    t0: float  # perf_counter: message k is due at t0 + k / rate
    start: float  # the measured window (perf_counter)
    end: float
    t_send: list[float] = field(default_factory=list)
    t_ack: list[float] = field(default_factory=list)
    t_recv: list[float] = field(default_factory=list)  # at the recipient
    t_echo: list[float] = field(default_factory=list)  # at the sender's own device
    ok: bytearray = field(default_factory=bytearray)
    errors: Counter[str] = field(default_factory=Counter)
    settled: trio.Event = field(default_factory=trio.Event)
    sending_done: bool = False
    sent = acked = oks = 0
    ok_recvs = ok_echoes = 0  # acknowledged ok and delivered to the recipient / sender
    progress = 0  # replies and deliveries so far (the drain waits while this moves)
    dups = wrong_user = late = 0
    max_late = 0.0

    def __post_init__(self) -> None:
        self.t_send = [0.0] * self.count
        self.t_ack = [0.0] * self.count
        self.t_recv = [0.0] * self.count
        self.t_echo = [0.0] * self.count
        self.ok = bytearray(self.count)

    def check(self) -> None:
        """Set `settled` once everything sent is answered and delivered to both members."""
        self.progress += 1
        if self.sending_done and self.acked == self.sent and self.ok_recvs == self.oks \
                and self.ok_echoes == self.oks:
            self.settled.set()


class _State:
    def __init__(self, uids: list[int], convs: list[tuple[int, int, int]]) -> None:
        self.uids = uids
        self.convs = convs  # (conversation id, index of member a, index of member b)
        self.phase: _Phase | None = None
        self.lock = trio.Lock()  # a phase or a heartbeat sweep: never two senders on a socket
        self.last_seq: list[int | None] = [None] * len(uids)
        self.seq_gaps = self.seq_back = self.stray = self.other_events = self.closed = 0
        self.reads = self.frames = self.batched = 0  # counted by common.EpollReader
        self.old_phase = 0  # events or replies of an earlier phase arriving late

    def members(self, k: int) -> tuple[int, int, int]:
        """(conversation, sender index, recipient index) of message k."""
        conv, a, b = self.convs[k % len(self.convs)]
        return (conv, a, b) if (k // len(self.convs)) % 2 == 0 else (conv, b, a)

    def on_frame(self, i: int, payload: bytes, now: float) -> None:
        msg = common.decode(payload)
        rid = msg.get("re")
        if rid is not None:
            if isinstance(rid, int) and rid >= RID_SPAN:
                self._on_reply(rid, msg, now)
            return
        ev = msg.get("ev")
        if ev != "dm.message":
            self.other_events += 1
            return
        seq = msg.get("seq")
        if isinstance(seq, int):
            last = self.last_seq[i]
            if last is not None:
                if seq > last + 1:
                    self.seq_gaps += seq - last - 1
                elif seq <= last:
                    self.seq_back += 1
            self.last_seq[i] = seq if last is None else max(seq, last)
        m = (msg.get("data") or {}).get("message") or {}
        parts = str(m.get("text", "")).split()
        if len(parts) != 3 or parts[0] != TEXT:
            self.stray += 1
            return
        tag, k = int(parts[1]), int(parts[2])
        ph = self.phase
        if ph is None or tag != ph.tag or not 0 <= k < ph.count:
            self.old_phase += 1
            return
        _, s, r = self.members(k)
        if i == r and m.get("sender") == self.uids[s]:
            if ph.t_recv[k]:
                ph.dups += 1
            else:
                ph.t_recv[k] = now
                ph.ok_recvs += ph.ok[k]
                ph.check()
        elif i == s and m.get("sender") == self.uids[s]:
            if ph.t_echo[k]:
                ph.dups += 1
            else:
                ph.t_echo[k] = now
                ph.ok_echoes += ph.ok[k]
                ph.check()
        else:
            ph.wrong_user += 1

    def _on_reply(self, rid: int, msg: dict[str, Any], now: float) -> None:
        ph = self.phase
        tag, k = divmod(rid, RID_SPAN)
        if ph is None or tag != ph.tag or k >= ph.count:
            self.old_phase += 1
            return
        if ph.t_ack[k]:
            ph.dups += 1
            return
        ph.t_ack[k] = now
        ph.acked += 1
        if msg.get("ok"):
            ph.ok[k] = 1
            ph.oks += 1
            ph.ok_recvs += ph.t_recv[k] > 0
            ph.ok_echoes += ph.t_echo[k] > 0
        else:
            err = msg.get("error") or {}
            ph.errors[f"{err.get('code')}: {str(err.get('message', ''))[:70]}"] += 1
        ph.check()


async def worker(cfg: dict[str, Any]) -> None:
    io = common.WorkerIO()
    users = cfg["users"]  # [token, user id, ws url]
    st = _State([u[1] for u in users], [tuple(c) for c in cfg["convs"]])  # type: ignore[misc]
    async with trio.open_nursery() as nursery:
        conns: list[common.ClientConn | None] = [None] * len(users)
        failures = 0
        for url in sorted({u[2] for u in users}):
            idx = [i for i, u in enumerate(users) if u[2] == url]
            got, failed = await common.connect_all(cfg["client"], url,
                                                   [users[i][0] for i in idx], nursery, io)
            failures += failed
            if not failed:
                for i, c in zip(idx, got, strict=True):
                    conns[i] = c
        if failures:  # positions would no longer match users
            io.emit("error", message=f"{failures} connections failed")
            return
        ready = [c for c in conns if c is not None]
        common.start_readers(nursery, ready, st.on_frame, st)
        nursery.start_soon(common.heartbeat, ready, st.lock)
        io.emit("ready", connected=len(ready))
        await common.serve_phases(io, partial(_run_phase, st, ready, io=io))
        async with st.lock:  # no heartbeat sweep while closing
            await common.close_all(ready)
        nursery.cancel_scope.cancel()


async def _run_phase(st: _State, conns: list[common.ClientConn], cmd: dict[str, Any], *,
                     io: common.WorkerIO) -> dict[str, Any]:
    async with st.lock:
        rate, warmup, seconds = cmd["rate"], cmd["warmup"], cmd["seconds"]
        t0 = time.perf_counter() + 0.05
        ph = _Phase(cmd["tag"], rate, round(rate * (warmup + seconds)), t0, t0 + warmup,
                    t0 + warmup + seconds)
        st.phase = ph
        io.emit("started")
        await _send_all(st, ph, conns)
        ph.sending_done = True
        ph.check()
        # Wait DRAIN_SECONDS, and longer while replies and deliveries still come (an
        # overloaded node works off its backlog), up to MAX_DRAIN_SECONDS in all.
        deadline = trio.current_time() + MAX_DRAIN_SECONDS
        with trio.move_on_after(DRAIN_SECONDS):
            await ph.settled.wait()
        while not ph.settled.is_set() and trio.current_time() < deadline:
            seen = ph.progress
            with trio.move_on_after(DRAIN_QUIET_SECONDS):
                await ph.settled.wait()
            if ph.progress == seen:
                break
        report = _report(st, ph)
        st.phase = None
    return report


async def _send_all(st: _State, ph: _Phase, conns: list[common.ClientConn]) -> None:
    """Open loop: message k leaves at t0 + k / rate (late ones at once, in order)."""
    perf = time.perf_counter
    encode = common.encode
    lean = all(isinstance(c, common.LeanWS) for c in conns)
    for k in range(ph.count):
        due = ph.t0 + k / ph.rate
        wait = due - perf()
        if wait > 0:
            await trio.sleep(wait)
        conv, s, _ = st.members(k)
        frame = encode({"op": "dm.send", "id": ph.tag * RID_SPAN + k,
                        "args": {"conversation": conv, "text": f"{TEXT} {ph.tag} {k}"}})
        c = conns[s]
        now = perf()
        late = now - due
        if late > LATE_SECONDS:
            ph.late += 1
        ph.max_late = max(ph.max_late, late)
        ph.t_send[k] = now
        ph.sent += 1
        try:
            if lean:  # LeanWS.send without its import per call
                assert isinstance(c, common.LeanWS)
                await c.stream.send_all(c.ws.send(Message(data=frame)))
            else:
                await c.send(frame)
        except common.CLOSED:
            st.closed += 1
            ph.sent -= 1
            ph.t_send[k] = 0.0


def _report(st: _State, ph: _Phase) -> dict[str, Any]:
    def inside(t: float) -> bool:
        return ph.start <= t < ph.end

    window = [k for k in range(ph.count) if inside(ph.t_send[k])]
    return {
        "count": ph.count, "sent": ph.sent, "sent_in_window": len(window),
        "acked": ph.acked, "ok": ph.oks, "errors": dict(ph.errors),
        "acked_ok_in_window": sum(1 for k in range(ph.count) if ph.ok[k] and inside(ph.t_ack[k])),
        "recv_in_window": sum(1 for t in ph.t_recv if t and inside(t)),
        "unacked": ph.sent - ph.acked,
        "missing": sum(1 for k in range(ph.count) if ph.ok[k] and not ph.t_recv[k]),
        "err_delivered": sum(1 for k in range(ph.count)
                             if ph.t_ack[k] and not ph.ok[k] and ph.t_recv[k]),
        "missing_echo": sum(1 for k in range(ph.count) if ph.ok[k] and not ph.t_echo[k]),
        "dups": ph.dups, "wrong_user": ph.wrong_user, "late": ph.late, "max_late": ph.max_late,
        "recv_us": [round((ph.t_recv[k] - ph.t_send[k]) * 1e6) for k in window if ph.t_recv[k]],
        "slow": [(round(ph.t_send[k], 4), round(ph.t_recv[k] - ph.t_send[k], 4)) for k in window
                 if ph.t_recv[k] - ph.t_send[k] > SLOW_SECONDS][:SLOW_KEEP],
        "echo_us": [round((ph.t_echo[k] - ph.t_send[k]) * 1e6) for k in window if ph.t_echo[k]],
        "ack_us": [round((ph.t_ack[k] - ph.t_send[k]) * 1e6) for k in window
                   if ph.t_ack[k] and ph.ok[k]],
        "seq_gaps": st.seq_gaps, "seq_back": st.seq_back, "stray": st.stray,
        "old_phase": st.old_phase, "other_events": st.other_events, "closed": st.closed,
    }


# -- the coordinator --------------------------------------------------------------------------
class _SendBudget:
    """Keeps every user under the node's 60 dm.send per minute (fixed windows in Redis, so
    no user may send more than that in any 60 s): before a phase, waits (bounded) until
    the sends of earlier phases have aged out far enough."""

    def __init__(self) -> None:
        self.history: list[tuple[float, int]] = []  # (monotonic end of a phase, sends per user)

    def admit(self, per_user: int, duration: float) -> None:
        cap = SENDS_PER_MINUTE - SENDS_MARGIN
        if per_user > cap:
            raise SystemExit(f"a phase would make each user send {per_user} messages in under "
                             f"a minute (the node allows {SENDS_PER_MINUTE}): use more --users, "
                             f"a lower rate or shorter phases")
        now = time.monotonic()

        def in_window(wait: float) -> int:  # earlier sends within 60 s of this phase's end
            return sum(n for t, n in self.history if t > now + wait + duration - 60.0)

        wait = 0.0
        for t, _ in sorted(self.history):
            if per_user + in_window(wait) <= cap:
                break
            wait = max(wait, t + 60.0 - duration - now + 0.5)
        if wait > 0:
            print(f"  waiting {wait:.0f}s so that no user passes {SENDS_PER_MINUTE} sends in a "
                  f"minute (the node's limit)", flush=True)
            time.sleep(wait)

    def record(self, per_user: int) -> None:
        self.history.append((time.monotonic(), per_user))


@dataclass
class _Run:
    ws: list[common.Worker]
    nodes: list[common.NodeProc]
    services: common.ServicesCPU
    budget: _SendBudget
    convs_per_worker: list[int]
    quiet_wait: float
    db_url: str


def _settle(nodes: list[common.NodeProc]) -> None:
    """Wait (bounded) until the nodes are idle: an overloaded phase leaves a backlog."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        c0 = sum(n.cpu() for n in nodes)
        time.sleep(0.5)
        busy = (sum(n.cpu() for n in nodes) - c0) / 0.5
        if busy < SETTLED_CORES:
            return
        if time.monotonic() >= deadline:
            print(f"  the node(s) still use {busy:.2f} cores after {SETTLE_SECONDS:.0f}s; "
                  f"measuring anyway", flush=True)
            return


def _phase(run: _Run, name: str, rate: float, warmup: float, seconds: float) -> dict[str, Any]:
    tag = next(_TAGS)
    per_worker = [rate * c / sum(run.convs_per_worker) for c in run.convs_per_worker]
    per_user = max(math.ceil(round(r * (warmup + seconds)) / (2 * c))
                   for r, c in zip(per_worker, run.convs_per_worker, strict=True))
    run.budget.admit(per_user, warmup + seconds + DRAIN_SECONDS)
    _settle(run.nodes)
    common.wait_quiet(run.quiet_wait, run.nodes[0].marker)
    print(f"{name}: {rate:,.0f} messages/s for {warmup:g}+{seconds:g}s on "
          f"{len(run.nodes)} node(s) ...", flush=True)
    for w, r in zip(run.ws, per_worker, strict=True):
        w.send(cmd="run", tag=tag, rate=r, warmup=warmup, seconds=seconds)
    common.expect_all(run.ws, "started", 30)
    time.sleep(warmup + 0.05)
    t_window = time.monotonic()
    wins = common.measure(run.nodes, run.services, seconds)
    results = common.expect_all(run.ws, "phase_done", MAX_DRAIN_SECONDS + REPORT_TIMEOUT)
    run.budget.record(per_user)
    wall = wins[0].wall or seconds

    def total(key: str) -> int:
        return sum(int(r[key]) for r in results)

    recv = common.summarize([x / 1e6 for r in results for x in r["recv_us"]])
    echo = common.summarize([x / 1e6 for r in results for x in r["echo_us"]])
    ack = common.summarize([x / 1e6 for r in results for x in r["ack_us"]])
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r["errors"])
    acked = total("acked_ok_in_window")
    server_cpu = sum(w.cpu for w in wins)
    client_cpu = sum(r["cpu"] for r in results)
    keys = ("count", "sent", "sent_in_window", "ok", "unacked", "missing", "missing_echo",
            "err_delivered",
            "dups", "wrong_user", "late", "seq_gaps", "seq_back", "stray", "old_phase",
            "other_events", "closed")
    out: dict[str, Any] = {k: total(k) for k in keys}
    out["committed"] = asyncio.run(_committed(run.db_url, tag))
    pg, rd = run.services.used.get("postgres"), run.services.used.get("redis")
    out.update({
        "phase": name, "nodes": len(run.nodes), "offered_per_s": rate, "window_s": wall,
        "achieved_per_s": acked / wall, "delivered_per_s": total("recv_in_window") / wall,
        "errors": dict(errors), "max_late_ms": max(r["max_late"] for r in results) * 1e3,
        **{f"recv_{k}_ms": recv[k] * 1e3 for k in ("p50", "p90", "p99", "max")},
        "recv_samples": recv["n"],
        "echo_p50_ms": echo["p50"] * 1e3, "echo_p99_ms": echo["p99"] * 1e3,
        "ack_p50_ms": ack["p50"] * 1e3, "ack_p99_ms": ack["p99"] * 1e3,
        "nodes_cpu_s": [w.cpu for w in wins],
        "server_cpu_us_per_msg": server_cpu / acked * 1e6 if acked else None,
        "postgres_cpu_s": pg, "redis_cpu_s": rd,
        "postgres_cpu_us_per_msg": pg / acked * 1e6 if pg is not None and acked else None,
        "redis_cpu_us_per_msg": rd / acked * 1e6 if rd is not None and acked else None,
        **wins[0].figures(client_cpu),
    })
    rows = wins[0].rows(client_cpu)
    if len(wins) > 1:
        rows.insert(1, ("server CPU, node 2", f"{wins[1].cpu:.2f}s "
                                              f"({wins[1].cpu / wall:.0%} of a core)"))
    out["slow_by_time"] = _slow_by_time(results, t_window, wall, run.nodes[0].gc_log)
    out["_rows"] = rows
    if out["closed"] or out["errors"]:
        for i, n in enumerate(run.nodes, 1):
            tail = n.log_tail(8)
            if tail:
                print(f"  node {i} log (warnings) ends with:\n{tail}", flush=True)
    print(f"  -> achieved {out['achieved_per_s']:,.0f}/s, recipient p50 "
          f"{out['recv_p50_ms']:.1f} ms p99 {out['recv_p99_ms']:.1f} ms, server "
          f"{out['server_cpu_us_per_msg'] or 0:,.0f} µs/message", flush=True)
    return out


def _lost(ph: dict[str, Any]) -> bool:
    """A message acknowledged but not delivered once to both members, or events out of order."""
    return bool(ph["missing"] or ph["missing_echo"] or ph["dups"] or ph["wrong_user"]
                or ph["seq_gaps"] or ph["seq_back"] or ph["stray"] or ph["closed"])


def _slow_by_time(results: list[dict[str, Any]], t0: float, wall: float,
                  gc_log: Path) -> str:
    """Where in the window the slow deliveries were sent (perf_counter and time.monotonic
    are one clock on Linux), next to the node's GC pauses: a tail spread evenly is
    queueing, one bunched in time is a stall."""
    buckets: Counter[int] = Counter()
    worst: dict[int, float] = {}
    for r in results:
        for t, lat in r["slow"]:
            b = int((t - t0) // SLOW_BUCKET)
            buckets[b] += 1
            worst[b] = max(worst.get(b, 0.0), lat)
    if not buckets:
        return "none"
    top = sorted(b for b, _ in buckets.most_common(4))
    gcs = [f"{t - t0:.1f}s ({p * 1e3:.0f} ms)" for t, p in _gc_times(gc_log, t0, wall)]
    return (f"{sum(buckets.values()):,} in {len(buckets)} half-second slots of the "
            f"{wall:.0f}s; most at " + ", ".join(
                f"{b * SLOW_BUCKET:.1f}s: {buckets[b]} (max {worst[b] * 1e3:.0f} ms)"
                for b in top)
            + f"; node 1 GC pauses > 20 ms at: {', '.join(gcs) or 'none'}")


def _gc_times(gc_log: Path, t0: float, wall: float) -> list[tuple[float, float]]:
    """(monotonic end, pause seconds) of the node's collections > 20 ms in the window."""
    out: list[tuple[float, float]] = []
    try:
        lines = gc_log.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and t0 <= float(parts[0]) <= t0 + wall \
                and int(parts[2]) > 20_000:
            out.append((float(parts[0]), int(parts[2]) / 1e6))
    return out


def _bad(ph: dict[str, Any]) -> bool:
    """Lost, or refused: error replies or requests never answered (expected only past the
    node's capacity, in the steps)."""
    return _lost(ph) or bool(ph["unacked"] or ph["errors"])


def _print(ph: dict[str, Any], users: int, convs: int, procs: int) -> None:
    rows = ph.pop("_rows")
    wall = ph["window_s"]
    pg, rd = ph["postgres_cpu_s"], ph["redis_cpu_s"]
    placement = ("the two members of each conversation on different nodes"
                 if ph["nodes"] == 2 else "one node")
    verdict = "every message to recipient and sender once" if not _lost(ph) else "PROBLEM"
    common.print_report(
        f"dm/{ph['phase']}: {users:,} connected users in {convs:,} 1:1 conversations, "
        f"{ph['offered_per_s']:,.0f} messages/s offered; {placement} ({procs} client processes)",
        [
            ("messages/s (acknowledged ok in the window)", f"{ph['achieved_per_s']:,.0f}"),
            ("deliveries/s to recipients (in the window)", f"{ph['delivered_per_s']:,.0f}"),
            ("send -> recipient p50 / p90 / p99 / max",
             f"{ph['recv_p50_ms']:.1f} / {ph['recv_p90_ms']:.1f} / {ph['recv_p99_ms']:.1f} / "
             f"{ph['recv_max_ms']:.1f} ms ({ph['recv_samples']:,} messages sent in the window)"),
            ("recipient > 50 ms, by send time", ph["slow_by_time"]),
            ("send -> sender's own device p50 / p99",
             f"{ph['echo_p50_ms']:.1f} / {ph['echo_p99_ms']:.1f} ms"),
            ("dm.send round trip p50 / p99", f"{ph['ack_p50_ms']:.1f} / {ph['ack_p99_ms']:.1f} ms"),
            ("messages sent / ok / errors / unanswered",
             f"{ph['sent']:,} of {ph['count']:,} / {ph['ok']:,} / {ph['errors'] or 0} / "
             f"{ph['unacked']}"),
            ("missing at recipient / at sender / dups / misrouted",
             f"{ph['missing']} / {ph['missing_echo']} / {ph['dups']} / {ph['wrong_user']} "
             f"({verdict})"),
            ("stored in Postgres / of them not acknowledged ok",
             f"{ph['committed']:,} / {ph['committed'] - ph['ok']:,} (delivered although "
             f"answered with an error: {ph['err_delivered']:,})"),
            ("seq gaps / out of order / stray / closed",
             f"{ph['seq_gaps']} / {ph['seq_back']} / {ph['stray']} / {ph['closed']}"),
            ("late sends (> 10 ms behind schedule) / worst",
             f"{ph['late']:,} / {ph['max_late_ms']:.0f} ms"),
            ("server CPU per message", f"{ph['server_cpu_us_per_msg'] or 0:,.0f} µs"
             + (" (both nodes)" if ph["nodes"] == 2 else "")),
            ("PostgreSQL / Redis CPU",
             f"{pg / wall:.2f} / {rd / wall:.2f} cores ({ph['postgres_cpu_us_per_msg'] or 0:,.0f}"
             f" / {ph['redis_cpu_us_per_msg'] or 0:,.0f} µs per message)"
             if pg is not None and rd is not None else "not measured (external services)"),
            *rows,
        ])


def _table(out: list[dict[str, Any]], p99_limit: float) -> None:
    print("\n| phase | nodes | offered/s | achieved/s | recipient p50 | recipient p99 "
          "| dm.send RTT p99 | server µs/msg | Postgres µs/msg | server cores | others |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for ph in out:
        print(f"| {ph['phase']} | {ph['nodes']} | {ph['offered_per_s']:,.0f} | "
              f"{ph['achieved_per_s']:,.0f} | {ph['recv_p50_ms']:.1f} ms | "
              f"{ph['recv_p99_ms']:.1f} ms | {ph['ack_p99_ms']:.1f} ms | "
              f"{ph['server_cpu_us_per_msg'] or 0:,.0f} | "
              f"{ph['postgres_cpu_us_per_msg'] or 0:,.0f} | "
              f"{sum(ph['nodes_cpu_s']) / ph['window_s']:.2f} | {ph['other_cores']:.2f} |")
    steps = [ph for ph in out if ph["phase"].startswith("step")]
    if steps:
        good = [ph["offered_per_s"] for ph in steps if _keeps_up(ph, p99_limit)]
        print(f"\nmaximum sustained on one node (>= {KEEP_UP:.0%} of the offered rate achieved, "
              f"recipient p99 <= {p99_limit:g} ms): "
              + (f"{max(good):,.0f} messages/s" if good else "none of the steps")
              + "   (target >= 1,500/s)", flush=True)


def _keeps_up(ph: dict[str, Any], p99_limit: float) -> bool:
    return (ph["achieved_per_s"] >= KEEP_UP * ph["offered_per_s"]
            and ph["recv_p99_ms"] <= p99_limit and not _bad(ph))


def _configs(users: list[tuple[str, int]], conv_ids: list[int], procs: int, client: str,
             url_a: str, url_b: str) -> tuple[list[dict[str, Any]], list[int]]:
    """Conversation c (users 2c and 2c+1) goes to client process c mod procs; its first
    member connects to url_a, its second to url_b."""
    configs, counts = [], []
    for w in range(procs):
        mine = range(w, len(conv_ids), procs)
        cu: list[list[Any]] = []
        convs: list[list[int]] = []
        for c in mine:
            (ta, ua), (tb, ub) = users[2 * c], users[2 * c + 1]
            convs.append([conv_ids[c], len(cu), len(cu) + 1])
            cu += [[ta, ua, url_a], [tb, ub, url_b]]
        configs.append({"client": client, "users": cu, "convs": convs})
        counts.append(len(convs))
    return configs, counts


def _with_workers(s: common.Setup, configs: list[dict[str, Any]], counts: list[int],
                  nodes: list[common.NodeProc], budget: _SendBudget, quiet_wait: float,
                  body: Callable[[_Run], None]) -> None:
    with common.workers(MODULE, s.tmp, configs) as ws:
        t0 = time.monotonic()
        ready = common.expect_all(ws, "ready", 300)
        print(f"{sum(x['connected'] for x in ready):,} users connected in "
              f"{time.monotonic() - t0:.1f}s", flush=True)
        body(_Run(ws, nodes, common.ServicesCPU(s.tmp), budget, counts, quiet_wait, s.db_url))


def main() -> int:
    p = common.base_parser(__doc__ or "")
    p.add_argument("--users", type=int, default=2000, help="connected users (two per conversation)")
    p.add_argument("--rate", type=float, default=500.0, help="messages/s in phases one and two")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds of one and two")
    p.add_argument("--steps", default="200,300,400,500,750,1000,1500,2000,3000",
                   help="offered messages/s of the steps")
    p.add_argument("--step-seconds", type=float, default=10.0, help="measured seconds per step")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    p.add_argument("--p99-limit", type=float, default=100.0,
                   help="ms: a step with a higher recipient p99 is not sustained")
    p.add_argument("--phases", default="one,steps,two", help="comma-separated: one, steps, two")
    p.add_argument("--procs", type=int, default=2, help="client processes")
    ns = p.parse_args()
    if ns.worker:
        trio.run(worker, common.worker_config(ns.worker))
        return 0

    phases = [x.strip() for x in ns.phases.split(",") if x.strip()]
    if set(phases) - {"one", "steps", "two"}:
        p.error("--phases takes one, steps, two")
    steps = [float(x) for x in ns.steps.split(",") if x.strip()]
    n_convs = ns.users // 2
    if n_convs < ns.procs:
        p.error("need at least one conversation per client process")
    out: list[dict[str, Any]] = []
    budget = _SendBudget()
    rss: list[int] = []
    with common.bench_node(2 * n_convs) as s:
        t0 = time.monotonic()
        ids = common.user_ids(s.db_url, s.tokens)
        users = list(zip(s.tokens, ids, strict=True))
        conv_ids = trio.run(_open_conversations, s.node.ws_url,
                            [(users[2 * c][0], users[2 * c + 1][1]) for c in range(n_convs)])
        if len(set(conv_ids)) != n_convs:
            raise RuntimeError("dm.open gave two pairs the same conversation")
        print(f"setup: {n_convs:,} conversations opened with dm.open in "
              f"{time.monotonic() - t0:.1f}s", flush=True)

        def one_node(run: _Run) -> None:
            if "one" in phases:
                out.append(_phase(run, "one", ns.rate, ns.warmup, ns.seconds))
            if "steps" in phases:
                for rate in steps:
                    ph = _phase(run, f"step {rate:g}/s", rate, ns.warmup, ns.step_seconds)
                    out.append(ph)
                    if ph["achieved_per_s"] < GIVE_UP * rate \
                            or ph["recv_p99_ms"] > GIVE_UP_P99_MS:
                        print(f"  the node fell well behind at {rate:,.0f}/s: no higher steps",
                              flush=True)
                        break
            rss.append(s.node.rss_kb())

        if "one" in phases or "steps" in phases:
            configs, counts = _configs(users, conv_ids, ns.procs, ns.client, s.node.ws_url,
                                       s.node.ws_url)
            _with_workers(s, configs, counts, [s.node], budget, ns.quiet_wait, one_node)
        if "two" in phases:
            node2 = common.start_node(s.tmp / "node2", s.db_url, s.redis_url, s.namespace)
            try:
                print(f"second node ready (pid {node2.pid}, {node2.ws_url})", flush=True)
                configs, counts = _configs(users, conv_ids, ns.procs, ns.client,
                                           s.node.ws_url, node2.ws_url)

                def two_nodes(run: _Run) -> None:
                    out.append(_phase(run, "two", ns.rate, ns.warmup, ns.seconds))
                    rss.extend([s.node.rss_kb(), node2.rss_kb()])

                _with_workers(s, configs, counts, [s.node, node2], budget, ns.quiet_wait,
                              two_nodes)
            finally:
                node2.stop()

    bad = any(_lost(ph) or (_bad(ph) and not ph["phase"].startswith("step")) for ph in out)
    for ph in out:
        _print(ph, 2 * n_convs, n_convs, ns.procs)
    print("server RSS at the end: " + ", ".join(f"{r / 1024:.1f} MiB" for r in rss), flush=True)
    _table(out, ns.p99_limit)
    common.write_json(ns.json, {"users": 2 * n_convs, "conversations": n_convs,
                                "client": ns.client, "procs": ns.procs, "server_rss_kb": rss,
                                "phases": out})
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
