"""Ids are 64-bit, time-ordered and carry the shard; migrations apply once."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from server.node import Node
from storage import migrations
from storage.ids import id_shard, id_time_ms, make_id


# 40 bits of ms keep the id positive in a signed bigint until 2059.
@given(t=st.integers(1735689600000, 1735689600000 + (1 << 40) - 1),
       shard=st.integers(0, 8191), seq=st.integers(0, 1023))
def test_id_round_trip(t: int, shard: int, seq: int) -> None:
    i = make_id(t, shard, seq)
    assert 0 <= i < 1 << 63
    assert (id_time_ms(i), id_shard(i)) == (t, shard)


async def test_database_ids_are_ordered_and_carry_the_node_shard(node: Node) -> None:
    async def make(conn):  # type: ignore[no-untyped-def]
        return [await conn.fetchval("SELECT glint_next_id()") for _ in range(50)]

    ids = await node.storage.tx(make)
    # Time-ordered to the millisecond; within one the 10-bit counter may wrap (as in
    # Instagram's scheme), so the order is by time, not strictly by id.
    times = [id_time_ms(i) for i in ids]
    assert times == sorted(times) and len(set(ids)) == 50
    assert {id_shard(i) for i in ids} == {node.settings.shard}
    assert abs(id_time_ms(ids[-1]) - time.time() * 1000) < 60_000


async def test_migrations_are_recorded_and_not_reapplied(node: Node) -> None:
    async def state(conn):  # type: ignore[no-untyped-def]
        versions = [r["version"] for r in await conn.fetch(
            "SELECT version FROM schema_migrations ORDER BY version")]
        return versions, await migrations.apply(conn), await migrations.pending(conn)

    versions, applied_again, pending = await node.storage.tx(state)
    assert versions == [m.version for m in migrations.available()]
    assert applied_again == [] and pending == []
