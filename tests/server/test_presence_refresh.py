"""The refresher renews a round's devices chunk by chunk, spread over a heartbeat; a
device that disconnected after the round began must not be renewed by its chunk's
turn (its key came back for two heartbeats: "online" for its peers' presence.get, and
the user's next coming online went unannounced)."""

from __future__ import annotations

from typing import Any

from protocol.client import connect
from server.node import Node
from storage import presence as pdb
from tests.server.test_posts import bots, next_event, uid
from tests.server.test_presence import conversation, online_status, presence_of, until


async def test_a_device_gone_after_the_rounds_snapshot_is_not_renewed(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        b = uid(bob)
        await conversation(node, alice, bob, kind="direct")
        p = presence_of(node)
        await until(node, lambda: p.devices_of(b) == 1)
        [(_, device)] = [d for d in p._devices.values() if d[0] == b]
        round_ = p._chunks()  # what the refresh loop takes at the start of a round
        token = bob.token
        assert token is not None

        await bob.aclose()  # after the snapshot: key deleted, "offline" announced
        gone = await next_event(alice, "presence", user=b)
        assert gone["online"] is False
        for chunk in round_:  # the chunks' turns come later in the round
            await p._refresh_chunk(chunk, True)

        st = node.storage

        async def exists(r: Any) -> int:
            return int(await r.exists(pdb.device_key(st, b, device)))

        assert await st.redis_op(exists) == 0
        [item] = await online_status(alice, b)
        assert item == {"user": b, "online": False, "last_active_at": gone["last_active_at"]}
        # Back: announced (a revived key counted as a live device, so it was not).
        async with connect(node.ws_url, token=token):
            back = await next_event(alice, "presence", user=b)
            assert back["online"] is True


async def test_devices_come_back_at_a_refresh_after_redis_lost_presence(node: Node) -> None:
    """Redis restarted empty (no index, no mark): the refresh that finds the mark gone
    connects this node's devices again, at once, and announces them."""
    async with bots(node, 2) as (alice, bob):
        b = uid(bob)
        await conversation(node, alice, bob, kind="direct")
        p = presence_of(node)
        await until(node, lambda: p.devices_of(b) == 1)
        st = node.storage

        async def flush(r: Any) -> None:
            async for key in r.scan_iter(match=f"{st.ns}:pres*"):
                await r.delete(key)

        await st.redis_op(flush)
        [item] = await online_status(alice, b)
        assert item["online"] is False
        queued = p.queued
        await p.refresh()
        await until(node, lambda: p.queued > queued)
        back = await next_event(alice, "presence", user=b)
        assert back["online"] is True
        [item] = await online_status(alice, b)
        assert item["online"] is True
