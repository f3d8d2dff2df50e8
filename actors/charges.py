"""Per-user limits taken inside an op's transaction (storage.ratelimit.Charge): once
every check passed, so a refused call counts nothing, while past the limit the
transaction rolls back with nothing changed."""

from __future__ import annotations

from actors.errors import Throttled
from storage import ratelimit


async def take(charge: ratelimit.Charge, message: str) -> None:
    """Count this accepted call; past the limit, `rate_limited` with its retry_after."""
    verdict = await charge.take()
    if not verdict.allowed:
        raise Throttled(message, verdict.retry_after)
