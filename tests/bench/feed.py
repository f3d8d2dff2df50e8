"""Feed and search: `feed.home` (warm and cold), `search`, `feed.explore` latency, and
post fan-out to the followers of a much-followed author.

Set-up: embedded PostgreSQL and Redis (or DATABASE_URL / REDIS_URL), then the real
`glint seed` (`python -m server.cli seed --users N --posts M`) into them, then tokens
inserted with SQL for the users the benchmark connects as, the embedded PostgreSQL's
files read once into the page cache (a running database's working set is resident;
this kernel reclaims idle page cache), then one node (tests.bench.common.start_node).
A host probe (common.host_probe: fixed compute and thread hand-over work) is timed
before and after the phases: this host has slow hours, and it tells them from a
regression.

Phases (each request timed from send to its reply, one request in flight per
connection, `--concurrency` connections at once, paced under the per-connection op
limit):

- **feed.home cold**: every reader's timeline key (`{ns}:tl:{user}`) is deleted in
  Redis first, so the node rebuilds it from Postgres; one call per reader. Then, after
  all cold calls, **warm**: the same call again (and `--warm-repeats` more) per reader,
  each reader on a connection opened just before; the warm calls that came first on
  their connection (meeting the node's follow-up work of that `hello`) are also
  reported on their own;
- **search** `{q}`: hashtags and username prefixes taken from the data set;
- **feed.explore first call** `{}`: once per reader, each on its own connection (the
  viewer's explore list is computed: nothing cached for that user yet); the readers
  are all connected first, as people open the app before its explore tab, and the
  calls start once the node has settled after those connects; `--explore-warmup`
  other users' first calls come before, unmeasured. With
  `--explore-precompute` the node runs with GLINT_EXPLORE_PRECOMPUTE=all, so the list
  is computed in the background from the connect on, each reader connects just
  before their call, and the call comes
  `--explore-delay` seconds after `hello` (0: at once, waiting for the background
  compute under way; run `--phases explore` alone, so no earlier connect of the
  readers precomputed their lists);
- **feed.explore** `{}`: `--calls` calls over `--concurrency` users (after the first,
  their cached explore list serves them, re-checked per page);
- **fan-out**: the most-followed author below the celebrity threshold posts
  (`POST /api/media` then `post.create`); up to `--followers` of its followers are
  connected, and the first post is made once the node has settled after their
  hellos, after one unmeasured warm-up post (a fresh node's first fan-out runs its
  statements on pool connections that have not run them). Reports the time from the
  `post.create` reply until the last online follower has its `feed.post`, the time
  until the timeline of the author's last follower (followers are fanned out in id
  order) holds the post in Redis, and the timeline inserts/s that makes (all
  followers / that time); and the same from the moment the node made the post (its
  id's millisecond, same machine clock), since the fan-out job is queued at that
  commit and may finish before the reply is read.

Targets: feed.home warm p99 <= 20 ms, cold p99 <= 150 ms; fan-out >= 50,000 inserts/s
and last online follower <= 1 s; search and feed.explore p99 <= 50 ms.

    python -m tests.bench.feed [--users 10000] [--posts 1000000] [--feed-users 300]
    python -m tests.bench.feed --data-dir /tmp/keep --phases feed,search  # seed once, reuse

With `--data-dir` the services, the node's media and the seeded data stay in that
directory: a later run with the same --users/--posts reuses the data set (the seed
is the slow part: ~6 min of CPU at 1M posts) under a fresh Redis namespace, so
timelines start cold as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from storage.ids import id_time_ms
from tests.bench import common
from tests.bench.likes import ServicesCPU

SEED_TIMEOUT = 1800.0  # the seed subprocess is killed after this
FANOUT_TIMEOUT = 30.0  # per post: how long to wait for every online follower
FANOUT_WARMUP_POSTS = 1  # posts fanned out before the measured ones: the first one a fresh
# node fans out runs its statements on pool connections that have not run them yet
CONNECT_BATCH = 50  # connections opened at once before a first-call phase
EXPLORE_WARMUP = 100  # unmeasured first explore calls (other users) before that phase,
EXPLORE_WARMUP_CONCURRENCY = 20  # as many at once as the node's PostgreSQL pool holds
PACE_SECONDS = 0.025  # between two requests on one connection (the node allows 50 ops/s)
CELEBRITY_DEFAULT = 10_000
PHASES = ("feed", "search", "explore", "fanout")


# -- set-up ---------------------------------------------------------------------------------
def run_seed(db_url: str, redis_url: str, namespace: str, data_dir: Path, users: int,
             posts: int) -> float:
    """`glint seed` into the services; returns its wall time."""
    env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=redis_url, GLINT_NAMESPACE=namespace,
               GLINT_LOG_LEVEL="warning")
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "server.cli", "seed", "--users", str(users), "--posts",
         str(posts), "--data-dir", str(data_dir)],
        cwd=common.ROOT, env=env, capture_output=True, text=True, timeout=SEED_TIMEOUT,
        check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"seed failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                           f"{proc.stderr[-3000:]}")
    return time.monotonic() - t0


async def _pick(db_url: str, feed_users: int, followers: int, threshold: int,
                rng_seed: int) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        top = await conn.fetchrow(
            "SELECT id, username, followers_count FROM users ORDER BY followers_count DESC "
            "LIMIT 1")
        author = await conn.fetchrow(
            """SELECT id, username, followers_count FROM users
               WHERE followers_count <= $1 ORDER BY followers_count DESC LIMIT 1""", threshold)
        fol = await conn.fetch(
            """SELECT f.follower_id FROM follows f WHERE f.followee_id = $1
               AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.muter_id = f.follower_id
                               AND m.muted_id = $1)
               ORDER BY f.follower_id""", author["id"])
        all_followers = [r["follower_id"] for r in fol]
        rng = random.Random(rng_seed)
        # The same readers, search names and users every run (random() below follows
        # this seed): runs of one data set differ by the code, not by whom they read.
        await conn.execute("SELECT setseed($1)", 1 / (1 + rng_seed))
        online = sorted(rng.sample(all_followers, min(followers, len(all_followers))))
        readers = [r["id"] for r in await conn.fetch(
            """SELECT id FROM users WHERE following_count > 0 AND id <> $1
               ORDER BY random() LIMIT $2""", author["id"], feed_users)]
        tags = [r["tag"] for r in await conn.fetch(
            "SELECT tag FROM hashtags ORDER BY post_count DESC LIMIT 40")]
        names = [r["username"] for r in await conn.fetch(
            "SELECT username FROM users ORDER BY random() LIMIT 40")]
        n_posts = await conn.fetchval("SELECT count(*) FROM posts")
        n_users = await conn.fetchval("SELECT count(*) FROM users")
        # one live token per user we connect as
        ids = sorted({author["id"], *online, *readers})
        tokens = {i: secrets.token_urlsafe(32) for i in ids}
        expires = datetime.now(UTC) + common.TOKEN_TTL
        await conn.copy_records_to_table(
            "tokens", columns=["hash", "user_id", "expires_at", "client"],
            records=[(hashlib.sha256(t.encode()).digest(), i, expires, "bench")
                     for i, t in tokens.items()])
        queries = [t for t in tags] + [n[:4] for n in names]
        return {"top": dict(top), "author": dict(author), "all_followers": all_followers,
                "online": online, "readers": readers, "queries": queries, "tokens": tokens,
                "n_posts": n_posts, "n_users": n_users}
    finally:
        await conn.close()


def jpeg_photo() -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (1080, 1080), (90, 140, 200))
    d = ImageDraw.Draw(img)
    for i in range(0, 1080, 60):
        d.ellipse((i, i // 2, i + 200, i // 2 + 200), fill=(255 - i // 5, 120, i // 5))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


async def _trending(db_url: str, redis_url: str, namespace: str) -> int:
    """Count the hashtags of the data set's newest TRENDING_HOURS of posts into this run's
    hourly trending buckets, as if that day had just passed (what `count_tags` does as
    posts are made; the seed writes Postgres only, and each run has a fresh namespace).
    Without it explore's first page had no trending tags and skipped their counts.
    Each bucket is written by the node's own writer (`search.count_into_bucket`), so it
    expires and is trimmed to TRENDING_BUCKET_KEEP tags as the node's are.
    Returns the tag uses counted."""
    import asyncpg
    import redis.asyncio as aioredis

    from config import limits as L
    from storage import search
    from storage.ids import id_time_ms, make_id

    conn = await asyncpg.connect(db_url)
    try:
        newest = await conn.fetchval("SELECT max(id) FROM posts")
        if newest is None:
            return 0
        newest_ms = id_time_ms(newest)
        rows = await conn.fetch(
            """SELECT t.tag, t.post_id FROM post_tags t JOIN posts p ON p.id = t.post_id
               WHERE t.post_id >= $1 AND p.deleted_at IS NULL""",
            make_id(newest_ms - L.TRENDING_HOURS * 3_600_000, 0, 0))
    finally:
        await conn.close()
    shift_h = search.trend_hour(time.time()) - search.trend_hour(newest_ms / 1000)
    buckets: dict[str, list[str]] = {}
    for row in rows:
        hour = search.trend_hour(id_time_ms(row["post_id"]) / 1000) + shift_h
        buckets.setdefault(f"{namespace}:trend:{hour}", []).append(row["tag"])
    r = aioredis.Redis.from_url(redis_url)
    try:
        for bucket, tags in buckets.items():  # as search.count_tags, each trimmed once
            await search.count_into_bucket(r, bucket, tags, True)
    finally:
        await r.aclose()
    return len(rows)


def _page_in(pg_dir: Path) -> tuple[int, float]:
    """Read every file of the embedded PostgreSQL's data directory once, so the data set
    is in the OS page cache, as a running database's working set is. This kernel
    reclaims idle page cache (DAMON): a run after an idle spell read the data set from
    disk in its cold phase (cold p99 176-200 ms there, 77-134 ms otherwise). Returns
    (bytes read, seconds)."""
    t0, total = time.monotonic(), 0
    for path in pg_dir.rglob("*"):
        if path.is_file():
            try:
                with path.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        total += len(chunk)
            except OSError:  # a file removed meanwhile (the WAL, temporary files)
                continue
    return total, time.monotonic() - t0


async def _cleanup(db_url: str, redis_url: str, namespace: str, tokens: dict[int, str]) -> int:
    """Remove what this run left in a kept data set: its tokens (and their dead rows),
    and its Redis namespace (timelines, caches). Left behind, every run added ~2,300
    tokens and ~300 MB to Redis, whose minutely snapshot of a growing dump then took
    seconds of CPU mid-measurement.
    Returns the Redis keys removed."""
    import asyncpg
    import redis.asyncio as aioredis

    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("DELETE FROM tokens WHERE hash = ANY($1::bytea[])",
                           [hashlib.sha256(t.encode()).digest() for t in tokens.values()])
        # Autovacuum had not reached them after a day of runs (116,000 dead rows), and
        # every hello's token lookup walks past them.
        await conn.execute("VACUUM tokens")
    finally:
        await conn.close()
    r = aioredis.Redis.from_url(redis_url)
    removed = 0
    try:
        batch: list[bytes] = []
        async for key in r.scan_iter(match=f"{namespace}:*", count=1000):
            batch.append(key)
            if len(batch) == 1000:
                removed += await r.unlink(*batch)
                batch.clear()
        if batch:
            removed += await r.unlink(*batch)
    finally:
        await r.aclose()
    return removed


# -- latency phases -------------------------------------------------------------------------
class Redis:
    """A sync Redis client used from a thread (the timeline keys)."""

    def __init__(self, url: str) -> None:
        import redis

        self.r = redis.Redis.from_url(url)

    def delete(self, key: str) -> None:
        self.r.delete(key)

    def has(self, key: str, member: str) -> bool:
        return self.r.zscore(key, member) is not None

    def wait_for(self, key: str, member: str, timeout: float) -> tuple[float, float] | None:
        """Poll until `member` is in `key`: (perf_counter, time.time()) when seen, taken in
        this thread (a time taken back in trio would wait behind the clients' own reading
        of the feed.post frames); None after `timeout`."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.has(key, member):
                return time.perf_counter(), time.time()
            time.sleep(0.0005)  # sync-ok: polling Redis from a thread, no event to wait on
        return None


