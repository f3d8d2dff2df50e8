"""Ids are 64-bit, time-ordered and carry the shard; migrations apply once."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from server.node import Node
from storage import migrations
from storage.ids import id_shard, id_time_ms, make_id


# 40 bits of ms keep the id positive in a signed bigint until 2059.
@given(t=st.integers(1735689600000, 1735689600000 + (1 << 40) - 1),
       shard=st.integers(0, 8191), seq=st.integers(0, 1023))
def test_id_round_trip(t: int, shard: int, seq: int) -> None:
    i = make_id(t, shard, seq)
    assert 0 <= i < 1 << 63
    assert (id_time_ms(i), id_shard(i)) == (t, shard)


async def test_database_ids_are_ordered_and_carry_the_node_shard(node: Node) -> None:
    async def make(conn):  # type: ignore[no-untyped-def]
        return [await conn.fetchval("SELECT glint_next_id()") for _ in range(50)]

    ids = await node.storage.tx(make)
    # Time-ordered to the millisecond; within one the 10-bit counter may wrap (as in
    # Instagram's scheme), so the order is by time, not strictly by id.
    times = [id_time_ms(i) for i in ids]
    assert times == sorted(times) and len(set(ids)) == 50
    assert {id_shard(i) for i in ids} == {node.settings.shard}
    assert abs(id_time_ms(ids[-1]) - time.time() * 1000) < 60_000


async def test_migrations_are_recorded_and_not_reapplied(node: Node) -> None:
    async def state(conn):  # type: ignore[no-untyped-def]
        versions = [r["version"] for r in await conn.fetch(
            "SELECT version FROM schema_migrations ORDER BY version")]
        return versions, await migrations.apply(conn), await migrations.pending(conn)

    versions, applied_again, pending = await node.storage.tx(state)
    assert versions == [m.version for m in migrations.available()]
    assert applied_again == [] and pending == []


class _RolledBack(Exception):
    """Raised to undo the test's schema changes: DDL is transactional in PostgreSQL."""


async def test_migration_0010_repairs_a_database_that_applied_the_early_0009(
        node: Node) -> None:
    def defs(rows):  # type: ignore[no-untyped-def]
        return {r["indexname"]: r["indexdef"] for r in rows}

    query = """SELECT indexname, indexdef FROM pg_indexes
               WHERE schemaname = current_schema()
                 AND indexname IN ('likes_user', 'likes_post_recent',
                                   'follows_followee_follower')"""
    seen: dict[str, object] = {}

    async def run(conn):  # type: ignore[no-untyped-def]
        async with conn.transaction():
            # The early 0009: no follows index, likes indexes without INCLUDE.
            await conn.execute("""
                DROP INDEX follows_followee_follower;
                DROP INDEX likes_user;
                CREATE INDEX likes_user ON likes (user_id, created_at DESC);
                DROP INDEX likes_post_recent;
                CREATE INDEX likes_post_recent ON likes (post_id, created_at DESC);
                DELETE FROM schema_migrations WHERE version >= 10""")
            early = defs(await conn.fetch(query))
            seen["applied"] = await migrations.apply(conn)
            seen["repaired"] = defs(await conn.fetch(query))
            seen["early"] = early
            raise _RolledBack

    try:
        await node.storage.tx(run)
    except _RolledBack:
        pass
    final = await node.storage.tx(lambda conn: conn.fetch(query))
    early = seen["early"]
    assert "follows_followee_follower" not in early  # type: ignore[operator]
    assert "INCLUDE" not in early["likes_user"]  # type: ignore[index]
    assert 10 in seen["applied"]  # type: ignore[operator]
    assert seen["repaired"] == defs(final) and len(defs(final)) == 3
    assert "INCLUDE (post_id)" in defs(final)["likes_user"]


async def test_migration_0013_shows_an_inbox_read_and_keeps_a_request_read_unshown(
        node: Node) -> None:
    """Existing memberships get the read position the others were shown before 0013:
    an inbox member's own (read receipts went out), a request's nothing past joining."""
    seen: dict[str, object] = {}

    async def run(conn):  # type: ignore[no-untyped-def]
        async with conn.transaction():
            ids = {r["username"]: r["id"] for r in await conn.fetch(
                """INSERT INTO users (username, email, password_hash)
                   SELECT u, u || '@example.com', 'not-a-hash'
                   FROM unnest(ARRAY['m13_inbox', 'm13_request']) AS u
                   RETURNING id, username""")}
            a, b = ids["m13_inbox"], ids["m13_request"]
            conv = await conn.fetchval(
                """INSERT INTO conversations (kind, pair_lo, pair_hi, created_by, last_seq)
                   VALUES ('direct', $1, $2, $1, 9) RETURNING id""", min(a, b), max(a, b))
            await conn.execute("""
                ALTER TABLE conversation_members DROP COLUMN shown_read_seq;
                DELETE FROM schema_migrations WHERE version >= 13""")
            await conn.executemany(
                """INSERT INTO conversation_members
                       (conversation_id, user_id, state, last_read_seq, joined_seq)
                   VALUES ($1, $2, $3, $4, $5)""",
                [(conv, a, "inbox", 7, 1), (conv, b, "request", 6, 2)])
            seen["applied"] = await migrations.apply(conn)
            seen["again"] = await migrations.apply(conn)
            seen["rows"] = {r["user_id"]: (r["last_read_seq"], r["shown_read_seq"])
                            for r in await conn.fetch(
                                """SELECT user_id, last_read_seq, shown_read_seq
                                   FROM conversation_members WHERE conversation_id = $1""",
                                conv)}
            seen["ids"] = (a, b)
            raise _RolledBack

    try:
        await node.storage.tx(run)
    except _RolledBack:
        pass
    a, b = seen["ids"]  # type: ignore[misc]
    assert 13 in seen["applied"] and seen["again"] == []  # type: ignore[operator]
    assert seen["rows"] == {a: (7, 7), b: (6, 2)}


async def test_a_database_that_knows_only_ascii_letters_is_told_apart(
        services: tuple[str, str]) -> None:
    """Search folds case and splits words with the database's LC_CTYPE: under "C" it
    knows only ASCII letters, and a node on such a database warns (Storage.migrate)."""
    db, _ = services
    name = f"c_locale_{uuid.uuid4().hex[:8]}"
    base, _, query = db.partition("?")
    c_url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")

    async def check() -> tuple[bool, bool | None]:
        admin = await asyncpg.connect(db)
        try:
            ours = await migrations.text_locale_ok(admin)  # the embedded one: C.UTF-8
            try:
                await admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 "
                                    "ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
            except asyncpg.InsufficientPrivilegeError:
                return ours, None  # a DATABASE_URL whose role may not create databases
            try:
                other = await asyncpg.connect(c_url)
                try:
                    return ours, await migrations.text_locale_ok(other)
                finally:
                    await other.close()
            finally:
                await admin.execute(f"DROP DATABASE {name}")
        finally:
            await admin.close()

    ours, c_locale = await trio.to_thread.run_sync(asyncio.run, check())
    assert ours
    if c_locale is None:
        pytest.skip("the database role may not create databases (CREATEDB)")
    assert c_locale is False
