"""The social graph in Postgres: follows, follow requests, blocks, mutes, and their counts.

Every function takes an asyncpg connection inside the caller's transaction (the
domain layer, actors/graph.py, checks its rules in that same transaction first).
The counters on `users` change in the same transaction as the rows they count and
only when a row really was inserted or deleted, so they are exact under
concurrency. Row locks on `users` are always taken in ascending id order, after
the pair lock, so two graph mutations cannot deadlock each other.

Pages are keyset-paginated, newest first, on (created_at, user id); the cursor is
the position of the last item, see `Cursor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from storage.accounts import UserRecord, user_columns, user_record

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_MAX_US = (datetime(9999, 1, 1, tzinfo=UTC) - _EPOCH) // _MICRO
_MAX_ID = (1 << 63) - 1


@dataclass(frozen=True)
class Cursor:
    """A position in a newest-first list: the last item's time (µs) and user id.

    On the wire the actors write it into an opaque cursor of their list's kind
    (actors/args.py `make_cursor`); clients pass back what they got.
    """

    at_us: int
    user_id: int

    @classmethod
    def of(cls, at_us: int, user_id: int) -> Cursor | None:
        """None when the numbers are past what a position holds (a time after 9999)."""
        if not (0 <= at_us <= _MAX_US and 0 <= user_id <= _MAX_ID):
            return None
        return cls(at_us, user_id)

    @property
    def at(self) -> datetime:
        return _EPOCH + self.at_us * _MICRO

    @classmethod
    def after(cls, at: datetime, user_id: int) -> Cursor:
        return cls((at - _EPOCH) // _MICRO, user_id)


@dataclass(frozen=True)
class Listed:
    """A user in a list, with how the viewer stands to them."""

    user: UserRecord
    at: datetime
    followed_by_me: bool
    follows_me: bool
    requested: bool


@dataclass(frozen=True)
class Page:
    items: list[Listed]
    next: Cursor | None


# -- look-ups --------------------------------------------------------------------------
async def user_id_by_name(conn: asyncpg.Connection, username: str) -> int | None:
    return await conn.fetchval("SELECT id FROM users WHERE lower(username) = lower($1)",
                               username)


async def lock_pair(conn: asyncpg.Connection, a: int, b: int) -> None:
    """Serialise graph mutations between two users until the transaction ends.

    A follow and a concurrent block of the same pair must not both pass their
    checks; taken before any row lock, so it cannot take part in a deadlock.
    """
    lo, hi = sorted((a, b))
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", f"g:{lo}:{hi}")


async def _bump(conn: asyncpg.Connection, follower_id: int, followee_id: int,
                delta: int) -> None:
    """followers_count of the followee and following_count of the follower, in id order."""
    for uid in sorted((follower_id, followee_id)):
        column = "following_count" if uid == follower_id else "followers_count"
        await conn.execute(f"UPDATE users SET {column} = {column} + $2 WHERE id = $1",
                           uid, delta)


# -- follows ---------------------------------------------------------------------------
async def add_follow(conn: asyncpg.Connection, follower_id: int, followee_id: int) -> bool:
    """Insert the follow and count it; False when it already existed."""
    done = await conn.fetchval(
        "INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING RETURNING true", follower_id, followee_id)
    if done:
        await _bump(conn, follower_id, followee_id, 1)
    return bool(done)


async def remove_follow(conn: asyncpg.Connection, follower_id: int, followee_id: int) -> bool:
    """Delete the follow and uncount it; False when there was none."""
    done = await conn.fetchval(
        "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2 RETURNING true",
        follower_id, followee_id)
    if done:
        await _bump(conn, follower_id, followee_id, -1)
    return bool(done)


async def add_request(conn: asyncpg.Connection, requester_id: int,
                      target_id: int) -> datetime | None:
    """Store a pending request; its time, or None when it was already pending."""
    return await conn.fetchval(
        "INSERT INTO follow_requests (requester_id, target_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING RETURNING created_at", requester_id, target_id)


async def remove_request(conn: asyncpg.Connection, requester_id: int, target_id: int) -> bool:
    done = await conn.fetchval(
        "DELETE FROM follow_requests WHERE requester_id = $1 AND target_id = $2 RETURNING true",
        requester_id, target_id)
    return bool(done)


# -- blocks and mutes --------------------------------------------------------------------
async def add_block(conn: asyncpg.Connection, blocker_id: int, blocked_id: int) -> bool:
    """Block, and cut every follow and pending request between the two, both ways."""
    done = await conn.fetchval(
        "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING RETURNING true", blocker_id, blocked_id)
    await remove_follow(conn, blocker_id, blocked_id)
    await remove_follow(conn, blocked_id, blocker_id)
    await remove_request(conn, blocker_id, blocked_id)
    await remove_request(conn, blocked_id, blocker_id)
    return bool(done)


async def remove_block(conn: asyncpg.Connection, blocker_id: int, blocked_id: int) -> bool:
    done = await conn.fetchval(
        "DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2 RETURNING true",
        blocker_id, blocked_id)
    return bool(done)


async def add_mute(conn: asyncpg.Connection, muter_id: int, muted_id: int) -> bool:
    done = await conn.fetchval(
        "INSERT INTO mutes (muter_id, muted_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING RETURNING true", muter_id, muted_id)
    return bool(done)


async def remove_mute(conn: asyncpg.Connection, muter_id: int, muted_id: int) -> bool:
    done = await conn.fetchval(
        "DELETE FROM mutes WHERE muter_id = $1 AND muted_id = $2 RETURNING true",
        muter_id, muted_id)
    return bool(done)


# -- lists -----------------------------------------------------------------------------
# (table, column holding the listed user, column holding the list's owner)
_LISTS = {
    "followers": ("follows", "follower_id", "followee_id"),
    "following": ("follows", "followee_id", "follower_id"),
    "requests": ("follow_requests", "requester_id", "target_id"),
}


async def page(conn: asyncpg.Connection, kind: str, owner_id: int, viewer_id: int,
               after: Cursor | None, limit: int) -> Page:
    """One page of a list, newest first, without suspended users or anyone who has
    blocked the viewer or been blocked by them."""
    return await _page(conn, _LISTS[kind], owner_id, viewer_id, after, limit, hidden=True)


# (table, column holding the listed user, column holding the list's owner)
_OWN_LISTS = {"blocked": ("blocks", "blocked_id", "blocker_id"),
              "muted": ("mutes", "muted_id", "muter_id")}


async def own_page(conn: asyncpg.Connection, kind: str, owner_id: int, after: Cursor | None,
                   limit: int) -> Page:
    """One page of the users the owner blocked or muted, newest first, without suspended
    users. Unlike the other lists a blocked user is listed (to be unblocked), unless
    they blocked the owner too (their profile is hidden: the list would show it); in
    the muted list, those blocked either way are left out, as everywhere else."""
    return await _page(conn, _OWN_LISTS[kind], owner_id, owner_id, after, limit,
                       hidden=kind != "blocked", hidden_by_them=True)


async def _page(conn: asyncpg.Connection, source: tuple[str, str, str], owner_id: int,
                viewer_id: int, after: Cursor | None, limit: int, *, hidden: bool,
                hidden_by_them: bool = False) -> Page:
    """`limit` users of a list (`source`: its table and columns), newest first, with how
    the viewer stands to each; `hidden`: leave out those blocked either way;
    `hidden_by_them`: those who blocked the viewer (a block either way hides a profile)."""
    table, listed, owner = source
    args: list[Any] = [owner_id, viewer_id, limit + 1]
    where = ""
    if after is not None:
        args += [after.at, after.user_id]
        where = f"AND (r.created_at, r.{listed}) < ($4, $5)"
    if hidden:
        where += """
              AND NOT EXISTS (SELECT 1 FROM blocks b
                              WHERE (b.blocker_id = $2 AND b.blocked_id = u.id)
                                 OR (b.blocker_id = u.id AND b.blocked_id = $2))"""
    elif hidden_by_them:
        where += """
              AND NOT EXISTS (SELECT 1 FROM blocks b
                              WHERE b.blocker_id = u.id AND b.blocked_id = $2)"""
    rows = await conn.fetch(
        f"""SELECT {user_columns("u")}, r.created_at AS listed_at,
               EXISTS (SELECT 1 FROM follows
                       WHERE follower_id = $2 AND followee_id = u.id) AS followed_by_me,
               EXISTS (SELECT 1 FROM follows
                       WHERE follower_id = u.id AND followee_id = $2) AS follows_me,
               EXISTS (SELECT 1 FROM follow_requests
                       WHERE requester_id = $2 AND target_id = u.id) AS requested
            FROM {table} r JOIN users u ON u.id = r.{listed}
            WHERE r.{owner} = $1 AND u.suspended_at IS NULL
              {where}
            ORDER BY r.created_at DESC, r.{listed} DESC
            LIMIT $3""",
        *args)
    items = []
    for row in rows[:limit]:
        user = user_record(row)
        assert user is not None
        items.append(Listed(user, row["listed_at"], row["followed_by_me"], row["follows_me"],
                            row["requested"]))
    nxt = (Cursor.after(items[-1].at, items[-1].user.id)
           if len(rows) > limit and items else None)
    return Page(items, nxt)
