"""The nil `presence` events that take back a status (a block, hide_activity turned on)
go only to those who could see that status before the change: anyone else would learn
of the block, or that the user was active just now."""

from __future__ import annotations

from typing import Any

from actors.presence import status_hidden
from protocol.client import Client
from server.node import Node
from storage import presence as pdb
from tests.server.test_posts import bots, next_event, uid
from tests.server.test_presence import conversation, next_of, online_status


async def presence_until_typing(c: Client, marker: Client) -> list[tuple[int, Any]]:
    """The `presence` events `c` gets (user, online) before `marker`'s next dm.typing."""
    seen = []
    while True:
        name, data = await next_of(c, "presence", "dm.typing")
        if name == "dm.typing" and data["user"] == uid(marker):
            return seen
        if name == "presence":
            seen.append((data["user"], data["online"]))


async def test_a_block_between_strangers_tells_neither(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        to_alice = await conversation(node, carol, alice, kind="direct")
        to_bob = await conversation(node, carol, bob, kind="direct")
        await alice.call("block.add", user=uid(bob))
        for cid in (to_alice, to_bob):  # markers, after the block's events
            assert (await carol.call("dm.typing", conversation=cid, typing=True))["sent"]
        assert await presence_until_typing(alice, carol) == []
        assert await presence_until_typing(bob, carol) == []


async def test_a_block_tells_a_viewer_who_saw_through_a_follow_given_the_links_before(
        node: Node) -> None:
    """The follow a block cuts is gone once it commits: the links read in its
    transaction, before it, say who could see whom (Alice followed Bob: Bob saw her)."""
    async with bots(node, 3) as (alice, bob, carol):
        a, b = uid(alice), uid(bob)
        await alice.call("follow.add", user=b)
        assert [i["online"] for i in await online_status(bob, a)] == [True]
        before = await node.storage.tx(lambda conn: pdb.links_between(conn, a, b))
        await alice.call("block.add", user=b)
        await status_hidden(node.storage, before)
        hidden = await next_event(bob, "presence", user=a)
        assert hidden == {"user": a, "online": None, "last_active_at": None}
        cid = await conversation(node, carol, alice, kind="direct")
        assert (await carol.call("dm.typing", conversation=cid, typing=True))["sent"]
        assert await presence_until_typing(alice, carol) == []  # Bob followed no one


async def test_a_block_tells_the_viewer_who_saw_through_the_follow_it_cuts(
        node: Node) -> None:
    """block.add reads the links in its transaction, before the block cuts the follow."""
    async with bots(node, 2) as (alice, bob):
        a, b = uid(alice), uid(bob)
        await alice.call("follow.add", user=b)
        assert [i["online"] for i in await online_status(bob, a)] == [True]
        await alice.call("block.add", user=b)
        hidden = await next_event(bob, "presence", user=a)
        assert hidden == {"user": a, "online": None, "last_active_at": None}


async def test_hiding_activity_tells_only_who_could_see_it(node: Node) -> None:
    """Carol blocked Bob and Dave hides his own: when Bob hides his, only Alice is told,
    and Bob is told only of Alice."""
    async with bots(node, 4) as (alice, bob, carol, dave):
        cid = await conversation(node, alice, bob, carol, dave)
        await carol.call("block.add", user=uid(bob))
        await dave.call("user.update", hide_activity=True)
        assert (await alice.call("dm.typing", conversation=cid, typing=True))["sent"]
        assert (await dave.call("dm.typing", conversation=cid, typing=True))["sent"]
        for c in (bob, carol, dave):  # the set-up's own events
            await presence_until_typing(c, alice)
        await presence_until_typing(alice, dave)

        await bob.call("user.update", hide_activity=True)
        assert (await alice.call("dm.typing", conversation=cid, typing=False))["sent"]
        assert (await dave.call("dm.typing", conversation=cid, typing=False))["sent"]
        assert await presence_until_typing(alice, dave) == [(uid(bob), None)]
        assert await presence_until_typing(carol, alice) == []
        assert await presence_until_typing(dave, alice) == []
        assert await presence_until_typing(bob, alice) == [(uid(alice), None)]


async def test_hiding_again_tells_no_one(node: Node) -> None:
    """Setting hide_activity to what it already is changes nothing: a nil for it told
    peers the user had been active just now."""
    async with bots(node, 2) as (alice, bob):
        cid = await conversation(node, alice, bob, kind="direct")
        await bob.call("user.update", hide_activity=True)
        assert (await bob.call("dm.typing", conversation=cid, typing=True))["sent"]
        assert await presence_until_typing(alice, bob) == [(uid(bob), None)]
        await bob.call("user.update", hide_activity=True, bio="same flag")
        assert (await bob.call("dm.typing", conversation=cid, typing=False))["sent"]
        assert await presence_until_typing(alice, bob) == []