async def _connect(ws_url: str, token: str) -> common.LeanWS:
    c = await common.LeanWS.connect(ws_url)
    await common.hello(c, token)
    return c


# Every timed request's (start, end) on the monotonic clock the node's GC log uses, by
# the latency list it went to, so a phase's tail can be put next to the node's pauses.
SPANS: dict[str, list[tuple[float, float]]] = {}
GC_PAUSE_MET = 0.005  # a request that saw a node GC pause this long is reported as such


async def timed(conn: common.LeanWS, op: str, rid: int, args: dict[str, Any] | None,
                errors: list[str], label: str | None = None) -> float:
    t0 = time.monotonic()
    reply = await common.call(conn, op, rid, args)
    t1 = time.monotonic()
    SPANS.setdefault(label or op, []).append((t0, t1))
    if not reply.get("ok"):
        errors.append(f"{op}: {reply.get('error')}")
    return t1 - t0


def gc_row(w: common.Window, label: str) -> str:
    """The node's GC pauses in a phase, and how its requests' tail reads without the
    requests that met one of GC_PAUSE_MET or more."""
    spans = SPANS.get(label, [])
    hit = set(common.met_gc_pauses(spans, w.gc_at, GC_PAUSE_MET))
    pauses = [d for _, d in w.gc_at]
    row = (f"{len(pauses)} collections, max {max(pauses, default=0.0) * 1e3:.1f} ms; "
           f"{len(hit)} of {len(spans)} requests met a pause >= {GC_PAUSE_MET * 1e3:g} ms")
    rest = [b - a for i, (a, b) in enumerate(spans) if i not in hit]
    if hit and rest:
        s = common.summarize(rest)
        row += f"; without them p99 {s['p99'] * 1e3:.2f} ms"
    return row


