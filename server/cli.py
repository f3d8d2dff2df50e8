"""The `glint` command: serve, migrate, user create, admin grant, seed, version."""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import socket
import subprocess
import sys
from typing import Any

import trio

from config import Settings, load_settings
from server.logs import setup_logging

VERSION = "0.1.0"
READY_LINE = "GLINT READY"


def _settings(ns: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(ns, "host", None):
        overrides["host"] = ns.host
    if getattr(ns, "port", None) is not None:
        overrides["http_port"] = ns.port
        if getattr(ns, "ws_port", None) is None and ns.port != 0:
            overrides["ws_port"] = ns.port + 1
    if getattr(ns, "ws_port", None) is not None:
        overrides["ws_port"] = ns.ws_port
    if getattr(ns, "data_dir", None):
        overrides["data_dir"] = ns.data_dir
    return load_settings(toml_path=getattr(ns, "config", None), **overrides)


async def _serve(settings: Settings) -> None:
    from server.node import open_node

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_node(settings) as node:
            print(f"Glint is running: open {node.http_url}/  (WebSocket {node.ws_url})",
                  flush=True)
            print(f"{READY_LINE} http={node.http_url} ws={node.ws_url} node={node.name}",
                  flush=True)
            async for _ in signals:
                print("Glint: shutting down", flush=True)
                break


def _serve_workers(settings: Settings, workers: int, argv: list[str]) -> int:
    """Run N node processes on the same ports (SO_REUSEPORT), sharing Postgres and Redis."""
    from storage.embedded import embedded_services

    with embedded_services(settings.data_dir, database_url=settings.database_url,
                           redis_url=settings.redis_url) as (db_url, redis_url):
        env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=redis_url, GLINT_REUSE_PORT="1")
        procs = []
        for i in range(workers):
            child_env = dict(env, GLINT_NODE_NAME=f"{settings.node_name}-{i + 1}")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "server.cli", *argv, "--workers", "1"], env=child_env))

        def forward(signum: int, _frame: Any) -> None:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signum)

        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGTERM, forward)
        codes = [p.wait() for p in procs]
    return max(codes, default=0)


async def _migrate(settings: Settings) -> None:
    from server.node import open_storage

    async with open_storage(settings, migrate=False) as st:
        applied = await st.migrate()
        print(f"migrations applied: {applied or 'none (up to date)'}")


async def _user_create(settings: Settings, ns: argparse.Namespace) -> None:
    from actors.accounts import Accounts
    from server.node import open_storage
    from storage.moderation import grant

    password = ns.password or os.environ.get("GLINT_PASSWORD") or getpass.getpass("Password: ")
    async with open_storage(settings) as st:
        user = await Accounts(st, settings).create_user(
            ns.username, ns.email or f"{ns.username}@localhost", password)
        if ns.admin:  # a role given by the CLI is audited like `admin grant`
            await st.tx(grant, user.username, True, {"created": True})
        print(f"created user {user.username} (id {user.id}){' as admin' if ns.admin else ''}")


async def _admin_grant(settings: Settings, username: str, flag: bool) -> None:
    from server.node import open_storage
    from storage.moderation import grant

    async with open_storage(settings) as st:
        if not await st.tx(grant, username, flag, {}):
            raise SystemExit(f"no such user: {username}")
        print(f"{username}: admin={flag}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="glint", description="Glint photo-sharing node")
    p.add_argument("--config", help="TOML settings file (or GLINT_CONFIG)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run a node")
    s.add_argument("--host")
    s.add_argument("--port", type=int, help="HTTP port (WebSocket on port+1 unless --ws-port)")
    s.add_argument("--ws-port", type=int)
    s.add_argument("--data-dir")
    s.add_argument("--workers", type=int, default=1)
    m = sub.add_parser("migrate", help="apply database migrations")
    m.add_argument("--data-dir")
    u = sub.add_parser("user", help="manage users")
    usub = u.add_subparsers(dest="user_cmd", required=True)
    uc = usub.add_parser("create")
    uc.add_argument("username")
    uc.add_argument("--email")
    uc.add_argument("--password", help="or GLINT_PASSWORD, or asked")
    uc.add_argument("--admin", action="store_true")
    uc.add_argument("--data-dir")
    a = sub.add_parser("admin", help="operator roles")
    asub = a.add_subparsers(dest="admin_cmd", required=True)
    for verb in ("grant", "revoke"):
        g = asub.add_parser(verb)
        g.add_argument("username")
        g.add_argument("--data-dir")
    sd = sub.add_parser("seed", help="bulk-load a synthetic data set (storage/seed.py)")
    sd.add_argument("--users", type=int, default=1000)
    sd.add_argument("--posts", type=int, default=10000)
    sd.add_argument("--seed", type=int, default=1, help="same seed, same data set")
    sd.add_argument("--password", default=None, help="every seeded user's password")
    sd.add_argument("--photos", help="a directory of pictures for the media pool")
    sd.add_argument("--force", action="store_true", help="add to a populated database")
    sd.add_argument("--data-dir")
    sub.add_parser("version")
    ns = p.parse_args(argv)

    if ns.cmd == "version":
        print(f"glint {VERSION} (protocol 1)")
        return 0
    settings = _settings(ns)
    if not settings.node_name:
        settings = settings.replace(node_name=f"{socket.gethostname()}-{os.getpid()}")
    setup_logging(settings.log_level, settings.node_name)
    if ns.cmd == "serve":
        if ns.workers > 1:
            if not settings.http_port or not settings.ws_port:
                raise SystemExit("--workers needs fixed ports (not 0)")
            child_argv = ([f"--config={ns.config}"] if ns.config else []) + [
                "serve", "--host", settings.host, "--port", str(settings.http_port),
                "--ws-port", str(settings.ws_port), "--data-dir", str(settings.data_dir)]
            return _serve_workers(settings, ns.workers, child_argv)
        trio.run(_serve, settings)
    elif ns.cmd == "migrate":
        trio.run(_migrate, settings)
    elif ns.cmd == "user":
        trio.run(_user_create, settings, ns)
    elif ns.cmd == "admin":
        trio.run(_admin_grant, settings, ns.username, ns.admin_cmd == "grant")
    elif ns.cmd == "seed":
        from server.seed import main as seed_main

        return seed_main(settings, ns)
    return 0


if __name__ == "__main__":
    sys.exit(main())
