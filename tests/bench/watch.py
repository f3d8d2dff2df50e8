"""Live watching: one post watched by N connected clients while comments arrive.

An author uploads a photo over HTTP (`POST {http_url}/api/media`, Bearer token,
JPEG body) and creates a post with it (`post.create`). `--watchers` clients
(default 1,000) say `post.watch` on it; `--commenters` other clients (default 10)
add `--rate` comments per second in all (default 100) for `--seconds` (default
10) with `comment.add`. Each comment is committed to Postgres, then published on
the post's bus channel; the node frames it once and writes it to every watcher
(`comment.added`); the counters follow as coalesced `post.updated` (at most
4 per second per post).

Every watcher checks that it got every comment exactly once; a lost or
duplicated comment makes the run fail. Reports comment.added deliveries/s,
send -> watcher receipt latency p50/p99 (wall clock of the same machine; the
send time travels in the comment's text), per comment the time until the first
and the last watcher had it, post.updated frames per watcher, the comment round
trip, and the CPU of the node, the clients, PostgreSQL and Redis.

    python -m tests.bench.watch [--watchers 1000] [--rate 100] [--seconds 10] [--commenters 10]
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections import Counter
from functools import partial
from typing import Any

import trio

from tests.bench import common

MODULE = "tests.bench.watch"
WATCH_CONCURRENCY = 50  # post.watch requests in flight while setting up
DRAIN_SECONDS = 60.0  # after the last comment, how long watchers may take to get everything
SEND_TIMEOUT_FACTOR = 10  # commenting may take this many times its planned duration
TEXT_PREFIX = "bench-comment"
_COMMENT_HEAD = b"\xa2ev\xadcomment.added"  # "ev": "comment.added", after the map header
_TEXT_MARK = TEXT_PREFIX.encode() + b" "


# -- watchers -------------------------------------------------------------------------------
class _Watching:
    def __init__(self, n: int) -> None:
        self.n = n
        self.arm(0)
        self.closed = 0

    def arm(self, count: int) -> None:
        self.count = count
        self.seen = [bytearray(count) for _ in range(self.n)]
        self.got = [0] * self.n
        self.top = [-1] * self.n
        self.lat: list[float] = []
        self.ev_first = [float("inf")] * count
        self.ev_last = [0.0] * count
        self.dups = self.stray = self.reordered = 0
        self.updates = 0
        self.update_last = [0.0] * self.n
        self.update_gap_min = float("inf")
        self.reads = self.frames = self.batched = 0  # socket reads; frames; reads of > 1 frame
        self.complete = 0
        self.first = self.last = 0.0
        self.all_done = trio.Event()
        if self.n == 0 or count == 0:
            self.all_done.set()

    def on_comment(self, i: int, text: str, now: float) -> None:
        parts = text.split()
        if len(parts) != 3 or parts[0] != TEXT_PREFIX:
            self.stray += 1
            return
        k, sent = int(parts[1]), float(parts[2])
        if not 0 <= k < self.count:
            self.stray += 1
            return
        seen = self.seen[i]
        if seen[k]:
            self.dups += 1
            return
        seen[k] = 1
        if k < self.top[i]:
            self.reordered += 1  # commits of concurrent comments need not publish in order
        else:
            self.top[i] = k
        lat = now - sent
        self.lat.append(lat)
        if lat < self.ev_first[k]:
            self.ev_first[k] = lat
        if lat > self.ev_last[k]:
            self.ev_last[k] = lat
        if not self.first:
            self.first = now
        self.last = now
        self.got[i] += 1
        if self.got[i] == self.count:
            self.complete += 1
            if self.complete == self.n:
                self.all_done.set()

    def on_update(self, i: int, now: float) -> None:
        self.updates += 1
        prev = self.update_last[i]
        if prev and now - prev < self.update_gap_min:
            self.update_gap_min = now - prev
        self.update_last[i] = now

    def report(self) -> dict[str, Any]:
        received = sum(self.got)
        return {"received": received, "missing": self.n * self.count - received,
                "dups": self.dups, "stray": self.stray, "reordered": self.reordered,
                "closed": self.closed, "complete": self.complete, "reads": self.reads,
                "frames": self.frames, "batched": self.batched,
                "first": self.first, "last": self.last, "updates": self.updates,
                "update_gap_min": None if self.update_gap_min == float("inf")
                else self.update_gap_min,
                "lat_us": [round(x * 1e6) for x in self.lat],
                "ev_first_us": [None if x == float("inf") else round(x * 1e6)
                                for x in self.ev_first],
                "ev_last_us": [round(x * 1e6) for x in self.ev_last]}


async def _watch_worker(cfg: dict[str, Any], io: common.WorkerIO) -> None:
    async with trio.open_nursery() as nursery:
        conns, failures = await common.connect_all(cfg["client"], cfg["url"], cfg["tokens"],
                                                   nursery, io)
        refused: Counter[str] = Counter()
        limiter = trio.CapacityLimiter(WATCH_CONCURRENCY)

        async def watch(c: common.ClientConn) -> None:
            async with limiter:
                try:
                    reply = await common.call(c, "post.watch", 2, {"post": cfg["post"]})
                except common.CLOSED as exc:
                    refused[type(exc).__name__] += 1
                    return
                if not reply.get("ok"):
                    refused[str((reply.get("error") or {}).get("code"))] += 1

        async with trio.open_nursery() as n:
            for c in conns:
                n.start_soon(watch, c)
        st = _Watching(len(conns))
        common.start_readers(nursery, conns, partial(_on_message, st), st, time.time)
        nursery.start_soon(common.heartbeat, conns)
        io.emit("ready", connected=len(conns), failures=failures, refused=dict(refused))
        while True:
            cmd = await io.command()
            if cmd["cmd"] == "drain":  # came after every comment had arrived: nothing to do
                continue
            if cmd["cmd"] != "arm":
                break
            st.arm(cmd["count"])
            cpu0 = common.self_cpu()
            io.emit("armed")
            with trio.move_on_after(cmd["timeout"]):  # a hard cap
                await _wait_phase(st, io)
            io.emit("phase_done", **st.report(), cpu=common.self_cpu() - cpu0)
        await common.close_all(conns)
        nursery.cancel_scope.cancel()


async def _wait_phase(st: _Watching, io: common.WorkerIO) -> None:
    """Until every watcher has every comment, or, once the coordinator says `drain` (the
    last comment was acknowledged), at most that many seconds more."""
    async with trio.open_nursery() as n:
        async def all_done() -> None:
            await st.all_done.wait()
            n.cancel_scope.cancel()

        async def drain() -> None:
            cmd = await io.command()
            with trio.move_on_after(cmd.get("seconds", 0)):
                await st.all_done.wait()
            n.cancel_scope.cancel()

        n.start_soon(all_done)
        n.start_soon(drain)


def _on_message(st: _Watching, i: int, payload: bytes, now: float) -> None:
    # Fast path (a full msgpack decode of a comment event costs the client ~5.6 µs, half of
    # its budget per delivery): a `comment.added` frame whose text is one of ours is
    # recognised by its bytes, and its text read from its msgpack string header.
    if payload.startswith(_COMMENT_HEAD, 1):
        j = payload.find(_TEXT_MARK)
        if j >= 2 and payload[j - 2] == 0xD9:  # str8: the text is 32..255 bytes
            st.on_comment(i, payload[j:j + payload[j - 1]].decode(), now)
            return
    msg = common.decode(payload)
    ev = msg.get("ev")
    if ev == "comment.added":
        st.on_comment(i, str(((msg.get("data") or {}).get("comment") or {}).get("text", "")),
                      now)
    elif ev == "post.updated":
        st.on_update(i, now)


# -- commenters -----------------------------------------------------------------------------
async def _comment_worker(cfg: dict[str, Any], io: common.WorkerIO) -> None:
    async with trio.open_nursery() as nursery:
        conns, failures = await common.connect_all(cfg["client"], cfg["url"], cfg["tokens"],
                                                   nursery, io)
        io.emit("ready", connected=len(conns), failures=failures, refused={})
        lock = trio.Lock()  # a heartbeat sweep and the commenting never send together
        nursery.start_soon(common.heartbeat, conns, lock)
        cmd = await io.command()
        await lock.acquire()  # held from here on: no more pings (comments keep them alive)
        if cmd["cmd"] == "go":
            cpu0 = common.self_cpu()
            report = await _comment(conns, cfg["post"], cmd["rate"], cmd["count"])
            io.emit("sent", **report, cpu=common.self_cpu() - cpu0)
            await io.command()  # quit
        await common.close_all(conns)
        nursery.cancel_scope.cancel()


async def _comment(conns: list[common.ClientConn], post: int, rate: float,
                   count: int) -> dict[str, Any]:
    """Comment k (0 <= k < count) is due at start + k/rate, sent by client k mod len(conns)."""
    ack: list[float] = []
    errors: Counter[str] = Counter()
    first = last = 0.0
    late = 0
    start = time.perf_counter() + 0.05

    async def one(c: int, conn: common.ClientConn) -> None:
        nonlocal first, last, late
        for k in range(c, count, len(conns)):
            wait = start + k / rate - time.perf_counter()
            if wait > 0:
                await trio.sleep(wait)
            elif wait < -0.01:
                late += 1
            sent = time.time()
            first = first or sent
            t0 = time.perf_counter()
            try:
                reply = await common.call(conn, "comment.add", 100 + k,
                                          {"post": post, "text": f"{TEXT_PREFIX} {k} {sent:.6f}"})
            except common.CLOSED as exc:
                errors[type(exc).__name__] += count  # this client can send no more
                return
            ack.append(time.perf_counter() - t0)
            last = max(last, sent)
            if not reply.get("ok"):
                errors[str((reply.get("error") or {}).get("code"))] += 1

    async with trio.open_nursery() as n:
        for c, conn in enumerate(conns):
            n.start_soon(one, c, conn)
    return {"ack_us": [round(x * 1e6) for x in ack], "errors": dict(errors),
            "first": first, "last": last, "late": late}


async def worker(cfg: dict[str, Any]) -> None:
    io = common.WorkerIO()
    if cfg["role"] == "comment":
        await _comment_worker(cfg, io)
    else:
        await _watch_worker(cfg, io)


# -- set-up: a photo and a post -------------------------------------------------------------
def _upload(http_url: str, token: str, photo: bytes) -> int:
    req = urllib.request.Request(f"{http_url}/api/media", data=photo, method="POST",
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "image/jpeg"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return int(json.loads(r.read())["id"])


async def _create_post(ws_url: str, token: str) -> int:
    from tests.fixtures.images import jpeg

    conn = await common.LeanWS.connect(ws_url)
    try:
        me = await common.hello(conn, token)
        media_id = await trio.to_thread.run_sync(_upload, me["http_url"], token, jpeg(1200, 900))
        reply = await common.call(conn, "post.create", 2,
                                  {"media": [media_id], "caption": "watch me #bench"})
        if not reply.get("ok"):
            raise RuntimeError(f"post.create failed: {reply.get('error')}")
        return int(reply["data"]["id"])
    finally:
        await conn.aclose()


# -- the coordinator ------------------------------------------------------------------------
def _run(ws: list[common.Worker], commenter: common.Worker, node: common.NodeProc,
         services: common.ServicesCPU, count: int, rate: float,
         quiet_wait: float) -> dict[str, Any]:
    common.wait_quiet(quiet_wait, node.marker)
    timeout = SEND_TIMEOUT_FACTOR * count / rate + DRAIN_SECONDS  # a hard cap only
    for w in ws:
        w.send(cmd="arm", count=count, timeout=timeout)
    common.expect_all(ws, "armed", 30)
    threads0 = common.thread_cpu(node.pid)
    win = node.window().start()
    services.start()
    commenter.send(cmd="go", rate=rate, count=count)
    sent = commenter.expect("sent", timeout)
    for w in ws:
        w.send(cmd="drain", seconds=DRAIN_SECONDS)
    results = common.expect_all(ws, "phase_done", DRAIN_SECONDS + 30)
    win.stop()
    services.stop()
    threads = common.thread_split(node.pid, threads0, common.thread_cpu(node.pid), win.wall or 1.0)
    received = sum(r["received"] for r in results)
    last = max((r["last"] for r in results if r["last"]), default=sent["last"])
    span = max(1e-9, last - sent["first"]) if sent["first"] else 1e-9
    lat = common.summarize([x / 1e6 for r in results for x in r["lat_us"]])
    firsts = [min(x for x in col if x is not None) / 1e6
              for col in zip(*(r["ev_first_us"] for r in results), strict=True)
              if any(x is not None for x in col)]
    lasts = [max(col) / 1e6 for col in zip(*(r["ev_last_us"] for r in results), strict=True)]
    first_s, last_s = common.summarize(firsts), common.summarize(lasts)
    ack = common.summarize([x / 1e6 for x in sent["ack_us"]])
    gaps = [r["update_gap_min"] for r in results if r["update_gap_min"] is not None]
    client_cpu = sum(r["cpu"] for r in results) + sent["cpu"]
    out = {
        "comments": count, "rate": rate, "received": received,
        "missing": sum(r["missing"] for r in results), "dups": sum(r["dups"] for r in results),
        "stray": sum(r["stray"] for r in results),
        "reordered": sum(r["reordered"] for r in results),
        "closed": sum(r["closed"] for r in results),
        "complete_watchers": sum(r["complete"] for r in results),
        "comment_errors": sent["errors"], "late_sends": sent["late"],
        "send_seconds": sent["last"] - sent["first"] if sent["first"] else 0.0,
        "span_seconds": span,
        "deliveries_per_s": received / span,
        "p50_ms": lat["p50"] * 1e3, "p90_ms": lat["p90"] * 1e3, "p99_ms": lat["p99"] * 1e3,
        "max_ms": lat["max"] * 1e3,
        "first_p50_ms": first_s["p50"] * 1e3, "first_p99_ms": first_s["p99"] * 1e3,
        "all_p50_ms": last_s["p50"] * 1e3, "all_p99_ms": last_s["p99"] * 1e3,
        "ack_p50_ms": ack["p50"] * 1e3, "ack_p99_ms": ack["p99"] * 1e3,
        "updates": sum(r["updates"] for r in results),
        "client_reads": sum(r["reads"] for r in results),
        "client_frames": sum(r["frames"] for r in results),
        "client_batched_reads": sum(r["batched"] for r in results),
        "update_gap_min_ms": min(gaps) * 1e3 if gaps else None,
        "server_cpu_us_per_delivery": win.cpu / received * 1e6 if received else None,
        "postgres_cpu_s": services.used.get("postgres"), "redis_cpu_s": services.used.get("redis"),
        "server_threads": threads, **win.figures(client_cpu), "_rows": win.rows(client_cpu),
    }
    out["_rows"].insert(1, ("server threads", threads))
    return out


def main() -> int:
    p = common.base_parser(__doc__ or "")
    p.add_argument("--watchers", type=int, default=1000)
    p.add_argument("--commenters", type=int, default=10,
                   help="commenting clients (one comment in flight each; 50 ops/s at most)")
    p.add_argument("--rate", type=float, default=100.0, help="comments/s in all")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--procs", type=int, default=2, help="watcher client processes")
    ns = p.parse_args()
    if ns.worker:
        trio.run(worker, common.worker_config(ns.worker))
        return 0

    count = round(ns.rate * ns.seconds)
    # its few commenters send far more than a person does (10 a second each by default)
    with common.bench_node(1 + ns.commenters + ns.watchers,
                           {"GLINT_COMMENTS_PER_MINUTE": "1000000"}) as s:
        node = s.node
        author, commenters = s.tokens[0], s.tokens[1:1 + ns.commenters]
        watchers = s.tokens[1 + ns.commenters:]
        t0 = time.monotonic()
        post = trio.run(_create_post, node.ws_url, author)
        print(f"setup: photo uploaded and post {post} created in {time.monotonic() - t0:.1f}s",
              flush=True)
        configs = [{"role": "watch", "client": ns.client, "url": node.ws_url, "tokens": part,
                    "post": post} for part in common.split(watchers, ns.procs)]
        configs.append({"role": "comment", "client": ns.client, "url": node.ws_url,
                        "tokens": commenters, "post": post})
        with common.workers(MODULE, s.tmp, configs) as all_workers:
            ws, commenter = all_workers[:-1], all_workers[-1]
            ready = common.expect_all(all_workers, "ready", 300)
            connected = sum(x["connected"] for x in ready[:-1])
            failures = sum(x["failures"] for x in ready)
            refused: Counter[str] = Counter()
            for x in ready:
                refused.update(x["refused"])
            print(f"{connected} watchers connected and watching ({failures} connections failed, "
                  f"watch refused: {dict(refused) or 0}); {ready[-1]['connected']} commenters",
                  flush=True)
            res = _run(ws, commenter, node, common.ServicesCPU(s.tmp), count, ns.rate,
                       ns.quiet_wait)
            rss = node.rss_kb()

    rows = res.pop("_rows")
    expected = count * connected
    ok = (res["received"] == expected and not (res["missing"] or res["dups"] or res["closed"]
                                                or res["stray"] or res["comment_errors"]))
    bad = not ok or failures > 0 or bool(refused)
    per_watcher = res["updates"] / max(1, connected)
    verdict = "every watcher got every comment once" if ok else "LOST OR DUPLICATED"
    wall = res["window_s"] or 1.0
    pg, rd = res["postgres_cpu_s"], res["redis_cpu_s"]
    common.print_report(
        f"watch: 1 post watched by {connected:,} clients, {count:,} comments at {ns.rate:g}/s from "
        f"{ns.commenters} commenters ({ns.client} client, {ns.procs} watcher processes)", [
            ("comment.added deliveries", f"{res['received']:,} of {expected:,} ({verdict})"),
            ("missing / duplicate / stray / closed",
             f"{res['missing']} / {res['dups']} / {res['stray']} / {res['closed']}"),
            ("comment errors / late sends", f"{res['comment_errors'] or 0} / "
                                            f"{res['late_sends']}"),
            ("deliveries/s (first send -> last receipt)",
             f"{res['deliveries_per_s']:,.0f} over {res['span_seconds']:.2f}s "
             f"(sending took {res['send_seconds']:.2f}s)"),
            ("send -> watcher p50 / p90 / p99 / max",
             f"{res['p50_ms']:.1f} / {res['p90_ms']:.1f} / {res['p99_ms']:.1f} / "
             f"{res['max_ms']:.1f} ms"),
            ("per comment: first watcher p50 / p99",
             f"{res['first_p50_ms']:.1f} / {res['first_p99_ms']:.1f} ms"),
            ("per comment: last watcher p50 / p99",
             f"{res['all_p50_ms']:.1f} / {res['all_p99_ms']:.1f} ms"),
            ("comment.add round trip p50 / p99",
             f"{res['ack_p50_ms']:.1f} / {res['ack_p99_ms']:.1f} ms"),
            ("comments delivered out of send order", f"{res['reordered']:,} (of all deliveries)"),
            ("post.updated frames", f"{res['updates']:,}: {per_watcher:.1f} per watcher, "
                                    f"{per_watcher / res['span_seconds']:.1f}/s (coalesced: "
                                    f"<= 4/s; shortest gap seen by a client "
                                    f"{res['update_gap_min_ms'] or 0:.0f} ms)"),
            ("watcher socket reads: frames per read / reads of > 1 frame",
             f"{res['client_frames'] / max(1, res['client_reads']):.2f} / "
             f"{res['client_batched_reads'] / max(1, res['client_reads']):.1%} "
             f"(above 1 / 0%: the watcher processes fell behind)"
             if res["client_reads"] else "not counted (trio-websocket clients)"),
            ("server CPU per delivery", f"{res['server_cpu_us_per_delivery'] or 0:.1f} µs "
                                        f"(comment transactions included)"),
            ("PostgreSQL / Redis CPU", f"{pg / wall:.2f} / {rd / wall:.2f} cores"
             if pg is not None and rd is not None else "not measured (external services)"),
            *rows,
        ])
    print(f"server RSS at the end: {rss / 1024:.1f} MiB", flush=True)
    common.write_json(ns.json, {"watchers": connected, "commenters": ns.commenters,
                                "client": ns.client, "procs": ns.procs, "server_rss_kb": rss,
                                **res})
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