async def feed_phase(ws_url: str, tokens: dict[int, str], readers: list[int], ns: str,
                     redis_url: str, concurrency: int, warm_repeats: int
                     ) -> tuple[list[float], list[float], list[float], list[str]]:
    """Cold calls, warm calls, and of the warm calls those that came first on their
    connection (right after its `hello`, whose follow-up work on the node they meet)."""
    red = Redis(redis_url)
    cold: list[float] = []
    warm: list[float] = []
    first: list[float] = []
    errors: list[str] = []
    await trio.to_thread.run_sync(lambda: [red.delete(f"{ns}:tl:{u}") for u in readers])

    async def runner(queue: list[int], warm_pass: bool) -> None:
        # one pass of cold reads, then one of warm reads: warm latencies are not taken
        # while other connections' cold rebuilds load Postgres
        while queue:
            uid = queue.pop()
            conn = await _connect(ws_url, tokens[uid])
            try:
                if not warm_pass:
                    cold.append(await timed(conn, "feed.home", 10, {"limit": 30}, errors,
                                           "feed.home cold"))
                    continue
                for k in range(1 + warm_repeats):
                    warm.append(await timed(conn, "feed.home", 11 + k, {"limit": 30}, errors,
                                           "feed.home warm"))
                    if k == 0:
                        first.append(warm[-1])
                    await trio.sleep(PACE_SECONDS)
            finally:
                await conn.aclose()

    for warm_pass in (False, True):
        queue = list(readers)
        async with trio.open_nursery() as n:
            for _ in range(concurrency):
                n.start_soon(runner, queue, warm_pass)
    return cold, warm, first, errors


