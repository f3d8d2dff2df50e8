"""Likes: sustained `post.like` throughput with live like-notifications to connected authors.

`--authors` users each own `--posts-per-author` posts (inserted with SQL in the
set-up: a media row per author, posts, post_media); `--likers` other users like
them. Every like is of a (liker, post) pair never liked before, so every like
really stores a `notification` for the author (no repeat suppression applies)
and publishes it on the author's bus channel; the authors are connected and
each of them checks the durable events it gets (seq contiguous, every like
notified exactly once). Each client process holds some authors and the likers
that like their posts, so a like's send time and its notification's receipt
are stamped by the same clock (`perf_counter`).

Two phases, each `--warmup` s unmeasured then `--seconds` s measured:

- **max**: every liker likes as fast as the per-connection op limit allows
  (one like in flight per connection; 45/s per liker): the node's capacity;
- **paced**: `--rate` likes/s in all (issue target: >= 2,000/s with like ->
  notification p99 <= 50 ms), spread evenly over the likers.

`--nodes 2` starts a second node on the same Postgres and Redis: likers on
node 1, authors on node 2, so every notification crosses nodes through Redis.
Reports likes/s (acknowledged in the window), notifications/s, like ->
notification latency (send -> the author's socket), like round trip, server
CPU per like (both nodes), and the CPU of PostgreSQL and Redis.

    python -m tests.bench.likes [--nodes 1|2] [--rate 2000] [--seconds 10] [--likers 400]
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio

from tests.bench import common

MODULE = "tests.bench.likes"
MAX_PER_LIKER = 45.0  # likes/s per connection in the max phase (the node allows 50 ops/s)
DRAIN_SECONDS = 10.0  # after the last like, how long to wait for its notification
REPORT_TIMEOUT = 120.0
PHOTO_VARIANTS = {  # a well-formed stored variant map; nothing reads the files here
    "feed": {"width": 1080, "height": 1080, "jpeg": "bench-feed.jpg", "webp": "bench-feed.webp"},
    "thumb": {"width": 150, "height": 150, "jpeg": "bench-thumb.jpg"},
}
BLURHASH = "LEHV6nWB2yk8pyo0adR*.7kCMdnj"

#: tests.bench.feed imports it from here.
ServicesCPU = common.ServicesCPU


# -- set-up: posts, straight into Postgres -------------------------------------------------
async def _make_posts(db_url: str, authors: list[int], per_author: int) -> dict[int, list[int]]:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        async with conn.transaction():
            media = await conn.fetch(
                """INSERT INTO media (owner_id, kind, width, height, blurhash, color, master_key,
                                      variants, attached_at)
                   SELECT a, 'photo', 1080, 1080, $2, '#7f7f7f', 'bench-master.jpg', $3::jsonb,
                          now()
                   FROM unnest($1::bigint[]) AS a RETURNING id, owner_id""",
                authors, BLURHASH, json.dumps(PHOTO_VARIANTS))
            media_of = {int(r["owner_id"]): int(r["id"]) for r in media}
            rows = await conn.fetch(
                """INSERT INTO posts (author_id, caption)
                   SELECT a, 'benchmark post' FROM unnest($1::bigint[]) AS a
                   RETURNING id, author_id""",
                [a for a in authors for _ in range(per_author)])
            await conn.copy_records_to_table(
                "post_media", columns=["post_id", "position", "media_id", "alt"],
                records=[(r["id"], 0, media_of[r["author_id"]], "") for r in rows])
            await conn.execute("UPDATE users SET posts_count = posts_count + $2 "
                               "WHERE id = ANY($1::bigint[])", authors, per_author)
    finally:
        await conn.close()
    out: dict[int, list[int]] = {a: [] for a in authors}
    for r in rows:
        out[int(r["author_id"])].append(int(r["id"]))
    return out


def make_posts(db_url: str, authors: list[int], per_author: int) -> dict[int, list[int]]:
    """`per_author` posts with one photo each for every author; author id -> post ids."""
    return asyncio.run(_make_posts(db_url, authors, per_author))


# -- the client worker ----------------------------------------------------------------------
@dataclass
class _Like:
    phase: str
    t_send: float
    t_ack: float = 0.0
    t_notif: float = 0.0
    ok: bool = False


@dataclass
class _Phase:
    name: str
    start: float  # perf_counter: the measured window
    end: float
    records: list[_Like] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sending: int = 0
    unnotified: int = 0  # acknowledged likes whose notification has not arrived
    exhausted: int = 0  # likers that ran out of fresh posts
    drained: trio.Event = field(default_factory=trio.Event)

    def check_drained(self) -> None:
        if self.sending == 0 and self.unnotified == 0:
            self.drained.set()


class _State:
    def __init__(self, liker_ids: list[int], posts: list[int]) -> None:
        self.liker_ids = liker_ids
        self.posts = posts
        self.cursor = [0] * len(liker_ids)  # how many posts each liker has liked so far
        self.offset = [random.randrange(len(posts)) for _ in liker_ids]
        self.rid = [1000] * len(liker_ids)  # request ids per liker (pings use ids below)
        self.sent: dict[tuple[int, int], _Like] = {}
        self.phase: _Phase | None = None
        self.lock = trio.Lock()  # a phase or a heartbeat sweep: never two senders on a socket
        self.stray = self.dups = self.seq_gaps = self.seq_back = self.closed = 0
        self.last_seq: dict[int, int] = {}

    def next_post(self, i: int) -> int | None:
        k = self.cursor[i]
        if k >= len(self.posts):
            return None
        self.cursor[i] = k + 1
        return self.posts[(self.offset[i] + k) % len(self.posts)]

    def on_notification(self, author: int, msg: dict[str, Any], now: float) -> None:
        seq = msg.get("seq")
        if isinstance(seq, int):
            last = self.last_seq.get(author)
            if last is not None:
                if seq > last + 1:
                    self.seq_gaps += seq - last - 1
                elif seq <= last:
                    self.seq_back += 1
            self.last_seq[author] = max(seq, last or 0)
        d = msg.get("data") or {}
        if d.get("kind") != "like":
            self.stray += 1
            return
        rec = self.sent.get((d.get("post"), (d.get("actor") or {}).get("id")))
        if rec is None:
            self.stray += 1
            return
        if rec.t_notif:
            self.dups += 1
            return
        rec.t_notif = now
        ph = self.phase
        if ph is not None and rec.phase == ph.name and rec.ok:
            ph.unnotified -= 1
            ph.check_drained()


async def worker(cfg: dict[str, Any]) -> None:
    io = common.WorkerIO()
    st = _State([uid for _, uid in cfg["likers"]], cfg["posts"])
    async with trio.open_nursery() as nursery:
        authors, a_fail = await common.connect_all(
            cfg["client"], cfg["author_url"], [t for t, _ in cfg["authors"]], nursery, io)
        likers, l_fail = await common.connect_all(
            cfg["client"], cfg["liker_url"], [t for t, _ in cfg["likers"]], nursery, io)
        if a_fail or l_fail:  # positions would no longer match user ids
            io.emit("error", message=f"{a_fail + l_fail} connections failed")
            return
        uids = [uid for _, uid in cfg["authors"]]

        def on_frame(i: int, payload: bytes, now: float) -> None:
            msg = common.decode(payload)
            if msg.get("ev") == "notification":
                st.on_notification(uids[i], msg, now)

        for i, conn in enumerate(authors):
            nursery.start_soon(common.read_frames, i, conn, on_frame, st)
        nursery.start_soon(common.heartbeat, authors + likers, st.lock)
        io.emit("ready", connected=len(authors) + len(likers))
        await common.serve_phases(io, partial(_run_phase, st, likers, io=io))
        async with st.lock:  # no heartbeat sweep while closing
            await common.close_all(authors + likers)
        nursery.cancel_scope.cancel()


async def _run_phase(st: _State, likers: list[common.ClientConn], cmd: dict[str, Any], *,
                     io: common.WorkerIO) -> dict[str, Any]:
    async with st.lock:
        t0 = time.perf_counter()
        ph = _Phase(cmd["phase"], t0 + cmd["warmup"], t0 + cmd["warmup"] + cmd["seconds"])
        st.phase = ph
        io.emit("started")
        rate = cmd["rate"]  # this worker's likes/s; 0: as fast as allowed
        interval = len(likers) / rate if rate > 0 else 1.0 / MAX_PER_LIKER
        ph.sending = len(likers)
        async with trio.open_nursery() as n:
            for i, conn in enumerate(likers):
                n.start_soon(_liker, st, ph, i, conn, t0 + random.uniform(0, interval), interval,
                             rate > 0)
        with trio.move_on_after(DRAIN_SECONDS):
            await ph.drained.wait()
        st.phase = None
    return _report(st, ph)


async def _liker(st: _State, ph: _Phase, i: int, conn: common.ClientConn, first: float,
                 interval: float, paced: bool) -> None:
    uid = st.liker_ids[i]
    perf = time.perf_counter
    try:
        due = first
        while True:
            if due >= ph.end or perf() >= ph.end:
                return
            wait = due - perf()
            if wait > 0:
                await trio.sleep(wait)
            # Paced: a late like is sent at once (open loop, up to one in flight per
            # connection); max: never more than MAX_PER_LIKER/s, no catching up.
            due = due + interval if paced else max(due + interval, perf())
            post = st.next_post(i)
            if post is None:
                ph.exhausted += 1
                return
            st.rid[i] += 1
            rid = st.rid[i]
            rec = _Like(ph.name, perf())
            st.sent[(post, uid)] = rec
            ph.records.append(rec)
            try:
                reply = await common.call(conn, "post.like", rid, {"post": post})
            except common.CLOSED:
                st.closed += 1
                return
            rec.t_ack = perf()
            if reply.get("ok"):
                rec.ok = True
                if not rec.t_notif:
                    ph.unnotified += 1
            else:
                ph.errors[str((reply.get("error") or {}).get("code"))] += 1
    finally:
        ph.sending -= 1
        ph.check_drained()


def _report(st: _State, ph: _Phase) -> dict[str, Any]:
    def inside(t: float) -> bool:
        return ph.start <= t < ph.end

    window = [r for r in ph.records if inside(r.t_send)]
    ok = [r for r in ph.records if r.ok]
    return {
        "sent": len(ph.records), "sent_in_window": len(window),
        "acked_in_window": sum(1 for r in ok if inside(r.t_ack)),
        "notified_in_window": sum(1 for r in ph.records if r.t_notif and inside(r.t_notif)),
        "ok": len(ok), "errors": dict(ph.errors),
        "missing": sum(1 for r in ok if not r.t_notif),
        "notif_us": [round((r.t_notif - r.t_send) * 1e6) for r in window if r.t_notif],
        "ack_us": [round((r.t_ack - r.t_send) * 1e6) for r in window if r.t_ack],
        "stray": st.stray, "dups": st.dups, "seq_gaps": st.seq_gaps, "seq_back": st.seq_back,
        "closed": st.closed, "exhausted": ph.exhausted,
    }


# -- the coordinator ------------------------------------------------------------------------
def _phase(name: str, ws: list[common.Worker], nodes: list[common.NodeProc],
           services: ServicesCPU, rate: float, warmup: float, seconds: float,
           quiet_wait: float) -> dict[str, Any]:
    common.wait_quiet(quiet_wait, nodes[0].marker)
    for w in ws:
        w.send(cmd="run", phase=name, rate=rate / len(ws), warmup=warmup, seconds=seconds)
    common.expect_all(ws, "started", 30)
    time.sleep(warmup)
    threads0 = [common.thread_cpu(n.pid) for n in nodes]
    wins = common.measure(nodes, services, seconds)
    threads = [common.thread_split(n.pid, t0, common.thread_cpu(n.pid), w.wall or seconds)
               for t0, n, w in zip(threads0, nodes, wins, strict=True)]
    results = common.expect_all(ws, "phase_done", REPORT_TIMEOUT)
    acked = sum(r["acked_in_window"] for r in results)
    notified = sum(r["notified_in_window"] for r in results)
    server_cpu = sum(w.cpu for w in wins)
    client_cpu = sum(r["cpu"] for r in results)
    notif = common.summarize([x / 1e6 for r in results for x in r["notif_us"]])
    ack = common.summarize([x / 1e6 for r in results for x in r["ack_us"]])
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r["errors"])
    keys = ("sent", "sent_in_window", "ok", "missing", "stray", "dups", "seq_gaps",
            "seq_back", "closed", "exhausted")
    out: dict[str, Any] = {k: sum(r[k] for r in results) for k in keys}
    wall = wins[0].wall or seconds
    out.update({
        "phase": name, "offered_rate": rate or None, "window_s": wall,
        "likes_per_s": acked / wall, "notifications_per_s": notified / wall,
        "errors": dict(errors),
        "notif_p50_ms": notif["p50"] * 1e3, "notif_p90_ms": notif["p90"] * 1e3,
        "notif_p99_ms": notif["p99"] * 1e3, "notif_max_ms": notif["max"] * 1e3,
        "notif_samples": notif["n"],
        "ack_p50_ms": ack["p50"] * 1e3, "ack_p99_ms": ack["p99"] * 1e3,
        "server_cpu_s": [w.cpu for w in wins], "server_threads": threads,
        "server_cpu_us_per_like": server_cpu / acked * 1e6 if acked else None,
        "postgres_cpu_s": services.used.get("postgres"), "redis_cpu_s": services.used.get("redis"),
        **wins[0].figures(client_cpu),
    })
    out["_rows"] = wins[0].rows(client_cpu)
    out["_rows"].insert(1, ("server threads" + (", node 1" if len(wins) > 1 else ""), threads[0]))
    if len(wins) > 1:
        out["_rows"].insert(2, ("server CPU, node 2", f"{wins[1].cpu:.2f}s "
                                                      f"({wins[1].cpu / wall:.0%} of a core)"))
        out["_rows"].insert(3, ("server threads, node 2", threads[1]))
    return out


def _print(ph: dict[str, Any], ns: Any, connected: int) -> bool:
    rows = ph.pop("_rows")
    bad = bool(ph["missing"] or ph["dups"] or ph["seq_gaps"] or ph["seq_back"] or ph["closed"]
               or ph["stray"] or ph["errors"])
    how = ("every liker as fast as allowed (45/s each, one like in flight)"
           if ph["offered_rate"] is None else f"paced at {ph['offered_rate']:,.0f}/s")
    wall = ph["window_s"]
    pg, rd = ph["postgres_cpu_s"], ph["redis_cpu_s"]
    per_like = ph["server_cpu_us_per_like"]
    likes = max(1.0, ph["likes_per_s"] * wall)
    placement = ("likers on node 1, authors on node 2" if ns.nodes == 2
                 else "likers and authors on one node")
    common.print_report(
        f"likes/{ph['phase']}: {ns.likers} likers -> {ns.authors} connected authors, {how}; "
        f"{placement} ({connected} connections, {ns.procs} client processes)", [
            ("likes/s (acknowledged in the window)",
             f"{ph['likes_per_s']:,.0f}   (target >= 2,000/s)"),
            ("notifications/s (received by authors)", f"{ph['notifications_per_s']:,.0f}"),
            ("like -> notification p50 / p90 / p99 / max",
             f"{ph['notif_p50_ms']:.1f} / {ph['notif_p90_ms']:.1f} / {ph['notif_p99_ms']:.1f} / "
             f"{ph['notif_max_ms']:.1f} ms   (target p99 <= 50 ms; "
             f"{ph['notif_samples']:,} likes sent in the window)"),
            ("like round trip p50 / p99", f"{ph['ack_p50_ms']:.1f} / {ph['ack_p99_ms']:.1f} ms"),
            ("likes sent / ok / errors", f"{ph['sent']:,} / {ph['ok']:,} / "
                                         f"{ph['errors'] or 0}"),
            ("notifications missing / duplicate / stray",
             f"{ph['missing']} / {ph['dups']} / {ph['stray']} "
             f"({'all delivered once' if not bad else 'PROBLEM'})"),
            ("seq gaps / out of order / closed",
             f"{ph['seq_gaps']} / {ph['seq_back']} / {ph['closed']}"),
            ("server CPU per like", f"{per_like or 0:,.0f} µs (both nodes)" if ns.nodes == 2
             else f"{per_like or 0:,.0f} µs"),
            ("PostgreSQL / Redis CPU",
             f"{pg / wall:.2f} / {rd / wall:.2f} cores ({pg / likes * 1e6:,.0f} / "
             f"{rd / likes * 1e6:,.0f} µs per like)"
             if pg is not None and rd is not None else "not measured (external services)"),
            *rows,
        ])
    if ph["exhausted"]:
        print(f"  note: {ph['exhausted']} likers ran out of fresh posts "
              f"(raise --posts-per-author)", flush=True)
    return bad


def main() -> int:
    p = common.base_parser(__doc__ or "")
    p.add_argument("--nodes", type=int, choices=(1, 2), default=1,
                   help="2: likers on node 1, authors on node 2 (the cross-node path)")
    p.add_argument("--likers", type=int, default=400)
    p.add_argument("--authors", type=int, default=200)
    p.add_argument("--posts-per-author", type=int, default=20)
    p.add_argument("--rate", type=float, default=2000.0, help="likes/s in the paced phase")
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    p.add_argument("--phases", default="max,paced", help="comma-separated: max, paced")
    p.add_argument("--procs", type=int, default=2, help="client processes")
    p.add_argument("--node-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment for the node(s), e.g. GLINT_PG_POOL_MAX=40")
    ns = p.parse_args()
    if ns.worker:
        trio.run(worker, common.worker_config(ns.worker))
        return 0

    phases = [x.strip() for x in ns.phases.split(",") if x.strip()]
    if ns.authors < ns.procs or ns.likers < ns.procs:
        p.error("need at least one author and one liker per client process")
    out: list[dict[str, Any]] = []
    node_env = dict(kv.split("=", 1) for kv in ns.node_env)
    with common.bench_node(ns.authors + ns.likers, node_env) as s:
        t0 = time.monotonic()
        ids = common.user_ids(s.db_url, s.tokens)
        users = list(zip(s.tokens, ids, strict=True))
        authors, likers = users[:ns.authors], users[ns.authors:]
        posts = make_posts(s.db_url, [uid for _, uid in authors], ns.posts_per_author)
        print(f"setup: {len(authors) * ns.posts_per_author:,} posts of {len(authors)} authors "
              f"inserted in {time.monotonic() - t0:.1f}s", flush=True)
        nodes = [s.node]
        try:
            if ns.nodes == 2:
                nodes.append(common.start_node(s.tmp / "node2", s.db_url, s.redis_url,
                                               s.namespace, node_env))
                print(f"second node ready (pid {nodes[1].pid}, {nodes[1].ws_url})", flush=True)
            configs = []
            for a_part, l_part in zip(common.split(authors, ns.procs),
                                      common.split(likers, ns.procs), strict=True):
                # Interleave the authors' posts so consecutive likes hit different authors.
                mine = [posts[uid] for _, uid in a_part]
                interleaved = [pl[j] for j in range(ns.posts_per_author) for pl in mine]
                configs.append({"client": ns.client, "liker_url": nodes[0].ws_url,
                                "author_url": nodes[-1].ws_url, "authors": a_part,
                                "likers": l_part, "posts": interleaved})
            with common.workers(MODULE, s.tmp, configs) as ws:
                ready = common.expect_all(ws, "ready", 300)
                connected = sum(x["connected"] for x in ready)
                print(f"{connected} clients connected", flush=True)
                services = ServicesCPU(s.tmp)
                for name in phases:
                    rate = 0.0 if name == "max" else ns.rate
                    out.append(_phase(name, ws, nodes, services, rate, ns.warmup, ns.seconds,
                                      ns.quiet_wait))
                rss = [n.rss_kb() for n in nodes]
        finally:
            for n in nodes[1:]:
                n.stop()

    bad = False
    for ph in out:
        bad = _print(ph, ns, connected) or bad
    print("server RSS at the end: " + ", ".join(f"{r / 1024:.1f} MiB" for r in rss), flush=True)
    common.write_json(ns.json, {"nodes": ns.nodes, "node_env": node_env, "likers": ns.likers,
                                "authors": ns.authors, "posts_per_author": ns.posts_per_author,
                                "client": ns.client, "procs": ns.procs, "server_rss_kb": rss,
                                "phases": out})
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
