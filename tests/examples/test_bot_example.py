"""The example bot in examples/ runs against a real node and does what it says."""

from __future__ import annotations

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
