"""Home timelines in Redis, the durable fan-out job stream, and the feed's Postgres reads.

A timeline is a sorted set per user, `{ns}:tl:{user}`: member = post id, score =
the post's time in ms (from the id, so score order is id order). A sentinel
member `"0"` (score 0) marks a timeline that was (re)built from Postgres; a key
without it is *cold* — missing, evicted, or holding only what fan-out added since
— and the reader rebuilds it by merging (ZADD, a union) the newest posts of the
user's followees, so nothing fan-out added meanwhile is lost. Timelines are
capped (ZREMRANGEBYRANK, the sentinel kept) and expire FEED_TIMELINE_TTL_SECONDS
after their last read. Correctness never depends on them: every read re-checks
each post in Postgres (deleted, blocked, unfollowed, muted, private).

Fan-out jobs live on a Redis Stream `{ns}:feed:jobs` read by the consumer group
`fanout` (one consumer per node). A job is XACKed and XDELed only when done, so a
node that dies mid-job leaves it pending; another node (or the same one after a
restart) takes it over with XAUTOCLAIM once it has been idle long enough, and
resumes from the progress (last follower id) recorded after every step. ZADD is
idempotent, so at-least-once processing leaves each post in a timeline once. A job is
first written to the Postgres table `feed_outbox` in its post's transaction and leaves
it once on the stream; a sweep queues what an enqueue never did (outbox_add,
sweep_outbox).

Every function here runs on the asyncio side; each trio-facing call is one
crossing of the bridge.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg
import redis.asyncio as aioredis
import redis.exceptions

from config import limits as L
from storage import bus, presence
from storage.errors import Unavailable
from storage.ids import ID_EPOCH_MS, id_time_ms, make_id
from storage.store import Storage

log = logging.getLogger(__name__)

GROUP = "fanout"
# Followers per script call: a step's batch is split into calls of this many, so no
# one call holds Redis for long (~2.5 ms for 500; the pipeline still makes one trip).
FANOUT_SCRIPT_USERS = 500
SENTINEL = "0"  # member marking a timeline built from Postgres
POST, DELETE = "post", "delete"
REFAN = "refan"  # a post fanned out again (admin.unsuspend): into timelines, no feed.post
ADDS = (POST, REFAN)  # the jobs that add their post

# One fan-out step's inserts, all in Redis: the node sends the follower ids once instead
# of commands per follower (building those was the node's cost). ARGV[1] score, ARGV[2]
# member, ARGV[3] cap, ARGV[4] ttl ms, ARGV[5] the timeline key prefix, ARGV[6] the seen
# mark key prefix ('' when the step is not late), ARGV[7..] user ids. Each timeline keeps
# its newest `cap` (and the sentinel); a new key gets its expiry. Two calls per follower
# in the common case (ZADD, ZCARD). A late step also lowers a "seen up to" mark at or
# past the post's time to just below it where the post is new to the timeline: the
# follower read their feed after the post was made but before it reached them, so it
# must not rank as seen. Returns the ids done.
_ADD = """
local cap = tonumber(ARGV[3])
local score = tonumber(ARGV[1])
for i = 7, #ARGV do
  local key = ARGV[5] .. ARGV[i]
  local added = redis.call('ZADD', key, ARGV[1], ARGV[2])
  local n = redis.call('ZCARD', key)
  if n == 1 then
    redis.call('PEXPIRE', key, ARGV[4])  -- new (every other writer sets an expiry)
  elseif n > cap then
    local first = 0
    if redis.call('ZSCORE', key, '0') then first = 1 end
    if n - first > cap then redis.call('ZREMRANGEBYRANK', key, first, n - cap - 1) end
  end
  -- only a post new to this timeline, and kept by the cap: one it held already was
  -- there to be read (a job run twice, a timeline rebuilt from Postgres)
  if ARGV[6] ~= '' and added == 1 and redis.call('ZSCORE', key, ARGV[2]) then
    local seen = ARGV[6] .. ARGV[i]
    local mark = tonumber(redis.call('GET', seen))
    if mark and mark >= score then
      redis.call('SET', seen, string.format('%d', score - 1), 'KEEPTTL')
    end
  end
end
return #ARGV - 6
"""

# ARGV[1] member, ARGV[2] the timeline key prefix, ARGV[3..] user ids: a post's removal.
_REMOVE = """
for i = 3, #ARGV do redis.call('ZREM', ARGV[2] .. ARGV[i], ARGV[1]) end
return #ARGV - 2
"""


def timeline_key(st: Storage, user_id: int) -> str:
    return st.key("tl", user_id)


# KEYS[1] = the job stream; ARGV = group, consumer, entry id. Refresh the job's idle time
# (so no other node claims it while this one works) only while this consumer still owns
# it: 0 when another node claimed it meanwhile (this one stalled past the claim idle
# time), which then stops here instead of both fanning it out, each from where it was.
_OWN = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if p[1] == nil or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
"""


