"""A row lock held by a transaction of the test's own, to put a node's statement in a
known order against it: hold the lock, start the operation, wait until PostgreSQL shows
the operation's statement waiting on the holder, then commit and let it go on."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import trio

from storage.store import Storage

WAIT_SECONDS = 10.0
POLL_SECONDS = 0.02  # no event says a statement is waiting on a lock: pg_stat_activity is asked
_LOCK_WAITS = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
               "AND datname = current_database()")


class Holder:
    """An open transaction (on the storage bridge's loop) that holds the locks its
    statements took until `commit`."""

    def __init__(self, st: Storage, conn: asyncpg.Connection, tx: Any, pid: int) -> None:
        self.st, self.conn, self.tx, self.pid = st, conn, tx, pid

    async def execute(self, statement: str, *args: Any) -> None:
        await self.st.bridge.run(self.conn.execute, statement, *args)

    async def _until(self, query: str, *args: Any, at_least: int = 1) -> None:
        """Poll pg_stat_activity until `query` (a count) reaches `at_least`."""
        with trio.fail_after(WAIT_SECONDS):
            while True:
                if int(await self.st.read(lambda c: c.fetchval(query, *args))) >= at_least:
                    return
                await trio.sleep(POLL_SECONDS)  # sync-ok: polling pg_stat_activity

    async def wait_blocked(self) -> None:
        """Return once some backend waits for this transaction's locks."""
        await self._until("SELECT count(*) FROM pg_stat_activity "
                          "WHERE $1 = ANY(pg_blocking_pids(pid))", self.pid)

    async def wait_statement_waits(self, *query_like: str) -> None:
        """Return once a backend running a statement LIKE one of `query_like` waits for a
        lock, this transaction's or one queued on it (another writer of the same row, say
        presence's, may be ahead of it in the row's queue)."""
        await self._until(f"{_LOCK_WAITS} AND query LIKE ANY($1::text[])", list(query_like))

    async def wait_lock_waits(self, n: int) -> None:
        """Return once `n` backends of this database wait for a lock (any holder's)."""
        await self._until(_LOCK_WAITS, at_least=n)

    async def commit(self) -> None:
        await self.st.bridge.run(self.tx.commit)


@contextlib.asynccontextmanager
async def holding(st: Storage, statement: str, *args: Any) -> AsyncIterator[Holder]:
    """A transaction that has run `statement` (say, `... FOR UPDATE`); rolled back on the
    way out unless committed."""
    conn: asyncpg.Connection = await st.bridge.run(asyncpg.connect, st.database_url)
    try:
        pid = await st.bridge.run(conn.fetchval, "SELECT pg_backend_pid()")
        tx = conn.transaction()
        await st.bridge.run(tx.start)
        holder = Holder(st, conn, tx, pid)
        await holder.execute(statement, *args)
        yield holder
    finally:
        with trio.CancelScope(shield=True):
            await st.bridge.run(conn.close)  # rolls back whatever is left
