"""How one user stands to another, read in one query inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import asyncpg


class Relation(NamedTuple):
    """A value, as a tuple rather than a frozen dataclass: feed.home builds one per
    author of its ~200 candidates, and a frozen dataclass' __init__ cost four times as
    much (165 against 39 µs per 100, measured)."""

    viewer_id: int
    target_id: int
    exists: bool
    target_private: bool = False
    target_suspended: bool = False
    following: bool = False  # viewer follows target
    follows_me: bool = False  # target follows viewer
    requested: bool = False  # viewer asked to follow target (private)
    i_blocked: bool = False
    blocked_me: bool = False
    i_muted: bool = False
    target_mutes_me: bool = False

    @property
    def is_self(self) -> bool:
        return self.viewer_id == self.target_id

    @property
    def blocked(self) -> bool:
        return self.i_blocked or self.blocked_me


def relation_columns(viewer: str, target: str, prefix: str) -> str:
    """SQL select-list items for how `viewer` stands to `target` (two SQL expressions),
    named `<prefix>_<flag>`: lets a statement that reads other things carry relations too
    (read back with `relation_from`)."""
    return f"""
        (SELECT u.is_private FROM users u WHERE u.id = {target}) AS {prefix}_private,
        (SELECT u.suspended_at IS NOT NULL FROM users u WHERE u.id = {target}) AS {prefix}_susp,
        EXISTS (SELECT 1 FROM users u WHERE u.id = {target}) AS {prefix}_exists,
        EXISTS (SELECT 1 FROM follows WHERE follower_id = {viewer} AND followee_id = {target})
            AS {prefix}_f,
        EXISTS (SELECT 1 FROM follows WHERE follower_id = {target} AND followee_id = {viewer})
            AS {prefix}_fm,
        EXISTS (SELECT 1 FROM follow_requests
                WHERE requester_id = {viewer} AND target_id = {target}) AS {prefix}_rq,
        EXISTS (SELECT 1 FROM blocks WHERE blocker_id = {viewer} AND blocked_id = {target})
            AS {prefix}_ib,
        EXISTS (SELECT 1 FROM blocks WHERE blocker_id = {target} AND blocked_id = {viewer})
            AS {prefix}_bm,
        EXISTS (SELECT 1 FROM mutes WHERE muter_id = {viewer} AND muted_id = {target})
            AS {prefix}_im,
        EXISTS (SELECT 1 FROM mutes WHERE muter_id = {target} AND muted_id = {viewer})
            AS {prefix}_mm"""


def relation_from(row: asyncpg.Record, prefix: str, viewer_id: int, target_id: int) -> Relation:
    """The Relation read by `relation_columns(..., prefix)`."""
    if not row[f"{prefix}_exists"]:
        return Relation(viewer_id, target_id, exists=False)
    return Relation(viewer_id, target_id, True, *(bool(row[f"{prefix}_{k}"]) for k in (
        "private", "susp", "f", "fm", "rq", "ib", "bm", "im", "mm")))


def user_relation_columns(viewer: str) -> str:
    """SQL select-list items for how `viewer` stands to the user of the statement's `users
    u` row (cheaper than relation_columns when that row is read anyway): read back with
    `user_relation`."""
    return f"""u.is_private AS rel_private, u.suspended_at IS NOT NULL AS rel_susp,
        EXISTS (SELECT 1 FROM follows WHERE follower_id = {viewer} AND followee_id = u.id)
            AS rel_f,
        EXISTS (SELECT 1 FROM follows WHERE follower_id = u.id AND followee_id = {viewer})
            AS rel_fm,
        EXISTS (SELECT 1 FROM follow_requests WHERE requester_id = {viewer} AND target_id = u.id)
            AS rel_rq,
        EXISTS (SELECT 1 FROM blocks WHERE blocker_id = {viewer} AND blocked_id = u.id)
            AS rel_ib,
        EXISTS (SELECT 1 FROM blocks WHERE blocker_id = u.id AND blocked_id = {viewer})
            AS rel_bm,
        EXISTS (SELECT 1 FROM mutes WHERE muter_id = {viewer} AND muted_id = u.id) AS rel_im,
        EXISTS (SELECT 1 FROM mutes WHERE muter_id = u.id AND muted_id = {viewer}) AS rel_mm"""


def user_relation(row: asyncpg.Record, viewer_id: int, target_id: int) -> Relation:
    """The Relation read by `user_relation_columns` (the target exists: its row was read)."""
    return Relation(viewer_id, target_id, True, row["rel_private"], row["rel_susp"],
                    row["rel_f"], row["rel_fm"], row["rel_rq"], row["rel_ib"], row["rel_bm"],
                    row["rel_im"], row["rel_mm"])


async def relations_many(conn: asyncpg.Connection, viewer_id: int,
                         target_ids: Iterable[int]) -> dict[int, Relation]:
    """How `viewer_id` stands to each target, in one query (unknown ids: exists=False)."""
    ids = sorted(set(target_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        f"""SELECT u.id, {user_relation_columns("$1")}
            FROM users u WHERE u.id = ANY($2::bigint[])""",
        viewer_id, ids)
    out = {i: Relation(viewer_id, i, exists=False) for i in ids}
    for r in rows:
        out[r["id"]] = user_relation(r, viewer_id, r["id"])
    return out


async def home_authors(conn: asyncpg.Connection, viewer_id: int,
                       author_ids: Iterable[int]) -> set[int]:
    """The authors whose posts belong in the viewer's home feed: `privacy.in_home` in SQL
    (tests/storage/test_relations_home.py holds the two equal over every relation). The
    viewer, or a live account they follow, neither blocking the other, not muted by
    them; following makes a private account's posts visible. Only the ids come back: a
    warm page's ~45 authors as full relations (nine flags each, then the rule in
    Python) cost 0.26 ms of the node's CPU against 0.10 (measured)."""
    ids = sorted(set(author_ids))
    if not ids:
        return set()
    rows = await conn.fetch(
        """SELECT u.id FROM users u
           WHERE u.id = ANY($2::bigint[]) AND (u.id = $1 OR (
             u.suspended_at IS NULL
             AND EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = u.id)
             AND NOT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = u.id)
             AND NOT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = u.id AND blocked_id = $1)
             AND NOT EXISTS (SELECT 1 FROM mutes WHERE muter_id = $1 AND muted_id = u.id)))""",
        viewer_id, ids)
    return {r[0] for r in rows}


async def relation(conn: asyncpg.Connection, viewer_id: int, target_id: int) -> Relation:
    return (await relations_many(conn, viewer_id, [target_id]))[target_id]
