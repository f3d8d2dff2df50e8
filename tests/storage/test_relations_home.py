"""`relations.home_authors` is `privacy.in_home` written in SQL (the feed's per-page
visibility check): the two agree for every combination of how a viewer and an author
stand to each other, the viewer themself and an id that is no user."""

from __future__ import annotations

import random
from typing import Any

from actors.privacy import in_home
from server.node import Node
from storage.relations import home_authors, relations_many

# One bit per fact between the viewer (v) and an author (a); 2**9 authors cover them all.
FOLLOWING, FOLLOWS_ME, REQUESTED, I_BLOCKED, BLOCKED_ME, I_MUTED, MUTES_ME, PRIVATE, \
    SUSPENDED = (1 << k for k in range(9))
COMBINATIONS = 1 << 9
EDGES = (  # table, column holding v, column holding a, the bit, whether v is the first
    ("follows", "follower_id", "followee_id", FOLLOWING, True),
    ("follows", "follower_id", "followee_id", FOLLOWS_ME, False),
    ("follow_requests", "requester_id", "target_id", REQUESTED, True),
    ("blocks", "blocker_id", "blocked_id", I_BLOCKED, True),
    ("blocks", "blocker_id", "blocked_id", BLOCKED_ME, False),
    ("mutes", "muter_id", "muted_id", I_MUTED, True),
    ("mutes", "muter_id", "muted_id", MUTES_ME, False),
)


async def test_home_authors_is_in_home_for_every_relation(node: Node) -> None:
    tag = str(random.randrange(1 << 30))

    async def run(conn: Any) -> tuple[set[int], set[int], int]:
        tr = conn.transaction()
        await tr.start()
        try:
            viewer, *authors = [int(r["id"]) for r in await conn.fetch(
                "INSERT INTO users (username, email, password_hash) "
                "SELECT 'rh' || $1 || '_' || g, 'rh' || $1 || '_' || g || '@example.com', 'x' "
                "FROM generate_series(0, $2) AS g ORDER BY g RETURNING id",
                tag, COMBINATIONS)]
            for table, first, second, bit, viewer_first in EDGES:
                chosen = [a for k, a in enumerate(authors) if k & bit]
                pairs = [(viewer, a) if viewer_first else (a, viewer) for a in chosen]
                await conn.executemany(
                    f"INSERT INTO {table} ({first}, {second}) VALUES ($1, $2)", pairs)
            await conn.execute("UPDATE users SET is_private = true WHERE id = ANY($1::bigint[])",
                               [a for k, a in enumerate(authors) if k & PRIVATE])
            await conn.execute(
                "UPDATE users SET suspended_at = now() WHERE id = ANY($1::bigint[])",
                [a for k, a in enumerate(authors) if k & SUSPENDED])
            nobody = max(authors) + 1_000_000
            asked = [*authors, viewer, nobody]
            rels = await relations_many(conn, viewer, asked)
            want = {a for a, rel in rels.items() if in_home(rel)}
            return await home_authors(conn, viewer, asked), want, viewer
        finally:
            await tr.rollback()  # nothing of it stays in the session's database

    got, want, viewer = await node.storage.read(run)
    assert got == want
    # Not vacuous: the viewer, and each followed, live, unblocked author the viewer did
    # not mute, whatever the four other facts (follows back, a request, the author's
    # own mute of the viewer, a private account).
    assert viewer in got and len(got) == 1 + 2 ** 4
