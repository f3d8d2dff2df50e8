"""What the actors need of a connection, without importing the gateway."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol


class Device(Protocol):
    """One connected socket of a user, as the actors see it."""

    conn_id: int
    token_hash: bytes

    @property
    def open(self) -> bool: ...

    def send(self, payload: bytes) -> None:
        """Queue one encoded msgpack map; never blocks (overflow closes with 4008)."""

    def close(self, code: int, reason: str) -> None:
        """Start closing the socket with a close code; never blocks."""


# Sends one encoded payload to many devices; the gateway frames it once.
Fanout = Callable[[Iterable[Device], bytes], None]


def fanout_each(devices: Iterable[Device], payload: bytes) -> None:
    for d in devices:
        d.send(payload)
