"""Operators' data in Postgres: the admin flag, suspensions, the audit log, reports, and
the unfiltered listings of users, posts and comments that moderators work from.

Small asyncio functions over a connection inside the caller's transaction; the
rules (who may do what) live in actors/admin.py and actors/reports.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from storage.store import Storage

_MS = "(extract(epoch FROM {}) * 1000)::bigint"


@dataclass(frozen=True)
class Operator:
    user_id: int
    username: str
    is_admin: bool
    suspended: bool


async def operator(conn: asyncpg.Connection, user_id: int) -> Operator | None:
    """The caller's current role, read fresh (a revoked admin loses it at once)."""
    row = await conn.fetchrow(
        "SELECT id, username, is_admin, suspended_at IS NOT NULL AS s FROM users WHERE id = $1",
        user_id)
    return Operator(row["id"], row["username"], row["is_admin"], row["s"]) if row else None


# -- audit log --------------------------------------------------------------------------------
async def audit(conn: asyncpg.Connection, admin_id: int | None, admin_username: str,
                action: str, target_kind: str, target_id: int | None,
                details: dict[str, Any]) -> int:
    """One row per admin action; returns its id."""
    return await conn.fetchval(
        """INSERT INTO audit_log (admin_id, admin_username, action, target_kind, target_id,
                                  details)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id""",
        admin_id, admin_username, action, target_kind, target_id, json.dumps(details))


async def hold_operator(conn: asyncpg.Connection, user_id: int) -> bool:
    """Whether the user is an operator now (admin, not suspended), their row held (FOR
    SHARE) until the transaction ends: a revoke or a suspension of them either waits for
    this transaction or came first and is seen here."""
    return await conn.fetchval(
        "SELECT 1 FROM users WHERE id = $1 AND is_admin AND suspended_at IS NULL FOR SHARE",
        user_id) is not None


async def audit_page(conn: asyncpg.Connection, *, before_id: int | None, limit: int,
                     action: str | None, admin_id: int | None, target_kind: str | None,
                     target_id: int | None) -> list[dict[str, Any]]:
    """A page of the log, newest first, each entry with the user behind its target (the
    user itself, or the post's or comment's author, or the message's sender) resolved in
    the same query, so the console can show names without asking once per entry."""
    rows = await conn.fetch(
        f"""WITH page AS (
                SELECT id, admin_id, admin_username, action, target_kind, target_id, details,
                       created_at
                FROM audit_log
                WHERE ($1::bigint IS NULL OR id < $1) AND ($3::text IS NULL OR action = $3)
                  AND ($4::bigint IS NULL OR admin_id = $4)
                  AND ($5::text IS NULL OR target_kind = $5)
                  AND ($6::bigint IS NULL OR target_id = $6)
                ORDER BY id DESC LIMIT $2)
            SELECT a.id, a.admin_id, a.admin_username, a.action, a.target_kind, a.target_id,
                   a.details, {_MS.format("a.created_at")} AS at,
                   tu.id AS target_user_id, tu.username AS target_username
            FROM page a
            LEFT JOIN posts p ON a.target_kind = 'post' AND p.id = a.target_id
            LEFT JOIN comments c ON a.target_kind = 'comment' AND c.id = a.target_id
            LEFT JOIN messages m ON a.target_kind = 'message' AND m.id = a.target_id
            LEFT JOIN users tu ON tu.id = CASE a.target_kind
                WHEN 'user' THEN a.target_id WHEN 'post' THEN p.author_id
                WHEN 'comment' THEN c.author_id WHEN 'message' THEN m.sender_id END
            ORDER BY a.id DESC""",
        before_id, limit, action, admin_id, target_kind, target_id)
    return [{"id": r["id"], "admin": {"id": r["admin_id"], "username": r["admin_username"]},
             "action": r["action"], "target": {"kind": r["target_kind"], "id": r["target_id"]},
             "target_user": _named(r["target_user_id"], r["target_username"]),
             "details": _json(r["details"]), "at": r["at"]}
            for r in rows]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _named(user_id: int | None, username: str | None) -> dict[str, Any] | None:
    return None if username is None else {"id": user_id, "username": username}


async def grant(conn: asyncpg.Connection, username: str, flag: bool,
                details: dict[str, Any]) -> bool:
    """The CLI's `admin grant|revoke` (and `user create --admin`): the role and its audit
    row in one transaction; False for an unknown user."""
    row = await conn.fetchrow(
        """UPDATE users SET is_admin = $2 WHERE lower(username) = lower($1)
           RETURNING id, username""", username, flag)
    if row is None:
        return False
    await audit(conn, None, "cli", "admin.grant" if flag else "admin.revoke", "user", row["id"],
                {"username": row["username"], **details})
    return True


