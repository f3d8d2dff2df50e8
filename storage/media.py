"""Media records in Postgres: what was uploaded, its variants, and who uses which file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from storage.store import Storage

COLLECT_BATCH = 500  # unattached uploads deleted in one transaction

_COLS = ("id, owner_id, kind, width, height, blurhash, color, filter, master_key, variants, "
         "attached_at IS NOT NULL AS attached")


@dataclass(frozen=True)
class MediaRecord:
    id: int
    owner_id: int
    kind: str
    width: int
    height: int
    blurhash: str
    color: str
    filter: str
    master_key: str
    variants: dict[str, Any]  # name -> {"width", "height", "jpeg": key, "webp": key}
    attached: bool


def _record(row: asyncpg.Record | None) -> MediaRecord | None:
    if row is None:
        return None
    data = dict(row)
    variants = data["variants"]
    data["variants"] = json.loads(variants) if isinstance(variants, str) else variants
    return MediaRecord(**data)


async def _insert(conn: asyncpg.Connection, owner_id: int, kind: str, width: int, height: int,
                  blurhash: str, color: str, filter_name: str, master_key: str,
                  variants: dict[str, Any], keys: Sequence[str], attached: bool) -> MediaRecord:
    row = await conn.fetchrow(
        f"""INSERT INTO media (owner_id, kind, width, height, blurhash, color, filter,
                               master_key, variants, attached_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb,
                    CASE WHEN $10 THEN now() END)
            RETURNING {_COLS}""",
        owner_id, kind, width, height, blurhash, color, filter_name, master_key,
        json.dumps(variants), attached)
    rec = _record(row)
    assert rec is not None
    blobs = sorted({*keys, master_key})
    await _lock_keys(conn, blobs)  # a purge deleting these files finishes first
    await conn.executemany(
        "INSERT INTO media_blobs (media_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(rec.id, k) for k in blobs])
    return rec


async def insert(st: Storage, *, owner_id: int, kind: str, width: int, height: int,
                 blurhash: str, color: str, filter_name: str, master_key: str,
                 variants: dict[str, Any], keys: Sequence[str],
                 attached: bool = False) -> MediaRecord:
    """The record of files just put in the store. A purge may have deleted identical
    files meanwhile (files are named by their content): the caller puts back any that
    are missing once this returns (`_lock_keys` says why that is enough)."""
    return await st.tx(_insert, owner_id, kind, width, height, blurhash, color, filter_name,
                       master_key, variants, list(keys), attached)


async def _get(conn: asyncpg.Connection, media_id: int) -> MediaRecord | None:
    return _record(await conn.fetchrow(
        f"SELECT {_COLS} FROM media WHERE id = $1 AND purged_at IS NULL", media_id))


async def lock_owned(conn: asyncpg.Connection, media_id: int,
                     owner_id: int) -> MediaRecord | None:
    """The owner's upload, its row held until the transaction ends: the collector of
    unattached uploads (`_collect`) skips held rows, so it cannot delete it between this
    check and the attach."""
    return _record(await conn.fetchrow(
        f"""SELECT {_COLS} FROM media WHERE id = $1 AND owner_id = $2 AND purged_at IS NULL
            FOR UPDATE""", media_id, owner_id))


async def get(st: Storage, media_id: int) -> MediaRecord | None:
    return await st.tx(_get, media_id)


async def _set_avatar(conn: asyncpg.Connection, user_id: int, media_id: int | None) -> bool:
    if media_id is not None:
        if await lock_owned(conn, media_id, user_id) is None:
            return False  # collected since it was checked
        await conn.execute("UPDATE media SET attached_at = coalesce(attached_at, now()) "
                           "WHERE id = $1", media_id)
    await conn.execute("UPDATE users SET avatar_id = $2 WHERE id = $1", user_id, media_id)
    return True


async def set_avatar(st: Storage, user_id: int, media_id: int | None) -> bool:
    """Whether it was set: the user's upload is checked again, its row held, in the
    same transaction (read before and apart, an upload collected in between failed the
    foreign key as `internal`)."""
    return await st.tx(_set_avatar, user_id, media_id)


async def _attach(conn: asyncpg.Connection, media_ids: Sequence[int]) -> None:
    await conn.execute("UPDATE media SET attached_at = coalesce(attached_at, now()) "
                       "WHERE id = ANY($1::bigint[])", list(media_ids))


async def attach(st: Storage, media_ids: Sequence[int]) -> None:
    """Mark media as used (by a post, an avatar, a message): no longer collectable."""
    await st.tx(_attach, list(media_ids))


@dataclass(frozen=True)
class Collected:
    records: int  # media rows deleted (the batch's limit: there may be more)
    orphans: list[str]  # file keys no row uses any more


async def _collect(conn: asyncpg.Connection, grace_seconds: int, limit: int) -> Collected:
    ids = [r["id"] for r in await conn.fetch(
        """SELECT id FROM media WHERE attached_at IS NULL
           AND created_at < now() - make_interval(secs => $1)
           ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED""", grace_seconds, limit)]
    if not ids:
        return Collected(0, [])
    keys = [r["key"] for r in await conn.fetch(
        "DELETE FROM media_blobs WHERE media_id = ANY($1::bigint[]) RETURNING key", ids)]
    await conn.execute("DELETE FROM media WHERE id = ANY($1::bigint[])", ids)
    orphans = await conn.fetch(
        """SELECT DISTINCT k FROM unnest($1::text[]) AS k
           WHERE NOT EXISTS (SELECT 1 FROM media_blobs b WHERE b.key = k)""", keys)
    return Collected(len(ids), [r["k"] for r in orphans])


async def collect_unattached(st: Storage, grace_seconds: int,
                             limit: int = COLLECT_BATCH) -> Collected:
    """Delete up to `limit` media never attached within the grace period; returns how
    many and the file keys no row uses.

    The caller deletes those files only if they are older than the grace period too,
    so an identical upload racing this (which touches the file) keeps its file.
    """
    return await st.tx(_collect, grace_seconds, limit)


# -- purges ------------------------------------------------------------------------------
_KEY_LOCK_SEED = 13  # hashtextextended seed of a file key's advisory lock (graph: 7, dm: 11)


async def _lock_keys(conn: asyncpg.Connection, keys: Sequence[str]) -> None:
    """Hold these file keys until the transaction ends, in key order (no deadlock). A
    purge holds its keys from its check that nothing uses a file to that file's
    deletion; a new record of the same files takes them before writing its file rows.
    So either the record commits first and the purge keeps the file, or the purge
    deleted it and the uploader, once its record committed, puts the bytes back."""
    await conn.execute(
        f"""SELECT pg_advisory_xact_lock(hashtextextended(k, {_KEY_LOCK_SEED}))
            FROM (SELECT DISTINCT unnest($1::text[]) AS k ORDER BY 1) x""", list(keys))


async def queue_purge(conn: asyncpg.Connection, post_id: int) -> None:
    """In a post's deletion: its photos are to purge (`purge_post`), then or later."""
    await conn.execute(
        "INSERT INTO media_purges (post_id) VALUES ($1) ON CONFLICT DO NOTHING", post_id)


