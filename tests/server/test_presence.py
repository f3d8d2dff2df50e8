"""Presence and typing against a real node: online/offline announcements to the people
one shares a conversation with, presence.get and its privacy rule, hide_activity both
ways, device keys in Redis, and dm.typing (members only, throttled, stop)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from actors.presence import Presence
from config.limits import PRESENCE_GET_MAX, TYPING_EXPIRES_MS
from protocol.client import Client, connect
from protocol.errors import BadRequest, NotFound
from server.node import Node
from storage import presence as pdb
from tests.server.test_posts import EVENT_WAIT, bots, expect, next_event, uid


def presence_of(node: Node) -> Presence:
    for hook in node.connect_hooks:
        owner = getattr(hook, "__self__", None)
        if isinstance(owner, Presence):
            return owner
    raise AssertionError("no presence service on this node")


async def until(node: Node, predicate: Callable[[], bool]) -> None:
    """Wait until the node's presence state satisfies `predicate` and is fully applied."""
    p = presence_of(node)
    with trio.fail_after(EVENT_WAIT):
        await p.wait_until(lambda: predicate() and p.idle)


async def conversation(node: Node, *members: Client, kind: str = "group") -> int:
    """A conversation straight into Postgres (the DM ops are another module's), once the
    members' own comings online are announced (to no one yet)."""
    await until(node, lambda: True)
    ids = [uid(c) for c in members]

    async def run(conn: Any) -> int:
        lo, hi = (min(ids), max(ids)) if kind == "direct" else (None, None)
        cid = await conn.fetchval(
            "INSERT INTO conversations (kind, pair_lo, pair_hi, created_by) "
            "VALUES ($1, $2, $3, $4) RETURNING id", kind, lo, hi, ids[0])
        await conn.executemany(
            "INSERT INTO conversation_members (conversation_id, user_id) VALUES ($1, $2)",
            [(cid, i) for i in ids])
        return int(cid)

    return await node.storage.tx(run)


async def leave(node: Node, conversation_id: int, member: Client) -> None:
    async def run(conn: Any) -> None:
        await conn.execute("UPDATE conversation_members SET left_at = now() "
                           "WHERE conversation_id = $1 AND user_id = $2",
                           conversation_id, uid(member))

    await node.storage.tx(run)


async def next_of(c: Client, *names: str) -> tuple[str, dict[str, Any]]:
    """The next event among `names` (others skipped): checks what came first."""
    with trio.fail_after(EVENT_WAIT):
        while True:
            ev = await c.next_event()
            if ev.name in names:
                return ev.name, ev.data


async def online_status(viewer: Client, *users: int) -> list[dict[str, Any]]:
    return (await viewer.call("presence.get", users=list(users)))["items"]  # type: ignore[no-any-return]


