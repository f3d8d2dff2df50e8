"""Posts, their media, tags, mentions, likes, saves and comments in Postgres.

Small asyncio functions that take a connection inside the caller's transaction
(actors/posts.py composes them with the privacy checks, so a check and its
effect commit together). Counters change in the same transaction as the rows
they count, and only when a row was really inserted or deleted, so they stay
exact under concurrency.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg

from config import limits as L
from storage import media as media_db
from storage import notifications as notes_db
from storage import search, timelines
from storage.accounts import UserRecord, user_columns, user_record
from storage.events import StoredEvent, append_ctes, pack_items, stored_events
from storage.graph import Cursor
from storage.media import MediaRecord
from storage.relations import (
    Relation,
    relation_columns,
    relation_from,
    user_relation,
    user_relation_columns,
)
from storage.store import Storage

_MEDIA_FIELDS = tuple(f.name for f in dataclasses.fields(MediaRecord) if f.name != "attached")
_MEDIA_COLS = ", ".join(f"m.{f}" for f in _MEDIA_FIELDS)  # of media attached to a post
_MS = "(extract(epoch FROM {}) * 1000)::bigint"
_US = "floor(extract(epoch FROM {}) * 1000000)::bigint"


class Author(NamedTuple):
    """A value, as a tuple rather than a frozen dataclass, like PostRecord below."""

    id: int
    username: str
    display_name: str
    avatar: dict[str, Any] | None  # the avatar's stored variants


@dataclass(frozen=True)
class PostHead:
    """What the checks need: who wrote it, whether it is open, its counts."""

    id: int
    author_id: int
    comments_off: bool
    deleted: bool
    like_count: int
    comment_count: int
    media_count: int


@dataclass(frozen=True)
class PostMedia:
    media: MediaRecord
    alt: str


class PostRecord(NamedTuple):
    """A value, as a tuple rather than a frozen dataclass: a feed page builds 30 of them,
    and a frozen dataclass' __init__ of 14 fields cost 1.4 µs against 0.3 (measured)."""

    id: int
    author: Author
    caption: str
    location: str
    comments_off: bool
    like_count: int
    comment_count: int
    created_ms: int
    edited_ms: int | None
    media: tuple[PostMedia, ...]
    tags: tuple[str, ...]
    mentions: tuple[tuple[int, str], ...]  # (user id, username)
    liked: bool
    saved: bool


@dataclass(frozen=True)
class CommentHead:
    id: int
    post_id: int
    author_id: int
    parent_id: int | None
    deleted: bool


@dataclass(frozen=True)
class CommentRecord:
    id: int
    post_id: int
    author: Author
    body: str
    parent_id: int | None
    like_count: int
    created_ms: int
    liked: bool
    reply_count: int


# Media never change once attached to a post, and the same avatars and photos come
# back in every feed page: parsed once per process (json.loads and a record per
# variant were ~15% of a warm feed.home's CPU). Shared: never mutate what these return.
_media_records: dict[int, MediaRecord] = {}
_parsed_variants: dict[str, dict[str, Any]] = {}


def _variants(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, str):
        return value
    got = _parsed_variants.get(value)
    if got is None:
        if len(_parsed_variants) >= L.MEDIA_RECORDS_CACHED:
            _parsed_variants.clear()
        got = _parsed_variants[value] = json.loads(value)
    return got


def _attached_media(row: asyncpg.Record) -> MediaRecord:
    rec = _media_records.get(row["id"])
    if rec is None:
        rec = MediaRecord(**{k: row[k] for k in _MEDIA_FIELDS}, attached=True)
        rec = dataclasses.replace(rec, variants=_variants(rec.variants) or {})
        if len(_media_records) >= L.MEDIA_RECORDS_CACHED:
            _media_records.clear()
        _media_records[rec.id] = rec
    return rec


# A post's photos never change once posted; their alt texts can, by post.edit, which
# stamps edited_at in the same transaction. So a post's media are kept per process
# under (post, edited_at in µs), and a page of posts seen before skips the media
# statement. A reader that saw the old stamp may keep the new alts under it: harmless,
# the other way round cannot happen (the media are read after the stamp).
_post_media: dict[tuple[int, int | None], tuple[PostMedia, ...]] = {}
_post_media_held = [0]  # photos in _post_media: bounded like the media records themselves


def _author(row: asyncpg.Record) -> Author:
    return Author(row["a_id"], row["a_username"], row["a_display_name"],
                  _variants(row["a_avatar"]))


_AUTHOR_COLS = ("u.id AS a_id, u.username AS a_username, u.display_name AS a_display_name, "
                "(SELECT variants FROM media m WHERE m.id = u.avatar_id) AS a_avatar")


# -- posts: checks -----------------------------------------------------------------------
async def head(conn: asyncpg.Connection, post_id: int) -> PostHead | None:
    row = await conn.fetchrow(
        """SELECT id, author_id, comments_off, deleted_at IS NOT NULL AS deleted, like_count,
                  comment_count, (SELECT count(*) FROM post_media pm WHERE pm.post_id = p.id)
                  AS media_count
           FROM posts p WHERE id = $1""", post_id)
    return PostHead(**dict(row)) if row is not None else None


async def by_idem(conn: asyncpg.Connection, author_id: int, idem: str) -> int | None:
    return await conn.fetchval(
        "SELECT id FROM posts WHERE author_id = $1 AND idem = $2", author_id, idem)


async def user_ids(conn: asyncpg.Connection, usernames: Sequence[str]) -> dict[str, int]:
    """Existing users by lower-cased username."""
    if not usernames:
        return {}
    rows = await conn.fetch(
        "SELECT id, lower(username) AS name FROM users WHERE lower(username) = ANY($1::text[])",
        list(usernames))
    return {r["name"]: r["id"] for r in rows}


# -- posts: writes -------------------------------------------------------------------------
async def insert(conn: asyncpg.Connection, author_id: int, caption: str, location: str,
                 idem: str | None) -> int | None:
    """A new post, or None when this author already made one with this idempotency key."""
    return await conn.fetchval(
        """INSERT INTO posts (author_id, caption, location, idem) VALUES ($1, $2, $3, $4)
           ON CONFLICT (author_id, idem) WHERE idem IS NOT NULL DO NOTHING RETURNING id""",
        author_id, caption, location, idem)


