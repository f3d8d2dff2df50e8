"""Numbered SQL migrations (storage/migrations/NNNN_name.sql), applied in order once.

An advisory lock serialises nodes that start at the same moment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

MIGRATION_LOCK = 0x6C696E74  # "lint"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found = []
    for entry in resources.files("storage").joinpath("migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


async def apply(conn: asyncpg.Connection) -> list[int]:
    """Apply what is missing; returns the versions applied now."""
    applied_now: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version int PRIMARY KEY, name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for mig in available():
            if mig.version in done:
                continue
            await conn.execute(mig.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                mig.version, mig.name,
            )
            applied_now.append(mig.version)
    return applied_now


async def text_locale_ok(conn: asyncpg.Connection) -> bool:
    """Whether the database reads non-ASCII text as letters: lower() and the text-search
    parser follow its LC_CTYPE, and under "C" lower() knows only ASCII (search then
    finds "Москва" only as typed) and non-ASCII punctuation joins the words next to it.
    pgserver's databases are C.UTF-8; a database given by DATABASE_URL may not be."""
    return bool(await conn.fetchval(
        """SELECT lower('ÉЖ') = 'éж' AND EXISTS (
               SELECT 1 FROM ts_parse('default', 'жук') p
               JOIN ts_token_type('default') t ON t.tokid = p.tokid
               WHERE t.alias = 'word' AND p.token = 'жук')"""))


async def pending(conn: asyncpg.Connection) -> list[int]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done = set()
    if exists:
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [m.version for m in available() if m.version not in done]