# -- tests ---------------------------------------------------------------------------------------
async def test_peer_sees_online_and_offline_once_per_user_not_per_device(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        b = uid(bob)
        cid = await conversation(node, alice, bob, kind="direct")
        assert bob.token is not None
        async with connect(node.ws_url, token=bob.token) as phone:
            await until(node, lambda: presence_of(node).devices_of(b) == 2)
            await phone.aclose()  # one device of two left: still online, no event
            await until(node, lambda: presence_of(node).devices_of(b) == 1)
            [item] = await online_status(alice, b)
            assert item["online"] is True
            # Nothing was announced: the next event Alice gets is this typing marker.
            assert (await bob.call("dm.typing", conversation=cid))["sent"] is True
            name, data = await next_of(alice, "presence", "dm.typing")
            assert name == "dm.typing" and data["user"] == b

        await bob.aclose()  # the last device: offline
        gone = await next_event(alice, "presence", user=b)
        assert gone["online"] is False and isinstance(gone["last_active_at"], int)
        [item] = await online_status(alice, b)
        assert item == {"user": b, "online": False, "last_active_at": gone["last_active_at"]}

        async with connect(node.ws_url, token=bob.token):  # back: online
            back = await next_event(alice, "presence", user=b)
            assert back["online"] is True and back["last_active_at"] >= gone["last_active_at"]


async def test_presence_get_only_for_conversations_and_follows(node: Node) -> None:
    async with bots(node, 5) as (alice, bob, carol, dave, eve):
        await conversation(node, alice, bob, kind="direct")
        await carol.call("follow.add", user=uid(alice))  # Carol lets Alice see hers
        await alice.call("follow.add", user=uid(dave))  # following Dave shows Alice nothing
        await conversation(node, alice, eve, kind="direct")
        await eve.call("block.add", user=uid(alice))  # blocked: hidden both ways
        missing = uid(dave) + 10**12
        items = await online_status(alice, uid(bob), uid(carol), uid(dave), uid(eve), uid(alice),
                                    missing, uid(bob))
        assert [i["user"] for i in items] == [uid(bob), uid(carol), uid(dave), uid(eve),
                                              uid(alice), missing]  # in order, no duplicates
        bob_i, carol_i, dave_i, eve_i, me_i, missing_i = items
        assert bob_i["online"] is True and isinstance(bob_i["last_active_at"], int)
        assert carol_i["online"] is True  # Carol follows Alice
        assert me_i["online"] is True
        for hidden in (dave_i, eve_i, missing_i):
            assert hidden["online"] is None and hidden["last_active_at"] is None, hidden
        # Following is one-way: Alice does not follow Carol and shares no conversation.
        [back] = await online_status(carol, uid(alice))
        assert back["online"] is None
        assert await online_status(alice) == []


async def test_a_request_shows_nothing_of_its_recipient_until_accepted(node: Node) -> None:
    """As on Instagram: a stranger who opens a 1:1 (empty, or with a message in the
    recipient's requests) does not see the recipient's activity status, nor get their
    `presence` events, until the recipient accepts."""
    async with bots(node, 2) as (stranger, star):
        conv = (await stranger.call("dm.open", user=uid(star)))["id"]
        [hidden] = await online_status(stranger, uid(star))
        assert hidden["online"] is None and hidden["last_active_at"] is None
        await stranger.call("dm.send", conversation=conv, text="hi, big fan")
        [hidden] = await online_status(stranger, uid(star))
        assert hidden["online"] is None
        await until(node, lambda: presence_of(node).devices_of(uid(stranger)) == 1)
        [seen] = await online_status(star, uid(stranger))  # who reached out is seen
        assert seen["online"] is True
        # The star goes offline and comes back: the stranger is told neither; the next
        # event they get is the star's typing marker.
        token = star.token
        assert token is not None
        await star.aclose()
        await until(node, lambda: presence_of(node).devices_of(uid(star)) == 0)
        async with connect(node.ws_url, token=token) as back:
            # Its coming online is announced (to no one) before it types: the announcement
            # is queued, and one made after the accept below rightly reaches the stranger.
            await until(node, lambda: presence_of(node).devices_of(uid(star)) == 1)
            assert (await back.call("dm.typing", conversation=conv))["sent"] is True
            name, _ = await next_of(stranger, "presence", "dm.typing")
            assert name == "dm.typing"
            await back.call("dm.accept", conversation=conv)
            [shown] = await online_status(stranger, uid(star))
            assert shown["online"] is True and isinstance(shown["last_active_at"], int)
        gone = await next_event(stranger, "presence", user=uid(star))  # accepted: told
        assert gone["online"] is False


async def test_a_block_takes_back_the_status_each_already_shows(node: Node) -> None:
    """Both see each other online; after the block each gets a `presence` with nil for
    the other (no stale "Active now"), then nothing more of the other's comings and
    goings; a third peer is unaffected."""
    async with bots(node, 3) as (alice, bob, carol):
        a, b = uid(alice), uid(bob)
        await conversation(node, alice, bob, carol)
        assert [i["online"] for i in await online_status(alice, b)] == [True]
        await bob.call("block.add", user=a)
        for viewer, target in ((alice, b), (bob, a)):
            hidden = await next_event(viewer, "presence", user=target)
            assert hidden == {"user": target, "online": None, "last_active_at": None}
            [item] = await online_status(viewer, target)
            assert item["online"] is None
        assert bob.token is not None
        await bob.aclose()  # Carol is told; Alice is not
        gone = await next_event(carol, "presence", user=b)
        assert gone["online"] is False
        cid = await conversation(node, alice, carol, kind="direct")
        assert (await carol.call("dm.typing", conversation=cid))["sent"] is True
        name, data = await next_of(alice, "presence", "dm.typing")
        assert name == "dm.typing" and data["user"] == uid(carol)


async def test_hide_activity_hides_both_ways(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        cid = await conversation(node, alice, bob, carol)
        me = await bob.call("user.update", hide_activity=True)
        assert me["hide_activity"] is True
        # At once, live: the others get nil for Bob, and Bob nil for each of them.
        for peer in (alice, carol):
            hidden = await next_event(peer, "presence", user=uid(bob))
            assert hidden == {"user": uid(bob), "online": None, "last_active_at": None}
        told = {}
        for _ in range(2):
            _, data = await next_of(bob, "presence")
            told[data["user"]] = data["online"]
        assert told == {uid(alice): None, uid(carol): None}
        assert (await bob.call("user.get"))["hide_activity"] is True
        assert "hide_activity" not in await alice.call("user.get", id=uid(bob))
        [seen] = await online_status(alice, uid(bob))
        assert seen == {"user": uid(bob), "online": None, "last_active_at": None}
        [seen] = await online_status(bob, uid(alice))  # and Bob no longer sees others
        assert seen["online"] is None
        [seen] = await online_status(alice, uid(carol))
        assert seen["online"] is True

        # Alice leaves: Carol is told, Bob (hiding) is not — his next event is a marker.
        a = uid(alice)
        await alice.aclose()
        gone = await next_event(carol, "presence", user=a)
        assert gone["online"] is False
        await carol.call("dm.typing", conversation=cid)
        name, _ = await next_of(bob, "presence", "dm.typing")
        assert name == "dm.typing"

        # Bob (hiding) leaves: Carol is not told.
        await bob.aclose()
        await until(node, lambda: presence_of(node).devices_of(uid(bob)) == 0)
        async with bots(node, 1) as (dave,):
            cid2 = await conversation(node, dave, carol)
            await dave.call("dm.typing", conversation=cid2)
            name, data = await next_of(carol, "presence", "dm.typing")
            assert name == "dm.typing", (data, uid(alice), uid(bob), uid(dave))

        # Showing activity again works both ways.
        assert (await carol.call("user.update", hide_activity=False))["hide_activity"] is False


async def test_showing_activity_again_tells_both_sides_at_once(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        await conversation(node, alice, bob)
        await bob.call("user.update", hide_activity=True)
        assert (await next_event(alice, "presence", user=uid(bob)))["online"] is None
        assert (await next_event(bob, "presence", user=uid(alice)))["online"] is None
        await bob.call("user.update", hide_activity=False)
        back = await next_event(alice, "presence", user=uid(bob))
        assert back["online"] is True and isinstance(back["last_active_at"], int)
        seen = await next_event(bob, "presence", user=uid(alice))
        assert seen["online"] is True
        assert [i["online"] for i in await online_status(alice, uid(bob))] == [True]


async def test_device_keys_refreshed_and_expiry_means_offline(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        await conversation(node, alice, bob, kind="direct")
        b = uid(bob)
        p = presence_of(node)
        await until(node, lambda: p.devices_of(b) == 1)
        st = node.storage
        assert st.redis is not None
        [(_, device)] = [d for d in p._devices.values() if d[0] == b]
        key = pdb.device_key(st, b, device)

        async def ttl(_r: Any) -> int:
            return int(await _r.pttl(key))

        assert 0 < await st.redis_op(ttl) <= p.ttl_ms
        await p.refresh(touch_active=True)
        assert await st.redis_op(ttl) > p.ttl_ms - 5_000
        active = await st.tx(lambda conn: conn.fetchval(
            "SELECT last_active_at IS NOT NULL FROM users WHERE id = $1", b))
        assert active is True

        async def crash(_r: Any) -> None:  # as if its node died and the TTL ran out
            await _r.delete(key)

        await st.redis_op(crash)
        [item] = await online_status(alice, b)
        assert item["online"] is False and isinstance(item["last_active_at"], int)
        await p.refresh()  # the holding node is alive after all: back at the next refresh
        [item] = await online_status(alice, b)
        assert item["online"] is True


async def test_typing_reaches_other_members_throttled_and_stops(node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, dave):
        cid = await conversation(node, alice, bob, carol)
        a = uid(alice)
        first = await alice.call("dm.typing", conversation=cid)
        assert first == {"sent": True, "expires_in_ms": TYPING_EXPIRES_MS}
        for c in (bob, carol):
            got = await next_event(c, "dm.typing")
            assert got == {"conversation": cid, "user": a, "typing": True,
                           "expires_in_ms": TYPING_EXPIRES_MS}
        again = await alice.call("dm.typing", conversation=cid, typing=True)
        assert again["sent"] is False  # throttled: succeeds, not re-sent
        stop = await alice.call("dm.typing", conversation=cid, typing=False)
        assert stop == {"sent": True, "expires_in_ms": 0}
        # Bob's next typing event is the stop: the throttled call sent nothing.
        got = await next_event(bob, "dm.typing")
        assert got["typing"] is False and got["user"] == a and got["expires_in_ms"] == 0
        # Typing again right after a stop (the next message) goes out at once, within a
        # budget of restarts (tests/server/test_typing_throttle.py: no flood).
        assert (await alice.call("dm.typing", conversation=cid))["sent"] is True

        # The sender never gets its own: Alice's next typing event is Bob's.
        await bob.call("dm.typing", conversation=cid)
        got = await next_event(alice, "dm.typing")
        assert got["user"] == uid(bob)

        # Not a member, no such conversation, or left: not_found.
        await expect(NotFound, dave, "dm.typing", conversation=cid)
        await expect(NotFound, dave, "dm.typing", conversation=cid + 10**12)
        await leave(node, cid, carol)
        await expect(NotFound, carol, "dm.typing", conversation=cid, typing=False)
        # ... and one who left no longer receives: what Carol got before the marker from
        # another conversation is exactly what was sent while she was a member.
        await alice.call("dm.typing", conversation=cid, typing=False)
        cid2 = await conversation(node, dave, carol, kind="direct")
        await dave.call("dm.typing", conversation=cid2)
        seen = []
        while (got := await next_event(carol, "dm.typing"))["conversation"] != cid2:
            seen.append((got["user"], got["typing"]))
        assert seen == [(a, False), (a, True), (uid(bob), True)]


async def test_bad_arguments(node: Node) -> None:
    async with bots(node, 1) as (alice,):
        for args in ({}, {"conversation": "1"}, {"conversation": -1}, {"conversation": True},
                     {"conversation": 1, "typing": "yes"}, {"conversation": 1, "extra": 1}):
            await expect(BadRequest, alice, "dm.typing", **args)
        for args in ({}, {"users": 5}, {"users": ["1"]}, {"users": [True]}, {"users": [-3]},
                     {"users": list(range(1, PRESENCE_GET_MAX + 2))},
                     {"users": [1], "extra": 1}):
            await expect(BadRequest, alice, "presence.get", **args)
        await expect(BadRequest, alice, "user.update", hide_activity="yes")
        ok = await alice.call("presence.get", users=list(range(1, PRESENCE_GET_MAX + 1)))
        assert len(ok["items"]) == PRESENCE_GET_MAX
