"""Run a real node as a separate process (as `glint serve` does) for multi-node tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from server.cli import READY_LINE
from tests.conftest import OUTBOX_AFTER_SECONDS

ROOT = Path(__file__).resolve().parents[1]
STOP_SECONDS = 20.0


@dataclass(frozen=True)
class NodeProcess:
    http_url: str
    ws_url: str
    name: str
    process: trio.Process


@asynccontextmanager
async def node_process(data_dir: Path, *, env: dict[str, str], name: str = "proc",
                       start_seconds: float = 30.0, stderr: Any = None
                       ) -> AsyncIterator[NodeProcess]:
    """Start `python -m server.cli serve` and yield once it printed its ready line.

    `stderr` (a file) receives the node's logs; by default they go to the test's stderr."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("GLINT_")}
    full_env.update(env)
    full_env.setdefault("GLINT_NODE_NAME", name)
    full_env.setdefault("GLINT_LOG_LEVEL", "warning")
    # as make_settings: no sweep of other tests' left-over fan-out jobs
    full_env.setdefault("GLINT_FEED_OUTBOX_AFTER_SECONDS", str(OUTBOX_AFTER_SECONDS))
    cmd = [sys.executable, "-m", "server.cli", "serve", "--port", "0", "--ws-port", "0",
           "--data-dir", str(data_dir)]
    proc = await trio.lowlevel.open_process(cmd, env=full_env, cwd=ROOT,
                                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                            stderr=stderr)
    try:
        assert proc.stdout is not None
        buf = b""
        with trio.fail_after(start_seconds):
            while READY_LINE.encode() not in buf:
                chunk = await proc.stdout.receive_some()
                if not chunk:
                    raise RuntimeError(f"node exited early: {buf.decode(errors='replace')}")
                buf += chunk
        line = next(ln for ln in buf.decode().splitlines() if ln.startswith(READY_LINE))
        fields = dict(part.split("=", 1) for part in line.split()[2:])
        yield NodeProcess(fields["http"], fields["ws"], fields["node"], proc)
    finally:
        with trio.CancelScope(shield=True):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                with trio.move_on_after(STOP_SECONDS):
                    await proc.wait()
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
