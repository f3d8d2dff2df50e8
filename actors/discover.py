"""Discovery: search, hashtag pages and explore — their rules, over storage/search.py.

Each op is one crossing of the bridge (explore: Postgres and Redis together) and
one read transaction (explore: single statements, the page re-checked as a whole).
The queries already leave out what the viewer may not see, so pages come back full;
every returned user and post is then checked against actors/privacy.py, which stays
the one place for those rules.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import asyncpg
import redis.exceptions
import trio

from actors import args as A
from actors import privacy
from actors.accounts import Session, public_user
from actors.errors import Invalid
from actors.posts import HASHTAG_MAX, post_wire
from config import limits as L
from storage import posts as posts_db
from storage import search as db
from storage.relations import Relation, relations_many
from storage.store import Storage

log = logging.getLogger(__name__)

SEARCH_KINDS = ("all", "users", "tags", "posts")
TAG_ARG_MAX = 4 * HASHTAG_MAX + 2  # a `tag` argument as sent, before it is composed
TAG_MODES = ("top", "recent")
# The kinds of the lists' cursors (A.make_cursor): a recent page's post id is no top
# offset, and neither is an explore offset.
TAG_CURSORS = {"top": "tt", "recent": "tr"}
EXPLORE_CURSOR = "x"


class Device(Protocol):
    """A connection as the explore precompute sees it (node.connect_hooks)."""

    conn_id: int
    session: Session | None


# -- arguments ------------------------------------------------------------------------------
def _limit(args: dict[str, Any], default: int, maximum: int) -> int:
    value = A.integer(args, "limit", required=False, minimum=1, maximum=maximum)
    return default if value is None else value


def _query(args: dict[str, Any]) -> str:
    q = A.text(args, "q", max_len=L.SEARCH_QUERY_MAX, min_len=1)
    assert q is not None
    q = q.strip()
    if not q:
        raise Invalid("`q` must not be blank")
    return q


def _kinds(args: dict[str, Any], q: str) -> frozenset[str]:
    """`all` means every kind, except that '#text' looks for tags and '@text' for people."""
    kind = A.text(args, "kind", max_len=10, required=False)
    kind = "all" if kind is None else kind  # only a missing kind is the default: "" is bad
    if kind not in SEARCH_KINDS:
        raise Invalid("`kind` must be one of " + ", ".join(SEARCH_KINDS))
    if kind != "all":
        return frozenset({kind})
    if q.startswith("#"):
        return frozenset({"tags"})
    if q.startswith("@"):
        return frozenset({"users"})
    return frozenset({"users", "tags", "posts"})


def tag_arg(args: dict[str, Any]) -> str:
    """A hashtag as stored: without '#', read as captions are (db.tag_text: composed, a
    dotted capital İ a plain I), lower-cased, tag characters only (db.is_tag)."""
    # raw: room for a '#', blanks and decomposed accents (the limit is on the tag)
    raw = A.text(args, "tag", max_len=TAG_ARG_MAX, min_len=1)
    assert raw is not None
    tag = db.tag_key(db.tag_text(raw.strip().removeprefix("#")))
    if not tag or len(tag) > HASHTAG_MAX or not db.is_tag(tag):
        raise Invalid(f"`tag` must be 1 to {HASHTAG_MAX} letters, digits, _ or combining "
                      "marks, starting with one of the first three")
    return tag


# -- wire maps --------------------------------------------------------------------------------
def user_wire(f: db.FoundUser, me: int, *, mutuals: bool = False) -> dict[str, Any]:
    out = public_user(f.user)
    if f.user.id != me:
        out.update(followed_by_me=f.following, follows_me=f.follows_me)
    if mutuals:
        out["mutuals"] = f.mutuals
    return out


def tag_wire(t: db.TagCount) -> dict[str, Any]:
    return {"tag": t.tag, "posts": t.posts}


async def _posts(conn: asyncpg.Connection, viewer_id: int, ranked: list[db.Ranked],
                 rels: dict[int, Relation], allowed: Any) -> list[dict[str, Any]]:
    """Post maps in the ranked order, of the posts whose author `allowed(rel)` passes."""
    ids = [r.post_id for r in ranked if allowed(rels[r.author_id])]
    found = await posts_db.load(conn, viewer_id, ids)
    return [post_wire(found[i]) for i in ids if i in found]


# -- transactions ------------------------------------------------------------------------------
async def _search(conn: asyncpg.Connection, viewer_id: int, q: str, kinds: frozenset[str],
                  limit: int) -> dict[str, Any]:
    t = await db.terms(conn, q)
    users = await db.find_users(conn, viewer_id, t, limit) if "users" in kinds else []
    tags = await db.find_tags(conn, viewer_id, t, limit) if "tags" in kinds else []
    posts = await db.find_posts(conn, viewer_id, t, limit) if "posts" in kinds else []
    rels = await relations_many(conn, viewer_id,
                                {u.user.id for u in users} | {p.author_id for p in posts})
    return {
        "users": [user_wire(u, viewer_id) for u in users
                  if privacy.can_see_profile(rels[u.user.id])],
        "tags": [tag_wire(t) for t in tags],
        "posts": await _posts(conn, viewer_id, posts, rels, privacy.can_see_posts),
    }


async def _tag_get(conn: asyncpg.Connection, tag: str) -> dict[str, Any]:
    counts = await db.tag_counts(conn, [tag])
    return {"tag": tag, "posts": counts.get(tag, 0), "following": False}


async def _tag_posts(conn: asyncpg.Connection, viewer_id: int, tag: str, mode: str,
                     cursor: int | None, limit: int) -> dict[str, Any]:
    if mode == "recent":
        page = await db.tag_recent(conn, viewer_id, tag, cursor, limit)
        ranked = page.posts
        nxt = (A.make_cursor(TAG_CURSORS[mode], page.next_before)
               if page.next_before is not None else None)
    else:
        offset = cursor or 0
        limit = min(limit, L.TAG_TOP_MAX - offset)
        ranked = (await db.tag_top(conn, viewer_id, tag, int(time.time() * 1000), offset,
                                   limit) if limit > 0 else [])
        end = offset + len(ranked)
        nxt = (A.make_cursor(TAG_CURSORS[mode], end)
               if ranked and len(ranked) == limit and end < L.TAG_TOP_MAX else None)
    rels = await relations_many(conn, viewer_id, {r.author_id for r in ranked})
    return {"tag": tag, "mode": mode, "cursor": nxt,
            "posts": await _posts(conn, viewer_id, ranked, rels, privacy.can_see_posts)}


async def _explore_list(conn: asyncpg.Connection, viewer_id: int, now_ms: int,
                        want: int) -> tuple[db.ExploreList, list[db.FoundUser]]:
    """The explore list, `want` positions deep: the collaborative-filtering list, then
    popular recent posts not in it; and the suggested accounts (also as the records
    just read, so a first page need not read them again). Computed once for several
    pages (the queries cost about the same for 24 posts as for 72: every candidate is
    checked either way); pages are slices of it."""
    ranked = await db.co_liked(conn, viewer_id, now_ms, want + 1)
    if len(ranked) <= want:
        seen = {r.post_id for r in ranked}
        fill = await db.popular(conn, viewer_id, now_ms, 2 * want + 1)
        ranked += [r for r in fill if r.post_id not in seen][:want + 1 - len(ranked)]
    accounts = await db.suggested_accounts(conn, viewer_id, L.EXPLORE_ACCOUNTS)
    return db.ExploreList(tuple(ranked[:want]), len(ranked) > want,
                          tuple((a.user.id, a.mutuals) for a in accounts)), accounts


async def _tags_seen(conn: asyncpg.Connection, viewer_id: int, tags: list[str],
                     tag_authors: dict[str, tuple[int, ...]],
                     rels: dict[int, Relation]) -> set[str]:
    """Of these trending tags (in order), the first TRENDING_TAGS with a live post this
    viewer may see (as tag.posts would show): at once when one of a tag's kept public
    authors passes privacy.can_see_posts; the others before that cut are checked in
    Postgres (db.tags_seen, one statement), only if there are any."""
    sure: set[str] = set()
    unsure: list[str] = []
    for tag in tags:
        if any(privacy.can_see_posts(rels[a]) for a in tag_authors.get(tag, ())):
            sure.add(tag)
            if len(sure) >= L.TRENDING_TAGS:
                break
        else:
            unsure.append(tag)
    if unsure:
        sure.update(await db.tags_seen(conn, viewer_id, unsure, len(unsure)))
    return sure


async def _wants_list(st: Storage, viewer_id: int) -> bool:
    """A recent explorer without a cached list (one Redis round trip)."""
    assert st.redis is not None
    cached, explorer = await db.precompute_state(st, st.redis, viewer_id)
    return explorer and not cached


async def _precompute(st: Storage, viewer_id: int, refresh: bool) -> bool:
    """Compute and keep the viewer's explore list (the first call's depth) unless one is
    kept already (`refresh`: replace it); whether it computed. Runs on the asyncio side."""
    assert st.pool is not None and st.redis is not None
    if not refresh and await db.explore_cached(st, st.redis, viewer_id) is not None:
        return False
    async with st.pool.acquire() as conn:
        found, _ = await _explore_list(conn, viewer_id, int(time.time() * 1000),
                                       L.EXPLORE_LIST_FIRST)
    await db.explore_store(st, st.redis, viewer_id, found, L.EXPLORE_CACHE_SECONDS)
    return True


async def _explore(st: Storage, viewer_id: int, offset: int, limit: int) -> dict[str, Any]:
    """Runs on the asyncio side: one Postgres connection, and Redis (one round trip) for
    trending and the viewer's cached explore list (EXPLORE_CACHE_SECONDS). What a page
    shows is checked now whatever the cache holds: privacy and relations
    (actors/privacy.py), deleted posts, posts liked since, accounts followed since; a
    trending tag is shown only with a live post the viewer may see (_tags_seen: its kept
    public author's live relation to the viewer, else db.tags_seen)."""
    assert st.pool is not None and st.redis is not None
    now_ms = int(time.time() * 1000)
    first = offset == 0
    trend: list[tuple[str, float]] = []
    found: db.ExploreList | None = None
    try:
        if first:
            trend, found = await db.trending_and_explore(st, st.redis, L.TRENDING_TAGS * 2,
                                                         viewer_id)
        else:
            found = await db.explore_cached(st, st.redis, viewer_id)
    except redis.exceptions.RedisError as exc:  # trending and the cache are extras
        log.warning("explore cache or trending unavailable", extra={"error": str(exc)})
    # No transaction: each statement reads a consistent snapshot, and the page is
    # re-checked as a whole below (BEGIN and COMMIT were 2 of ~9 round trips).
    async with st.pool.acquire() as conn:
        end = offset + limit
        fresh: list[db.FoundUser] | None = None
        if found is None or (end > len(found.posts) and found.more):
            depth = max(L.EXPLORE_LIST_FIRST, end, 2 * len(found.posts) if found else 0)
            found, fresh = await _explore_list(conn, viewer_id, now_ms,
                                               min(depth, L.EXPLORE_DEPTH))
            try:
                await db.explore_store(st, st.redis, viewer_id, found, L.EXPLORE_CACHE_SECONDS)
            except redis.exceptions.RedisError as exc:
                log.warning("explore cache unavailable", extra={"error": str(exc)})
        page = list(found.posts[offset:end])
        accounts: list[db.FoundUser] = []
        if first:
            accounts = (fresh if fresh is not None
                        else await db.users_by_id(conn, viewer_id, found.accounts))
        counts = await db.tag_counts_kept(conn, [t for t, _ in trend]) if trend else {}
        tags = [t for t, _ in trend if counts.get(t)]
        # the authors of as many tags as are shown: past them only if some are hidden
        tag_authors = (await db.tag_authors_kept(conn, tags[:L.TRENDING_TAGS])
                       if tags else {})
        rels = await relations_many(conn, viewer_id, {r.author_id for r in page}
                                    | {a.user.id for a in accounts}
                                    | {a for found_by in tag_authors.values() for a in found_by})
        posts = [p for p in await _posts(conn, viewer_id, page, rels, privacy.can_recommend)
                 if not p["liked_by_me"]]
        seen = await _tags_seen(conn, viewer_id, tags, tag_authors, rels)
    more = found.more or end < len(found.posts)
    return {
        "posts": posts,
        "accounts": [user_wire(a, viewer_id, mutuals=True) for a in accounts
                     if privacy.can_suggest(rels[a.user.id])],
        "tags": [{"tag": t, "posts": counts[t], "score": round(s, 3)} for t, s in trend
                 if t in seen][:L.TRENDING_TAGS],
        "cursor": (A.make_cursor(EXPLORE_CURSOR, end) if more and end < L.EXPLORE_DEPTH
                   else None),
    }


# -- the service --------------------------------------------------------------------------------
class Discover:
    """search, user.search, tag.get, tag.posts and feed.explore for one node."""

    def __init__(self, st: Storage) -> None:
        self.st = st
        self.precompute_mode = st.settings.explore_precompute  # off | explorers | all
        self.precompute_on = self.precompute_mode != "off"
        self._send, self._recv = trio.open_memory_channel[tuple[int, bool]](
            L.EXPLORE_PRECOMPUTE_QUEUE)
        # `explorers`: connects wait here for the explorer check, outside the compute
        # queue, so a feed.explore never waits behind other users' checks
        self._check_send, self._check_recv = trio.open_memory_channel[int](
            L.EXPLORE_PRECOMPUTE_QUEUE)
        self._checking: dict[int, trio.Event] = {}  # users whose check is queued
        self._conns: dict[int, int] = {}  # connection -> user, of the connected
        self._explorers: dict[int, float] = {}  # user -> their last feed.explore (trio clock)
        self._inflight: dict[int, trio.Event] = {}  # queued or computing, by user
        self._limiter = trio.CapacityLimiter(L.EXPLORE_PRECOMPUTE_CONCURRENCY)
        self.precomputed = 0  # lists computed in the background
        self.skipped = 0  # connects not served: the queue was full

    # -- explore lists computed before they are asked for --------------------------------
    def connected(self, conn: Device) -> None:
        """node.connect_hooks (sync: only queues): with `explore_precompute` on (`all`,
        or `explorers`: users who opened explore within EXPLORER_DAYS), the user's
        explore list is computed in the background, so their first feed.explore finds it
        (staler by the time between connect and call, at most EXPLORE_CACHE_SECONDS, as
        any cached list)."""
        if not self.precompute_on or conn.session is None:
            return
        self._conns[conn.conn_id] = conn.session.user_id
        if self.precompute_mode == "all":
            self._enqueue(conn.session.user_id, refresh=False)
            return
        user = conn.session.user_id
        if user in self._checking:
            return
        try:
            self._check_send.send_nowait(user)
        except trio.WouldBlock:
            self.skipped += 1  # a connect storm: those users compute on their first call
            return
        self._checking[user] = trio.Event()

    def disconnected(self, conn: Device) -> None:
        """node.disconnect_hooks."""
        self._conns.pop(conn.conn_id, None)

    def _enqueue(self, user: int, refresh: bool) -> None:
        if user in self._inflight:
            return
        try:
            self._send.send_nowait((user, refresh))
        except trio.WouldBlock:
            self.skipped += 1  # a connect storm: those users compute on their first call
            return
        self._inflight[user] = trio.Event()

    async def refresh_due(self) -> None:
        """Queue a fresh list for each connected user who used explore within the cache's
        lifetime and whose list expires within EXPLORE_REFRESH_BEFORE_SECONDS (one Redis
        round trip), so an active explorer's call never finds it gone."""
        now = trio.current_time()
        online = set(self._conns.values())
        for user, at in list(self._explorers.items()):
            if user not in online or now - at > L.EXPLORE_CACHE_SECONDS:
                del self._explorers[user]
        users = [u for u in self._explorers if u not in self._inflight]
        if not users:
            return
        keys = [db.explore_key(self.st, u) for u in users]

        async def ttls(r: Any) -> list[int]:
            async with r.pipeline(transaction=False) as pipe:
                for k in keys:
                    pipe.pttl(k)
                return list(await pipe.execute())

        for user, ttl_ms in zip(users, await self.st.redis_op(ttls), strict=True):
            if ttl_ms < L.EXPLORE_REFRESH_BEFORE_SECONDS * 1000:  # -2: gone, -1: no TTL
                self._enqueue(user, refresh=True)

    async def _refresher(self) -> None:
        while True:
            await trio.sleep(L.EXPLORE_REFRESH_CHECK_SECONDS)
            try:
                await self.refresh_due()
            except Exception as exc:  # an extra: a call computes what this missed
                log.warning("explore refresh check failed", extra={"error": str(exc)})

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Take queued users and compute their lists, EXPLORE_PRECOMPUTE_CONCURRENCY at a
        time (a connect storm waits in the queue instead of loading Postgres)."""
        task_status.started()
        async with trio.open_nursery() as n:
            n.start_soon(self._refresher)
            n.start_soon(self._checker)
            async for user, refresh in self._recv:
                await self._limiter.acquire_on_behalf_of(user)
                n.start_soon(self._precompute_one, user, refresh)

    async def _checker(self) -> None:
        """`explorers`: queue the lists of connected recent explorers without one."""
        async for user in self._check_recv:
            try:
                if user not in self._inflight and await self.st.both(_wants_list, user):
                    self._enqueue(user, refresh=False)
            except Exception as exc:  # an extra: the first call computes it instead
                log.warning("explore precompute check failed", extra={"error": str(exc)})
            finally:
                done = self._checking.pop(user, None)
                if done is not None:
                    done.set()

    async def _precompute_one(self, user: int, refresh: bool) -> None:
        try:
            if await self.st.both(_precompute, user, refresh):
                self.precomputed += 1
        except Exception as exc:  # an extra: the first call computes it instead
            log.warning("explore precompute failed", extra={"error": str(exc)})
        finally:
            self._limiter.release_on_behalf_of(user)
            done = self._inflight.pop(user, None)
            if done is not None:
                done.set()

    async def settled(self, user: int) -> None:
        """Return once no precompute of this user's list is queued or running (not
        waiting for an explorer check: feed.explore uses this)."""
        done = self._inflight.get(user)
        if done is not None:
            await done.wait()

    async def checked(self, user: int) -> None:
        """Return once this user's explorer check, and any compute it queued, is over."""
        check = self._checking.get(user)
        if check is not None:
            await check.wait()
        await self.settled(user)

    async def search(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"q", "kind", "limit"})
        q = _query(args)
        kinds = _kinds(args, q)
        return await self.st.tx(_search, session.user_id, q, kinds,
                                _limit(args, L.SEARCH_DEFAULT, L.SEARCH_MAX))

    async def search_users(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"q", "limit"})
        found = await self.st.tx(_search, session.user_id, _query(args), frozenset({"users"}),
                                 _limit(args, L.SEARCH_DEFAULT, L.SEARCH_MAX))
        return {"users": found["users"]}

    async def tag_get(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"tag"})
        return await self.st.tx(_tag_get, tag_arg(args))

    async def tag_posts(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"tag", "mode", "cursor", "limit"})
        tag = tag_arg(args)
        mode = A.text(args, "mode", max_len=10, required=False)
        mode = "top" if mode is None else mode  # "" is a bad mode, not the default
        if mode not in TAG_MODES:
            raise Invalid("`mode` must be \"top\" or \"recent\"")
        cur = A.cursor(args, TAG_CURSORS[mode], 1)
        return await self.st.tx(_tag_posts, session.user_id, tag, mode,
                                cur[0] if cur else None,
                                _limit(args, L.TAG_PAGE_DEFAULT, L.TAG_PAGE_MAX))

    async def explore(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"cursor", "limit"})
        cur = A.cursor(args, EXPLORE_CURSOR, 1)
        offset = cur[0] if cur else 0
        limit = _limit(args, L.EXPLORE_DEFAULT, L.EXPLORE_MAX)
        if offset >= L.EXPLORE_DEPTH:
            return {"posts": [], "accounts": [], "tags": [], "cursor": None}
        if self.precompute_on:
            self._explorers[session.user_id] = trio.current_time()
        # A precompute of this user's list under way: use it rather than compute twice.
        with trio.move_on_after(L.EXPLORE_PRECOMPUTE_WAIT_SECONDS):
            await self.settled(session.user_id)
        return await self.st.both(_explore, session.user_id, offset,
                                  min(limit, L.EXPLORE_DEPTH - offset))
