"""The embedded PostgreSQL on a slow machine: pgserver gives `pg_ctl start -w` a fixed
10 s, and a CI run on a busy machine missed it once while the server did start."""

from __future__ import annotations

import asyncio
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from storage.embedded import EmbeddedPostgres

WAIT_SECONDS = 30.0


def test_a_start_that_outlasts_pg_ctls_wait_is_asked_again(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    import pgserver.postgres_server as ps

    real = ps.pg_ctl
    starts: list[list[str]] = []

    def slow_start(args: list[str], **kw: Any) -> Any:
        if args[-1] != "start":
            return real(args, **kw)
        starts.append(args)
        if len(starts) > 1:
            return real(args, **kw)
        # The server starts, but pg_ctl's wait runs out before it says so.
        real([a for a in args if a != "-w"], **kw)
        pid_file = Path(kw["pgdata"]) / "postmaster.pid"
        deadline = time.monotonic() + WAIT_SECONDS
        while not pid_file.exists():
            assert time.monotonic() < deadline, "the server never wrote postmaster.pid"
            time.sleep(0.05)  # sync-ok: a process start; no event to wait on
        raise subprocess.TimeoutExpired(["pg_ctl", *args], 10)

    monkeypatch.setattr(ps, "pg_ctl", slow_start)
    pg = EmbeddedPostgres(tmp_path / "pg")
    try:
        url = pg.start()
        assert len(starts) == 1  # asked again, it found the server running

        async def ask() -> int:
            conn = await asyncpg.connect(url)
            try:
                return int(await conn.fetchval("SELECT 1 + 1"))
            finally:
                await conn.close()

        # In a thread of its own: an xdist worker may hold an event loop in this one.
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(asyncio.run, ask()).result(timeout=WAIT_SECONDS) == 2
    finally:
        pg.stop()
    assert not (tmp_path / "pg" / "postmaster.pid").exists()  # stopped, no orphan