def stream_key(st: Storage) -> str:
    return st.key("feed", "jobs")


def progress_key(st: Storage) -> str:
    return st.key("feed", "progress")


def seen_key(st: Storage, user_id: int) -> str:
    return st.key("feed", "seen", user_id)


def affinity_key(st: Storage, user_id: int) -> str:
    return st.key("feed", "aff", user_id)


def snapshot_key(st: Storage, user_id: int, snap: str) -> str:
    """A ranked feed's order: "snap|meta|id,id,..." (a string; "rk" held a list). Kept in
    one of FEED_SNAPSHOT_SLOTS slots per viewer, picked by the snap id's first hex digits
    (the snap id inside tells a slot's later tenant from it): one viewer's first pages
    at the op rate no longer filled Redis with a key each (~4 KB, 30 min)."""
    return st.key("feed", "rk3", user_id, int(snap[:4], 16) % L.FEED_SNAPSHOT_SLOTS)


@dataclass(frozen=True)
class Job:
    entry_id: str
    kind: str  # POST or DELETE
    post_id: int
    author_id: int


# -- the job stream ------------------------------------------------------------------------
async def outbox_add(conn: asyncpg.Connection, kind: str, post_id: int, author_id: int) -> None:
    """In the transaction of the post's making or deletion: the job, kept in Postgres
    until it is on the stream (enqueue), so a node gone between the commit and the XADD
    loses nothing (sweep_outbox queues it later)."""
    await conn.execute(
        """INSERT INTO feed_outbox (post_id, kind, author_id, queued_at)
           VALUES ($1, $2, $3, clock_timestamp()) ON CONFLICT DO NOTHING""",
        post_id, kind, author_id)


async def _add_jobs(r: aioredis.Redis, st: Storage,
                    jobs: Sequence[tuple[str, int, int]]) -> None:
    async with r.pipeline(transaction=False) as pipe:
        for kind, post_id, author_id in jobs:
            pipe.xadd(stream_key(st), {"k": kind, "p": str(post_id), "a": str(author_id)})
        await pipe.execute()


async def enqueue(st: Storage, kind: str, post_ids: Sequence[int], author_id: int) -> None:
    """Trio side: add these posts' fan-out jobs, then take them out of the outbox (one
    crossing). Called after the commit that wrote them there."""

    async def run(st: Storage) -> None:
        assert st.redis is not None and st.pool is not None
        await _add_jobs(st.redis, st, [(kind, p, author_id) for p in post_ids])
        await st.pool.execute(
            "DELETE FROM feed_outbox WHERE post_id = ANY($1::bigint[]) AND kind = $2",
            list(post_ids), kind)

    if post_ids:
        await st.both(run)


async def enqueue_quietly(st: Storage, kind: str, post_ids: Sequence[int],
                          author_id: int) -> None:
    """Enqueue, but never fail the caller's already-committed mutation: if Redis is down
    the jobs wait in the outbox for a later sweep (reads re-check Postgres meanwhile)."""
    try:
        await enqueue(st, kind, post_ids, author_id)
    except Unavailable as exc:
        log.warning("feed fan-out job left in the outbox",
                    extra={"posts": list(post_ids), "error": str(exc)})


async def refan_after_suspension(conn: asyncpg.Connection, author_id: int,
                                 suspended_ms: int) -> list[int]:
    """In an unsuspension's transaction: the author's live posts made in the
    FEED_REFAN_SECONDS before the suspension (`suspended_ms`), their REFAN jobs written
    to the outbox (into timelines again, no feed.post). A fan-out stops at a suspended
    author (a job that ran, or went on, after the suspension left followers without the
    post), and warm timelines are never rebuilt from Postgres."""
    since = make_id(suspended_ms - L.FEED_REFAN_SECONDS * 1000, 0, 0)
    rows = await conn.fetch(
        f"""INSERT INTO feed_outbox (post_id, kind, author_id, queued_at)
            SELECT id, '{REFAN}', author_id, clock_timestamp() FROM posts
            WHERE author_id = $1 AND deleted_at IS NULL AND id >= $2
            ORDER BY id DESC LIMIT {L.FEED_REFAN_POSTS:d}
            ON CONFLICT DO NOTHING RETURNING post_id""", author_id, since)
    return [r["post_id"] for r in rows]


