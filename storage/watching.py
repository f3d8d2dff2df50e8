"""Reads behind live watches losing sight of posts (actors/watch.py).

Which of some authors' posts someone watches right now, anywhere in the cluster,
and how many viewers stand to one author — both only on a relation change (or, for
every watch of a node, when its bus comes back: `sight_of`), never per event.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import asyncpg

from storage.relations import Relation, relation_columns, relation_from
from storage.store import Storage


async def watched_posts_by(st: Storage, author_ids: Collection[int]) -> dict[int, int]:
    """{post id: author id} of the authors' posts with a live watch on some node: the
    watcher channels (`PUBSUB CHANNELS {ns}:p:*`, one call) that are theirs."""
    prefix = st.key("p", "")
    authors = sorted(set(author_ids))
    if not authors:
        return {}

    async def run(st: Storage) -> dict[int, int]:
        assert st.pool is not None and st.redis is not None
        ids = []
        for ch in await st.redis.pubsub_channels(prefix + "*"):
            tail = (ch.decode() if isinstance(ch, bytes) else ch)[len(prefix):]
            if tail.isdigit():
                ids.append(int(tail))
        if not ids:
            return {}
        async with st.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, author_id FROM posts WHERE id = ANY($1::bigint[]) "
                "AND author_id = ANY($2::bigint[])", ids, authors)
        return {r["id"]: r["author_id"] for r in rows}

    return await st.both(run)


async def relations_to(conn: asyncpg.Connection, viewer_ids: Collection[int],
                       target_id: int) -> dict[int, Relation]:
    """How each viewer stands to one target, in one query."""
    ids = sorted(set(viewer_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        f"SELECT v.id, {relation_columns('v.id', '$2::bigint', 'r')} "
        "FROM unnest($1::bigint[]) AS v (id)", ids, target_id)
    return {r["id"]: relation_from(r, "r", r["id"], target_id) for r in rows}


async def sight_of(conn: asyncpg.Connection, viewers_by_post: Mapping[int, Collection[int]]
                   ) -> dict[int, dict[int, Relation]]:
    """{post id: {viewer: how they stand to its author}} for many posts in one query; a
    post deleted (or never there) is left out."""
    pairs = sorted({(p, v) for p, vs in viewers_by_post.items() for v in vs})
    if not pairs:
        return {}
    rows = await conn.fetch(
        f"SELECT w.post, w.viewer, p.author_id, "
        f"{relation_columns('w.viewer', 'p.author_id', 'r')} "
        "FROM unnest($1::bigint[], $2::bigint[]) AS w (post, viewer) "
        "JOIN posts p ON p.id = w.post AND p.deleted_at IS NULL",
        [p for p, _ in pairs], [v for _, v in pairs])
    out: dict[int, dict[int, Relation]] = {}
    for r in rows:
        out.setdefault(r["post"], {})[r["viewer"]] = relation_from(
            r, "r", r["viewer"], r["author_id"])
    return out