async def claim_media(conn: asyncpg.Connection, owner_id: int,
                      items: Sequence[tuple[int, str]], post_id: int) -> list[int]:
    """Put the owner's media on the post, in order, and mark them used.

    Returns the ids that are no longer there (removed by the clean-up meanwhile);
    nothing is done then. The rows are share-locked, so the clean-up skips them.
    """
    ids = list(dict.fromkeys(m for m, _ in items))
    rows = await conn.fetch(
        """SELECT id FROM media WHERE id = ANY($1::bigint[]) AND owner_id = $2
             AND purged_at IS NULL
           ORDER BY id FOR SHARE""", ids, owner_id)
    missing = set(ids) - {r["id"] for r in rows}
    if missing:
        return sorted(missing)
    await conn.executemany(
        "INSERT INTO post_media (post_id, position, media_id, alt) VALUES ($1, $2, $3, $4)",
        [(post_id, i, m, alt) for i, (m, alt) in enumerate(items)])
    await media_db._attach(conn, ids)
    return []


async def drop_tags(conn: asyncpg.Connection, post_id: int,
                    keep: Sequence[str] = ()) -> list[str]:
    """Delete the post's hashtag rows but `keep`'s; returns the tags gone that trending
    had counted (to take back)."""
    return sorted(await conn.fetchval(
        """WITH gone AS (DELETE FROM post_tags WHERE post_id = $1 AND tag <> ALL($2::text[])
                         RETURNING tag, counted)
           SELECT ARRAY(SELECT tag FROM gone WHERE counted)""", post_id, list(keep)))


async def add_tags(conn: asyncpg.Connection, post_id: int, tags: Sequence[str], *,
                   counted: bool) -> None:
    """Give the post these hashtags (those it has stay as they are); `counted`: in
    trending, as at the post's making (an edit's are not)."""
    if tags:
        await conn.execute(
            """INSERT INTO post_tags (tag, post_id, counted)
               SELECT t, $2, $3 FROM unnest($1::text[]) AS t ON CONFLICT DO NOTHING""",
            list(tags), post_id, counted)


async def set_mentions(conn: asyncpg.Connection, post_id: int, ids: Sequence[int]) -> set[int]:
    """Replace the post's mentions; returns the user ids that were not mentioned before."""
    before = {r["user_id"] for r in await conn.fetch(
        "SELECT user_id FROM post_mentions WHERE post_id = $1", post_id)}
    wanted = set(ids)
    if before - wanted:
        await conn.execute(
            "DELETE FROM post_mentions WHERE post_id = $1 AND user_id = ANY($2::bigint[])",
            post_id, list(before - wanted))
    if wanted - before:
        await conn.execute(
            """INSERT INTO post_mentions (post_id, user_id)
               SELECT $1, u FROM unnest($2::bigint[]) AS u ON CONFLICT DO NOTHING""",
            post_id, list(wanted - before))
    return wanted - before


async def bump_posts_count(conn: asyncpg.Connection, user_id: int, delta: int) -> None:
    await conn.execute(
        "UPDATE users SET posts_count = greatest(posts_count + $2, 0) WHERE id = $1",
        user_id, delta)


async def update(conn: asyncpg.Connection, post_id: int, *, caption: str | None,
                 comments_off: bool | None) -> bool:
    """Change what was given and stamp edited_at; False if the post is gone."""
    row = await conn.fetchval(
        """UPDATE posts SET caption = coalesce($2, caption),
                            comments_off = coalesce($3, comments_off), edited_at = now()
           WHERE id = $1 AND deleted_at IS NULL RETURNING id""",
        post_id, caption, comments_off)
    return row is not None


async def set_alts(conn: asyncpg.Connection, post_id: int, alts: Sequence[str]) -> None:
    await conn.executemany(
        "UPDATE post_media SET alt = $3 WHERE post_id = $1 AND position = $2",
        [(post_id, i, alt) for i, alt in enumerate(alts)])


async def soft_delete(conn: asyncpg.Connection, post_id: int) -> list[str] | None:
    """Mark the post deleted, with what goes with it in the same transaction: its
    author's post count, its fan-out `delete` job (timelines.outbox_add), its photos'
    purge (media.queue_purge) and its hashtag rows. Returns the tags it had that
    trending counted (to take back), or None if it was deleted already (so counts move
    once). Kept, a deleted post's tag rows hid a tag from search and trending behind
    them and made tag pages walk them (their counts went with the post:
    glint_post_deleted). This process's feed forgets the post's head at once
    (timelines.forget_heads), and explore the trending tags' counts
    (search.forget_tag_counts)."""
    timelines.forget_heads([post_id])
    search.forget_tag_counts()
    author_id = await conn.fetchval(
        "UPDATE posts SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL "
        "RETURNING author_id", post_id)
    if author_id is None:
        return None
    await bump_posts_count(conn, author_id, -1)
    await timelines.outbox_add(conn, timelines.DELETE, post_id, author_id)
    await media_db.queue_purge(conn, post_id)
    return await drop_tags(conn, post_id)


# -- likes and saves -------------------------------------------------------------------------
async def bump_counts(conn: asyncpg.Connection, post_id: int, *, likes: int = 0,
                      comments: int = 0) -> tuple[int, int] | None:
    """Move the counters of a live post; (like_count, comment_count), or None if it is gone."""
    row = await conn.fetchrow(
        """UPDATE posts SET like_count = greatest(like_count + $2, 0),
                            comment_count = greatest(comment_count + $3, 0)
           WHERE id = $1 AND deleted_at IS NULL RETURNING like_count, comment_count""",
        post_id, likes, comments)
    return (row["like_count"], row["comment_count"]) if row is not None else None


@dataclass(frozen=True)
class PostContext:
    """What a like needs to decide, read in one statement: the post, how the viewer and
    its author stand to each other both ways, the viewer's username, the transaction's
    time, whether the viewer likes it already (a like then adds nothing, and is not
    counted against the viewer's limit) and (if the author is someone else) an id for a
    notification."""

    head: PostHead
    viewer_to_author: Relation
    author_to_viewer: Relation
    viewer_name: str
    now_ms: int
    note_id: int | None
    liked: bool


