"""dm.typing cannot be used to flood a conversation (found by a review): `typing: false`
deleted the throttle key and always went out, so true, false, true, false... sent an
event per call — up to the connection's 50 ops/s — to every other member, a stranger's
message request included."""

from __future__ import annotations

from server.node import Node
from tests.server.test_posts import bots, next_event
from tests.server.test_presence import conversation


async def test_typing_on_and_off_sends_at_most_a_start_and_a_stop(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        cid = await conversation(node, alice, bob, kind="direct")
        sent = [(await alice.call("dm.typing", conversation=cid, typing=on))["sent"]
                for on in (True, False) * 5]
        # A start, its stop; then starts within the throttle are not sent, and neither
        # are stops with nothing showing.
        assert sent == [True, True] + [False] * 8
        marker = await conversation(node, alice, bob)  # another conversation: its own throttle
        assert (await alice.call("dm.typing", conversation=marker))["sent"] is True
        seen = []
        while (got := await next_event(bob, "dm.typing"))["conversation"] != marker:
            seen.append(got["typing"])
        assert seen == [True, False]
