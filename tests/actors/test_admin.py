"""The pure parts of actors/admin.py: summing node snapshots, kick messages."""

from __future__ import annotations

import msgpack

from actors.admin import cluster_stats, pack_kick, unpack_kick


def test_cluster_stats_sums_nodes_and_sorts_them() -> None:
    snaps = [{"node": "b", "connections": 3, "sessions": 2, "online_users": 2, "in_per_s": 1.5,
              "out_per_s": 4.0, "events_per_s": 2.5, "errors_per_s": 0.25},
             {"node": "a", "connections": 1, "sessions": 1, "online_users": 1, "in_per_s": 0.5,
              "out_per_s": 1.0, "events_per_s": 0.5, "errors_per_s": 0}]
    out = cluster_stats(snaps)
    assert [n["node"] for n in out["nodes"]] == ["a", "b"]
    assert out["totals"] == {"nodes": 2, "connections": 4, "sessions": 3, "online_users": 3,
                             "in_per_s": 2.0, "out_per_s": 5.0, "events_per_s": 3.0,
                             "errors_per_s": 0.25}
    assert cluster_stats([])["totals"]["nodes"] == 0


def test_kick_messages_round_trip() -> None:
    kind, seq, body = msgpack.unpackb(pack_kick(42, 7, "bye now"))
    assert (kind, seq) == ("x", None) and unpack_kick(body) == (42, 7, "bye now")
