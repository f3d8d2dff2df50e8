"""The fan-out group's consumers of gone nodes are dropped when a node starts (each
start is a new consumer, `hostname-pid`, which the group kept for ever); one with
pending jobs stays for another node to claim them, and the node's own stays."""

from __future__ import annotations

from typing import Any

from server.node import Node
from server.ops.feed import feed_of
from storage import timelines as tl


async def test_idle_consumers_with_nothing_pending_are_dropped(node: Node) -> None:
    st = node.storage
    stream = tl.stream_key(st)
    me = feed_of(node).consumer

    async def scene(r: Any) -> None:
        await tl._ensure_group(r, stream)
        # In one transaction, so the node's own worker cannot take the job first:
        # "busy-2" took a job and never finished it (pending), "gone-1" has nothing.
        async with r.pipeline(transaction=True) as pipe:
            pipe.xadd(stream, {"k": "noop", "p": "0", "a": "0"})
            pipe.xreadgroup(tl.GROUP, "busy-2", {stream: ">"}, count=1)
            pipe.xgroup_createconsumer(stream, tl.GROUP, "gone-1")
            pipe.xgroup_createconsumer(stream, tl.GROUP, me)  # (made by its first read)
            await pipe.execute()

    async def names(r: Any) -> set[str]:
        got = await r.xinfo_consumers(stream, tl.GROUP)
        return {c["name"].decode() if isinstance(c["name"], bytes) else c["name"] for c in got}

    await st.redis_op(scene)
    assert {"gone-1", "busy-2", me} <= await st.redis_op(names)
    assert await tl.forget_idle_consumers(st, me, 0) == ["gone-1"]
    assert {"busy-2", me} <= await st.redis_op(names)
    assert "gone-1" not in await st.redis_op(names)
    assert await tl.forget_idle_consumers(st, me, 3_600_000) == []  # none idle that long
