"""Notification rows; each is also a durable `notification` event in the recipient's log
(but those stored read: `notify(read=True)`)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import trio

from config.limits import SEQUENCE_BITS, SHARD_BITS
from storage.errors import Unavailable
from storage.events import EventSink
from storage.ids import ID_EPOCH_MS, id_time_ms, make_id
from storage.relations import Relation, relation, relations_many
from storage.store import Storage

log = logging.getLogger(__name__)
RELEASE_SECONDS = 2.0  # a cancelled call's cooldown claims are given back within this

LOOKBACK = 200  # a recipient's latest notifications searched for a repeat

BODY_MAX = 200  # characters of a comment or caption kept with a notification


def event_data(*, id: int, kind: str, actor_id: int, actor_name: str, at: int,
               post_id: int | None = None, comment_id: int | None = None, body: str = "",
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The data of a stored notification's durable `notification` event."""
    return {"id": id, "kind": kind, "actor": {"id": actor_id, "username": actor_name},
            "post": post_id, "comment": comment_id, "body": body[:BODY_MAX], "at": at,
            **(extra or {})}


def insert_cte(p: int, guard: str) -> str:
    """A CTE `note` inserting one notification with a given id, only when `guard` holds
    (parameters from `$p`: id, recipient, actor, kind, post, comment, body)."""
    return f"""note AS (
        INSERT INTO notifications (id, recipient_id, actor_id, kind, post_id, comment_id, body)
        SELECT ${p}::bigint, ${p + 1}::bigint, ${p + 2}::bigint, ${p + 3}::text,
               ${p + 4}::bigint, ${p + 5}::bigint, ${p + 6}::text
        WHERE {guard} RETURNING id
    )"""


def repeat_sql(recipient: str, actor: str, kind: str, post: str, comment: str) -> str:
    """SQL (from SQL expressions): whether this actor's notification of this kind, post and
    comment is among the recipient's latest LOOKBACK (a repeat, not notified again). Only
    those are searched, so the cost is bounded; reads group repeats anyway."""
    return f"""EXISTS (
        SELECT 1 FROM (SELECT actor_id, kind, post_id, comment_id FROM notifications
                       WHERE recipient_id = {recipient} ORDER BY id DESC
                       LIMIT {LOOKBACK}) n
        WHERE n.actor_id = {actor} AND n.kind = {kind}
          AND n.post_id IS NOT DISTINCT FROM {post}
          AND n.comment_id IS NOT DISTINCT FROM {comment})"""


async def notify(conn: asyncpg.Connection, sink: EventSink, *, recipient_id: int, actor_id: int,
                 kind: str, allowed: Callable[[Relation], bool], post_id: int | None = None,
                 comment_id: int | None = None, body: str = "",
                 extra: dict[str, Any] | None = None,
                 rel: Relation | None = None, once: bool = False,
                 read: bool = False) -> int | None:
    """Store and emit a notification inside the caller's transaction.

    `allowed` is the domain's rule (actors.privacy.should_notify) applied to the
    relation from the recipient to the actor (`rel`, read here when not given).
    `once`: not again while the actor's notification of this kind (same post and
    comment) is among the recipient's latest LOOKBACK (follow, unfollow, follow did
    not notify twice). `read`: stored read and not sent (what the recipient's own
    action made: approving a request leaves "started following you" in their list).
    Returns the notification id, or None when none was made.
    """
    if rel is None:
        rel = await relation(conn, recipient_id, actor_id)
    if not allowed(rel):
        return None
    row = await conn.fetchrow(
        f"""INSERT INTO notifications (recipient_id, actor_id, kind, post_id, comment_id, body,
                                       read_at)
           SELECT $1, $2, $3, $4, $5, $6, CASE WHEN $8 THEN now() END
           WHERE NOT $7 OR NOT {repeat_sql("$1::bigint", "$2::bigint", "$3::text",
                                             "$4::bigint", "$5::bigint")}
           RETURNING id, (extract(epoch FROM created_at) * 1000)::bigint AS at,
                     (SELECT username FROM users WHERE id = $2) AS actor_name""",
        recipient_id, actor_id, kind, post_id, comment_id, body[:BODY_MAX], once, read)
    if row is None:
        return None
    if read:
        return int(row["id"])
    await sink.to_user(recipient_id, "notification", event_data(
        id=row["id"], kind=kind, actor_id=actor_id, actor_name=row["actor_name"], at=row["at"],
        post_id=post_id, comment_id=comment_id, body=body, extra=extra))
    return int(row["id"])