async def sweep_outbox(st: Storage, after_s: float, limit: int) -> int:
    """Trio side: queue the jobs left in the outbox more than `after_s` ago (their
    enqueue never ran: the node died, Redis was down), oldest first, at most `limit`;
    how many. A job queued twice (its enqueue was only late) is harmless: fan-out is
    idempotent. SKIP LOCKED: nodes sweeping at once take different jobs."""

    async def run(st: Storage) -> int:
        assert st.redis is not None and st.pool is not None
        async with st.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT post_id, kind, author_id FROM feed_outbox
                   WHERE queued_at < now() - make_interval(secs => $1)
                   ORDER BY queued_at LIMIT $2 FOR UPDATE SKIP LOCKED""", after_s, limit)
            if rows:
                await _add_jobs(st.redis, st,
                                [(r["kind"], r["post_id"], r["author_id"]) for r in rows])
                await conn.execute(
                    """DELETE FROM feed_outbox o USING unnest($1::bigint[], $2::text[]) AS d(p, k)
                       WHERE o.post_id = d.p AND o.kind = d.k""",
                    [r["post_id"] for r in rows], [r["kind"] for r in rows])
            return len(rows)

    return await st.both(run)


async def _ensure_group(r: aioredis.Redis, stream: str) -> None:
    try:
        # From id 0: entries added before the group existed are fanned out too.
        await r.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.exceptions.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def forget_idle_consumers(st: Storage, me: str, idle_ms: int) -> list[str]:
    """Trio side: drop the group's consumers other than `me` that have nothing pending
    and were idle `idle_ms` or more — nodes gone (a node is a new consumer at each start,
    `hostname-pid`), whose names the group kept for ever. Nothing is lost: a consumer
    with pending jobs stays (another node claims those), and a live one that happened
    to be idle is made again by its next read. Returns the names dropped."""
    stream = stream_key(st)

    async def run(r: aioredis.Redis) -> list[str]:
        try:
            consumers = await r.xinfo_consumers(stream, GROUP)
        except redis.exceptions.ResponseError as exc:
            if "NOGROUP" in str(exc) or "no such key" in str(exc):
                return []
            raise
        gone = []
        for c in consumers:
            name = c["name"].decode() if isinstance(c["name"], bytes) else str(c["name"])
            if name != me and int(c["pending"]) == 0 and int(c["idle"]) >= idle_ms:
                await r.xgroup_delconsumer(stream, GROUP, name)
                gone.append(name)
        return gone

    return await st.redis_op(run)


def _jobs(entries: Any) -> list[Job]:
    out = []
    for entry in entries or ():
        if not entry or entry[1] is None:
            continue  # trimmed under us
        entry_id, fields = entry
        f = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes)
                                                          else v) for k, v in fields.items()}
        eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        try:
            out.append(Job(eid, f["k"], int(f["p"]), int(f["a"])))
        except (KeyError, ValueError):
            log.warning("malformed feed job", extra={"entry": eid})
            out.append(Job(eid, "bad", 0, 0))
    return out


async def next_jobs(st: Storage, consumer: str, claim_idle_ms: int, block_ms: int,
                    count: int) -> list[Job]:
    """Trio side: jobs abandoned by a silent consumer (XAUTOCLAIM), else new ones
    (XREADGROUP, blocking up to block_ms); one crossing."""
    stream = stream_key(st)

    async def run(r: aioredis.Redis) -> list[Job]:
        for attempt in range(2):
            try:
                claimed = await r.xautoclaim(stream, GROUP, consumer, claim_idle_ms,
                                             start_id="0-0", count=count)
                jobs = _jobs(claimed[1])
                if jobs:
                    return jobs
                got = await r.xreadgroup(GROUP, consumer, {stream: ">"}, count=count,
                                         block=block_ms)
                return _jobs(got[0][1]) if got else []
            except redis.exceptions.ResponseError as exc:
                if "NOGROUP" not in str(exc) or attempt:
                    raise
                await _ensure_group(r, stream)  # first start, or Redis lost its data
        return []

    return await st.redis_op(run)


async def finish(st: Storage, job: Job) -> None:
    """Trio side: the job is done — acknowledge, delete, forget its progress; together
    (MULTI): an entry acknowledged but not deleted would never be delivered again, yet
    count in the backlog (`drained` would wait on it for ever)."""
    stream = stream_key(st)

    async def run(r: aioredis.Redis) -> None:
        async with r.pipeline(transaction=True) as pipe:
            pipe.xack(stream, GROUP, job.entry_id)
            pipe.xdel(stream, job.entry_id)
            pipe.hdel(progress_key(st), job.entry_id)
            await pipe.execute()

    await st.redis_op(run)


async def backlog(st: Storage) -> int:
    """Jobs not yet finished (pending or not yet delivered): finished ones are deleted."""

    async def run(r: aioredis.Redis) -> int:
        return int(await r.xlen(stream_key(st)))

    return await st.redis_op(run)


# -- fan-out steps ---------------------------------------------------------------------------
@dataclass(frozen=True)
class JobStart:
    post: dict[str, Any] | None  # None: the post is gone (deleted before its fan-out)
    followers: int
    resume_after: int  # follower id already done (0: from the start)


async def _followers_count(conn: asyncpg.Connection, user_id: int) -> int:
    return int(await conn.fetchval("SELECT followers_count FROM users WHERE id = $1",
                                   user_id) or 0)


async def start_job(st: Storage, job: Job, load: Any, threshold: int) -> JobStart:
    """asyncio side (via Storage.both): the post (`load(conn)` -> wire or None), its
    author's follower count, and how far a previous owner of the job got. A post that
    will skip the timelines (its author is above `threshold`) marks its author
    (`users.fanout_skipped_at`): the home feed merges their posts at read time for
    FEED_MERGE_AFTER_SKIP_DAYS after it, so falling back to the threshold (one unfollow)
    does not hide from warm timelines the posts only Postgres holds."""
    assert st.pool is not None and st.redis is not None
    async with st.pool.acquire() as conn:
        post = await load(conn) if job.kind in ADDS else None
        followers = await _followers_count(conn, job.author_id)
        if post is not None and followers > threshold:
            await conn.execute("UPDATE users SET fanout_skipped_at = now() WHERE id = $1",
                               job.author_id)
    done = await st.redis.hget(progress_key(st), job.entry_id)
    return JobStart(post, followers, int(done) if done else 0)


async def _batch(conn: asyncpg.Connection, job: Job, after: int,
                 limit: int) -> tuple[bool, list[int]]:
    """(whether a POST job's post is still live and its author not suspended — checked
    at every batch, so a post deleted or an author suspended during a long fan-out stops
    it there: no later batch gets its feed.post, nor its timelines the post; followers
    in id order, without those who muted the author (they get no feed.post; their reads
    filter mutes anyway)). One statement."""
    row = await conn.fetchrow(
        """SELECT ($4::bigint IS NULL OR EXISTS (
                       SELECT 1 FROM posts p JOIN users u ON u.id = p.author_id
                       WHERE p.id = $4 AND p.deleted_at IS NULL
                         AND u.suspended_at IS NULL)) AS live,
                  ARRAY(SELECT f.follower_id FROM follows f
                        WHERE f.followee_id = $1 AND f.follower_id > $2
                          AND NOT EXISTS (SELECT 1 FROM mutes m
                                          WHERE m.muter_id = f.follower_id
                                            AND m.muted_id = $1)
                        ORDER BY f.follower_id LIMIT $3) AS batch""",
        job.author_id, after, limit, job.post_id if job.kind in ADDS else None)
    return bool(row["live"]), list(row["batch"])


PAST_EVERY_FOLLOWER = (1 << 63) - 1  # a step after this id has no follower: the author only


class JobLost(Exception):
    """Another node claimed the job while this one stalled: it fans it out now."""


async def fanout_step(st: Storage, job: Job, consumer: str, after: int, limit: int,
                      frame: bytes | None, into_timelines: bool, extra: Sequence[int],
                      cap: int, ttl_ms: int) -> int | None:
    """asyncio side (via Storage.both): one batch of followers after `after`.

    POST jobs add the post to their timelines (unless `into_timelines` is False, for
    accounts over the celebrity threshold), then publish `frame` (feed.post) for the
    batch as one multicast message on the broadcast channel: each node hands it to
    those of the batch it holds (one message a node, not one per follower, which each
    node's storage thread had to parse). For a celebrity only the followers with a
    live device are named. DELETE jobs remove the post. `extra` users
    (the author) get the insert without a feed.post. Records progress and refreshes the
    job's idle time, so no other node claims it while this one works, and raises
    JobLost (having sent nothing) if one did. Returns the last follower id done, or
    None when finished (also when a POST job's post was deleted or its author
    suspended meanwhile).
    """
    assert st.pool is not None and st.redis is not None
    async with st.pool.acquire() as conn:
        live, batch = await _batch(conn, job, after, limit)
    if not live:
        return None
    r = st.redis
    member, score = str(job.post_id), id_time_ms(job.post_id)
    tl_prefix = timeline_key(st, "")
    # Late (a reclaimed job, one from the outbox, a backlog): followers may have read
    # past the post's time meanwhile, and their seen marks are lowered (_ADD).
    seen_prefix = seen_key(st, "") if time.time() * 1000 - score > L.FEED_LATE_MS else ""
    to = batch
    # The timelines first: if a write fails (Redis out of memory, read-only after a
    # failover), it raises here, before any feed.post or progress, and the batch is
    # done again when the job is.
    async with r.pipeline(transaction=False) as pipe:
        pipe.eval(_OWN, 1, stream_key(st), GROUP, consumer, job.entry_id)
        # the author (`extra`) saw their own post: their mark stays
        for users, marks in ((extra, ""), (batch if into_timelines else [], seen_prefix)):
            for i in range(0, len(users), FANOUT_SCRIPT_USERS):  # Redis stays responsive
                ids = users[i:i + FANOUT_SCRIPT_USERS]
                if job.kind in ADDS:
                    pipe.eval(_ADD, 0, score, member, cap, ttl_ms, tl_prefix, marks, *ids)
                else:
                    pipe.eval(_REMOVE, 0, member, tl_prefix, *ids)
        if job.kind == POST and frame is not None and not into_timelines:
            # A celebrity's followers are many: only those with a live device are named.
            for uid in batch:
                pipe.exists(presence.device_set(st, uid))
        done = await pipe.execute()
    if not done[0]:
        raise JobLost(job.entry_id)  # its timeline writes are the owner's too: idempotent
    if job.kind == POST and frame is not None and not into_timelines:
        alive = done[len(done) - len(batch):]
        to = [uid for uid, on in zip(batch, alive, strict=True) if on]
    async with r.pipeline(transaction=False) as pipe:
        if job.kind == POST and frame is not None and to:
            pipe.publish(bus.broadcast_channel(st), bus.pack_multicast(to, frame))
        if batch:
            pipe.hset(progress_key(st), job.entry_id, str(batch[-1]))
        await pipe.execute()
    return batch[-1] if len(batch) == limit else None


# -- reads: timelines ------------------------------------------------------------------------
# KEYS[1] = a timeline; ARGV[1] = the max score ('+inf' or '(t'), ARGV[2] = count,
# ARGV[3] = a time whose members are wanted too ('' for none: the cursor's millisecond).
# Returns "ties;ids", each comma-joined: one bulk string, not `count` of them (the
# node parses replies in Python, ~2 us per element).
_READ = """
local ties = ''
if ARGV[3] ~= '' then
  ties = table.concat(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[3]), ',')
