"""Reading Glint ids: 41 bits of ms since 2025-01-01, 13 bits of shard, 10 of sequence."""

from __future__ import annotations

from config.limits import SEQUENCE_BITS, SHARD_BITS

ID_EPOCH_MS = 1735689600000


def id_time_ms(id_: int) -> int:
    return (id_ >> (SHARD_BITS + SEQUENCE_BITS)) + ID_EPOCH_MS


def id_shard(id_: int) -> int:
    return (id_ >> SEQUENCE_BITS) & ((1 << SHARD_BITS) - 1)


def make_id(time_ms: int, shard: int, seq: int) -> int:
    return (
        ((time_ms - ID_EPOCH_MS) << (SHARD_BITS + SEQUENCE_BITS))
        | ((shard & ((1 << SHARD_BITS) - 1)) << SEQUENCE_BITS)
        | (seq & ((1 << SEQUENCE_BITS) - 1))
    )
