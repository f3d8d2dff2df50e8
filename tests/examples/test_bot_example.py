"""The example bot in examples/ runs against a real node and does what it says."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys

import trio

from protocol.client import connect
from server.node import Node
from tests.conftest import PASSWORD, unique
from tests.nodeproc import ROOT


async def test_example_bot_signs_up_and_sets_its_bio(node: Node) -> None:
    name = unique("ex")
    cmd = [sys.executable, "examples/bot.py", node.ws_url, "--username", name,
           "--password", PASSWORD, "--bio", "made by the example"]
    proc = await trio.lowlevel.open_process(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        out = b""
        with trio.fail_after(30):
            while b"made by the example" not in out:
                chunk = await proc.stdout.receive_some()
                assert chunk, out.decode()
                out += chunk
    finally:
        proc.send_signal(signal.SIGINT)
        with trio.fail_after(10):
            await proc.wait()
    async with connect(node.ws_url) as c:
        hello = await c.login(name, PASSWORD)
        assert hello["user"]["bio"] == "made by the example"


def documented_command() -> list[str]:
    """The command line the example's docstring tells you to run."""
    doc = (ROOT / "examples" / "bot.py").read_text("utf-8")
    line = next(ln.strip() for ln in doc.splitlines() if ln.strip().startswith("python "))
    return shlex.split(line)


async def run_bot(argv: list[str]) -> trio.Process:
    return await trio.lowlevel.open_process([sys.executable, *argv[1:]], cwd=ROOT,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


async def read_until(proc: trio.Process, want: bytes, out: bytes = b"") -> bytes:
    assert proc.stdout is not None
    with trio.fail_after(30):
        while want not in out:
            chunk = await proc.stdout.receive_some()
            assert chunk, out.decode()
            out += chunk
    return out


async def test_the_documented_command_runs_until_its_session_ends(node: Node) -> None:
    """The docstring's command as written (its password was "secret123", which sign-up
    refuses as too common: the example crashed); a password change elsewhere revokes
    its token, and it says so and stops (4001), as its docstring says."""
    argv = documented_command()
    assert argv[1] == "examples/bot.py" and argv[2].startswith("ws://")
    name = unique("doc")
    argv[2] = node.ws_url
    argv[argv.index("--username") + 1] = name
    password = argv[argv.index("--password") + 1]
    proc = await run_bot(argv)
    try:
        await read_until(proc, b'"bio": "I am a Glint bot."')
        async with connect(node.ws_url) as other:
            await other.login(name, password)
            await other.call("auth.password", old_password=password,
                             new_password=password + " again")
        await read_until(proc, b"session closed (code 4001)")
        with trio.fail_after(10):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            with trio.fail_after(10):
                await proc.wait()


async def test_a_refused_password_says_why_and_exits(node: Node) -> None:
    argv = ["python", "examples/bot.py", node.ws_url, "--username", unique("weak"),
            "--password", "secret123"]
    proc = await run_bot(argv)
    out = await read_until(proc, b"too common")
    with trio.fail_after(10):
        assert await proc.wait() == 1
    assert b"bad_request: this password is too common" in out and b"Traceback" not in out