async def first_call_phase(ws_url: str, tokens: list[str], op: str, args: dict[str, Any],
                           concurrency: int, delay: float = 0.0, connect_first: bool = False,
                           node_pid: int | None = None, label: str | None = None,
                           meters: Sequence[Any] = ()) -> tuple[list[float], list[str]]:
    """One call per user (each user its own connection), so nothing a previous call of
    the same user left behind (the explore list cache) serves it.

    `connect_first`: every user is connected (and said hello) before the first call is
    made, as a person opens the app before the explore tab; the calls then do not
    share the machine with other users' connection set-up. Otherwise each user
    connects just before their call (`delay` after it: for a precompute from connect).
    With `node_pid`, the calls wait until that node has settled after the connects (the
    presence announcements of a burst of hellos run in the background for up to a
    second): people connect over minutes, not 300 in half a second. `meters` (a
    Window, ServicesCPU) are started once those connects are done and stopped after
    the last call, before the closes, so CPU per call is the calls' own.
    """
    out: list[float] = []
    errors: list[str] = []
    queue = list(tokens)
    opened: list[common.LeanWS] = []

    async def open_one(tok: str) -> None:
        opened.append(await _connect(ws_url, tok))

    async def runner(ready: list[common.LeanWS]) -> None:
        while ready or queue:
            conn = ready.pop() if ready else await _connect(ws_url, queue.pop())
            try:
                if delay > 0:
                    await trio.sleep(delay)  # the time a person takes to open explore
                out.append(await timed(conn, op, 1, args, errors, label))
            finally:
                if conn not in opened:
                    await conn.aclose()

    try:
        if connect_first:
            while queue:
                async with trio.open_nursery() as n:
                    for _ in range(min(CONNECT_BATCH, len(queue))):
                        n.start_soon(open_one, queue.pop())
            if node_pid is not None:
                await common.node_settled(node_pid)
        for m in meters:
            m.start()
        ready = list(opened)
        async with trio.open_nursery() as n:
            for _ in range(concurrency):
                n.start_soon(runner, ready)
        for m in meters:
            m.stop()
    finally:
        await common.close_all(opened)
    return out, errors


async def op_phase(ws_url: str, tokens: list[str], op: str, args_list: list[dict[str, Any]],
                   count: int, concurrency: int, label: str | None = None
                   ) -> tuple[list[float], list[str]]:
    out: list[float] = []
    errors: list[str] = []
    conns = [await _connect(ws_url, tokens[i % len(tokens)]) for i in range(concurrency)]
    todo = list(range(count))

    async def runner(conn: common.LeanWS) -> None:
        rid = 100
        while todo:
            i = todo.pop()
            rid += 1
            out.append(await timed(conn, op, rid, args_list[i % len(args_list)], errors, label))
            await trio.sleep(PACE_SECONDS)

    try:
        async with trio.open_nursery() as n:
            for c in conns:
                n.start_soon(runner, c)
    finally:
        await common.close_all(conns)
    return out, errors