async def _mark_purged(conn: asyncpg.Connection, post_id: int) -> bool:
    """A purge's first transaction: the records that nothing else uses marked purged,
    their file rows deleted, and the keys those had kept on the queued row. Whether the
    second one is due (False: purged already, or another node's purge is under way)."""
    row = await conn.fetchrow("SELECT keys FROM media_purges WHERE post_id = $1 "
                              "FOR UPDATE SKIP LOCKED", post_id)
    if row is None:
        return False
    if row["keys"] is not None:
        return True  # marked by an earlier try: its files are what is left
    # The post's records held (post.create's claim and dm.send's take them shared or
    # held too: either they come first, and their use keeps the files, or they find the
    # record purged and refuse it), in id order as those take them.
    ids = [r["id"] for r in await conn.fetch(
        """SELECT id FROM media WHERE purged_at IS NULL
             AND id IN (SELECT media_id FROM post_media WHERE post_id = $1)
           ORDER BY id FOR UPDATE""", post_id)]
    gone = [r["id"] for r in await conn.fetch(
        """SELECT m AS id FROM unnest($1::bigint[]) AS m
           WHERE NOT EXISTS (SELECT 1 FROM post_media o JOIN posts p ON p.id = o.post_id
                             WHERE o.media_id = m AND p.deleted_at IS NULL)
             AND NOT EXISTS (SELECT 1 FROM messages x
                             WHERE x.media_id = m AND x.unsent_at IS NULL)
             AND NOT EXISTS (SELECT 1 FROM users u WHERE u.avatar_id = m)""", ids)]
    keys: list[str] = []
    if gone:
        await conn.execute("UPDATE media SET purged_at = now() WHERE id = ANY($1::bigint[])",
                           gone)
        # A purged record is no one's use of its files any more: its file rows go.
        keys = sorted({r["key"] for r in await conn.fetch(
            "DELETE FROM media_blobs WHERE media_id = ANY($1::bigint[]) RETURNING key",
            gone)})
    await conn.execute("UPDATE media_purges SET keys = $2 WHERE post_id = $1", post_id, keys)
    return True


