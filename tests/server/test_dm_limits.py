"""The dm.send rate limit (shared by dm.send, dm.edit and dm.react) against a real node:
it counts only the calls that pass their checks. A refused call (a peer who blocked you
or is suspended, one you blocked, a conversation that is not yours or does not exist, a
message or post you may not use, bad arguments) leaves the counter as it was, so a
blocker and a suspended peer look the same in the limit as in the answer; every accepted
call counts, also one that changes nothing, and racing calls get exactly the allowance.
The dm.open limit likewise counts only the conversations it creates."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
import trio

import actors.dm
from protocol.client import Client
from protocol.errors import GlintError, RateLimited
from server.node import Node
from storage import ratelimit
from storage.store import Storage
from tests.server.test_dm_blocks import FORBIDDEN, NOT_FOUND, error_of, suspend
from tests.server.test_posts import bots, uid

LIMIT = 3  # DM_SENDS_PER_MINUTE for these tests
NO_CONVERSATION = ("not_found", "no such conversation")


async def counted(node: Node, c: Client) -> int | None:
    """`c`'s dm.send counter in Redis; None if there is none (no window started)."""
    key = node.storage.key("rl", "dm.send", uid(c))
    raw = await node.storage.redis_op(lambda r: r.get(key))
    return None if raw is None else int(raw)


async def outcome(c: Client, op: str, **args: Any) -> str:
    try:
        await c.call(op, **args)
    except GlintError as exc:
        return exc.code.value
    return "ok"


async def test_refused_writes_leave_the_whole_allowance(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actors.dm, "DM_SENDS_PER_MINUTE", LIMIT)
    async with bots(node, 6) as (alice, bob, carol, dave, eve, frank):
        a = uid(alice)
        to_bob = (await bob.call("dm.open", user=a))["id"]
        to_carol = (await carol.call("dm.open", user=a))["id"]
        to_frank = (await frank.call("dm.open", user=a))["id"]
        to_dave = (await dave.call("dm.open", user=a))["id"]
        theirs = (await eve.call("dm.open", user=uid(frank)))["id"]
        made_up = theirs + 10**12
        for c, conv in ((bob, to_bob), (carol, to_carol), (frank, to_frank), (dave, to_dave),
                        (eve, theirs)):  # seq 1 in each, none of them Alice's
            await c.call("dm.send", conversation=conv, text="hi")
        await alice.call("block.add", user=uid(frank))
        await bob.call("block.add", user=a)
        await suspend(node, carol)
        assert await counted(node, alice) is None

        refusals: list[tuple[str, dict[str, Any], tuple[str, str]]] = [
            # a peer who blocked her and a suspended one: one answer, for every write
            ("dm.send", {"conversation": to_bob, "text": "x"}, NOT_FOUND),
            ("dm.send", {"conversation": to_carol, "text": "x"}, NOT_FOUND),
            ("dm.send", {"conversation": to_bob, "text": "x", "idem": "k"}, NOT_FOUND),
            ("dm.edit", {"conversation": to_bob, "seq": 1, "text": "x"}, NOT_FOUND),
            ("dm.edit", {"conversation": to_carol, "seq": 1, "text": "x"}, NOT_FOUND),
            ("dm.react", {"conversation": to_bob, "seq": 1, "emoji": "❤"}, NOT_FOUND),
            ("dm.react", {"conversation": to_carol, "seq": 1, "emoji": "❤"}, NOT_FOUND),
            ("dm.react", {"conversation": to_carol, "seq": 1, "emoji": None}, NOT_FOUND),
            # one she blocked
            ("dm.send", {"conversation": to_frank, "text": "x"}, FORBIDDEN),
            ("dm.react", {"conversation": to_frank, "seq": 1, "emoji": "❤"}, FORBIDDEN),
            # someone else's conversation, as one that does not exist
            ("dm.send", {"conversation": theirs, "text": "x"}, NO_CONVERSATION),
            ("dm.send", {"conversation": made_up, "text": "x"}, NO_CONVERSATION),
            ("dm.edit", {"conversation": theirs, "seq": 1, "text": "x"}, NO_CONVERSATION),
            ("dm.react", {"conversation": made_up, "seq": 1, "emoji": "❤"}, NO_CONVERSATION),
            # her own conversation, with what she may not use
            ("dm.edit", {"conversation": to_dave, "seq": 1, "text": "x"},
             ("forbidden", "you can only edit your own messages")),
            ("dm.react", {"conversation": to_dave, "seq": 99, "emoji": "❤"},
             ("not_found", "no such message")),
            ("dm.send", {"conversation": to_dave, "text": "x", "reply_to": 99},
             ("not_found", "no such message")),
            ("dm.send", {"conversation": to_dave, "post": made_up}, ("not_found", "no such post")),
            ("dm.send", {"conversation": to_dave, "media": made_up},
             ("not_found", "no such media")),
            # bad arguments
            ("dm.send", {"conversation": to_dave, "text": "  "},
             ("bad_request", "a message needs `text`, `media` or `post`")),
            ("dm.send", {"conversation": to_dave, "text": "\u200b \u2060\u3164"},
             ("bad_request", "a message needs `text`, `media` or `post`")),
            ("dm.edit", {"conversation": to_dave, "seq": 1, "text": "\u200b"},
             ("bad_request", "`text` must not be blank")),
            ("dm.react", {"conversation": to_dave, "seq": 1, "emoji": "\u200d"},
             ("bad_request", "`emoji` must not be blank")),
            ("dm.react", {"conversation": to_dave, "seq": 1},
             ("bad_request", "`emoji` is required (nil removes your reaction)")),
        ]
        for _ in range(2):  # more refusals than the allowance, each counting nothing
            for op, args, answer in refusals:
                assert await error_of(alice, op, **args) == answer, (op, args)
                assert await counted(node, alice) is None, (op, args)

        # The whole allowance is left, one write of each kind; then the limit holds.
        sent = await alice.call("dm.send", conversation=to_dave, text="mine")
        seq = sent["message"]["seq"]
        await alice.call("dm.edit", conversation=to_dave, seq=seq, text="mine, edited")
        await alice.call("dm.react", conversation=to_dave, seq=1, emoji="👍")
        assert await counted(node, alice) == LIMIT
        with pytest.raises(RateLimited) as info:
            await alice.call("dm.send", conversation=to_dave, text="one too many")
        assert info.value.retry_after is not None and 0 < info.value.retry_after <= 60
        assert await outcome(alice, "dm.react", conversation=to_dave, seq=1,
                             emoji=None) == "rate_limited"
        after = await counted(node, alice)

        # Past the limit, a refusal still answers what it did (a blocker and a suspended
        # peer alike) and still counts nothing.
        for op, args, answer in refusals:
            assert await error_of(alice, op, **args) == answer, (op, args)
        assert await counted(node, alice) == after
        got = await dave.call("dm.history", conversation=to_dave)
        assert [(m["sender"], m["text"]) for m in got["messages"]] == [
            (a, "mine, edited"), (uid(dave), "hi")]