# -- fan-out ------------------------------------------------------------------------------
async def upload(http_url: str, token: str, photo: bytes) -> int:
    import httpx

    assert http_url.split("//", 1)[-1].split(":", 1)[0] == common.HOST
    async with httpx.AsyncClient(timeout=60) as http:
        r = await http.post(f"{http_url}/api/media", content=photo,
                            headers={"Authorization": f"Bearer {token}",
                                     "Content-Type": "image/jpeg"})
    if r.status_code != 201:
        raise RuntimeError(f"upload refused: {r.status_code} {r.text[:300]}")
    return int(r.json()["id"])


async def fanout_phase(node: common.NodeProc, tokens: dict[int, str], author: int,
                       online: list[int], last_follower: int, ns: str, redis_url: str,
                       posts: int, photo: bytes, node_tmp: Path) -> list[dict[str, Any]]:
    red = Redis(redis_url)
    io_ = _PrintIO()
    async with trio.open_nursery() as nursery:
        conns, failures = await common.connect_all(
            "lean", node.ws_url, [tokens[u] for u in online], nursery, io_, concurrency=50)
        author_conn = await _connect(node.ws_url, tokens[author])
        # The first post waits until the node has settled after these 2,000 hellos (their
        # presence announcements run for a while after the last reply): followers that
        # are online were, in a running service, not all connected the second before.
        settle_s = await common.node_settled(node.pid)
        print(f"  fan-out: {len(conns)} followers online ({failures} failed); the node "
              f"settled {settle_s:.1f} s later", flush=True)
        rounds: list[dict[str, Any]] = []
        for k in range(-FANOUT_WARMUP_POSTS, posts):  # k < 0: a warm-up post, not reported
            media_id = await upload(node.http_url, tokens[author], photo)
            seen: list[dict[int, float]] = [{} for _ in conns]  # per follower: post -> time

            target: list[int] = []  # the post id, once acknowledged
            count = [0]  # followers that have the target post
            all_in = trio.Event()

            async def reader(c: common.LeanWS, mine: dict[int, float], target: list[int] = target,
                             count: list[int] = count, all_in: trio.Event = all_in) -> None:
                while True:
                    msg = common.decode(await c.recv())
                    if msg.get("ev") != "feed.post":
                        continue
                    pid = int(msg["data"]["post"]["id"])
                    mine.setdefault(pid, time.perf_counter())
                    if target and pid == target[0]:
                        count[0] += 1
                        if count[0] >= len(conns):
                            all_in.set()

            svc = ServicesCPU(node_tmp).start()
            window = node.window().start()
            async with trio.open_nursery() as rn:
                for c, mine in zip(conns, seen, strict=True):
                    rn.start_soon(reader, c, mine)
                t_send = time.perf_counter()
                reply = await common.call(author_conn, "post.create", 1000 + k,
                                          {"media": [media_id], "caption": f"bench {k}"})
                t_ack = time.perf_counter()
                if not reply.get("ok"):
                    raise RuntimeError(f"post.create refused: {reply.get('error')}")
                post_id = int(reply["data"]["post"]["id"] if "post" in reply["data"]
                              else reply["data"]["id"])
                target.append(post_id)  # no await between this and the count below
                count[0] = sum(post_id in m for m in seen)
                if count[0] >= len(conns):
                    all_in.set()
                key = f"{ns}:tl:{last_follower}"
                seen_at = await trio.to_thread.run_sync(red.wait_for, key, str(post_id),
                                                        FANOUT_TIMEOUT)
                t_redis, w_redis = seen_at if seen_at is not None else (None, 0.0)
                with trio.move_on_after(FANOUT_TIMEOUT):
                    await all_in.wait()
                rn.cancel_scope.cancel()
            window.stop()
            svc.stop()
            got = {i: m[post_id] for i, m in enumerate(seen) if post_id in m}
            last = max(got.values()) if got else float("nan")
            if k < 0:
                print(f"  warm-up post (not measured): last online follower "
                      f"{(last - t_ack) * 1e3:.0f} ms, last follower's timeline "
                      f"{'-' if t_redis is None else f'{(t_redis - t_ack) * 1e3:.0f} ms'}",
                      flush=True)
                await trio.sleep(1.0)
                continue
            rounds.append({"ack_s": t_ack - t_send, "received": len(got), "online": len(conns),
                           "last_online_s": last - t_ack,
                           "first_online_s": (min(got.values()) - t_ack) if got else None,
                           "last_timeline_s": None if t_redis is None else t_redis - t_ack,
                           # from the post's making in the node (its id's millisecond): the
                           # fan-out job is queued at that commit, before the reply leaves
                           "made_timeline_s": (None if t_redis is None
                                               else w_redis - id_time_ms(post_id) / 1000),
                           "server_cpu_s": window.cpu, "cpu": cpu_row(window, svc)})
            r = rounds[-1]
            print(f"  post {k + 1}/{posts}: ack {r['ack_s'] * 1e3:.1f} ms, "
                  f"{r['received']}/{r['online']} online got feed.post, last "
                  f"{r['last_online_s'] * 1e3:.0f} ms after the ack; last follower's timeline "
                  f"{'-' if t_redis is None else f'{(t_redis - t_ack) * 1e3:.0f} ms'}",
                  flush=True)
            await trio.sleep(1.0)
        await author_conn.aclose()
        await common.close_all(conns)
        nursery.cancel_scope.cancel()
    return rounds


