"""A client that stops reading is closed with 4008; everyone else keeps receiving."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import trio

from protocol.client import connect
from protocol.envelope import encode, event
from server.node import open_node
from tests.conftest import PASSWORD, make_settings, unique
from tests.wire import WAIT, TinyBufferPeer

EVENTS = 600
PAD = 8 * 1024


async def test_stalled_reader_gets_4008_and_healthy_reader_gets_everything(
        services: tuple[str, str], tmp_path: Path) -> None:
    settings = make_settings(services, tmp_path, outbound_queue_bytes=128 * 1024)
    async with open_node(settings) as node:
        slow_name, ok_name = unique("slow"), unique("ok")
        async with connect(node.ws_url) as c:
            await c.signup(slow_name, f"{slow_name}@example.com", PASSWORD)
            slow_token = c.token
        url = urlsplit(node.ws_url)
        slow = await TinyBufferPeer.connect(url.hostname or "127.0.0.1", url.port or 0)
        await slow.send_obj({"op": "hello", "id": 1, "args": {"token": slow_token}})
        # ...and from here on `slow` reads nothing.

        async with connect(node.ws_url) as ok:
            await ok.signup(ok_name, f"{ok_name}@example.com", PASSWORD)
            for i in range(EVENTS):
                await node.broadcast(encode(event("announcement", {"i": i, "pad": "x" * PAD})))
            with trio.fail_after(WAIT * 3):
                got = [(await ok.next_event("announcement")).data["i"] for _ in range(EVENTS)]
            assert got == list(range(EVENTS))
            # The healthy client got all of it, so the node has written (or tried to
            # write) every event to the stalled one too.
            received, code = await slow.read_until_close()
            slow.close()
            assert code == 4008
            assert received < EVENTS
            assert "t" in await ok.call("ping")  # still served
        metrics = node.metrics.render().decode()
        assert "glint_queue_overflows_total 1.0" in metrics