end
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '(0', 'LIMIT', 0, ARGV[2])
return ties .. ';' .. table.concat(ids, ',')
"""


def _ints(raw: str) -> list[int]:
    return [int(x) for x in raw.split(",")] if raw else []


def _read_args(before: tuple[int, int] | None, count: int) -> tuple[str, int, int | str]:
    return ("+inf", count, "") if before is None else (f"({before[0]}", count, before[0])


def _page(raw: bytes | str, before: tuple[int, int] | None,
          count: int) -> tuple[list[int], bool]:
    ties_raw, _, ids_raw = (raw.decode() if isinstance(raw, bytes) else raw).partition(";")
    rows = _ints(ids_raw)
    out = sorted((m for m in _ints(ties_raw) if before is not None and m < before[1]),
                 reverse=True)
    return out + rows, len(rows) < count


async def read_timeline(r: aioredis.Redis, key: str, before: tuple[int, int] | None,
                        count: int) -> tuple[list[int], bool]:
    """Up to `count` post ids strictly before `before` (time, id), newest first; and
    whether the timeline has nothing older. Scores are not read: a post's time is in
    its id."""
    return _page(await r.eval(_READ, 1, key, *_read_args(before, count)), before, count)


@dataclass(frozen=True)
class PageAt:
    """A timeline read to do in the warm-up's round trip (`read_timeline`'s arguments)."""

    before: tuple[int, int] | None
    count: int


@dataclass(frozen=True)
class WarmState:
    built: bool  # the timeline exists (its expiry was renewed)
    seen: int  # the viewer's "seen up to" mark
    affinity: dict[int, int] | None  # the cached affinity counts, when asked for
    page: tuple[list[int], bool] | None  # `read_timeline`'s answer, when asked and built
    snapshot: bytes | None  # the string at the snapshot key asked for


# KEYS[1] = a timeline, KEYS[2] = its reader's "seen up to" mark, KEYS[3] = the reader's
# affinity hash, KEYS[4] = a ranked snapshot; ARGV[1] = the timeline's TTL (ms), ARGV[2] =
# '1' to read the affinity hash, ARGV[3] = '1' to read a timeline page (ARGV[4..6]: as
# _READ's ARGV), ARGV[7] = '1' to read the snapshot. One script, not a pipeline of five
# commands: redis-py's pipeline machinery and its per-element reply parsing were a sixth
# of a warm page's CPU on the node. Everything comes back as strings (false: not read).
_WARM = """
local built = redis.call('ZSCORE', KEYS[1], '0')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local out = {built and '1' or '0', redis.call('GET', KEYS[2]) or '', false, false, false}
if ARGV[2] == '1' then out[3] = table.concat(redis.call('HGETALL', KEYS[3]), ',') end
if ARGV[3] == '1' and built then
  local ties = ''
  if ARGV[6] ~= '' then
    ties = table.concat(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[6], ARGV[6]), ',')
  end
  local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[4], '(0', 'LIMIT', 0, ARGV[5])
  out[4] = ties .. ';' .. table.concat(ids, ',')