class ThreadsCPU:
    """The node's CPU per thread over a window (common.thread_split tells them apart)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before: dict[int, float] = {}
        self.after: dict[int, float] = {}

    def start(self) -> ThreadsCPU:
        self.before = common.thread_cpu(self.pid)
        return self

    def stop(self) -> ThreadsCPU:
        self.after = common.thread_cpu(self.pid)
        return self


class _PrintIO:
    @staticmethod
    def progress(message: str) -> None:
        print(f"  {message}", flush=True)


# -- main ----------------------------------------------------------------------------------
def fmt(s: dict[str, float]) -> str:
    return (f"p50 {s['p50'] * 1e3:.2f} / p90 {s['p90'] * 1e3:.2f} / p99 {s['p99'] * 1e3:.2f} / "
            f"max {s['max'] * 1e3:.2f} ms (n={s['n']})")


def cpu_row(w: common.Window, svc: ServicesCPU | None = None) -> str:
    f = w.figures()
    extra = ""
    if svc is not None:
        extra = "".join(f", {k} {v / (w.wall or 1):.2f} cores" for k, v in svc.used.items()
                        if v is not None)
        # the rest of ours: this process (the clients), softirq aside
        clients = w.ours - w.cpu - sum(v for v in svc.used.values() if v is not None)
        extra += f", bench clients {max(0.0, clients) / (w.wall or 1):.2f} cores"
    return (f"node {w.cpu:.2f}s over {w.wall:.1f}s ({f['server_cores']:.2f} cores){extra}; "
            f"machine busy {f['machine_busy_cores']:.2f} of 2 cores, "
            f"other load on the machine {f['other_cores']:.2f} cores, "
            f"stolen by the hypervisor {f['steal_cores']:.2f}")


def main() -> None:
    p = common.base_parser(__doc__.split("\n\n", 1)[0])
    p.add_argument("--users", type=int, default=10_000, help="seeded users")
    p.add_argument("--posts", type=int, default=1_000_000, help="seeded posts")
    p.add_argument("--feed-users", type=int, default=300,
                   help="users whose home feed is read cold then warm")
    p.add_argument("--warm-repeats", type=int, default=2,
                   help="extra warm feed.home calls per user after the first")
    p.add_argument("--calls", type=int, default=500, help="search and feed.explore calls each")
    p.add_argument("--concurrency", type=int, default=4, help="connections at once per phase")
    p.add_argument("--followers", type=int, default=2000, help="followers online for fan-out")
    p.add_argument("--fanout-posts", type=int, default=3, help="posts fanned out")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="keep the services and the seeded data here and reuse them")
    p.add_argument("--phases", default=",".join(PHASES),
                   help="comma-separated subset of " + ",".join(PHASES))
    p.add_argument("--explore-precompute", action="store_true",
                   help="run the node with GLINT_EXPLORE_PRECOMPUTE=all (explore lists "
                        "computed from the connect on)")
    p.add_argument("--explore-warmup", type=int, default=EXPLORE_WARMUP, metavar="N",
                   help="unmeasured first feed.explore calls by N other users before the "
                        "first-call phase (a node that has served explore before)")
    p.add_argument("--explore-delay", type=float, default=0.0, metavar="S",
                   help="seconds between hello and the first feed.explore call")
    p.add_argument("--celebrity-threshold", type=int, default=CELEBRITY_DEFAULT,
                   help="GLINT_FEED_CELEBRITY_THRESHOLD for the node (the fan-out author is "
                        "the most followed at or below it)")
    ns = p.parse_args()
    common.raise_fd_limit()
    from storage.embedded import embedded_services

    figures: dict[str, Any] = {"args": vars(ns)}
    rows: list[tuple[str, Any]] = []
    phases = set(ns.phases.split(","))
    if not phases <= set(PHASES):
        p.error(f"--phases: choose from {','.join(PHASES)}")
    with contextlib.ExitStack() as stack:
        if ns.data_dir is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="glint-bench-")))
        else:
            tmp = ns.data_dir.resolve()
            tmp.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o755)
        t0 = time.monotonic()
        with embedded_services(tmp / "services", database_url=os.environ.get("DATABASE_URL"),
                               redis_url=os.environ.get("REDIS_URL")) as (db_url, redis_url):
            namespace = "bench" + uuid.uuid4().hex[:8]
            marker = tmp / f"seeded-{ns.users}-{ns.posts}"
            if ns.data_dir is not None and marker.exists():
                seed_s = float(marker.read_text() or 0)
                print(f"services {time.monotonic() - t0:.1f}s; reusing the seeded data in "
                      f"{tmp}", flush=True)
            else:
                print(f"services {time.monotonic() - t0:.1f}s; seeding {ns.users} users, "
                      f"{ns.posts} posts...", flush=True)
                seed_s = run_seed(db_url, redis_url, namespace, tmp / "node", ns.users,
                                  ns.posts)
                if ns.data_dir is not None:
                    marker.write_text(f"{seed_s:.1f}")
            print(f"seed {seed_s:.0f}s", flush=True)
            if os.environ.get("DATABASE_URL") is None:
                paged, page_s = _page_in(tmp / "services" / "postgres")
                print(f"PostgreSQL's files read into the page cache: {paged / 1e9:.2f} GB in "
                      f"{page_s:.1f} s", flush=True)
            probe = common.host_probe()
            print(f"host probe (lower is faster): {probe}", flush=True)
            figures["host_probe"] = vars(probe)
            picked = asyncio.run(_pick(db_url, ns.feed_users, ns.followers,
                                       ns.celebrity_threshold, 1))
            author = picked["author"]
            node: common.NodeProc | None = None
            try:  # from here on, the run's tokens and Redis keys are cleaned up
                trend_uses = asyncio.run(_trending(db_url, redis_url, namespace))
                print(f"data set: {picked['n_users']} users, {picked['n_posts']} posts; most "
                      f"followed {picked['top']['username']} "
                      f"({picked['top']['followers_count']}); fan-out author "
                      f"{author['username']} ({len(picked['all_followers'])} followers, "
                      f"{len(picked['online'])} online); {trend_uses} tag uses in its last "
                      "day counted as trending", flush=True)
                env = {"GLINT_FEED_CELEBRITY_THRESHOLD": str(ns.celebrity_threshold)}
                if ns.explore_precompute:
                    env["GLINT_EXPLORE_PRECOMPUTE"] = "all"
                node = common.start_node(tmp, db_url, redis_url, namespace, env)
                common.wait_quiet(ns.quiet_wait, node.marker)
                tokens = picked["tokens"]
                reader_tokens = [tokens[u] for u in picked["readers"]]

                if "feed" in phases:
                    svc = ServicesCPU(tmp).start()
                    w = node.window().start()
                    cold, warm, first, ferr = trio.run(
                        feed_phase, node.ws_url, tokens, picked["readers"], namespace,
                        redis_url, ns.concurrency, ns.warm_repeats)
                    w.stop()
                    svc.stop()
                    sc, sw = common.summarize(cold), common.summarize(warm)
                    sf = common.summarize(first)
                    rows += [("feed.home cold", fmt(sc)), ("feed.home warm", fmt(sw)),
                             ("  of which first after hello", fmt(sf)),
                             ("  errors", len(ferr)), ("  CPU", cpu_row(w, svc)),
                             ("  node GC, cold", gc_row(w, "feed.home cold")),
                             ("  node GC, warm", gc_row(w, "feed.home warm"))]
                    figures.update(feed_cold=sc, feed_warm=sw, feed_warm_first=sf,
                                   feed_errors=ferr[:5])
                    print(f"  feed.home cold {fmt(sc)}\n  feed.home warm {fmt(sw)}", flush=True)

                for op, args_list in (("search", [{"q": q} for q in picked["queries"]]),
                                      ("feed.explore first call", [{}]),
                                      ("feed.explore", [{}])):
                    if op.split()[0].removeprefix("feed.") not in phases:
                        continue
                    svc = ServicesCPU(tmp).start()
                    w = node.window().start()
                    threads = ThreadsCPU(node.pid).start()
                    if op.endswith("first call"):
                        if ns.explore_warmup:
                            # The first statements on each pool connection (a fresh
                            # PostgreSQL backend, custom plans for its first five runs)
                            # and the first media records cost more once per node
                            # process: not what a running node's users see. As many at
                            # once as the pool holds, so each of its connections runs
                            # them.
                            readers = set(picked["readers"])  # their lists stay uncached
                            others = [tokens[u] for u in picked["online"]
                                      if u not in readers][:ns.explore_warmup]
                            trio.run(first_call_phase, node.ws_url, others, "feed.explore",
                                     {}, EXPLORE_WARMUP_CONCURRENCY, 0.0, True, None, "warm-up")
                            svc = ServicesCPU(tmp).start()
                            w = node.window().start()
                            threads = ThreadsCPU(node.pid).start()
                        # connected first: the calls alone are measured
                        calls_only = not ns.explore_precompute
                        lat, err = trio.run(first_call_phase, node.ws_url, reader_tokens,
                                            "feed.explore", {}, ns.concurrency,
                                            ns.explore_delay, calls_only,
                                            None if ns.explore_precompute else node.pid, op,
                                            (w, svc, threads) if calls_only else ())
                        if ns.explore_precompute:
                            op = (f"feed.explore first call, precomputed from connect, "
                                  f"{ns.explore_delay:g} s after hello")
                    else:
                        lat, err = trio.run(op_phase, node.ws_url, reader_tokens, op, args_list,
                                            ns.calls, ns.concurrency, op)
                    if not w.wall:  # else first_call_phase stopped them after its calls
                        w.stop()
                        svc.stop()
                        threads.stop()
                    split = common.thread_split(node.pid, threads.before, threads.after,
                                                w.wall or 1.0)
                    s = common.summarize(lat)
                    label = "feed.explore first call" if op.endswith("after hello") else op
                    # a first-call phase's window holds its users' connects and closes too
                    per_call = (("; per call (its connect and close included)"
                                 if op.startswith("feed.explore first call, precomputed")
                                 else "; per call")
                                + f": node {w.cpu / max(len(lat), 1) * 1e3:.2f} ms CPU"
                                + "".join(f", {k} {v / max(len(lat), 1) * 1e3:.2f} ms"
                                          for k, v in svc.used.items() if v is not None))
                    rows += [(op, fmt(s)), ("  errors", f"{len(err)} {err[:2]}"),
                             ("  CPU", cpu_row(w, svc) + per_call),
                             ("  node threads", split), ("  node GC", gc_row(w, label))]
                    figures[op] = s
                    print(f"  {op} {fmt(s)} errors {len(err)} {err[:2]}\n    node GC: "
                          f"{gc_row(w, label)}", flush=True)

                if "fanout" in phases:
                    rounds = trio.run(fanout_phase, node, tokens, author["id"], picked["online"],
                                      picked["all_followers"][-1], namespace, redis_url,
                                      ns.fanout_posts, jpeg_photo(), tmp)
                    figures["fanout"] = rounds
                    nf = len(picked["all_followers"])
                    for i, r in enumerate(rounds):
                        tl, made = r["last_timeline_s"], r["made_timeline_s"]
                        rate = f"{nf / tl:,.0f} inserts/s" if tl and tl > 0 else "n/a"
                        since_made = (f"; {made * 1e3:.0f} ms after the post was made -> "
                                      f"{nf / made:,.0f} inserts/s" if made and made > 0 else "")
                        rows.append((f"fan-out post {i + 1} ({nf} followers, {r['online']} online)",
                                     f"ack {r['ack_s'] * 1e3:.1f} ms; last online follower "
                                     f"{r['last_online_s'] * 1e3:.0f} ms ({r['received']} got it); "
                                     f"last timeline {'-' if tl is None else f'{tl * 1e3:.0f} ms'}"
                                     f" -> {rate}{since_made}; {r['cpu']}"))
            finally:
                code = node.stop() if node is not None else 0
                if node is not None and code not in (0, -15):
                    print(f"node exited with {code}; log tail:\n{node.log_tail()}",
                          file=sys.stderr)
                if ns.data_dir is not None:
                    asyncio.run(_cleanup(db_url, redis_url, namespace, picked["tokens"]))
        rows.insert(0, ("data set", f"{picked['n_users']} users, {picked['n_posts']} posts "
                                    f"(seed {seed_s:.0f}s)"))
        after = common.host_probe()
        figures["host_probe_after"] = vars(after)
        rows.insert(1, ("host probe", f"before: {probe}; after: {after} (lower is faster)"))
        common.print_report("Glint feed / search / fan-out", rows)
        common.write_json(ns.json, figures)


if __name__ == "__main__":
    main()