_CONTEXT = f"""
    SELECT p.id, p.author_id, p.comments_off, p.deleted_at IS NOT NULL AS deleted,
           p.like_count, p.comment_count,
           (SELECT count(*) FROM post_media pm WHERE pm.post_id = p.id) AS media_count,
           {relation_columns("$2::bigint", "p.author_id", "va")},
           {relation_columns("p.author_id", "$2::bigint", "av")},
           (SELECT username FROM users WHERE id = $2) AS viewer_name,
           {_MS.format("now()")} AS now_ms,
           CASE WHEN p.author_id <> $2 THEN glint_next_id() END AS note_id,
           EXISTS (SELECT 1 FROM likes l WHERE l.post_id = p.id AND l.user_id = $2) AS liked
    FROM posts p WHERE p.id = $1"""


async def post_context(conn: asyncpg.Connection, viewer_id: int,
                       post_id: int) -> PostContext | None:
    """The post's row is held first (as the like's counter update would, but before the
    notification's id is taken): a post's like notifications take their ids in the
    order they commit, so one that waited for the row never lands below ids its author
    has seen meanwhile (`notif.read {before}` marked it read unseen), as for comments
    (`add_comment_context`)."""
    await conn.execute("SELECT 1 FROM posts WHERE id = $1 FOR NO KEY UPDATE", post_id)
    row = await conn.fetchrow(_CONTEXT, post_id, viewer_id)
    if row is None:
        return None
    head = PostHead(row["id"], row["author_id"], row["comments_off"], row["deleted"],
                    row["like_count"], row["comment_count"], row["media_count"])
    return PostContext(head, relation_from(row, "va", viewer_id, head.author_id),
                       relation_from(row, "av", head.author_id, viewer_id),
                       row["viewer_name"], row["now_ms"], row["note_id"], row["liked"])


def _repeat(recipient: str, actor: str, kind: str, post: str, comment: str) -> str:
    """SQL: whether this actor recently notified this recipient of this (so like, unlike,
    like does not notify twice): storage.notifications.repeat_sql."""
    return notes_db.repeat_sql(recipient, actor, kind, post, comment)


@dataclass(frozen=True)
class Liked:
    inserted: bool  # False: the like was there already, nothing changed
    counts: tuple[int, int] | None  # (like_count, comment_count); None: the post is gone
    events: list[StoredEvent]  # the author's `notification`, if one was stored


# What a post's one-statement write (a like, a comment) answers: whether its row went
# in, the post's counts after it (none: the post is gone), the events it appended.
_POST_WRITE_RESULT = """SELECT EXISTS (SELECT 1 FROM ins) AS inserted,
           (SELECT like_count FROM cnt) AS like_count,
           (SELECT comment_count FROM cnt) AS comment_count,
           (SELECT array_agg(ord ORDER BY ord) FROM ev_seq) AS ords,
           (SELECT array_agg(seq ORDER BY ord) FROM ev_seq) AS seqs"""
_LIKE_NOTE_GUARD = ("$3::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM cnt) AND NOT "
                    + _repeat("$4::bigint", "$2::bigint", "'like'", "$1::bigint", "NULL"))
_LIKE = f"""
    WITH ins AS (
        INSERT INTO likes (post_id, user_id) VALUES ($1, $2)
        ON CONFLICT DO NOTHING RETURNING true
    ), cnt AS (
        UPDATE posts SET like_count = greatest(like_count + 1, 0)
        WHERE id = $1 AND deleted_at IS NULL AND EXISTS (SELECT 1 FROM ins)
        RETURNING like_count, comment_count
    ), {notes_db.insert_cte(3, _LIKE_NOTE_GUARD)},
    {append_ctes(10, "EXISTS (SELECT 1 FROM note)")}
    {_POST_WRITE_RESULT}"""


async def like_once(conn: asyncpg.Connection, ctx: PostContext, user_id: int, *,
                    notify: bool, retention: int) -> Liked:
    """Insert the like, move the counter, and — when `notify` (the domain's rule) and the
    like is new and no repeat of a recent one — store the author's `like` notification
    and its durable event: one statement, so counts stay exact under concurrency."""
    post_id, author_id = ctx.head.id, ctx.head.author_id
    note_id = ctx.note_id if notify else None
    items: list[tuple[int, str, dict[str, Any]]] = []
    if note_id is not None:
        items = [(author_id, "notification", notes_db.event_data(
            id=note_id, kind="like", actor_id=user_id, actor_name=ctx.viewer_name,
            at=ctx.now_ms, post_id=post_id))]
    row = await conn.fetchrow(
        _LIKE, post_id, user_id, note_id, author_id, user_id, "like", post_id, None, "",
        *pack_items(items), retention)
    counts = ((row["like_count"], row["comment_count"])
              if row["like_count"] is not None else None)
    events = stored_events(items, list(zip(row["ords"] or [], row["seqs"] or [], strict=True)))
    return Liked(row["inserted"], counts, events)


_UNLIKE = """
    WITH live AS (
        SELECT like_count, author_id FROM posts WHERE id = $1 AND deleted_at IS NULL
    ), del AS (
        DELETE FROM likes WHERE post_id = $1 AND user_id = $2 AND EXISTS (SELECT 1 FROM live)
        RETURNING true
    ), cnt AS (
        UPDATE posts SET like_count = greatest(like_count - 1, 0)
        WHERE id = $1 AND deleted_at IS NULL AND EXISTS (SELECT 1 FROM del)
        RETURNING like_count, comment_count
    )
    SELECT (SELECT like_count FROM live) AS before, EXISTS (SELECT 1 FROM del) AS removed,
           (SELECT author_id FROM live) AS author_id,
           (SELECT like_count FROM cnt) AS like_count,
           (SELECT comment_count FROM cnt) AS comment_count"""


@dataclass(frozen=True)
class Unliked:
    live: bool  # the post exists and is not deleted
    removed: bool  # the like was there and is gone now
    like_count: int  # before, when nothing was removed
    counts: tuple[int, int] | None  # after removing; None if the post went meanwhile
    author_id: int | None  # the live post's author


async def unlike_once(conn: asyncpg.Connection, post_id: int, user_id: int) -> Unliked:
    """Remove the like of a live post and move its counter, in one statement."""
    row = await conn.fetchrow(_UNLIKE, post_id, user_id)
    counts = ((row["like_count"], row["comment_count"])
              if row["like_count"] is not None else None)
    return Unliked(row["before"] is not None, row["removed"], row["before"] or 0, counts,
                   row["author_id"])