async def withdraw_request(conn: asyncpg.Connection, owner_id: int, requester_id: int) -> int:
    """Delete the requester's `follow_request` notifications to the owner, however old:
    the request they told of is gone (withdrawn, answered, cut by a block). Found by the
    partial index notifications_follow_request (migration 0018); searching only the
    latest LOOKBACK left an older one behind on a busy account. How many."""
    return len(await conn.fetch(
        """DELETE FROM notifications
           WHERE recipient_id = $1 AND actor_id = $2 AND kind = 'follow_request'
           RETURNING id""", owner_id, requester_id))


class Cooldown:
    """At most one notice of a kind per (recipient, actor) per `seconds`, by a Redis key
    with a TTL: for a notice its stored row cannot guard. A follow request's notification
    is deleted when the request is withdrawn, so request, cancel, request found no repeat
    and told the owner (notification and event) every time.

    Claimed on the asyncio side inside the call's transaction; the first answer holds
    however often that is re-run after a conflict. A claim whose transaction then failed
    told nobody, and is given back (`released_on_failure`)."""

    def __init__(self, st: Storage, kind: str, seconds: int) -> None:
        self._st = st
        self._kind = kind
        self._seconds = seconds
        self._claims: dict[tuple[int, int], bool] = {}

    def _key(self, recipient_id: int, actor_id: int) -> str:
        return self._st.key("told", self._kind, recipient_id, actor_id)

    async def claim(self, recipient_id: int, actor_id: int) -> bool:
        """Whether this call may tell the recipient now (asyncio side)."""
        pair = (recipient_id, actor_id)
        if pair not in self._claims:
            assert self._st.redis is not None
            self._claims[pair] = bool(await self._st.redis.set(
                self._key(*pair), b"1", ex=self._seconds, nx=True))
        return self._claims[pair]

    @contextlib.asynccontextmanager
    async def released_on_failure(self) -> AsyncIterator[None]:
        """Around the call's transaction (trio side): if it fails, or is cancelled (the
        connection closed: its transaction is rolled back), its claims are given back,
        shielded (a claim kept would keep the owner from being told for the cooldown's
        whole time). Best effort: Redis unreachable leaves them until they expire."""
        try:
            yield
        except BaseException:
            keys = [self._key(*pair) for pair, ok in self._claims.items() if ok]
            self._claims.clear()
            if keys:
                with trio.CancelScope(shield=True), trio.move_on_after(RELEASE_SECONDS):
                    try:
                        await self._st.redis_op(_forget, keys)
                    except Unavailable as exc:
                        log.warning("notice cooldown not given back",
                                    extra={"error": str(exc)})
            raise


async def _forget(r: aioredis.Redis, keys: list[str]) -> None:
    await r.delete(*keys)


# -- reading: aggregated pages, unread counts, marking read -------------------------------
#
# Groups are formed in SQL from rules the domain passes in (actors/notifications.py);
# who may be seen is the domain's rule too (`Visibility`, applied to relations from
# the recipient), so storage only knows how to group and count.

#: Buckets are aligned to Monday 00:00 UTC (1970-01-05), so day and week windows nest.
WINDOW_ALIGN_MS = 4 * 86_400_000
_ID_TIME_SHIFT = SHARD_BITS + SEQUENCE_BITS
_ID_MAX = (1 << 63) - 1
#: Segments with rows examined per page at most; a page may then hold fewer items
#: than asked for, with a cursor to go on (only when most rows are hidden).
MAX_SEGMENTS_PER_PAGE = 8


