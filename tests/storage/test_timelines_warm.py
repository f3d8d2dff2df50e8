"""A feed read's Redis round trips (storage/timelines.py): the warm-up script `_WARM`
answers what the five commands it replaced did, and `write_marks` leaves what the two
SETs did."""

from __future__ import annotations

import uuid

from server.node import Node
from storage import timelines as tl
from storage.ids import make_id

TTL_MS = 60_000


def _keys(node: Node) -> tuple[str, str, str, str]:
    tag = uuid.uuid4().hex[:8]
    st = node.storage
    return (st.key("warmtest", tag, "tl"), st.key("warmtest", tag, "seen"),
            st.key("warmtest", tag, "aff"), st.key("warmtest", tag, "snap"))


async def test_warm_state_reads_all_that_is_asked_in_one_script(node: Node) -> None:
    st = node.storage
    tl_key, seen, aff, snap = _keys(node)
    t = 1_790_000_000_000
    ids = [make_id(t + k, 0, 1) for k in range(5)]
    await st.redis_op(lambda r: tl.rebuild(r, tl_key, ids, 800, TTL_MS))
    await st.redis_op(lambda r: r.set(seen, t + 2))
    await st.redis_op(lambda r: r.hset(aff, mapping={"17": 3, "4242": 12}))
    await st.redis_op(lambda r: r.set(snap, b"0.1.-|1,2"))
    await st.redis_op(lambda r: r.pexpire(tl_key, 5_000))

    state = await st.redis_op(lambda r: tl.warm_state(
        r, tl_key, seen, TTL_MS, affinity=aff, page=tl.PageAt(None, 3), snapshot=snap))
    assert state.built
    assert state.seen == t + 2
    assert state.affinity == {17: 3, 4242: 12}
    assert state.page == (ids[:1:-1], False)  # the newest three, more below
    assert state.snapshot == b"0.1.-|1,2"
    assert await st.redis_op(lambda r: r.pttl(tl_key)) > 5_000  # its expiry renewed

    # Below a position, with the cursor's own millisecond; and nothing else asked.
    before = (tl.id_time_ms(ids[1]), ids[1])
    state = await st.redis_op(lambda r: tl.warm_state(
        r, tl_key, seen, TTL_MS, page=tl.PageAt(before, 10)))
    assert state.page == ([ids[0]], True)
    assert state.affinity is None and state.snapshot is None


async def test_warm_state_of_an_unbuilt_timeline_reads_no_page(node: Node) -> None:
    st = node.storage
    tl_key, seen, aff, snap = _keys(node)
    state = await st.redis_op(lambda r: tl.warm_state(
        r, tl_key, seen, TTL_MS, affinity=aff, page=tl.PageAt(None, 3), snapshot=snap))
    assert not state.built
    assert (state.seen, state.affinity, state.page, state.snapshot) == (0, {}, None, None)
    assert not await st.redis_op(lambda r: r.exists(tl_key))  # nothing created


async def test_write_marks_sets_what_is_given(node: Node) -> None:
    st = node.storage
    _, seen, _, snap = _keys(node)
    await st.redis_op(lambda r: tl.write_marks(r, seen, 123, 60, (snap, "x|1,2"), 30))
    assert await st.redis_op(lambda r: r.get(seen)) == b"123"
    assert await st.redis_op(lambda r: r.get(snap)) == b"x|1,2"
    assert 0 < await st.redis_op(lambda r: r.ttl(seen)) <= 60
    assert 0 < await st.redis_op(lambda r: r.ttl(snap)) <= 30
    await st.redis_op(lambda r: tl.write_marks(r, seen, None, 60, (snap, "y|3"), 30))
    assert await st.redis_op(lambda r: r.get(seen)) == b"123"  # left as it was
    assert await st.redis_op(lambda r: r.get(snap)) == b"y|3"
    await st.redis_op(lambda r: tl.write_marks(r, seen, 456, 60, None, 30))
    assert await st.redis_op(lambda r: r.get(seen)) == b"456"
