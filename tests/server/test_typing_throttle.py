"""dm.typing cannot be used to flood a conversation (found by a review): `typing: false`
deleted the throttle key and always went out, so true, false, true, false... sent an
event per call — up to the connection's 50 ops/s — to every other member, a stranger's
message request included."""

from __future__ import annotations

from config.limits import TYPING_RESTARTS
from server.node import Node
from tests.server.test_posts import bots, next_event
from tests.server.test_presence import conversation


async def test_typing_on_and_off_sends_at_most_a_start_and_a_stop(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        cid = await conversation(node, alice, bob, kind="direct")
        rounds = TYPING_RESTARTS + 5
        sent = [(await alice.call("dm.typing", conversation=cid, typing=on))["sent"]
                for on in (True, False) * rounds]
        # A start, its stop; a start again after a stop goes out at once (typing after
        # sending a message), TYPING_RESTARTS times in its window; past that, starts
        # within the throttle are not sent, and neither are stops with nothing showing.
        pairs = 1 + TYPING_RESTARTS
        assert sent == [True, True] * pairs + [False, False] * (rounds - pairs)
        marker = await conversation(node, alice, bob)  # another conversation: its own throttle
        assert (await alice.call("dm.typing", conversation=marker))["sent"] is True
        seen = []
        while (got := await next_event(bob, "dm.typing"))["conversation"] != marker:
            seen.append(got["typing"])
        assert seen == [True, False] * pairs


async def test_typing_again_right_after_a_stop_is_shown(node: Node) -> None:
    """Sending a message stops the indicator; typing the next one at once shows it
    again (a stop does not hold the next start back for the throttle's 2 s)."""
    async with bots(node, 2) as (alice, bob):
        cid = await conversation(node, alice, bob, kind="direct")
        for on in (True, False, True, True):
            await alice.call("dm.typing", conversation=cid, typing=on)
        got = [(await next_event(bob, "dm.typing"))["typing"] for _ in range(3)]
        assert got == [True, False, True]