@dataclass(frozen=True)
class GroupRule:
    """Notifications of `kind` collapse by target within fixed windows of `window_ms`.

    `by` is "post" or "comment" (the target column) or "kind" (the kind alone, e.g.
    follows). Kinds without a rule are never grouped.
    """

    kind: str
    by: str
    window_ms: int


@dataclass(frozen=True)
class Visibility:
    """Which notifications a recipient may see, by relations seen from the recipient."""

    actor: Callable[[Relation], bool]  # to the notification's actor
    post: Callable[[Relation], bool]  # to the author of its post, if it has one
    thread: Callable[[Relation], bool]  # to its comment's thread's author, for a reply


@dataclass(frozen=True)
class ActorRecord:
    id: int
    username: str
    display_name: str
    avatar: dict[str, Any] | None  # stored variants


@dataclass(frozen=True)
class GroupRecord:
    kind: str
    top: int  # the newest notification id: the group's place in the list
    ids: list[int]  # newest first, at most `ids_max`
    size: int  # notifications in the group
    actor_ids: list[int]  # the most recent distinct actors, newest first
    actor_count: int  # distinct actors
    post_id: int | None  # of the newest notification
    comment_id: int | None
    body: str
    latest_ms: int
    read: bool  # every notification in the group is read


@dataclass(frozen=True)
class GroupPage:
    groups: list[GroupRecord]
    cursor: int | None
    actors: dict[int, ActorRecord]
    unread: int


class _Hidden:
    """Actors, post authors and thread authors (of the top-level comment a notification's
    reply belongs to) the recipient may not see; one lookup per user per call."""

    def __init__(self, conn: asyncpg.Connection, recipient_id: int, rules: Visibility) -> None:
        self._conn = conn
        self._recipient_id = recipient_id
        self._rules = rules
        self._relations: dict[int, Relation] = {}
        self.actors: set[int] = set()
        self.authors: set[int] = set()
        self.threads: set[int] = set()

    async def learn(self, actor_ids: Iterable[int | None], author_ids: Iterable[int | None],
                    thread_ids: Iterable[int | None]) -> None:
        actors = {i for i in actor_ids if i is not None}
        authors = {i for i in author_ids if i is not None}
        threads = {i for i in thread_ids if i is not None}
        new = (actors | authors | threads) - self._relations.keys()
        self._relations.update(await relations_many(self._conn, self._recipient_id, new))
        self.actors |= {i for i in actors if not self._rules.actor(self._relations[i])}
        self.authors |= {i for i in authors if not self._rules.post(self._relations[i])}
        self.threads |= {i for i in threads if not self._rules.thread(self._relations[i])}

    def shown(self, actor_id: int, author_id: int | None, thread_id: int | None) -> bool:
        return (actor_id not in self.actors and author_id not in self.authors
                and thread_id not in self.threads)


# A notification whose post or comment was deleted is gone from every read. `t` is the
# thread's top-level comment when the notification's comment is a reply.
_LIVE = """FROM notifications n
    LEFT JOIN posts p ON p.id = n.post_id
    LEFT JOIN comments c ON c.id = n.comment_id
    LEFT JOIN comments t ON t.id = c.parent_id"""
_LIVE_WHERE = "p.deleted_at IS NULL AND c.deleted_at IS NULL"
_SHOWN = ("n.actor_id <> ALL($8::bigint[]) AND (p.author_id IS NULL OR p.author_id <> ALL($9))"
          " AND (t.author_id IS NULL OR t.author_id <> ALL($14::bigint[]))")