async def _delete_files(conn: asyncpg.Connection, post_id: int,
                        unlink: Callable[[str], None]) -> list[str] | None:
    """A purge's second transaction: the kept keys held (`_lock_keys`), the files that
    no other record uses (an upload not used yet, an identical picture; rows of records
    purged before 0023 kept their file rows) deleted, then the queued row."""
    row = await conn.fetchrow("SELECT keys FROM media_purges WHERE post_id = $1 "
                              "AND keys IS NOT NULL FOR UPDATE SKIP LOCKED", post_id)
    if row is None:
        return None
    await _lock_keys(conn, row["keys"])
    doomed = [r["k"] for r in await conn.fetch(
        """SELECT k FROM unnest($1::text[]) AS k
           WHERE NOT EXISTS (SELECT 1 FROM media_blobs o JOIN media m ON m.id = o.media_id
                             WHERE o.key = k AND m.purged_at IS NULL)""", row["keys"])]
    for key in doomed:  # in a worker thread (a stalled disk must not hold this loop)
        await asyncio.to_thread(unlink, key)  # an OSError rolls back: retried later
    await conn.execute("DELETE FROM media_purges WHERE post_id = $1", post_id)
    return doomed


async def purge_post(st: Storage, post_id: int,
                     unlink: Callable[[str], None]) -> list[str] | None:
    """Purge a deleted post's photos (queued by `queue_purge` in its deletion), in two
    transactions: the records that nothing else uses (no live post, unsent message or
    avatar) are marked purged and committed first, so none of them can be used again
    whatever happens to the second, which deletes with `unlink` (blocking: run in a
    thread) their files that no other record uses, the keys held meanwhile. Returns the
    keys deleted, or None if the post had no purge waiting (done, or under way
    elsewhere). The records stay (the post's rows point at them), no one's to use."""
    if not await st.tx(_mark_purged, post_id):
        return None
    return await st.tx(_delete_files, post_id, unlink)


async def purges_due(st: Storage, after_seconds: float, limit: int) -> list[int]:
    """Posts whose purge was queued more than `after_seconds` ago and never done (the
    node went away before it, or it failed), taken for another try: their time is
    renewed, so purges that keep failing go behind the others instead of holding the
    head of the queue."""
    async def due(conn: asyncpg.Connection) -> list[int]:
        return [r["post_id"] for r in await conn.fetch(
            """UPDATE media_purges SET queued_at = now() WHERE post_id IN (
                   SELECT post_id FROM media_purges
                   WHERE queued_at < now() - make_interval(secs => $1)
                   ORDER BY queued_at LIMIT $2 FOR UPDATE SKIP LOCKED)
               RETURNING post_id""", after_seconds, limit)]

    return await st.tx(due)