# -- users and suspension -------------------------------------------------------------------------
_USER = f"""u.id, u.username, u.email, u.display_name, u.is_admin, u.posts_count,
    u.followers_count, u.following_count, u.suspend_reason,
    {_MS.format("u.created_at")} AS created_ms, {_MS.format("u.suspended_at")} AS suspended_ms,
    (SELECT count(*) FROM reports r WHERE r.target_user_id = u.id AND r.resolved_at IS NULL)
        AS open_reports"""


def _user_row(r: asyncpg.Record) -> dict[str, Any]:
    return {"id": r["id"], "username": r["username"], "email": r["email"],
            "display_name": r["display_name"], "admin": r["is_admin"],
            "created_at": r["created_ms"], "suspended": r["suspended_ms"] is not None,
            "suspended_at": r["suspended_ms"], "suspend_reason": r["suspend_reason"],
            "posts_count": r["posts_count"], "followers_count": r["followers_count"],
            "following_count": r["following_count"], "open_reports": r["open_reports"]}


async def users_page(conn: asyncpg.Connection, *, user_id: int | None, prefix: str | None,
                     suspended: bool | None, before_id: int | None,
                     limit: int) -> list[dict[str, Any]]:
    """Users newest first, by id, by username prefix (case-insensitive), or suspended only."""
    rows = await conn.fetch(
        f"""SELECT {_USER} FROM users u
            WHERE ($1::bigint IS NULL OR u.id = $1)
              AND ($2::text IS NULL OR lower(u.username) LIKE $2 || '%')
              AND ($3::boolean IS NULL OR (u.suspended_at IS NOT NULL) = $3)
              AND ($4::bigint IS NULL OR u.id < $4)
            ORDER BY u.id DESC LIMIT $5""",
        user_id, _like_prefix(prefix), suspended, before_id, limit)
    return [_user_row(r) for r in rows]