_GROUPS_SQL = f"""
WITH rule AS (
    SELECT * FROM unnest($4::text[], $5::text[], $6::bigint[]) AS r (kind, by, window_ms)
), v AS (
    SELECT n.id, n.kind, n.actor_id, n.post_id, n.comment_id, n.body,
           n.read_at IS NOT NULL AS read,
           (extract(epoch FROM n.created_at) * 1000)::bigint AS at,
           CASE WHEN r.kind IS NULL THEN n.id
                WHEN r.by = 'post' THEN coalesce(n.post_id, -1)
                WHEN r.by = 'comment' THEN coalesce(n.comment_id, -1)
                ELSE 0 END AS target,
           CASE WHEN r.kind IS NULL THEN 0
                ELSE ((n.id >> {_ID_TIME_SHIFT}) + $7::bigint) / r.window_ms END AS bucket
    {_LIVE}
    LEFT JOIN rule r ON r.kind = n.kind
    WHERE n.recipient_id = $1 AND n.id >= $2 AND n.id < $3 AND {_LIVE_WHERE} AND {_SHOWN}
), g AS (
    SELECT kind, target, bucket, max(id) AS top, count(*) AS size,
           bool_and(read) AS all_read, max(at) AS latest_ms,
           (array_agg(id ORDER BY id DESC))[1:$12] AS ids,
           (array_agg(post_id ORDER BY id DESC))[1] AS post_id,
           (array_agg(comment_id ORDER BY id DESC))[1] AS comment_id,
           (array_agg(body ORDER BY id DESC))[1] AS body
    FROM v GROUP BY kind, target, bucket
    HAVING max(id) < $10
    ORDER BY top DESC LIMIT $11
), a AS (
    SELECT kind, target, bucket, count(*) AS actor_count,
           (array_agg(actor_id ORDER BY last DESC))[1:$13] AS actor_ids
    FROM (SELECT v.kind, v.target, v.bucket, v.actor_id, max(v.id) AS last
          FROM v JOIN g USING (kind, target, bucket)
          GROUP BY v.kind, v.target, v.bucket, v.actor_id) per_actor
    GROUP BY kind, target, bucket
)
SELECT g.*, a.actor_count, a.actor_ids
FROM g JOIN a USING (kind, target, bucket)
ORDER BY g.top DESC"""


def _segment(id_: int, segment_ms: int) -> tuple[int, int]:
    """The ids [lo, hi) of the aligned time segment holding `id_`."""
    t = id_time_ms(id_)
    start = WINDOW_ALIGN_MS + (t - WINDOW_ALIGN_MS) // segment_ms * segment_ms
    return make_id(start, 0, 0), make_id(start + segment_ms, 0, 0)


async def _list_groups(conn: asyncpg.Connection, recipient_id: int, cursor: int | None,
                       limit: int, rules: Sequence[GroupRule], visibility: Visibility,
                       ids_max: int, actors_max: int) -> GroupPage:
    # Groups never cross a segment (the longest window; shorter ones divide it), so
    # each segment is grouped on its own, newest first, until the page is full.
    segment_ms = max((r.window_ms for r in rules), default=86_400_000)
    if any(segment_ms % r.window_ms for r in rules):
        raise ValueError("every grouping window must divide the longest one")
    end = cursor if cursor is not None else _ID_MAX  # groups whose newest id is below this
    hidden = _Hidden(conn, recipient_id, visibility)
    groups: list[GroupRecord] = []
    below = end
    exhausted = False
    for _ in range(MAX_SEGMENTS_PER_PAGE):
        newest = await conn.fetchval(
            "SELECT max(id) FROM notifications WHERE recipient_id = $1 AND id < $2",
            recipient_id, below)
        if newest is None:
            exhausted = True
            break
        lo, hi = _segment(newest, segment_ms)
        who = await conn.fetchrow(
            f"""SELECT array_agg(DISTINCT n.actor_id) AS actors,
                       array_agg(DISTINCT p.author_id) AS authors,
                       array_agg(DISTINCT t.author_id) AS threads
                {_LIVE} WHERE n.recipient_id = $1 AND n.id >= $2 AND n.id < $3""",
            recipient_id, lo, hi)
        await hidden.learn(who["actors"] or (), who["authors"] or (), who["threads"] or ())
        rows = await conn.fetch(
            _GROUPS_SQL, recipient_id, lo, hi,
            [r.kind for r in rules], [r.by for r in rules], [r.window_ms for r in rules],
            ID_EPOCH_MS - WINDOW_ALIGN_MS, list(hidden.actors), list(hidden.authors), end,
            limit + 1 - len(groups), ids_max, actors_max, list(hidden.threads))
        groups.extend(GroupRecord(
            kind=r["kind"], top=r["top"], ids=list(r["ids"]), size=r["size"],
            actor_ids=list(r["actor_ids"]), actor_count=r["actor_count"],
            post_id=r["post_id"], comment_id=r["comment_id"], body=r["body"],
            latest_ms=r["latest_ms"], read=r["all_read"]) for r in rows)
        below = lo
        if len(groups) > limit:
            break
    if len(groups) > limit:
        groups = groups[:limit]
        next_cursor: int | None = groups[-1].top
    else:
        # Either nothing older is left, or the segment budget ran out: every group
        # whose newest id is at or above `below` has been considered.
        next_cursor = None if exhausted else below
    actors = await _actors(conn, {i for g in groups for i in g.actor_ids})
    return GroupPage(groups, next_cursor, actors, await _unread(conn, recipient_id, hidden))


