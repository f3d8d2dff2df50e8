"""`glint serve` on a fresh data directory (what `make run` starts), and the CLI verbs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import trio

from protocol.client import connect
from tests.conftest import PASSWORD, unique
from tests.nodeproc import ROOT, node_process


async def test_fresh_node_with_embedded_services_is_healthy_within_15s(tmp_path: Path) -> None:
    started = trio.current_time()
    name = unique("fresh")
    async with node_process(tmp_path / "var", env={}, name="fresh", start_seconds=15) as n, \
            httpx.AsyncClient(base_url=n.http_url) as http:
        r = await http.get("/healthz")
        assert r.status_code == 200 and r.json()["ok"] is True
        assert trio.current_time() - started < 15
        assert (await http.get("/readyz")).json()["ready"] is True
        assert (await http.get("/")).status_code == 200
        async with connect(n.ws_url) as c:
            await c.signup(name, f"{name}@example.com", PASSWORD)
        # A CLI command on the same data directory shares the running services.
        out = await trio.run_process(
            [sys.executable, "-m", "server.cli", "user", "create", unique("cli"),
             "--password", "a decent passphrase", "--data-dir", str(tmp_path / "var")],
            cwd=ROOT, capture_stdout=True, capture_stderr=True,
            env={"PATH": "/usr/bin:/bin", "GLINT_LOG_LEVEL": "warning"})
        assert b"created user" in out.stdout
        assert (await http.get("/readyz")).json()["ready"] is True
    # Stopped: no postgres or redis left running from that data directory.
    ps = await trio.run_process(["ps", "-eo", "args"], capture_stdout=True)
    assert str(tmp_path / "var") not in ps.stdout.decode()

    # Data survives a restart.
    async with node_process(tmp_path / "var", env={}, name="again") as n2, \
            connect(n2.ws_url) as c:
        hello = await c.login(name, PASSWORD)
        assert hello["user"]["username"] == name


def test_cli_version_migrate_and_user_create(tmp_path: Path) -> None:
    def glint(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=120,
                              env={"PATH": "/usr/bin:/bin", "GLINT_LOG_LEVEL": "warning"})

    assert "glint 0.1.0" in glint("version").stdout
    data = str(tmp_path / "cli")
    out = glint("migrate", "--data-dir", data)
    assert out.returncode == 0 and "migrations applied" in out.stdout, out.stderr
    assert "up to date" in glint("migrate", "--data-dir", data).stdout
    out = glint("user", "create", "ops.person", "--password", "a decent passphrase",
                "--admin", "--data-dir", data)
    assert out.returncode == 0 and "as admin" in out.stdout, out.stderr
    out = glint("user", "create", "ops.person", "--password", "a decent passphrase",
                "--data-dir", data)
    assert out.returncode != 0 and "taken" in (out.stderr + out.stdout)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_workers_share_the_ports_and_stop_together(
        services: tuple[str, str], tmp_path: Path) -> None:
    import signal
    import uuid

    db, redis = services
    http_port, ws_port = _free_port(), _free_port()
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": db, "REDIS_URL": redis,
           "GLINT_NAMESPACE": f"w{uuid.uuid4().hex[:8]}", "GLINT_LOG_LEVEL": "warning"}
    cmd = [sys.executable, "-m", "server.cli", "serve", "--workers", "2", "--port",
           str(http_port), "--ws-port", str(ws_port), "--data-dir", str(tmp_path / "w")]
    proc = await trio.lowlevel.open_process(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        buf = b""
        with trio.fail_after(30):
            while buf.count(b"GLINT READY") < 2:
                chunk = await proc.stdout.receive_some()
                assert chunk, buf
                buf += chunk
        names = {ln.split("node=")[1] for ln in buf.decode().splitlines() if "node=" in ln}
        assert len(names) == 2
        seen: set[str] = set()
        for _ in range(40):
            async with connect(f"ws://127.0.0.1:{ws_port}/ws") as c:
                name = unique("w")
                seen.add((await c.signup(name, f"{name}@example.com", PASSWORD))["node"])
            if len(seen) == 2:
                break
        assert seen == names  # both processes accept on the one port
    finally:
        proc.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            await proc.wait()
    assert proc.returncode == 0