end
if ARGV[7] == '1' then out[5] = redis.call('GET', KEYS[4]) end
return out
"""


def _pairs(raw: bytes) -> dict[int, int]:
    """HGETALL's fields and values, comma-joined, as ints."""
    flat = _ints(raw.decode()) if raw else []
    return dict(zip(flat[::2], flat[1::2], strict=True))


async def warm_state(r: aioredis.Redis, key: str, seen: str, ttl_ms: int, *,
                     affinity: str | None = None, page: PageAt | None = None,
                     snapshot: str | None = None) -> WarmState:
    """Whether the timeline is built (and its expiry renewed), the viewer's "seen up
    to" mark and, as asked, the viewer's cached affinity hash, the first timeline read
    (none if the timeline was not built) and a ranked snapshot: one round trip."""
    read = _read_args(page.before, page.count) if page is not None else ("", 0, "")
    built, mark, aff, raw, snap = await r.eval(
        _WARM, 4, key, seen, affinity or key, snapshot or key,
        ttl_ms, "1" if affinity is not None else "0", "1" if page is not None else "0",
        *read, "1" if snapshot is not None else "0")
    return WarmState(
        built == b"1", int(mark or 0),
        _pairs(aff) if affinity is not None else None,
        _page(raw, page.before, page.count) if page is not None and raw is not None
        else None,
        snap if snapshot is not None else None)