async def _actors(conn: asyncpg.Connection, ids: Iterable[int]) -> dict[int, ActorRecord]:
    rows = await conn.fetch(
        """SELECT u.id, u.username, u.display_name, m.variants AS avatar
           FROM users u LEFT JOIN media m ON m.id = u.avatar_id
           WHERE u.id = ANY($1::bigint[])""", list(ids))
    out = {}
    for r in rows:
        avatar = r["avatar"]
        if isinstance(avatar, str):
            avatar = json.loads(avatar)
        out[r["id"]] = ActorRecord(r["id"], r["username"], r["display_name"], avatar)
    return out


async def _unread(conn: asyncpg.Connection, recipient_id: int, hidden: _Hidden) -> int:
    rows = await conn.fetch(
        f"""SELECT n.actor_id, p.author_id, t.author_id AS thread_id, count(*) AS n {_LIVE}
            WHERE n.recipient_id = $1 AND n.read_at IS NULL AND {_LIVE_WHERE}
            GROUP BY n.actor_id, p.author_id, t.author_id""", recipient_id)
    await hidden.learn((r["actor_id"] for r in rows), (r["author_id"] for r in rows),
                       (r["thread_id"] for r in rows))
    return sum(r["n"] for r in rows
               if hidden.shown(r["actor_id"], r["author_id"], r["thread_id"]))


async def list_groups(st: Storage, recipient_id: int, *, cursor: int | None, limit: int,
                      rules: Sequence[GroupRule], visibility: Visibility, ids_max: int,
                      actors_max: int) -> GroupPage:
    """One page of aggregated notifications and the unread count, in one crossing.

    A group's place is its newest notification id; the page after `cursor` holds the
    groups whose newest visible id is below it (see actors/notifications.py).
    """
    return await st.tx(_list_groups, recipient_id, cursor, limit, rules, visibility, ids_max,
                       actors_max)


async def unread_count(st: Storage, recipient_id: int, *, visibility: Visibility) -> int:
    """Unread notifications the recipient may see, on live posts and comments."""

    async def run(conn: asyncpg.Connection) -> int:
        return await _unread(conn, recipient_id, _Hidden(conn, recipient_id, visibility))

    return await st.tx(run)


async def _mark_read(conn: asyncpg.Connection, recipient_id: int, ids: list[int] | None,
                     up_to: int | None, visibility: Visibility) -> int:
    if ids is not None:
        await conn.execute(
            """UPDATE notifications SET read_at = now()
               WHERE recipient_id = $1 AND id = ANY($2::bigint[]) AND read_at IS NULL""",
            recipient_id, ids)
    else:
        await conn.execute(
            """UPDATE notifications SET read_at = now()
               WHERE recipient_id = $1 AND id <= $2 AND read_at IS NULL""",
            recipient_id, _ID_MAX if up_to is None else up_to)
    return await _unread(conn, recipient_id, _Hidden(conn, recipient_id, visibility))


async def mark_read(st: Storage, recipient_id: int, *, ids: list[int] | None = None,
                    up_to: int | None = None, visibility: Visibility) -> int:
    """Mark the recipient's own notifications read: `ids`, or every id <= `up_to`
    (all of them when both are None). Returns the unread count after."""
    return await st.tx(_mark_read, recipient_id, ids, up_to, visibility)