async def save(conn: asyncpg.Connection, user_id: int, post_id: int) -> None:
    await conn.execute(
        "INSERT INTO saves (user_id, post_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        user_id, post_id)


async def unsave(conn: asyncpg.Connection, user_id: int, post_id: int) -> None:
    await conn.execute("DELETE FROM saves WHERE user_id = $1 AND post_id = $2", user_id, post_id)


# -- posts: reads ---------------------------------------------------------------------------
async def load(conn: asyncpg.Connection, viewer_id: int,
               post_ids: Sequence[int]) -> dict[int, PostRecord]:
    """Full records of live posts, with what the viewer did to them. Only one rule here,
    the one every listing needs: a suspended author's posts are gone (but to themselves)."""
    ids = list(dict.fromkeys(post_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        f"""SELECT p.id, p.caption, p.location, p.comments_off, p.like_count, p.comment_count,
                   {_MS.format("p.created_at")} AS created_ms,
                   {_MS.format("p.edited_at")} AS edited_ms,
                   (extract(epoch FROM p.edited_at) * 1000000)::bigint AS edited_us,
                   {_AUTHOR_COLS},
                   EXISTS (SELECT 1 FROM likes l WHERE l.post_id = p.id AND l.user_id = $2)
                       AS liked,
                   EXISTS (SELECT 1 FROM saves s WHERE s.post_id = p.id AND s.user_id = $2)
                       AS saved,
                   ARRAY(SELECT t.tag FROM post_tags t WHERE t.post_id = p.id ORDER BY t.tag)
                       AS tags,
                   ARRAY(SELECT ROW(mu.id, mu.username) FROM post_mentions pm
                         JOIN users mu ON mu.id = pm.user_id
                         WHERE pm.post_id = p.id ORDER BY mu.username) AS mentions
            FROM posts p JOIN users u ON u.id = p.author_id
            WHERE p.id = ANY($1::bigint[]) AND p.deleted_at IS NULL
              AND (u.suspended_at IS NULL OR u.id = $2)""", ids, viewer_id)
    if not rows:
        return {}
    # Media in a second statement (as an array of rows in the first, one round trip
    # less, it measured slower: ~0.3 ms per 30 posts in decoding and planning), and only
    # for posts whose media this process has not kept (_post_media).
    keys = {r["id"]: (r["id"], r["edited_us"]) for r in rows}
    # Taken now: another load may clear the shared dict while this one awaits.
    have = {i: m for i, k in keys.items() if (m := _post_media.get(k)) is not None}
    missing = [i for i in keys if i not in have]
    if missing:
        media: dict[int, list[PostMedia]] = {i: [] for i in missing}
        for r in await conn.fetch(
                f"""SELECT pm.post_id, pm.alt, {_MEDIA_COLS}
                    FROM post_media pm JOIN media m ON m.id = pm.media_id
                    WHERE pm.post_id = ANY($1::bigint[]) ORDER BY pm.post_id, pm.position""",
                missing):
            media[r["post_id"]].append(PostMedia(_attached_media(r), r["alt"]))
        adding = sum(len(found) for found in media.values())
        if _post_media_held[0] + adding > L.MEDIA_RECORDS_CACHED:
            _post_media.clear()
            _post_media_held[0] = 0
        for i, found in media.items():
            have[i] = _post_media[keys[i]] = tuple(found)
        _post_media_held[0] += adding
    return {
        r["id"]: PostRecord(
            r["id"], _author(r), r["caption"], r["location"], r["comments_off"],
            r["like_count"], r["comment_count"], r["created_ms"], r["edited_ms"],
            have[r["id"]], tuple(r["tags"]),
            tuple((m[0], m[1]) for m in r["mentions"]), r["liked"], r["saved"])
        for r in rows}


async def grid(conn: asyncpg.Connection, author_id: int, before_id: int | None,
               limit: int) -> list[int]:
    """A profile's live post ids, newest first."""
    rows = await conn.fetch(
        """SELECT id FROM posts WHERE author_id = $1 AND deleted_at IS NULL
           AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3""",
        author_id, before_id, limit)
    return [r["id"] for r in rows]


async def saved(conn: asyncpg.Connection, user_id: int, before: tuple[int, int] | None,
                limit: int) -> list[tuple[int, int, int]]:
    """The user's saves, newest first: (post id, author id, saved at µs); deleted posts skipped."""
    rows = await conn.fetch(
        f"""SELECT s.post_id, p.author_id, {_US.format("s.created_at")} AS at
            FROM saves s JOIN posts p ON p.id = s.post_id
            WHERE s.user_id = $1 AND p.deleted_at IS NULL
              AND ($2::bigint IS NULL OR ({_US.format("s.created_at")}, s.post_id) < ($2, $3))
            ORDER BY s.created_at DESC, s.post_id DESC LIMIT $4""",
        user_id, before[0] if before else None, before[1] if before else 0, limit)
    return [(r["post_id"], r["author_id"], r["at"]) for r in rows]


async def _counts(conn: asyncpg.Connection, post_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    rows = await conn.fetch(
        """SELECT id, like_count, comment_count FROM posts
           WHERE id = ANY($1::bigint[]) AND deleted_at IS NULL""", list(post_ids))
    return {r["id"]: (r["like_count"], r["comment_count"]) for r in rows}


async def counts(st: Storage, post_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Current (like_count, comment_count) of live posts, in one crossing."""
    return await st.tx(_counts, list(post_ids))


# -- comments ---------------------------------------------------------------------------------
async def comment_head(conn: asyncpg.Connection, comment_id: int) -> CommentHead | None:
    row = await conn.fetchrow(
        """SELECT id, post_id, author_id, parent_id, deleted_at IS NOT NULL AS deleted
           FROM comments WHERE id = $1""", comment_id)
    return CommentHead(**dict(row)) if row is not None else None


@dataclass(frozen=True)
class CommentSight:
    """What deciding whether a viewer may see a comment needs, read in one statement: the
    comment and how the viewer stands to its author."""

    comment: CommentHead
    viewer_to_author: Relation


_COMMENT_SIGHT = f"""
    SELECT c.id, c.post_id, c.author_id, c.parent_id, c.deleted_at IS NOT NULL AS deleted,
           {user_relation_columns("$2::bigint")}
    FROM comments c JOIN users u ON u.id = c.author_id WHERE c.id = $1"""


async def comment_sight(conn: asyncpg.Connection, viewer_id: int,
                        comment_id: int) -> CommentSight | None:
    """None when there is no such comment (or its author's account is gone)."""
    row = await conn.fetchrow(_COMMENT_SIGHT, comment_id, viewer_id)
    if row is None:
        return None
    c = CommentHead(row["id"], row["post_id"], row["author_id"], row["parent_id"],
                    row["deleted"])
    return CommentSight(c, user_relation(row, viewer_id, c.author_id))


async def comment_by_idem(conn: asyncpg.Connection, author_id: int, idem: str) -> int | None:
    return await conn.fetchval(
        "SELECT id FROM comments WHERE author_id = $1 AND idem = $2", author_id, idem)


@dataclass(frozen=True)
class RemovalContext:
    """What deleting a comment needs to decide, read in one statement: the comment, its
    post, and how the viewer stands to the post's author, to the comment's and, for a
    reply, to its thread's (a comment hidden from the viewer is not_found to them unless
    they wrote it or own the post)."""

    comment: CommentHead
    head: PostHead
    viewer_to_post_author: Relation
    viewer_to_comment_author: Relation
    viewer_to_thread_author: Relation | None  # None: the comment is not a reply


# The comment, its post and how the viewer ($2) stands to the post's author, the comment's
# and the thread's: the columns both contexts below start with (read by _comment_and_post).
_COMMENT_AND_POST_COLS = f"""
           c.id AS c_id, c.post_id, c.author_id AS c_author_id, c.parent_id,
           c.deleted_at IS NOT NULL AS c_deleted,
           p.id, p.author_id, p.comments_off, p.deleted_at IS NOT NULL AS deleted,
           p.like_count, p.comment_count,
           (SELECT count(*) FROM post_media pm WHERE pm.post_id = p.id) AS media_count,
           {relation_columns("$2::bigint", "p.author_id", "vp")},
           {relation_columns("$2::bigint", "c.author_id", "vc")},
           t.author_id AS t_author_id, {relation_columns("$2::bigint", "t.author_id", "vt")}"""
_COMMENT_AND_POST_FROM = """
    FROM comments c JOIN posts p ON p.id = c.post_id
    LEFT JOIN comments t ON t.id = c.parent_id WHERE c.id = $1"""


def _comment_and_post(row: asyncpg.Record, viewer_id: int
                      ) -> tuple[CommentHead, PostHead, Relation, Relation, Relation | None]:
    """What _COMMENT_AND_POST_COLS read: the comment, its post, and the viewer's relations
    to the post's author, the comment's and (a reply) the thread's."""
    c = CommentHead(row["c_id"], row["post_id"], row["c_author_id"], row["parent_id"],
                    row["c_deleted"])
    head = PostHead(row["id"], row["author_id"], row["comments_off"], row["deleted"],
                    row["like_count"], row["comment_count"], row["media_count"])
    return (c, head, relation_from(row, "vp", viewer_id, head.author_id),
            relation_from(row, "vc", viewer_id, c.author_id),
            (relation_from(row, "vt", viewer_id, row["t_author_id"] or 0)
             if c.parent_id is not None else None))


_REMOVAL_CONTEXT = f"SELECT {_COMMENT_AND_POST_COLS} {_COMMENT_AND_POST_FROM}"


async def removal_context(conn: asyncpg.Connection, viewer_id: int,
                          comment_id: int) -> RemovalContext | None:
    """None when there is no such comment."""
    row = await conn.fetchrow(_REMOVAL_CONTEXT, comment_id, viewer_id)
    return None if row is None else RemovalContext(*_comment_and_post(row, viewer_id))


async def mention_notified(conn: asyncpg.Connection, post_id: int, actor_id: int,
                           user_ids: Sequence[int]) -> set[int]:
    """Those of `user_ids` this actor already notified of a mention in this post (among
    each one's latest notifications, as for likes: bounded)."""
    if not user_ids:
        return set()
    rows = await conn.fetch(
        f"""SELECT u.id FROM unnest($3::bigint[]) AS u (id)
            WHERE {_repeat("u.id", "$2::bigint", "'mention'", "$1::bigint", "NULL")}""",
        post_id, actor_id, list(user_ids))
    return {r["id"] for r in rows}


async def delete_comment(conn: asyncpg.Connection, comment_id: int, by: int) -> list[int]:
    """Soft-delete a comment and its live replies; the ids that were deleted now. `by` (who
    did it) is kept so operators can tell an author's delete from a post owner's.

    The comment's row is locked first, in a statement of its own: a reply in flight holds
    its thread's row (`add_comment_context`), so this waits for it to commit, and the
    update's snapshot, taken after, then holds that reply too (read in the same
    statement as the lock, it did not: the reply stayed live, counted, unreachable)."""
    await conn.execute("SELECT 1 FROM comments WHERE id = $1 FOR UPDATE", comment_id)
    rows = await conn.fetch(
        """UPDATE comments SET deleted_at = now(), deleted_by = $2
           WHERE (id = $1 OR parent_id = $1) AND deleted_at IS NULL RETURNING id""",
        comment_id, by)
    return [r["id"] for r in rows]


async def load_comments(conn: asyncpg.Connection, viewer_id: int,
                        comment_ids: Sequence[int]) -> dict[int, CommentRecord]:
    ids = list(dict.fromkeys(comment_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        f"""SELECT c.id, c.post_id, c.body, c.parent_id, c.like_count,
                   {_MS.format("c.created_at")} AS created_ms, {_AUTHOR_COLS},
                   EXISTS (SELECT 1 FROM comment_likes cl
                           WHERE cl.comment_id = c.id AND cl.user_id = $2) AS liked,
                   CASE WHEN c.parent_id IS NULL THEN
                       (SELECT count(*) FROM comments r
                        WHERE r.parent_id = c.id AND r.deleted_at IS NULL) ELSE 0 END
                       AS reply_count
            FROM comments c JOIN users u ON u.id = c.author_id
            WHERE c.id = ANY($1::bigint[]) AND c.deleted_at IS NULL
              AND (u.suspended_at IS NULL OR u.id = $2)""", ids, viewer_id)
    return {r["id"]: CommentRecord(r["id"], r["post_id"], _author(r), r["body"], r["parent_id"],
                                   r["like_count"], r["created_ms"], r["liked"],
                                   r["reply_count"])
            for r in rows}


async def list_comments(conn: asyncpg.Connection, post_id: int, parent_id: int | None,
                        after_id: int | None, limit: int) -> list[tuple[int, int]]:
    """Live comments oldest first: top-level ones, or the replies to `parent_id`.

    Returns (comment id, author id).
    """
    rows = await conn.fetch(
        """SELECT id, author_id FROM comments
           WHERE post_id = $1 AND deleted_at IS NULL
             AND parent_id IS NOT DISTINCT FROM $2 AND ($3::bigint IS NULL OR id > $3)
           ORDER BY id LIMIT $4""", post_id, parent_id, after_id, limit)
    return [(r["id"], r["author_id"]) for r in rows]


@dataclass(frozen=True)
class CommentTarget:
    """Someone a new comment may notify (its post's author, the replied thread's author,
    a mentioned user; never the commenter) and how they stand to the post's author, to
    the commenter and, for a reply, to its thread's author."""

    user_id: int
    mentioned: bool
    to_post_author: Relation
    to_commenter: Relation
    to_thread_author: Relation | None  # None: the new comment is a top-level one


@dataclass(frozen=True)
class AddCommentContext:
    """What a new comment needs to decide, read in one statement: the commenter (as a
    comment's author), a comment already made with the same idempotency key, the post
    and the commenter's relation to its author, the comment replied to and its thread's
    top comment with the commenter's relation to each one's author, everyone who may
    be notified, the transaction's time, and ids for the comment and its notifications."""

    commenter: Author
    now_ms: int
    idem_id: int | None
    head: PostHead | None
    viewer_to_author: Relation
    reply_to: CommentHead | None
    thread: CommentHead | None  # the comment `reply_to` replies to, if it is a reply
    viewer_to_reply_author: Relation  # the author of `reply_to` itself
    viewer_to_thread_author: Relation  # the author of the top comment of the thread
    comment_id: int
    targets: dict[int, CommentTarget]
    note_ids: list[int]  # ascending, one per target


_THREAD_AUTHOR = "CASE WHEN r.parent_id IS NULL THEN r.author_id ELSE t.author_id END"
# The replied-to comment's author when it is a reply (else it is the thread's author).
_REPLY_AUTHOR = "CASE WHEN r.parent_id IS NOT NULL THEN r.author_id END"
_ADD_CONTEXT = f"""
    WITH base AS MATERIALIZED (
        SELECT {_AUTHOR_COLS}, {_MS.format("now()")} AS now_ms,
               (SELECT ic.id FROM comments ic WHERE ic.author_id = $2 AND ic.idem = $3)
                   AS idem_id,
               p.id, p.author_id, p.comments_off, p.deleted_at IS NOT NULL AS deleted,
               p.like_count, p.comment_count,
               (SELECT count(*) FROM post_media pm WHERE pm.post_id = p.id) AS media_count,
               {relation_columns("$2::bigint", "p.author_id", "va")},
               r.id AS r_id, r.post_id AS r_post_id, r.author_id AS r_author_id,
               r.parent_id AS r_parent_id, r.deleted_at IS NOT NULL AS r_deleted,
               t.id AS t_id, t.post_id AS t_post_id, t.author_id AS t_author_id,
               t.parent_id AS t_parent_id, t.deleted_at IS NOT NULL AS t_deleted,
               {_THREAD_AUTHOR} AS thread_author,
               {relation_columns("$2::bigint", _THREAD_AUTHOR, "vt")},
               {relation_columns("$2::bigint", _REPLY_AUTHOR, "vr")},
               glint_next_id() AS comment_id
        FROM users u
        LEFT JOIN posts p ON p.id = $1
        LEFT JOIN comments r ON r.id = $4
        LEFT JOIN comments t ON t.id = r.parent_id
        WHERE u.id = $2
    ), who AS (
        SELECT x.id, bool_or(x.mentioned) AS mentioned
        FROM (SELECT mu.id, true AS mentioned FROM users mu
              WHERE lower(mu.username) = ANY($5::text[])
              UNION ALL SELECT author_id, false FROM base
              UNION ALL SELECT thread_author, false FROM base) x
        WHERE x.id IS NOT NULL AND x.id <> $2
        GROUP BY x.id
    )
    SELECT b.*, w.id AS w_id, w.mentioned AS w_mentioned,
           {relation_columns("w.id", "b.author_id", "wp")},
           {relation_columns("w.id", "$2::bigint", "wv")},
           {relation_columns("w.id", "b.thread_author", "wt")},
           CASE WHEN w.id IS NOT NULL THEN glint_next_id() END AS note_id
    FROM base b LEFT JOIN who w ON true"""


def _comment_head(row: asyncpg.Record, prefix: str) -> CommentHead | None:
    if row[f"{prefix}_id"] is None:
        return None
    return CommentHead(row[f"{prefix}_id"], row[f"{prefix}_post_id"], row[f"{prefix}_author_id"],
                       row[f"{prefix}_parent_id"], row[f"{prefix}_deleted"])


async def add_comment_context(conn: asyncpg.Connection, viewer_id: int, post_id: int,
                              reply_to: int | None, idem: str | None,
                              mentioned: Sequence[str]) -> AddCommentContext | None:
    """None when the commenter's account is gone. `mentioned`: lower-cased usernames.

    A reply first holds the comment it answers and its thread (KEY SHARE, as the insert's
    foreign key would, but before the context is read): a deletion of the thread under
    way is waited for, and then read as done (`delete_comment` takes the same rows).

    Then the post's row is held (as its counter's update would, but before the new id
    is taken): comments on one post take their ids in the order they commit, so a
    `comment.list` cursor past one comment never skips another that committed later
    with a smaller id. Comments then posts, in that order, as `delete_comment` does."""
    if reply_to is not None:
        await conn.execute(
            """SELECT 1 FROM comments
               WHERE id = $1 OR id = (SELECT parent_id FROM comments WHERE id = $1)
               ORDER BY id FOR KEY SHARE""", reply_to)
    await conn.execute("SELECT 1 FROM posts WHERE id = $1 FOR NO KEY UPDATE", post_id)
    rows = await conn.fetch(_ADD_CONTEXT, post_id, viewer_id, idem, reply_to, list(mentioned))
    if not rows:
        return None
    row = rows[0]
    head = None
    if row["id"] is not None:
        head = PostHead(row["id"], row["author_id"], row["comments_off"], row["deleted"],
                        row["like_count"], row["comment_count"], row["media_count"])
    thread_author = row["thread_author"]
    targets = {
        r["w_id"]: CommentTarget(r["w_id"], r["w_mentioned"],
                                 relation_from(r, "wp", r["w_id"], row["author_id"]),
                                 relation_from(r, "wv", r["w_id"], viewer_id),
                                 (relation_from(r, "wt", r["w_id"], thread_author)
                                  if thread_author is not None else None))
        for r in rows if r["w_id"] is not None}
    return AddCommentContext(
        _author(row), row["now_ms"], row["idem_id"], head,
        relation_from(row, "va", viewer_id, row["author_id"]),
        _comment_head(row, "r"), _comment_head(row, "t"),
        relation_from(row, "vr" if row["r_parent_id"] is not None else "vt", viewer_id,
                      row["r_author_id"]),
        relation_from(row, "vt", viewer_id, row["thread_author"]),
        row["comment_id"], targets,
        sorted(r["note_id"] for r in rows if r["note_id"] is not None))


_ADD_COMMENT = f"""
    WITH ins AS (
        INSERT INTO comments (id, post_id, author_id, parent_id, body, idem)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (author_id, idem) WHERE idem IS NOT NULL DO NOTHING RETURNING id
    ), cnt AS (
        UPDATE posts SET comment_count = greatest(comment_count + 1, 0)
        WHERE id = $2 AND deleted_at IS NULL AND EXISTS (SELECT 1 FROM ins)
        RETURNING like_count, comment_count
    ), note AS (
        INSERT INTO notifications (id, recipient_id, actor_id, kind, post_id, comment_id, body)
        SELECT n.id, n.recipient_id, $3, n.kind, $2, $1, $10
        FROM unnest($7::bigint[], $8::bigint[], $9::text[]) AS n (id, recipient_id, kind)
        WHERE EXISTS (SELECT 1 FROM cnt)
    ),
    {append_ctes(11, "EXISTS (SELECT 1 FROM cnt)")}
    {_POST_WRITE_RESULT}"""


@dataclass(frozen=True)
class CommentAdded:
    inserted: bool  # False: this author's comment with this idempotency key won meanwhile
    counts: tuple[int, int] | None  # (like_count, comment_count); None: the post is gone
    comment: CommentRecord  # the new comment as load_comments reads it back
    events: list[StoredEvent]  # the recipients' `notification`s, in recipient order


async def add_comment_once(conn: asyncpg.Connection, ctx: AddCommentContext, user_id: int,
                           post_id: int, parent_id: int | None, body: str, idem: str | None,
                           notices: Sequence[tuple[int, str]], *,
                           retention: int) -> CommentAdded:
    """Insert the comment, move the post's counter, and store the `notices` ((recipient,
    kind) in recipient order: the domain decided who hears of it) as notifications with
    their durable events — one statement. Nothing is stored when the idempotency key
    was taken meanwhile (`inserted` False); when the post went meanwhile `counts` is
    None and the caller rolls back."""
    comment_id = ctx.comment_id
    note_ids = ctx.note_ids[:len(notices)]
    items = [(uid, "notification", notes_db.event_data(
        id=nid, kind=kind, actor_id=user_id, actor_name=ctx.commenter.username, at=ctx.now_ms,
        post_id=post_id, comment_id=comment_id, body=body))
        for nid, (uid, kind) in zip(note_ids, notices, strict=True)]
    row = await conn.fetchrow(
        _ADD_COMMENT, comment_id, post_id, user_id, parent_id, body, idem, note_ids,
        [uid for uid, _ in notices], [kind for _, kind in notices],
        body[:notes_db.BODY_MAX], *pack_items(items), retention)
    counts = ((row["like_count"], row["comment_count"])
              if row["comment_count"] is not None else None)
    events = stored_events(items, list(zip(row["ords"] or [], row["seqs"] or [], strict=True)))
    # What load_comments would read back: nobody has liked or answered it yet.
    comment = CommentRecord(comment_id, post_id, ctx.commenter, body, parent_id, 0, ctx.now_ms,
                            False, 0)
    return CommentAdded(row["inserted"], counts, comment, events)


@dataclass(frozen=True)
class CommentContext:
    """What a comment like needs, read in one statement (see PostContext): the comment,
    its post, and the relations between the viewer, the post's and the comment's
    authors (and, for a reply, its thread's author) that actors/privacy.py asks about,
    and whether the viewer likes it already."""

    comment: CommentHead
    like_count: int
    head: PostHead
    viewer_to_post_author: Relation
    viewer_to_comment_author: Relation
    viewer_to_thread_author: Relation | None  # None: the comment is not a reply
    comment_author_to_post_author: Relation
    comment_author_to_viewer: Relation
    comment_author_to_thread_author: Relation | None  # None: the comment is not a reply
    viewer_name: str
    now_ms: int
    note_id: int | None
    liked: bool


_COMMENT_CONTEXT = f"""
    SELECT {_COMMENT_AND_POST_COLS}, c.like_count AS c_like_count,
           {relation_columns("c.author_id", "p.author_id", "cp")},
           {relation_columns("c.author_id", "$2::bigint", "cv")},
           {relation_columns("c.author_id", "t.author_id", "ct")},
           (SELECT username FROM users WHERE id = $2) AS viewer_name,
           {_MS.format("now()")} AS now_ms,
           CASE WHEN c.author_id <> $2 THEN glint_next_id() END AS note_id,
           EXISTS (SELECT 1 FROM comment_likes cl
                   WHERE cl.comment_id = c.id AND cl.user_id = $2) AS liked
    {_COMMENT_AND_POST_FROM}"""


async def comment_context(conn: asyncpg.Connection, viewer_id: int,
                          comment_id: int) -> CommentContext | None:
    """The comment's row is held first, before the notification's id is taken (see
    `post_context`)."""
    await conn.execute("SELECT 1 FROM comments WHERE id = $1 FOR NO KEY UPDATE", comment_id)
    row = await conn.fetchrow(_COMMENT_CONTEXT, comment_id, viewer_id)
    if row is None:
        return None
    c, head, vp, vc, vt = _comment_and_post(row, viewer_id)
    return CommentContext(
        c, row["c_like_count"], head, vp, vc, vt,
        relation_from(row, "cp", c.author_id, head.author_id),
        relation_from(row, "cv", c.author_id, viewer_id),
        (relation_from(row, "ct", c.author_id, row["t_author_id"] or 0)
         if c.parent_id is not None else None),
        row["viewer_name"], row["now_ms"], row["note_id"], row["liked"])


_COMMENT_LIKE_NOTE_GUARD = (
    "$3::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM cnt) AND NOT "
    + _repeat("$4::bigint", "$2::bigint", "'comment_like'", "$7::bigint", "$8::bigint"))
_COMMENT_LIKE = f"""
    WITH ins AS (
        INSERT INTO comment_likes (comment_id, user_id) VALUES ($1, $2)
        ON CONFLICT DO NOTHING RETURNING true
    ), cnt AS (
        UPDATE comments SET like_count = greatest(like_count + 1, 0)
        WHERE id = $1 AND deleted_at IS NULL AND EXISTS (SELECT 1 FROM ins)
        RETURNING like_count
    ), {notes_db.insert_cte(3, _COMMENT_LIKE_NOTE_GUARD)},
    {append_ctes(10, "EXISTS (SELECT 1 FROM note)")}
    SELECT EXISTS (SELECT 1 FROM ins) AS changed,
           (SELECT like_count FROM cnt) AS like_count,
           (SELECT like_count FROM comments WHERE id = $1) AS current,
           (SELECT array_agg(ord ORDER BY ord) FROM ev_seq) AS ords,
           (SELECT array_agg(seq ORDER BY ord) FROM ev_seq) AS seqs"""

_COMMENT_UNLIKE = """
    WITH del AS (
        DELETE FROM comment_likes WHERE comment_id = $1 AND user_id = $2 RETURNING true
    ), cnt AS (
        UPDATE comments SET like_count = greatest(like_count - 1, 0)
        WHERE id = $1 AND deleted_at IS NULL AND EXISTS (SELECT 1 FROM del)
        RETURNING like_count
    )
    SELECT EXISTS (SELECT 1 FROM del) AS changed,
           (SELECT like_count FROM cnt) AS like_count,
           (SELECT like_count FROM comments WHERE id = $1) AS current"""


@dataclass(frozen=True)
class CommentLiked:
    changed: bool  # False: already so, nothing changed
    like_count: int | None  # after the change; None if the comment went meanwhile
    current: int  # the count when nothing changed
    events: list[StoredEvent]  # the comment author's `notification`, if one was stored


async def comment_like_once(conn: asyncpg.Connection, ctx: CommentContext, user_id: int,
                            on: bool, *, notify: bool, retention: int) -> CommentLiked:
    """Like (or unlike) the comment and move its counter; a new like also stores the
    comment author's `comment_like` notification and its event when `notify` holds and
    it repeats no recent one — one statement either way."""
    c = ctx.comment
    items: list[tuple[int, str, dict[str, Any]]] = []
    if not on:
        row = await conn.fetchrow(_COMMENT_UNLIKE, c.id, user_id)
    else:
        note_id = ctx.note_id if notify else None
        if note_id is not None:
            items = [(c.author_id, "notification", notes_db.event_data(
                id=note_id, kind="comment_like", actor_id=user_id, actor_name=ctx.viewer_name,
                at=ctx.now_ms, post_id=c.post_id, comment_id=c.id))]
        row = await conn.fetchrow(
            _COMMENT_LIKE, c.id, user_id, note_id, c.author_id, user_id, "comment_like",
            c.post_id, c.id, "", *pack_items(items), retention)
    seqs = list(zip(row["ords"] or [], row["seqs"] or [], strict=True)) if on else []
    return CommentLiked(row["changed"], row["like_count"], row["current"] or 0,
                        stored_events(items, seqs))


# -- who liked a post ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PostSight:
    """What deciding whether a viewer may see a post needs, read in one statement: the
    post's author, whether it is deleted, and how the viewer stands to the author."""

    post_id: int
    author_id: int
    deleted: bool
    viewer_to_author: Relation


_SIGHT = f"""
    SELECT p.author_id, p.deleted_at IS NOT NULL AS deleted,
           {relation_columns("$2::bigint", "p.author_id", "va")}
    FROM posts p WHERE p.id = $1"""


async def sight(conn: asyncpg.Connection, viewer_id: int, post_id: int) -> PostSight | None:
    """None when the post never existed."""
    row = await conn.fetchrow(_SIGHT, post_id, viewer_id)
    if row is None:
        return None
    return PostSight(post_id, row["author_id"], row["deleted"],
                     relation_from(row, "va", viewer_id, row["author_id"]))


@dataclass(frozen=True)
class Liker:
    """Someone who liked a post, when, and how the viewer stands to them (the domain
    layer leaves out whom the viewer may not see)."""

    user: UserRecord
    at_us: int  # when they liked it, µs since the Unix epoch
    viewer_to_liker: Relation


@dataclass(frozen=True)
class LikersPage:
    likers: list[Liker]  # the page as cut, nobody left out yet
    next: Cursor | None  # the last liker's position when more follow


def _likers_sql(after: bool) -> str:
    # Two texts rather than `$n IS NULL OR …`: a generic plan of the latter cannot start
    # the scan of likes_post_recent (post_id, created_at DESC) INCLUDE (user_id) at the
    # cursor. Ties on created_at are ordered by user id, so no like is skipped or repeated.
    where = "AND l.created_at <= $4 AND (l.created_at < $4 OR l.user_id < $5)" if after else ""
    return f"""
        SELECT {user_columns("u")}, {_US.format("l.created_at")} AS at_us,
               {user_relation_columns("$2")}
        FROM likes l JOIN users u ON u.id = l.user_id
        WHERE l.post_id = $1 {where}
        ORDER BY l.created_at DESC, l.user_id DESC
        LIMIT $3"""


_LIKERS = _likers_sql(after=False)
_LIKERS_AFTER = _likers_sql(after=True)


async def likers(conn: asyncpg.Connection, viewer_id: int, post_id: int,
                 after: Cursor | None, limit: int) -> LikersPage:
    """One page of a post's likers, the latest like first, in one statement; the cursor
    is (like time µs, user id) of the page's last row."""
    if after is None:
        rows = await conn.fetch(_LIKERS, post_id, viewer_id, limit + 1)
    else:
        rows = await conn.fetch(_LIKERS_AFTER, post_id, viewer_id, limit + 1, after.at,
                                after.user_id)
    out = []
    for r in rows[:limit]:
        user = user_record(r)
        assert user is not None
        out.append(Liker(user, r["at_us"], user_relation(r, viewer_id, user.id)))
    nxt = Cursor(out[-1].at_us, out[-1].user.id) if len(rows) > limit and out else None
    return LikersPage(out, nxt)
