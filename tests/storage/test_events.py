"""The durable event log's one-statement append: seqs per user in item order, the
users' counters moved by their number of events, trimming, gone users skipped."""

from __future__ import annotations

import secrets
from typing import Any

import msgpack

from server.node import Node
from storage import events


async def _user(node: Node) -> int:
    name = f"ev{secrets.token_hex(6)}"

    async def run(conn: Any) -> int:
        return int(await conn.fetchval(
            "INSERT INTO users (username, email, password_hash) VALUES ($1, $1 || '@x.org', 'x')"
            " RETURNING id", name))

    return await node.storage.tx(run)


async def _log(node: Node, user_id: int) -> tuple[int, list[tuple[int, str, int]]]:
    async def run(conn: Any) -> tuple[int, list[tuple[int, str, int]]]:
        current = await conn.fetchval("SELECT event_seq FROM users WHERE id = $1", user_id)
        rows = await conn.fetch("SELECT seq, kind, data FROM user_events WHERE user_id = $1 "
                                "ORDER BY seq", user_id)
        return current, [(r["seq"], r["kind"], msgpack.unpackb(r["data"])["n"]) for r in rows]

    return await node.storage.tx(run)


async def test_one_statement_numbers_each_users_events_in_order(node: Node) -> None:
    a, b = await _user(node), await _user(node)
    gone = (1 << 50) + 7  # no such user: nothing stored for it, nothing fails
    items = [(b, "x", {"n": 0}), (a, "y", {"n": 1}), (gone, "x", {"n": 2}),
             (b, "z", {"n": 3}), (b, "x", {"n": 4})]
    stored = await node.storage.tx(events._append, items, 1000)
    assert [(e.user_id, e.seq, e.kind) for e in stored] == [
        (b, 1, "x"), (a, 1, "y"), (b, 2, "z"), (b, 3, "x")]
    assert await _log(node, b) == (3, [(1, "x", 0), (2, "z", 3), (3, "x", 4)])
    assert await _log(node, a) == (1, [(1, "y", 1)])
    more = await node.storage.tx(events._append, [(a, "y", {"n": 5})], 1000)
    assert [e.seq for e in more] == [2]


async def test_every_16th_seq_trims_past_the_retention(node: Node) -> None:
    a = await _user(node)
    for n in range(40):  # one event per statement, as a transaction with one would
        await node.storage.tx(events._append, [(a, "x", {"n": n})], 10)
    current, log = await _log(node, a)
    assert current == 40
    # trimmed at seq 32 (everything <= 22); 33..40 added after it
    assert [seq for seq, _, _ in log] == list(range(23, 41))
    batch = [(a, "x", {"n": 100 + i}) for i in range(10)]  # 41..50: trims at 48 (<= 38)
    await node.storage.tx(events._append, batch, 10)
    assert [seq for seq, _, _ in (await _log(node, a))[1]] == list(range(39, 51))