# KEYS[1] = a reader's "seen up to" mark, KEYS[2] = a ranked snapshot; ARGV[1] = the new
# mark ('': leave it), ARGV[2] = its TTL (s), ARGV[3] = the snapshot ('': none), ARGV[4]
# = its TTL (s). A script, not a pipeline of two SETs: one command for redis-py to pack.
_MARKS = """
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4]) end
return 1
"""


async def write_marks(r: aioredis.Redis, seen: str, mark: int | None, seen_ttl: int,
                      snapshot: tuple[str, str] | None, snapshot_ttl: int) -> None:
    """What a ranked first page leaves behind, in one round trip: the reader's raised
    "seen up to" mark and the ranked order later pages read (key, value)."""
    await r.eval(_MARKS, 2, seen, snapshot[0] if snapshot else seen,
                 "" if mark is None else mark, seen_ttl,
                 snapshot[1] if snapshot else "", snapshot_ttl)


async def rebuild(r: aioredis.Redis, key: str, post_ids: Sequence[int], cap: int,
                  ttl_ms: int) -> None:
    """Merge Postgres' newest posts into the timeline (a union: what fan-out added
    meanwhile stays), mark it built, trim, and set its expiry."""
    async with r.pipeline(transaction=True) as pipe:
        mapping: dict[str, int] = {str(p): id_time_ms(p) for p in post_ids}
        mapping[SENTINEL] = 0
        pipe.zadd(key, mapping)
        pipe.zremrangebyrank(key, 1, -(cap + 1))
        pipe.pexpire(key, ttl_ms)
        await pipe.execute()


_BACKFILL = """
for i = 4, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i]) end
local built = redis.call('ZSCORE', KEYS[1], ARGV[1])
local first = 0
if built then first = 1 end
local n = redis.call('ZCARD', KEYS[1])
local cap = tonumber(ARGV[2])
if n - first > cap then redis.call('ZREMRANGEBYRANK', KEYS[1], first, n - cap - 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if built then return 1 end
return 0
"""


async def backfill(st: Storage, follower_id: int, followee_id: int, ttl_ms: int) -> bool:
    """A new follow: the followee's newest posts join the follower's timeline at once, as
    on Instagram. A cold timeline gets them too, as fan-out's adds do: a rebuild under
    way may have read the follows before this one committed, and its merge (a union)
    keeps them; skipping cold timelines left the followee's posts out until the next
    rebuild, days later. Returns whether the timeline was built."""
    cap = st.settings.feed_timeline_cap
    key = timeline_key(st, follower_id)

    async def run(st: Storage) -> bool:
        assert st.pool is not None and st.redis is not None
        async with st.pool.acquire() as conn:
            post_ids = await posts_before(conn, [followee_id], None, cap)
        if not post_ids:
            return await st.redis.zscore(key, SENTINEL) is not None
        argv: list[Any] = [SENTINEL, cap, ttl_ms]
        for p in post_ids:
            argv += [str(p), id_time_ms(p)]
        return bool(await st.redis.eval(_BACKFILL, 1, key, *argv))

    return await st.both(run)


