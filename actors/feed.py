"""The home feed: hybrid fan-out into Redis timelines, read-time merge, ranking.

Writes (fan-out on write): a new post becomes a job on a Redis Stream
(storage/timelines.py); each node runs one `Fanout` worker that takes jobs with
XREADGROUP (or XAUTOCLAIM for jobs a dead node left pending) and walks the
author's followers in batches, one bridge crossing per batch: the post goes into
every follower's timeline and a `feed.post` event to each of them. Authors with
more followers than `feed_celebrity_threshold` are not written into timelines;
their posts are merged at read time from Postgres (fan-out on read), and their
`feed.post` goes only to followers with a live device.

Reads: `feed.home` is one crossing: timeline (rebuilt from Postgres when cold),
celebrity posts, a check of every candidate in Postgres through the visibility
rule (`privacy.in_home`, read in SQL by `relations.home_authors`) — deleted,
unfollowed, blocked, muted or private posts never show, whatever the cache holds —
and hydration.

Ranking (mode "ranked", the default): the newest FEED_RANK_WINDOW visible
candidates are scored once,

    score = w_recency    * 0.5 ** (age_hours / half_life_hours)
          + w_engagement * ln(1 + likes + comments)
          + w_affinity   * ln(1 + affinity(viewer, author))

affinity = the viewer's likes and comments on the author's posts plus the
messages the viewer sent the author 1:1 (counts from Postgres, cached in Redis
for FEED_AFFINITY_TTL_SECONDS). Posts newer than the viewer's "seen up to" mark
come first (ranked), then the already-seen ones (ranked) — `caught_up_at` is
where those start. The ranked order is stored as a snapshot (one Redis string, TTL
FEED_SNAPSHOT_TTL_SECONDS) that later pages read by offset, so a page never
repeats a post; past the window the feed continues chronologically below the
window's oldest post.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import trio

from actors import args as A
from actors.accounts import Session
from actors.errors import Invalid
from actors.posts import post_wire
from config import Settings
from config.limits import (
    FEED_AFFINITY_TTL_SECONDS,
    FEED_CONSUMER_FORGET_SECONDS,
    FEED_JOBS_PER_READ,
    FEED_OUTBOX_BATCH,
    FEED_OUTBOX_SWEEP_SECONDS,
    FEED_OUTBOX_SWEEP_TIMEOUT_SECONDS,
    FEED_PAGE_DEFAULT,
    FEED_PAGE_MAX,
    FEED_RANK_WINDOW,
    FEED_READ_ROUNDS,
    FEED_SEEN_TTL_SECONDS,
    FEED_SNAPSHOT_TTL_SECONDS,
    FEED_TIMELINE_TTL_SECONDS,
    FEED_WORKER_BLOCK_MS,
)
from protocol.envelope import encode, event
from storage import posts as posts_db
from storage import timelines as tl
from storage.errors import Unavailable
from storage.relations import home_authors
from storage.store import Storage

log = logging.getLogger(__name__)

MODES = ("ranked", "chronological")
WORKER_BACKOFF_MAX = 5.0
NOBODY = 0  # the viewer a fan-out job loads its post as: no user has this id


@dataclass(frozen=True)
class Weights:
    recency: float
    engagement: float
    affinity: float
    half_life_hours: float

    @classmethod
    def of(cls, s: Settings) -> Weights:
        return cls(s.feed_weight_recency, s.feed_weight_engagement, s.feed_weight_affinity,
                   s.feed_half_life_hours)


def rank_score(w: Weights, now_ms: int, head: tl.Head, affinity: int) -> float:
    age_hours = max(0, now_ms - head.time_ms) / 3_600_000
    return (w.recency * 0.5 ** (age_hours / w.half_life_hours)
            + w.engagement * math.log1p(head.likes + head.comments)
            + w.affinity * math.log1p(affinity))


def rank_all(w: Weights, now_ms: int, heads: Sequence[tl.Head],
             affinity: dict[int, int]) -> list[tuple[float, int, tl.Head]]:
    """(rank_score, id, head) of each head, best first: the highest score, and among
    equal scores the newest. The same formula with the weights and functions bound once,
    sorted as plain tuples (no key function: a first page ranks ~200 heads, and the
    key function and a max() per head were a third of its ranking)."""
    log1p, get = math.log1p, affinity.get
    decay = 0.5 ** (1 / (3_600_000 * w.half_life_hours))  # per millisecond of age
    wr, we, wa = w.recency, w.engagement, w.affinity
    scored = [(wr * (decay ** age if (age := now_ms - h[4]) > 0 else 1.0)
               + we * log1p(h[2] + h[3]) + wa * log1p(get(h[1], 0)), h[0], h) for h in heads]
    scored.sort(reverse=True)  # ids are unique: heads themselves are never compared
    return scored


# -- cursors (opaque to clients) -------------------------------------------------------------
# Their kinds (A.cursor_fields): a chronological feed's, a ranked feed's snapshot, and the
# chronological rest of a ranked feed below its snapshot. Each mode takes only its own.
CHRONO_CURSOR, RANKED_CURSOR, RANKED_TAIL_CURSOR = "c", "r", "rc"
CURSOR_KINDS = {"chronological": {CHRONO_CURSOR: 3},
                "ranked": {RANKED_CURSOR: 2, RANKED_TAIL_CURSOR: 3}}


@dataclass(frozen=True)
class Chrono:
    """Below (time, id); `seen` is the viewer's mark when the feed was first loaded;
    `tail`: the rest of a ranked feed, past its snapshot."""

    time_ms: int
    post_id: int
    seen: int
    tail: bool = False

    def encode(self) -> str:
        return A.make_cursor(RANKED_TAIL_CURSOR if self.tail else CHRONO_CURSOR,
                             self.time_ms, self.post_id, self.seen)


SNAP_HEX = 12  # a ranked snapshot's id: hex digits (its first four pick its slot)


@dataclass(frozen=True)
class Ranked:
    snap: str
    offset: int

    def encode(self) -> str:
        return A.make_cursor(RANKED_CURSOR, self.snap, self.offset)


def parse_cursor(args: dict[str, Any], mode: str) -> Chrono | Ranked | None:
    """The `cursor` argument, None for none: one of `mode`'s kinds, else `Invalid` (a
    ranked cursor was taken in chronological mode, and the reverse: the cursor's kind
    won)."""
    found = A.cursor_fields(args, CURSOR_KINDS[mode])
    if found is None:
        return None
    kind, fields = found
    if kind == RANKED_CURSOR:
        snap, offset = fields
        if len(snap) != SNAP_HEX or not all(ch in "0123456789abcdef" for ch in snap):
            raise Invalid("bad `cursor`")
        return Ranked(snap, A.cursor_number(offset))
    t, pid, seen = (A.cursor_number(f) for f in fields)
    return Chrono(t, pid, seen, tail=kind == RANKED_TAIL_CURSOR)


# -- the read (asyncio side, one crossing) -----------------------------------------------------
@dataclass
class _Read:
    """One feed.home request on the asyncio side: Postgres and Redis in one crossing."""

    st: Storage
    conn: asyncpg.Connection
    viewer: int
    threshold: int
    cap: int
    gone: list[int]  # ids in the timeline that are no longer live posts
    seen: int = 0  # the viewer's "seen up to" mark as this read found it
    peek: bool = False  # a look that leaves that mark where it is (`peek` in feed.home)
    cached_affinity: dict[int, int] | None = None  # read with the warm-up (ranked first page)
    # Read with the warm-up, when the request's first timeline read is known in advance:
    celebs: list[int] | None = None
    prefetched: tuple[tl.PageAt, tuple[list[int], bool]] | None = None
    snapshot: bytes | None = None  # a later ranked page's snapshot

    @property
    def key(self) -> str:
        return tl.timeline_key(self.st, self.viewer)

    async def warm_up(self, with_affinity: bool, page: tl.PageAt | None,
                      snapshot: str | None) -> None:
        """One Redis round trip (with the celebrity followees from Postgres at the same
        time when a timeline read is coming): the built check and whatever this request
        reads first — the affinity hash, the first timeline page or a snapshot."""
        r = self.st.redis
        assert r is not None
        warm = tl.warm_state(
            r, self.key, tl.seen_key(self.st, self.viewer), FEED_TIMELINE_TTL_SECONDS * 1000,
            affinity=tl.affinity_key(self.st, self.viewer) if with_affinity else None,
            page=page, snapshot=snapshot)
        if page is not None:
            self.celebs, state = await asyncio.gather(
                tl.celebrity_followees(self.conn, self.viewer, self.threshold), warm)
        else:
            state = await warm
        self.seen, self.cached_affinity = state.seen, state.affinity
        self.snapshot = state.snapshot
        if page is not None and state.page is not None:
            self.prefetched = (page, state.page)
        if not state.built:
            ids = await tl.recent_for(self.conn, self.viewer, self.cap)
            await tl.rebuild(r, self.key, ids, self.cap, FEED_TIMELINE_TTL_SECONDS * 1000)

    async def visible(self, ids: Sequence[int]) -> list[tl.Head]:
        found = await tl.heads_kept(self.conn, ids)
        self.gone += [i for i in ids if i not in found]
        shown = await home_authors(self.conn, self.viewer,  # the in_home rule, in SQL
                                   {h.author_id for h in found.values()})
        return [found[i] for i in ids if i in found and found[i].author_id in shown]

    async def newest(self, before: tuple[int, int] | None,
                     want: int) -> tuple[list[tl.Head], tuple[int, int] | None]:
        """Up to `want` visible posts strictly older than `before`, newest first, merged
        from the timeline and the celebrity followees; and the position to continue
        from (None: nothing older)."""
        r = self.st.redis
        assert r is not None
        batch = _batch(want)
        if self.prefetched is not None and self.prefetched[0] == tl.PageAt(before, batch):
            first = self.prefetched[1]
        elif self.celebs is None:
            self.celebs, first = await asyncio.gather(  # Postgres and Redis at once
                tl.celebrity_followees(self.conn, self.viewer, self.threshold),
                tl.read_timeline(r, self.key, before, batch))
        else:
            first = await tl.read_timeline(r, self.key, before, batch)
        celebs = self.celebs
        out: list[tl.Head] = []
        pos = before
        for round_ in range(FEED_READ_ROUNDS):
            from_tl, tl_done = (first if round_ == 0 else
                                await tl.read_timeline(r, self.key, pos, batch))
            from_pg: list[int] = []
            pg_done = True
            if celebs:
                from_pg = await tl.posts_before(self.conn, celebs, pos[1] if pos else None,
                                                batch)
                pg_done = len(from_pg) < batch
            # Only what is newer than every unfinished source's last item is safe to use.
            floors = [src[-1] for src, done in ((from_tl, tl_done), (from_pg, pg_done))
                      if not done and src]
            floor = max(floors) if floors else None
            ids = sorted({i for i in (*from_tl, *from_pg) if floor is None or i >= floor},
                         reverse=True)
            for head in await self.visible(ids):
                out.append(head)
                if len(out) == want:
                    return out, (head.time_ms, head.id)
            if floor is None:
                return out, None
            pos = (tl.id_time_ms(floor), floor)
        return out, pos  # a short page: continue below what was checked

    async def seen_mark(self, update_to: int | None) -> int:
        """The viewer's "seen up to" time before this read; raised to `update_to`."""
        r = self.st.redis
        assert r is not None
        old = self.seen
        if update_to is not None and update_to > old and not self.peek:
            await r.set(tl.seen_key(self.st, self.viewer), update_to, ex=FEED_SEEN_TTL_SECONDS)
        return old

    async def affinity(self, authors: set[int]) -> dict[int, int]:
        r = self.st.redis
        assert r is not None
        key = tl.affinity_key(self.st, self.viewer)
        order = sorted(authors)
        if self.cached_affinity is not None:  # the whole hash came with the warm-up
            out = {a: self.cached_affinity[a] for a in order if a in self.cached_affinity}
        else:
            cached = await r.hmget(key, [str(a) for a in order]) if order else []
            out = {a: int(v) for a, v in zip(order, cached, strict=True) if v is not None}
        missing = [a for a in order if a not in out]
        if missing:
            fresh = await tl.affinity_counts(self.conn, self.viewer, missing)
            out.update(fresh)
            fresh_key = await r.ttl(key) < 0  # the cache lives a fixed time from its start
            await r.hset(key, mapping={str(a): n for a, n in fresh.items()})
            if fresh_key:
                await r.expire(key, FEED_AFFINITY_TTL_SECONDS)
        return out

    async def forget_gone(self) -> None:
        if self.gone and self.st.redis is not None:
            await self.st.redis.zrem(self.key, *map(str, self.gone))

    async def hydrate(self, heads: Sequence[tl.Head]) -> list[dict[str, Any]]:
        found = await posts_db.load(self.conn, self.viewer, [h.id for h in heads])
        return [post_wire(found[h.id]) for h in heads if h.id in found]