async def test_racing_writes_get_exactly_the_allowance(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """Accepted sends to several conversations at once (their transactions run side by
    side, each counted before it commits) with refusals among them: exactly LIMIT go
    through and are stored."""
    monkeypatch.setattr(actors.dm, "DM_SENDS_PER_MINUTE", LIMIT)
    async with bots(node, 6) as (alice, bob, *peers):
        a = uid(alice)
        convs = [(await p.call("dm.open", user=a))["id"] for p in peers]
        blocked = (await bob.call("dm.open", user=a))["id"]
        await bob.call("block.add", user=a)
        results: list[str] = []
        refused: list[str] = []

        async def send(conv: int, into: list[str]) -> None:
            into.append(await outcome(alice, "dm.send", conversation=conv, text="race"))

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                for conv in convs:
                    nursery.start_soon(send, conv, results)
                nursery.start_soon(send, blocked, refused)
                nursery.start_soon(send, blocked, refused)
        assert sorted(results) == ["ok"] * LIMIT + ["rate_limited"] * (3 * len(convs) - LIMIT)
        assert refused == ["not_found"] * 6
        stored = 0
        for p, conv in zip(peers, convs, strict=True):
            got = await p.call("dm.history", conversation=conv)
            stored += sum(m["sender"] == a for m in got["messages"])
        assert stored == LIMIT


async def test_accepted_writes_count_even_when_they_change_nothing(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """An idem repeat and a no-op reaction are accepted calls: counted. An idem key used
    in another conversation is a refusal: not counted."""
    monkeypatch.setattr(actors.dm, "DM_SENDS_PER_MINUTE", LIMIT)
    async with bots(node, 3) as (alice, bob, carol):
        first = (await bob.call("dm.open", user=uid(alice)))["id"]
        other = (await carol.call("dm.open", user=uid(alice)))["id"]
        sent = await alice.call("dm.send", conversation=first, text="once", idem="k")
        assert await counted(node, alice) == 1
        assert await error_of(alice, "dm.send", conversation=other, text="once",
                              idem="k") == ("conflict",
                                            "that idempotency key was used for another "
                                            "conversation")
        assert await counted(node, alice) == 1
        again = await alice.call("dm.send", conversation=first, text="once", idem="k")
        assert again["message"]["id"] == sent["message"]["id"]
        assert await counted(node, alice) == 2
        await alice.call("dm.react", conversation=first, seq=1, emoji=None)  # had none
        assert await counted(node, alice) == LIMIT
        assert await outcome(alice, "dm.send", conversation=first, text="more",
                             idem="k") == "rate_limited"


async def test_a_charge_taken_twice_in_one_crossing_counts_once(
        node: Node) -> None:
    """A write transaction re-run after a deadlock asks for its charge again: it is
    counted once, with the first answer."""
    charge = ratelimit.Charge(node.storage, "dm.send", "someone", 5, 60)

    async def twice(st: Storage) -> list[ratelimit.Verdict]:
        return [await charge.take(), await charge.take()]

    first, second = await node.storage.both(twice)
    assert first == second == ratelimit.Verdict(True, 0.0)
    key = node.storage.key("rl", "dm.send", "someone")
    assert int(await node.storage.redis_op(lambda r: r.get(key))) == 1


async def test_a_send_refused_only_when_re_run_after_a_conflict_counts_nothing(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """The send's first run passes every check and takes its charge, then loses a
    conflict; a block lands in between, and the re-run refuses. Nothing was sent, so
    nothing stays counted (it did before: the charge is taken once per call)."""
    take, conflicts = actors.dm._take, []

    async def take_then_lose_a_conflict(charge: ratelimit.Charge, *rest: Any) -> None:
        await take(charge, *rest)
        if not conflicts:  # the first run only
            conflicts.append(charge)
            assert node.storage.pool is not None
            async with node.storage.pool.acquire() as other:  # committed at once
                await other.execute("INSERT INTO blocks (blocker_id, blocked_id) "
                                    "VALUES ($1, $2)", uid(bob), uid(alice))
            raise asyncpg.exceptions.SerializationError("a conflict, for this test")

    async with bots(node, 2) as (alice, bob):
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        assert await counted(node, alice) is None
        monkeypatch.setattr(actors.dm, "_take", take_then_lose_a_conflict)
        assert await error_of(alice, "dm.send", conversation=conv, text="hi") == NOT_FOUND
        assert len(conflicts) == 1  # it was re-run, after the charge was taken
        assert await counted(node, alice) == 0
        assert (await bob.call("dm.history", conversation=conv))["messages"] == []


async def test_refused_opens_leave_the_new_conversation_allowance(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """dm.open counts only a conversation it creates: a refused open (a user who blocked
    you, a suspended or made-up one, one you blocked) and re-opening a pair count
    nothing; past the limit nothing is created."""
    monkeypatch.setattr(actors.dm, "DM_OPENS_PER_HOUR", 2)
    async with bots(node, 7) as (alice, bob, carol, dave, erin, frank, gina):
        key = node.storage.key("rl", "dm.open", uid(alice))

        async def opens() -> int | None:
            raw = await node.storage.redis_op(lambda r: r.get(key))
            return None if raw is None else int(raw)

        await bob.call("block.add", user=uid(alice))
        await suspend(node, carol)
        await alice.call("block.add", user=uid(dave))
        refusals: list[tuple[dict[str, Any], tuple[str, str]]] = [
            ({"user": uid(bob)}, NOT_FOUND),
            ({"user": uid(carol)}, NOT_FOUND),
            ({"user": uid(gina) + 10**12}, NOT_FOUND),
            ({"user": uid(dave)}, FORBIDDEN),
            ({"users": [uid(bob), uid(erin)]}, NOT_FOUND),
            ({"users": [uid(dave), uid(erin)]}, FORBIDDEN),
        ]
        for _ in range(2):  # more than the allowance
            for args, answer in refusals:
                assert await error_of(alice, "dm.open", **args) == answer, args
        assert await opens() is None

        first = (await alice.call("dm.open", user=uid(erin)))["id"]
        assert (await alice.call("dm.open", user=uid(erin)))["id"] == first  # free
        await alice.call("dm.open", users=[uid(erin), uid(frank)])
        assert await opens() == 2
        assert await outcome(alice, "dm.open", user=uid(frank)) == "rate_limited"
        assert await outcome(alice, "dm.open", users=[uid(erin), uid(gina)]) == "rate_limited"
        for args, answer in refusals:  # past the limit, refusals still answer as before
            assert await error_of(alice, "dm.open", **args) == answer, args
        listed = await alice.call("dm.list")  # only the two she made: nothing refused was
        assert len(listed["conversations"]) == 2


async def test_adding_people_counts_as_new_conversations(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """dm.add lands the group in the added people's requests, as dm.open does: once
    dm.open was refused, adding strangers to a group went on without limit."""
    monkeypatch.setattr(actors.dm, "DM_OPENS_PER_HOUR", 2)
    async with bots(node, 5) as (alice, bob, carol, dave, erin):
        group = (await alice.call("dm.open", users=[uid(bob), uid(carol)]))["id"]  # 1
        await alice.call("dm.add", conversation=group, users=[uid(dave)])  # 2
        await alice.call("dm.add", conversation=group, users=[uid(dave)])  # nobody new: free
        assert await outcome(alice, "dm.add", conversation=group,
                             users=[uid(erin)]) == "rate_limited"
        assert await outcome(alice, "dm.open", user=uid(erin)) == "rate_limited"
        assert (await erin.call("dm.list", folder="requests"))["conversations"] == []
        [listed] = [c for c in (await alice.call("dm.list"))["conversations"]
                    if c["id"] == group]
        assert sorted(m["id"] for m in listed["members"]) == sorted(
            uid(c) for c in (alice, bob, carol, dave))


async def test_a_group_open_retried_with_its_key_makes_one_group(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group dm.open with `idem` answers, on a retry (also racing), the group that key
    made: no second group, no second `created` message, counted once against the
    new-conversation limit; another key makes another group, a left group is gone."""
    monkeypatch.setattr(actors.dm, "DM_OPENS_PER_HOUR", 3)
    async with bots(node, 3) as (alice, bob, carol):
        members = [uid(bob), uid(carol)]
        first = await alice.call("dm.open", users=members, title="trip", idem="g-1")
        again = await alice.call("dm.open", users=members, title="other", idem="g-1")
        assert again["id"] == first["id"] and again["title"] == "trip"
        answers: list[int] = []

        async def racer() -> None:
            answers.append((await alice.call("dm.open", users=members, idem="g-2"))["id"])

        async with trio.open_nursery() as n:
            for _ in range(4):
                n.start_soon(racer)
        assert len(set(answers)) == 1 and first["id"] not in answers
        groups = [c for c in (await bob.call("dm.list", folder="requests"))["conversations"]
                  + (await bob.call("dm.list"))["conversations"] if c["kind"] == "group"]
        assert sorted(c["id"] for c in groups) == sorted({first["id"], answers[0]})
        history = await bob.call("dm.history", conversation=first["id"])
        assert [m["seq"] for m in history["messages"]] == [1]  # one `created` message
        key = node.storage.key("rl", "dm.open", uid(alice))
        assert int(await node.storage.redis_op(lambda r: r.get(key))) == 2
        # a 1:1 takes the key too, and needs none
        assert (await alice.call("dm.open", user=uid(bob), idem="g-1"))["kind"] == "direct"
        # bad keys are bad requests; a key of a group one left answers not_found
        assert await outcome(alice, "dm.open", users=members, idem="") == "bad_request"
        assert await outcome(alice, "dm.open", users=members, idem="x" * 65) == "bad_request"
        await alice.call("dm.leave", conversation=first["id"])
        assert await error_of(alice, "dm.open", users=members, idem="g-1") == NO_CONVERSATION


async def test_an_add_refused_only_when_re_run_after_a_conflict_counts_nothing(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """As for a send: dm.add's new-conversation charge (dm.open's) is given back when
    its re-run after a conflict meets a block that landed in between (it was passed on
    as a plain argument, so nothing gave it back)."""
    take, conflicts = actors.dm._take, []

    async def take_then_lose_a_conflict(charge: ratelimit.Charge, *rest: Any) -> None:
        await take(charge, *rest)
        if not conflicts:
            conflicts.append(charge)
            assert node.storage.pool is not None
            async with node.storage.pool.acquire() as other:
                await other.execute("INSERT INTO blocks (blocker_id, blocked_id) "
                                    "VALUES ($1, $2)", uid(dave), uid(alice))
            raise asyncpg.exceptions.SerializationError("a conflict, for this test")

    async with bots(node, 4) as (alice, bob, carol, dave):
        group = (await alice.call("dm.open", users=[uid(bob), uid(carol)]))["id"]
        key = node.storage.key("rl", "dm.open", uid(alice))
        before = int(await node.storage.redis_op(lambda r: r.get(key)))
        monkeypatch.setattr(actors.dm, "_take", take_then_lose_a_conflict)
        assert await error_of(alice, "dm.add", conversation=group,
                              users=[uid(dave)]) == NOT_FOUND
        assert len(conflicts) == 1
        assert int(await node.storage.redis_op(lambda r: r.get(key))) == before
