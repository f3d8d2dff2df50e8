"""A minimal Glint bot: sign up (or log in), set a bio, then print every event.

Run a node (`make run`), then:

    python examples/bot.py ws://127.0.0.1:8081/ws --username bob --password 'a decent passphrase'

It signs up as `bob` (logging in instead if that account exists: the bot was run
before), says hello, prints its profile, sets its bio with `user.update`, and
prints each event it receives until interrupted (Ctrl-C) or until its session
ends (a password change elsewhere, or an operator's kick, revokes its token:
close 4001). Drops are survived: the client reconnects and resumes, so no
durable event is missed or printed twice. A refused sign-up (a password the
server finds too short or too common) prints the server's reason and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from protocol.client import Client, connect
from protocol.errors import Conflict, GlintError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="WebSocket URL, e.g. ws://127.0.0.1:8081/ws")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True,
                        help="at least 8 characters and not a common password")
    parser.add_argument("--email", help="for sign-up; default <username>@example.com")
    parser.add_argument("--bio", default="I am a Glint bot.")
    return parser.parse_args(argv)


def show(label: str, data: Any) -> None:
    print(f"{label}: {json.dumps(data, default=repr, ensure_ascii=False)}", flush=True)


async def sign_in(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    """Sign up, or log in when the account exists already (the bot was run before)."""
    email = args.email or f"{args.username}@example.com"
    try:
        return await client.signup(args.username, email, args.password)
    except Conflict:
        return await client.login(args.username, args.password)


async def main(args: argparse.Namespace) -> None:
    async with connect(args.url, client_name="glint-example-bot/0.1") as client:
        hello = await sign_in(client, args)
        show("hello", {k: hello.get(k) for k in ("server", "node", "seq", "heartbeat_ms")})
        show("profile", hello["user"])
        show("updated", await client.call("user.update", bio=args.bio))
        async for event in client.events():
            show(f"event {event.name}" + (f" #{event.seq}" if event.seq is not None else ""),
                 event.data)
        print(f"session closed (code {client.close_code})", flush=True)


if __name__ == "__main__":
    try:
        trio.run(main, parse_args())
    except KeyboardInterrupt:
        pass
    except GlintError as e:  # e.g. a refused password: the reason, not a traceback
        sys.exit(f"{e.code.value}: {e.message}")