def _batch(want: int) -> int:
    """Timeline ids read per merge round for `want` visible posts (room for hidden ones)."""
    return max(want, 10) + 10


def _page(posts: list[dict[str, Any]], cursor: str | None, caught_up_at: int | None,
          heads: Sequence[tl.Head]) -> dict[str, Any]:
    """The reply. `caught_up_at` indexes `heads`; `posts` are what hydrating them kept (a
    post deleted since its head was read drops out), so the line moves to the first kept
    post at or after it, and goes when none of those was kept."""
    if caught_up_at is not None and len(posts) < len(heads):
        kept = {p["id"] for p in posts}
        caught_up_at = sum(1 for h in heads[:caught_up_at] if h.id in kept)
    if caught_up_at is not None and caught_up_at >= len(posts):
        caught_up_at = None  # nothing of the page is at or after it (a ranked page's
        # boundary post may have been left out by its visibility check already)
    out: dict[str, Any] = {"posts": posts, "cursor": cursor}
    if caught_up_at is not None:
        out["caught_up_at"] = caught_up_at
    return out


async def _home(st: Storage, viewer: int, mode: str, cursor: Chrono | Ranked | None,
                limit: int, weights: Weights, peek: bool) -> dict[str, Any]:
    assert st.pool is not None
    s = st.settings
    async with st.pool.acquire() as conn:
        rd = _Read(st, conn, viewer, s.feed_celebrity_threshold, s.feed_timeline_cap, [],
                   peek=peek)
        if isinstance(cursor, Ranked):
            page, snapshot = None, tl.snapshot_key(st, viewer, cursor.snap)
        else:
            before = (cursor.time_ms, cursor.post_id) if isinstance(cursor, Chrono) else None
            want = FEED_RANK_WINDOW if cursor is None and mode == "ranked" else limit
            page, snapshot = tl.PageAt(before, _batch(want)), None
        await rd.warm_up(cursor is None and mode == "ranked", page, snapshot)
        try:
            if isinstance(cursor, Ranked):
                return await _ranked_next(rd, cursor, limit)
            if isinstance(cursor, Chrono):
                return await _chrono(rd, (cursor.time_ms, cursor.post_id), cursor.seen, limit,
                                     first=False, tail=cursor.tail)
            if mode == "chronological":
                return await _chrono(rd, None, 0, limit, first=True, tail=False)
            return await _ranked_first(rd, limit, weights)
        finally:
            await rd.forget_gone()