# -- reads: Postgres -----------------------------------------------------------------------
class Head(NamedTuple):
    """A candidate post as the feed ranks it. A tuple, not a frozen dataclass: a ranked
    page builds ~210 of them, and a dataclass' __init__ cost twice as much."""

    id: int
    author_id: int
    likes: int
    comments: int
    time_ms: int  # from the id, computed once: a ranked page reads it ~800 times


async def recent_for(conn: asyncpg.Connection, viewer_id: int, limit: int) -> list[int]:
    """The newest live posts of the viewer's followees and the viewer (a cold rebuild).

    Read per author through `posts_author`, each bounded by `limit`, then merged: walking
    the primary key newest first and filtering by author read up to every post for a
    viewer who follows few (200-330 ms at 1M posts, measured; this: 3 ms median, 40 ms
    for a viewer following 1,000)."""
    rows = await conn.fetch(
        """SELECT x.id FROM (SELECT $1::bigint AS id UNION
                             SELECT followee_id FROM follows WHERE follower_id = $1) a
           CROSS JOIN LATERAL (SELECT p.id FROM posts p
                               WHERE p.author_id = a.id AND p.deleted_at IS NULL
                               ORDER BY p.id DESC LIMIT $2) x
           ORDER BY x.id DESC LIMIT $2""", viewer_id, limit)
    return [r["id"] for r in rows]


async def celebrity_followees(conn: asyncpg.Connection, viewer_id: int,
                              threshold: int) -> list[int]:
    """Followees above the celebrity threshold, and those whose posts skipped the
    timelines within FEED_MERGE_AFTER_SKIP_DAYS (`start_job`), not muted (their posts
    never show: merging them only used up read rounds): read from the few celebrities' side
    (users_popular: 0.03 ms), not from every followee's row on each feed.home (1.6 ms
    for a viewer following 1,000). A suspended account's posts never show anyway.
    The threshold (a setting) is a literal: as a parameter PostgreSQL planned each call
    anew (0.3 ms a call against 0.1)."""
    rows = await conn.fetch(
        f"""SELECT u.id FROM (
                SELECT id FROM users
                WHERE followers_count > {int(threshold):d} AND suspended_at IS NULL
                UNION
                SELECT id FROM users
                WHERE fanout_skipped_at > now() - interval '{L.FEED_MERGE_AFTER_SKIP_DAYS:d} days'
                  AND suspended_at IS NULL) u
            WHERE EXISTS (SELECT 1 FROM follows f
                          WHERE f.follower_id = $1 AND f.followee_id = u.id)
              AND NOT EXISTS (SELECT 1 FROM mutes m
                              WHERE m.muter_id = $1 AND m.muted_id = u.id)""",
        viewer_id)
    return [r["id"] for r in rows]


async def posts_before(conn: asyncpg.Connection, author_ids: Sequence[int],
                       before_id: int | None, limit: int) -> list[int]:
    """Live posts of these authors older than `before_id`, newest first."""
    rows = await conn.fetch(
        """SELECT id FROM posts WHERE author_id = ANY($1::bigint[]) AND deleted_at IS NULL
             AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3""",
        list(author_ids), before_id, limit)
    return [r["id"] for r in rows]


# Heads of recently read posts, per process (id -> (author, likes, comments, expiry ms)).
# The feed only ranks with them: counts up to FEED_HEADS_CACHE_SECONDS (a minute) old
# rank as well (affinity is kept an hour). At 10 s, the benchmark's readers read late in
# its warm pass (~40%, from its timing) found their heads expired since the cold pass
# and read them again, the page's largest statement. What a page shows is read again by
# posts.load, where a post deleted meanwhile drops out (that page is one post short). A
# post deleted through this process is forgotten at once (posts.soft_delete) and not
# kept again for as long:
# a read racing the deletion's transaction still finds it live, and must not keep that.
#
# A kept head is a plain tuple of ints, not a Head or an (expiry, Head) pair: the garbage
# collector stops tracking a plain tuple of ints at the first collection it survives,
# while 50,000 heads kept as Heads were ~100,000 objects for it to traverse, and a gen-0
# collection after a burst of cold reads took 10 ms (measured at the start of the
# benchmark's warm phase). Unpacking one int per head instead cost twice as much per
# page (0.20 against 0.05-0.10 ms per 210 heads, measured).
_heads: dict[int, tuple[int, int, int, int]] = {}
HEADS_LOW_WATER = 0.75  # a full cache is emptied unless dropping the expired leaves this
_forgotten: dict[int, float] = {}  # id -> until when it is not kept
_TIME_SHIFT = L.SHARD_BITS + L.SEQUENCE_BITS  # id_time_ms, inlined in heads_kept's loop
_new_tuple = tuple.__new__  # a Head without NamedTuple's Python-level __new__