async def user_row(conn: asyncpg.Connection, user_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {_USER} FROM users u WHERE u.id = $1", user_id)
    return _user_row(row) if row else None


def _like_prefix(prefix: str | None) -> str | None:
    if prefix is None:
        return None
    return prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def suspend(conn: asyncpg.Connection, user_id: int, reason: str) -> tuple[bool, int]:
    """Mark the user suspended and revoke every live token: (newly suspended, tokens revoked)."""
    done = await conn.fetchval(
        """UPDATE users SET suspended_at = now(), suspend_reason = $2
           WHERE id = $1 AND suspended_at IS NULL RETURNING id""", user_id, reason)
    revoked = await conn.fetchval(
        """WITH r AS (UPDATE tokens SET revoked_at = now()
                      WHERE user_id = $1 AND revoked_at IS NULL RETURNING 1)
           SELECT count(*) FROM r""", user_id)
    return done is not None, revoked


async def unsuspend(conn: asyncpg.Connection, user_id: int) -> int | None:
    """Lift the suspension: when it began (ms), or None if there was none."""
    return await conn.fetchval(
        """UPDATE users u SET suspended_at = NULL, suspend_reason = ''
           FROM (SELECT id, suspended_at FROM users WHERE id = $1 FOR UPDATE) old
           WHERE u.id = old.id AND old.suspended_at IS NOT NULL
           RETURNING (extract(epoch FROM old.suspended_at) * 1000)::bigint""", user_id)


async def operators_among(conn: asyncpg.Connection, user_ids: list[int]) -> set[int]:
    """Which of these users are operators now (admin, not suspended)."""
    rows = await conn.fetch(
        """SELECT id FROM users WHERE id = ANY($1::bigint[]) AND is_admin
           AND suspended_at IS NULL""", user_ids)
    return {r["id"] for r in rows}


@dataclass(frozen=True)
class WatchedComment:
    """A live comment of a user on a post someone is watching; `removed` counts it and,
    for a top-level comment, its live replies (a hidden thread hides them all)."""

    post_id: int
    comment_id: int
    parent_id: int | None
    removed: int


@dataclass(frozen=True)
class Watched:
    """What of a user's is on screen somewhere right now: their watched posts, and their
    live comments on other people's watched posts."""

    posts: list[int]
    comments: list[WatchedComment]


async def watched_of(st: Storage, user_id: int) -> Watched:
    """The user's posts and comments that someone is watching right now, anywhere in the
    cluster: the live watcher channels (`PUBSUB CHANNELS {ns}:p:*`, one call), then one
    statement each through `posts_pkey` and `comments_author`."""
    prefix = st.key("p", "")

    async def run(st: Storage) -> Watched:
        assert st.pool is not None and st.redis is not None
        channels = await st.redis.pubsub_channels(prefix + "*")
        ids = []
        for ch in channels:
            tail = (ch.decode() if isinstance(ch, bytes) else ch)[len(prefix):]
            if tail.isdigit():
                ids.append(int(tail))
        if not ids:
            return Watched([], [])
        async with st.pool.acquire() as conn:
            posts = await conn.fetch("SELECT id FROM posts WHERE id = ANY($1::bigint[]) "
                                     "AND author_id = $2", ids, user_id)
            own = {r["id"] for r in posts}
            comments = await conn.fetch(
                """SELECT c.id, c.post_id, c.parent_id,
                          1 + CASE WHEN c.parent_id IS NULL THEN
                              (SELECT count(*) FROM comments r
                               WHERE r.parent_id = c.id AND r.deleted_at IS NULL)
                              ELSE 0 END AS removed
                   FROM comments c
                   WHERE c.author_id = $2 AND c.post_id = ANY($1::bigint[])
                     AND c.deleted_at IS NULL
                   ORDER BY c.id""", [i for i in ids if i not in own], user_id)
        return Watched([r["id"] for r in posts],
                       [WatchedComment(r["post_id"], r["id"], r["parent_id"], r["removed"])
                        for r in comments])

    return await st.both(run)


async def is_suspended(conn: asyncpg.Connection, user_id: int) -> bool:
    return bool(await conn.fetchval(
        "SELECT suspended_at IS NOT NULL FROM users WHERE id = $1", user_id))


# -- content, unfiltered ------------------------------------------------------------------------
# Who took a post or comment down. An operator's removal writes its audit row in the
# same transaction as the deletion, so the row's created_at equals deleted_at exactly
# (both are that transaction's now()); a deletion with no such row was its author's (for
# a comment: its author's, the post author's, or it went with its deleted parent; which
# one is comments.deleted_by). A reply removed with its top-level comment is found through
# the parent's row.
REMOVAL_ACTIONS = ("admin.remove_post", "admin.remove_comment", "admin.resolve")
_ACTIONS_SQL = ", ".join(f"'{a}'" for a in REMOVAL_ACTIONS)


def _removal_join(alias: str, kind: str, target: str) -> str:
    """The operator's removal of `alias` (a posts or comments row), if any, as `rm`."""
    return f"""LEFT JOIN LATERAL (
        SELECT a.admin_id, a.admin_username, a.details ->> 'reason' AS reason
        FROM audit_log a
        WHERE {alias}.deleted_at IS NOT NULL AND a.target_kind = '{kind}'
          AND a.target_id {target} AND a.created_at = {alias}.deleted_at
          AND a.action IN ({_ACTIONS_SQL})
        ORDER BY a.id DESC LIMIT 1) rm ON true"""


def _removal(r: asyncpg.Record) -> dict[str, Any]:
    """`state` (live, deleted by its author, removed by an operator) and by whom."""
    if r["deleted_ms"] is None:
        state = "live"
    else:
        state = "removed" if r["rm_admin"] is not None else "deleted"
    return {"removed": r["deleted_ms"] is not None, "removed_at": r["deleted_ms"],
            "state": state,
            "removed_by": _named(r["rm_admin_id"], r["rm_admin"]) if state == "removed"
            else None,
            "removal_reason": r["rm_reason"] if state == "removed" else None}


_RM_COLS = "rm.admin_id AS rm_admin_id, rm.admin_username AS rm_admin, rm.reason AS rm_reason"


async def posts_page(conn: asyncpg.Connection, *, post_id: int | None, author_id: int | None,
                     before_id: int | None, limit: int) -> list[dict[str, Any]]:
    """Posts newest first, removed ones included, whoever wrote them."""
    rows = await conn.fetch(
        f"""SELECT p.id, p.author_id, u.username, p.caption, p.like_count, p.comment_count,
                   {_MS.format("p.created_at")} AS created_ms,
                   {_MS.format("p.deleted_at")} AS deleted_ms,
                   u.suspended_at IS NOT NULL AS author_suspended, {_RM_COLS},
                   (SELECT count(*) FROM post_media pm WHERE pm.post_id = p.id) AS photos,
                   (SELECT m.variants FROM post_media pm JOIN media m ON m.id = pm.media_id
                    WHERE pm.post_id = p.id ORDER BY pm.position LIMIT 1) AS first,
                   (SELECT count(*) FROM reports r WHERE r.target_kind = 'post'
                    AND r.target_id = p.id AND r.resolved_at IS NULL) AS open_reports
            FROM posts p JOIN users u ON u.id = p.author_id
            {_removal_join("p", "post", "= p.id")}
            WHERE ($1::bigint IS NULL OR p.id = $1) AND ($2::bigint IS NULL OR p.author_id = $2)
              AND ($3::bigint IS NULL OR p.id < $3)
            ORDER BY p.id DESC LIMIT $4""",
        post_id, author_id, before_id, limit)
    return [{"id": r["id"], "author": {"id": r["author_id"], "username": r["username"],
                                       "suspended": r["author_suspended"]},
             "caption": r["caption"], "like_count": r["like_count"],
             "comment_count": r["comment_count"], "created_at": r["created_ms"],
             **_removal(r), "photos": r["photos"], "first": _json(r["first"]),
             "open_reports": r["open_reports"]}
            for r in rows]


# How a comment's deleter stood to it (comments.deleted_by, written by the delete): its
# author, the post's owner, or the author of the top-level comment it went with. Anyone
# else (no path deletes so today) has no role rather than a wrong one. (An operator's
# removal is told apart by its audit row, above, and is `state: "removed"`.)
DELETER_ROLES = ("author", "post_owner", "parent_author")


async def comments_page(conn: asyncpg.Connection, *, comment_id: int | None,
                        post_id: int | None, author_id: int | None, before_id: int | None,
                        limit: int) -> list[dict[str, Any]]:
    """Comments newest first, removed ones included. `post_gone`: its post was deleted or
    removed, which hides the comment from users while its own row stays live.
    `deleted_by`: for a deleted one, who did it and as what (DELETER_ROLES); nil for a
    comment deleted before the deleter was recorded."""
    rows = await conn.fetch(
        f"""SELECT c.id, c.post_id, c.parent_id, c.author_id, u.username, c.body,
                   c.like_count, {_MS.format("c.created_at")} AS created_ms,
                   {_MS.format("c.deleted_at")} AS deleted_ms,
                   u.suspended_at IS NOT NULL AS author_suspended, {_RM_COLS},
                   p.deleted_at IS NOT NULL AS post_gone,
                   c.deleted_by, du.username AS deleted_by_name,
                   CASE WHEN c.deleted_by = c.author_id THEN 'author'
                        WHEN c.deleted_by = p.author_id THEN 'post_owner'
                        WHEN c.deleted_by = pc.author_id THEN 'parent_author'
                   END AS deleted_as,
                   (SELECT count(*) FROM reports r WHERE r.target_kind = 'comment'
                    AND r.target_id = c.id AND r.resolved_at IS NULL) AS open_reports
            FROM comments c JOIN users u ON u.id = c.author_id
            JOIN posts p ON p.id = c.post_id
            LEFT JOIN comments pc ON pc.id = c.parent_id
            LEFT JOIN users du ON du.id = c.deleted_by
            {_removal_join("c", "comment", "= ANY(ARRAY[c.id, c.parent_id])")}
            WHERE ($1::bigint IS NULL OR c.id = $1) AND ($2::bigint IS NULL OR c.post_id = $2)
              AND ($3::bigint IS NULL OR c.author_id = $3)
              AND ($4::bigint IS NULL OR c.id < $4)
            ORDER BY c.id DESC LIMIT $5""",
        comment_id, post_id, author_id, before_id, limit)
    return [{"id": r["id"], "post": r["post_id"], "parent": r["parent_id"],
             "author": {"id": r["author_id"], "username": r["username"],
                        "suspended": r["author_suspended"]},
             "text": r["body"], "like_count": r["like_count"], "created_at": r["created_ms"],
             **_removal(r), "deleted_by": _deleter(r), "post_gone": r["post_gone"],
             "open_reports": r["open_reports"]}
            for r in rows]


def _deleter(r: asyncpg.Record) -> dict[str, Any] | None:
    """Who deleted it (`state: "deleted"` only, as `removed_by` is for `"removed"`)."""
    if (r["deleted_ms"] is None or r["rm_admin"] is not None or r["deleted_by_name"] is None
            or r["deleted_as"] not in DELETER_ROLES):
        return None
    return {"id": r["deleted_by"], "username": r["deleted_by_name"], "role": r["deleted_as"]}


@dataclass(frozen=True)
class MessageHead:
    sender_id: int | None
    visible: bool  # the reader is a current member who joined before it, and it is not unsent


async def message_for(conn: asyncpg.Connection, message_id: int,
                      reader_id: int) -> MessageHead | None:
    row = await conn.fetchrow(
        """SELECT m.sender_id,
                  (cm.user_id IS NOT NULL AND cm.left_at IS NULL AND m.seq > cm.joined_seq
                   AND m.unsent_at IS NULL AND m.kind <> 'system') AS visible
           FROM messages m
           LEFT JOIN conversation_members cm
             ON cm.conversation_id = m.conversation_id AND cm.user_id = $2
           WHERE m.id = $1""", message_id, reader_id)
    return MessageHead(row["sender_id"], row["visible"]) if row else None


# -- reports --------------------------------------------------------------------------------------
async def add_report(conn: asyncpg.Connection, reporter_id: int, kind: str, target_id: int,
                     target_user_id: int | None, reason: str, note: str) -> tuple[int, bool]:
    """(report id, created now); an open report by the same reporter is kept as it is."""
    while True:  # the open report we collided with may be resolved before we read it: again
        new_id = await conn.fetchval(
            """INSERT INTO reports (reporter_id, target_kind, target_id, target_user_id, reason,
                                    note)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (reporter_id, target_kind, target_id) WHERE resolved_at IS NULL
               DO NOTHING RETURNING id""",
            reporter_id, kind, target_id, target_user_id, reason, note)
        if new_id is not None:
            return new_id, True
        old = await conn.fetchval(
            """SELECT id FROM reports WHERE reporter_id = $1 AND target_kind = $2
               AND target_id = $3 AND resolved_at IS NULL""", reporter_id, kind, target_id)
        if old is not None:
            return old, False


async def report_groups(conn: asyncpg.Connection, *, kind: str | None,
                        target_id: int | None, before_id: int | None,
                        limit: int) -> list[dict[str, Any]]:
    """Open reports, one group per target, the most recently reported first."""
    rows = await conn.fetch(
        f"""SELECT target_kind, target_id, max(target_user_id) AS target_user_id,
                   count(*) AS n, max(id) AS last_id,
                   {_MS.format("min(created_at)")} AS first_ms,
                   {_MS.format("max(created_at)")} AS last_ms,
                   array_agg(reason ORDER BY id) AS reasons,
                   (array_agg(note ORDER BY id DESC) FILTER (WHERE note <> ''))[1:5] AS notes
            FROM reports
            WHERE resolved_at IS NULL AND ($1::text IS NULL OR target_kind = $1)
              AND ($2::bigint IS NULL OR target_id = $2)
            GROUP BY target_kind, target_id
            HAVING $3::bigint IS NULL OR max(id) < $3
            ORDER BY max(id) DESC LIMIT $4""",
        kind, target_id, before_id, limit)
    out = []
    for r in rows:
        reasons: dict[str, int] = {}
        for reason in r["reasons"]:
            reasons[reason] = reasons.get(reason, 0) + 1
        out.append({"kind": r["target_kind"], "target": r["target_id"],
                    "target_user": r["target_user_id"], "count": r["n"], "reasons": reasons,
                    "notes": list(r["notes"] or []), "first_at": r["first_ms"],
                    "last_at": r["last_ms"], "last_id": r["last_id"]})
    return out


async def resolve_reports(conn: asyncpg.Connection, kind: str, target_id: int, admin_id: int,
                          resolution: str) -> int:
    """Close every open report on a target; how many were closed."""
    return await conn.fetchval(
        """WITH r AS (UPDATE reports SET resolved_at = now(), resolved_by = $3, resolution = $4
                      WHERE target_kind = $1 AND target_id = $2 AND resolved_at IS NULL
                      RETURNING 1)
           SELECT count(*) FROM r""", kind, target_id, admin_id, resolution)


async def resolve_comment_reports_of_post(conn: asyncpg.Connection, post_id: int,
                                         admin_id: int, resolution: str) -> int:
    """Close every open report on a comment of this post (they went with it); how many."""
    return await conn.fetchval(
        """WITH r AS (UPDATE reports SET resolved_at = now(), resolved_by = $2, resolution = $3
                      WHERE target_kind = 'comment' AND resolved_at IS NULL
                        AND target_id IN (SELECT id FROM comments WHERE post_id = $1)
                      RETURNING 1)
           SELECT count(*) FROM r""", post_id, admin_id, resolution)


async def target_user(conn: asyncpg.Connection, kind: str, target_id: int) -> int | None:
    """Who is behind a report target (the author, the sender, or the user itself)."""
    if kind == "user":
        return await conn.fetchval("SELECT id FROM users WHERE id = $1", target_id)
    table = {"post": "SELECT author_id FROM posts WHERE id = $1",
             "comment": "SELECT author_id FROM comments WHERE id = $1",
             "message": "SELECT sender_id FROM messages WHERE id = $1"}[kind]
    return await conn.fetchval(table, target_id)