def _first_seen(heads: Sequence[tl.Head], seen: int) -> int | None:
    return next((i for i, h in enumerate(heads) if h.time_ms <= seen), None)


async def _chrono(rd: _Read, before: tuple[int, int] | None, seen: int, limit: int,
                  first: bool, tail: bool) -> dict[str, Any]:
    heads, nxt = await rd.newest(before, limit)
    if first:
        seen = await rd.seen_mark(heads[0].time_ms if heads else None)
    # The caught-up line is in this page only if the page starts above the mark.
    above = before is None or before[0] > seen
    caught = _first_seen(heads, seen) if above and seen else None
    cursor = Chrono(nxt[0], nxt[1], seen, tail).encode() if nxt else None
    return _page(await rd.hydrate(heads), cursor, caught, heads)


async def _ranked_first(rd: _Read, limit: int, weights: Weights) -> dict[str, Any]:
    heads, floor = await rd.newest(None, FEED_RANK_WINDOW)
    seen = rd.seen  # raised below, in the same round trip as the snapshot
    newest = max((h.time_ms for h in heads), default=0)
    affinity = await rd.affinity({h.author_id for h in heads if h.author_id != rd.viewer})
    ranked = rank_all(weights, int(time.time() * 1000), heads, affinity)
    unseen = [h for _, _, h in ranked if h.time_ms > seen]
    old = [h for _, _, h in ranked if h.time_ms <= seen]
    order = unseen + old
    boundary = len(unseen) if old else None
    page = order[:limit]
    cursor: str | None = None
    r = rd.st.redis
    assert r is not None
    mark = newest if newest > seen and not rd.peek else None
    snapshot: tuple[str, str] | None = None
    if len(order) > limit:
        snap = secrets.token_hex(SNAP_HEX // 2)
        meta = f"{boundary if boundary is not None else -1}.{seen}." + (
            f"{floor[0]}.{floor[1]}" if floor else "-")
        # One string, not a list of 200 members: packing and parsing those in redis-py
        # cost the node ~1 ms per first page.
        snapshot = (tl.snapshot_key(rd.st, rd.viewer, snap),
                    snap + "|" + meta + "|" + ",".join([str(h[0]) for h in order]))
        cursor = Ranked(snap, limit).encode()
    elif floor is not None:
        cursor = Chrono(floor[0], floor[1], seen, tail=True).encode()
    caught = boundary if boundary is not None and boundary < len(page) else None
    writes = ([tl.write_marks(r, tl.seen_key(rd.st, rd.viewer), mark, FEED_SEEN_TTL_SECONDS,
                              snapshot, FEED_SNAPSHOT_TTL_SECONDS)]
              if mark is not None or snapshot is not None else [])
    posts, *_ = await asyncio.gather(rd.hydrate(page), *writes)  # Postgres while Redis writes
    return _page(posts, cursor, caught, page)


async def _ranked_next(rd: _Read, cur: Ranked, limit: int) -> dict[str, Any]:
    """A later page of a ranked feed: the snapshot's next slice, each post re-checked."""
    raw = rd.snapshot  # read with the warm-up
    snap, _, rest = (raw or b"").decode().partition("|")
    if snap != cur.snap:  # expired, or its slot taken by a newer first page
        raise Invalid("this feed cursor has expired: load the feed again")
    meta_raw, _, order_raw = rest.partition("|")
    b_raw, seen_raw, *floor_raw = meta_raw.split(".")
    boundary, seen = int(b_raw), int(seen_raw)
    order = order_raw.split(",")
    ids = [int(x) for x in order[cur.offset:cur.offset + limit]]
    visible = {h.id: h for h in await rd.visible(ids)}
    page = [visible[i] for i in ids if i in visible]
    caught = None
    if boundary >= 0 and cur.offset <= boundary < cur.offset + len(ids):
        caught = sum(1 for j, i in enumerate(ids) if i in visible and cur.offset + j < boundary)
    end = cur.offset + len(ids)
    if ids and end < len(order):
        cursor: str | None = Ranked(cur.snap, end).encode()
    elif floor_raw and floor_raw[0] != "-":
        cursor = Chrono(int(floor_raw[0]), int(floor_raw[1]), seen, tail=True).encode()
    else:
        cursor = None
    return _page(await rd.hydrate(page), cursor, caught, page)


# -- the service -------------------------------------------------------------------------------
class Feed:
    """feed.home for one node, and the node's fan-out worker."""

    def __init__(self, st: Storage, consumer: str) -> None:
        self.st = st
        self.settings = st.settings
        self.consumer = consumer
        self.weights = Weights.of(st.settings)
        self._progress = trio.Event()
        self.jobs_done = 0

    async def home(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"mode", "cursor", "limit", "peek"})
        mode = A.text(args, "mode", max_len=16, required=False)
        mode = "ranked" if mode is None else mode  # only a missing mode: "" is bad
        if mode not in MODES:
            raise Invalid("`mode` is `ranked` or `chronological`")
        cursor = parse_cursor(args, mode)
        limit = A.integer(args, "limit", required=False, minimum=1, maximum=FEED_PAGE_MAX)
        peek = bool(A.flag(args, "peek", required=False))
        return await self.st.both(_home, session.user_id, mode, cursor,
                                  limit or FEED_PAGE_DEFAULT, self.weights, peek)

    # -- the worker ------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Take and process fan-out jobs until cancelled; never lets an error stop it."""
        task_status.started()
        try:
            gone = await tl.forget_idle_consumers(self.st, self.consumer,
                                                  FEED_CONSUMER_FORGET_SECONDS * 1000)
            if gone:
                log.info("fan-out consumers of gone nodes dropped", extra={"consumers": gone})
        except Exception as exc:  # housekeeping: the next start tries again
            log.warning("fan-out consumer clean-up failed", extra={"error": str(exc)})
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sweep_outbox)
            await self._work()

    async def _sweep_outbox(self) -> None:
        """Queue the fan-out jobs whose enqueue never ran (tl.sweep_outbox), every
        FEED_OUTBOX_SWEEP_SECONDS or the outbox's own age if shorter."""
        after = self.settings.feed_outbox_after_seconds
        while True:
            await trio.sleep(min(FEED_OUTBOX_SWEEP_SECONDS, after))
            try:
                # Bounded: a sweep holds its rows' locks while it talks to Redis (a
                # half-open connection would have held them, and this loop, for hours).
                with trio.fail_after(FEED_OUTBOX_SWEEP_TIMEOUT_SECONDS):
                    while (found := await tl.sweep_outbox(self.st, after, FEED_OUTBOX_BATCH)):
                        log.warning("fan-out jobs queued from the outbox",
                                    extra={"jobs": found})
                        if found < FEED_OUTBOX_BATCH:
                            break
            except Exception as exc:  # the next sweep tries again (rolled back if cut)
                log.warning("fan-out outbox sweep failed", extra={"error": repr(exc)})

    async def _work(self) -> None:
        delay = 0.1
        claim_idle_ms = int(self.settings.feed_claim_idle_seconds * 1000)
        while True:
            try:
                jobs = await tl.next_jobs(self.st, self.consumer, claim_idle_ms,
                                          FEED_WORKER_BLOCK_MS, FEED_JOBS_PER_READ)
                for job in jobs:
                    await self.process(job)
                delay = 0.1
            except Unavailable as exc:
                log.warning("feed worker: storage unavailable", extra={"error": str(exc)})
                await trio.sleep(delay)
                delay = min(delay * 2, WORKER_BACKOFF_MAX)
            except Exception:
                log.exception("feed worker failed; retrying")
                await trio.sleep(delay)
                delay = min(delay * 2, WORKER_BACKOFF_MAX)
            finally:
                self._tick()

    def _tick(self) -> None:
        self._progress.set()
        self._progress = trio.Event()

    async def until(self, check: Callable[[], Awaitable[bool]]) -> None:
        """Return once `check()` holds, asked again at each step of the worker (a job's
        batch, or a read that found none: at least every FEED_WORKER_BLOCK_MS)."""
        while True:
            progress = self._progress
            if await check():
                return
            await progress.wait()

    async def drained(self) -> None:
        """Return once every fan-out job enqueued so far (by any node) is finished."""

        async def empty() -> bool:
            return await tl.backlog(self.st) == 0

        await self.until(empty)

    async def process(self, job: tl.Job) -> None:
        """Fan one job out, batch by batch; the job stays pending until the last one."""
        if job.kind in (*tl.ADDS, tl.DELETE):
            async def load(conn: asyncpg.Connection) -> dict[str, Any] | None:
                # as nobody: a suspended author's posts are hidden but to themselves
                found = await posts_db.load(conn, NOBODY, [job.post_id])
                return post_wire(found[job.post_id]) if job.post_id in found else None

            start = await self.st.both(tl.start_job, job, load,
                                       self.settings.feed_celebrity_threshold)
            if job.kind == tl.DELETE or start.post is not None:
                try:
                    await self._steps(job, start)
                except tl.JobLost:
                    log.info("fan-out job claimed by another node", extra={"job": job.entry_id})
                    return  # theirs to finish
        await tl.finish(self.st, job)
        self.jobs_done += 1

    async def _steps(self, job: tl.Job, start: tl.JobStart) -> None:
        s = self.settings
        frame = None
        if start.post is not None and job.kind == tl.POST:  # a REFAN tells no one
            post = {**start.post, "liked_by_me": False, "saved_by_me": False}
            frame = encode(event("feed.post", {"post": post}))
        into = start.followers <= s.feed_celebrity_threshold
        after: int | None = start.resume_after
        if job.kind == tl.REFAN and not into:
            return  # a celebrity's posts are merged at read: nothing to add, no one to tell
        if job.kind == tl.DELETE and not into:
            # A celebrity's posts never entered its followers' timelines: only its own
            # timeline has the post (walking millions of followers would do nothing).
            after = tl.PAST_EVERY_FOLLOWER
        extra = [job.author_id] if start.resume_after == 0 else []
        while after is not None:
            after = await self.st.both(
                tl.fanout_step, job, self.consumer, after, s.feed_fanout_batch, frame, into,
                extra, s.feed_timeline_cap, tl_ttl_ms())
            extra = []
            self._tick()
            if after is not None and s.feed_fanout_pause > 0:
                await trio.sleep(s.feed_fanout_pause)


def tl_ttl_ms() -> int:
    return FEED_TIMELINE_TTL_SECONDS * 1000