def forget_heads(post_ids: Sequence[int]) -> None:
    until = time.monotonic() + L.FEED_HEADS_CACHE_SECONDS
    if len(_forgotten) >= L.FEED_HEADS_CACHED:
        now = time.monotonic()
        for i in [i for i, t in _forgotten.items() if t <= now]:
            del _forgotten[i]
    for i in post_ids:
        _heads.pop(i, None)
        _forgotten[i] = until


def _evict_heads(now_ms: int, room: int) -> None:
    """Make room for `room` heads: the expired go first, and if that leaves the cache
    above HEADS_LOW_WATER of its size, all of them. A scan that freed only a little
    would be repeated on every page with a miss while a minute's heads nearly fill it."""
    for i in [i for i, v in _heads.items() if v[3] <= now_ms]:
        del _heads[i]
    if len(_heads) + room > L.FEED_HEADS_CACHED * HEADS_LOW_WATER:
        _heads.clear()


async def heads_kept(conn: asyncpg.Connection, post_ids: Sequence[int]) -> dict[int, Head]:
    """`heads`, from what this process read in the last FEED_HEADS_CACHE_SECONDS where it
    can: a warm ranked page's 200 candidates were its largest statement."""
    now_ms = int(time.monotonic() * 1000)
    out: dict[int, Head] = {}
    missing = []
    get, new, shift, epoch = _heads.get, _new_tuple, _TIME_SHIFT, ID_EPOCH_MS
    for i in post_ids:
        v = get(i)
        if v is not None and v[3] > now_ms:
            out[i] = new(Head, (i, v[0], v[1], v[2], (i >> shift) + epoch))
        else:
            missing.append(i)
    if missing:
        fresh = await heads(conn, missing)
        if len(_heads) + len(fresh) > L.FEED_HEADS_CACHED:
            _evict_heads(now_ms, len(fresh))
        now = time.monotonic()
        expires_ms = int((now + L.FEED_HEADS_CACHE_SECONDS) * 1000)
        for i, h in fresh.items():
            if _forgotten.get(i, 0.0) <= now:
                _heads[i] = (h.author_id, h.likes, h.comments, expires_ms)
        out.update(fresh)
    return out


async def heads(conn: asyncpg.Connection, post_ids: Sequence[int]) -> dict[int, Head]:
    """Live posts among these ids, with author and counts (deleted ones are absent).

    Tried and measured slower: this and the authors' relations as one statement (a
    round trip less, but 1.3-2.3 ms against 0.9-1.2 ms for the two, 100 viewers' 210
    candidates each; the bigger statement's planning costs more than the trip)."""
    if not post_ids:
        return {}
    rows = await conn.fetch(
        """SELECT id, author_id, like_count, comment_count FROM posts
           WHERE id = ANY($1::bigint[]) AND deleted_at IS NULL""", list(post_ids))
    return {r["id"]: Head(r["id"], r["author_id"], r["like_count"], r["comment_count"],
                          id_time_ms(r["id"])) for r in rows}


async def affinity_counts(conn: asyncpg.Connection, viewer_id: int,
                          author_ids: Sequence[int]) -> dict[int, int]:
    """How often the viewer liked or commented on each author's posts, plus the
    messages the viewer sent in their 1:1 conversation.

    Likes and comments are counted once for all the authors, from the viewer's side
    (their likes by `likes_user`, their comments by `comments_author`): counting per
    author went through every post of each author, or every comment."""
    if not author_ids:
        return {}
    rows = await conn.fetch(
        """WITH lk AS (
               SELECT p.author_id AS id, count(*) AS n
               FROM likes l JOIN posts p ON p.id = l.post_id
               WHERE l.user_id = $1 AND p.author_id = ANY($2::bigint[])
               GROUP BY p.author_id),
           cm AS (
               SELECT p.author_id AS id, count(*) AS n
               FROM comments c JOIN posts p ON p.id = c.post_id
               WHERE c.author_id = $1 AND c.deleted_at IS NULL
                 AND p.author_id = ANY($2::bigint[])
               GROUP BY p.author_id)
           SELECT a.id, coalesce(lk.n, 0) + coalesce(cm.n, 0)
               + (SELECT count(*) FROM conversations cv JOIN messages m
                      ON m.conversation_id = cv.id
                  WHERE cv.kind = 'direct' AND cv.pair_lo = least($1, a.id)
                    AND cv.pair_hi = greatest($1, a.id) AND m.sender_id = $1) AS n
           FROM unnest($2::bigint[]) AS a(id)
           LEFT JOIN lk ON lk.id = a.id LEFT JOIN cm ON cm.id = a.id""",
        viewer_id, list(author_ids))
    return {r["id"]: int(r["n"]) for r in rows}
