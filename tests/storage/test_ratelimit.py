from __future__ import annotations

from server.node import Node
from storage import ratelimit


async def test_fixed_window_counts_and_refuses_past_the_limit(node: Node) -> None:
    verdicts = [await ratelimit.hit(node.storage, "t", "subject", 3, 60) for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert 0 < verdicts[-1].retry_after <= 60
    other = await ratelimit.hit(node.storage, "t", "someone-else", 3, 60)
    assert other.allowed
