"""The social graph end to end: bots on a real node follow, request, block and mute.

Users are made directly in storage (an argon2 hash per sign-up would dominate the
run time) and then speak the protocol like any bot. "No event arrived" is shown
without sleeping: a later, known event must be the next one of its kind.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import trio

from protocol.client import Client, connect
from protocol.envelope import Event
from protocol.errors import BadRequest, Forbidden, NotFound
from server.node import Node
from storage import accounts as db
from tests.conftest import PASSWORD, unique
from tests.wire import WAIT


@dataclass(frozen=True)
class Bot:
    id: int
    username: str
    token: str


async def _bot(node: Node, prefix: str = "g") -> Bot:
    name = unique(prefix)
    user = await db.create_user(node.storage, name, f"{name}@example.com", "not-a-hash")
    token = secrets.token_urlsafe(32)
    await db.issue_token(node.storage, user.id, token, 3600, "test")
    return Bot(user.id, name, token)


@asynccontextmanager
async def _online(node: Node, *bots: Bot) -> AsyncIterator[list[Client]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(connect(node.ws_url, token=b.token))
               for b in bots]


async def _event(client: Client, name: str) -> Event:
    with trio.fail_after(WAIT):
        return await client.next_event(name)


async def _notification(client: Client) -> dict[str, Any]:
    ev = await _event(client, "notification")
    assert isinstance(ev.seq, int) and ev.seq > 0
    return ev.data


async def _counts(client: Client, user: Bot) -> tuple[int, int]:
    u = await client.call("user.get", id=user.id)
    return u["followers_count"], u["following_count"]


async def _graph_rows(node: Node, *ids: int) -> dict[str, int]:
    """How many graph rows touch these users, straight from Postgres."""
    async def count(conn: Any) -> dict[str, int]:
        out = {}
        for table, a, b in (("follows", "follower_id", "followee_id"),
                            ("follow_requests", "requester_id", "target_id"),
                            ("blocks", "blocker_id", "blocked_id"),
                            ("mutes", "muter_id", "muted_id")):
            out[table] = await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE {a} = ANY($1) OR {b} = ANY($1)", list(ids))
        out["notifications"] = await conn.fetchval(
            "SELECT count(*) FROM notifications WHERE recipient_id = ANY($1)", list(ids))
        return out

    return await node.storage.tx(count)


async def test_public_follow_counts_and_live_notification(node: Node) -> None:
    alice, bob, carol = [await _bot(node) for _ in range(3)]
    async with _online(node, alice, bob, carol) as (a, b, c):
        assert await a.call("follow.add", user=bob.id) == {"state": "following"}
        note = await _notification(b)
        assert note["kind"] == "follow"
        assert note["actor"] == {"id": alice.id, "username": alice.username}

        assert await _counts(a, bob) == (1, 0)
        assert await _counts(a, alice) == (0, 1)
        seen_by_alice = await a.call("user.get", id=bob.id)
        assert seen_by_alice["followed_by_me"] is True and seen_by_alice["follows_me"] is False
        assert seen_by_alice["requested"] is False and seen_by_alice["posts_count"] == 0
        seen_by_bob = await b.call("user.get", username=alice.username)
        assert seen_by_bob["follows_me"] is True and seen_by_bob["followed_by_me"] is False
        me = await a.call("user.get")
        assert "followed_by_me" not in me and me["following_count"] == 1

        # Again (by id and by name): idempotent, no second notification.
        assert await a.call("follow.add", user=bob.id) == {"state": "following"}
        assert await a.call("follow.add", username=bob.username.upper()) == {
            "state": "following"}
        assert await _counts(a, bob) == (1, 0)
        await c.call("follow.add", user=bob.id)
        assert (await _notification(b))["actor"]["id"] == carol.id  # not alice's again

        followers = await c.call("follow.list", user=bob.id, kind="followers")
        assert [u["id"] for u in followers["items"]] == [carol.id, alice.id]  # newest first
        assert followers["cursor"] is None
        alice_item = followers["items"][1]
        assert alice_item["username"] == alice.username
        assert alice_item["followed_by_me"] is False and alice_item["following_count"] == 1
        following = await b.call("follow.list", username=alice.username, kind="following")
        assert [u["id"] for u in following["items"]] == [bob.id]


async def test_private_account_request_approve(node: Node) -> None:
    alice, bob = await _bot(node), await _bot(node)
    async with _online(node, alice, bob) as (a, b):
        await b.call("user.update", private=True)
        assert await a.call("follow.add", user=bob.id) == {"state": "requested"}
        req = await _event(b, "follow.request")
        assert req.seq is not None
        assert req.data["from"] == {"id": alice.id, "username": alice.username}
        assert isinstance(req.data["at"], int)
        assert (await _notification(b))["kind"] == "follow_request"

        assert await a.call("follow.add", user=bob.id) == {"state": "requested"}  # idempotent
        seen = await a.call("user.get", id=bob.id)
        assert seen["requested"] is True and seen["followed_by_me"] is False
        assert seen["followers_count"] == 0
        with pytest.raises(Forbidden):
            await a.call("follow.list", user=bob.id, kind="followers")

        pending = await b.call("follow.requests")
        assert [i["user"]["id"] for i in pending["items"]] == [alice.id]
        assert pending["items"][0]["at"] == req.data["at"] and pending["cursor"] is None

        assert await b.call("follow.approve", user=alice.id) == {"follower": True}
        accepted = await _notification(a)
        assert accepted["kind"] == "follow_accepted"
        assert accepted["actor"]["id"] == bob.id
        assert await _counts(a, bob) == (1, 0)
        assert await _counts(a, alice) == (0, 1)
        seen = await a.call("user.get", id=bob.id)
        assert seen["followed_by_me"] is True and seen["requested"] is False
        assert (await b.call("follow.requests"))["items"] == []
        listed = await a.call("follow.list", user=bob.id, kind="followers")
        assert [u["id"] for u in listed["items"]] == [alice.id]
        with pytest.raises(NotFound):
            await b.call("follow.approve", user=alice.id)
        assert await a.call("follow.add", user=bob.id) == {"state": "following"}


async def test_deny_and_cancel_requests(node: Node) -> None:
    alice, bob = await _bot(node), await _bot(node)
    async with _online(node, alice, bob) as (a, b):
        await b.call("user.update", private=True)
        await a.call("follow.add", user=bob.id)
        assert await b.call("follow.deny", username=alice.username) == {"follower": False}
        assert (await b.call("follow.requests"))["items"] == []
        assert (await a.call("user.get", id=bob.id))["requested"] is False
        with pytest.raises(NotFound):
            await b.call("follow.deny", user=alice.id)
        with pytest.raises(NotFound):
            await b.call("follow.approve", user=alice.id)

        # Asked again, then withdrawn by the asker.
        assert await a.call("follow.add", user=bob.id) == {"state": "requested"}
        assert await a.call("follow.remove", user=bob.id) == {"removed": True}
        assert (await b.call("follow.requests"))["items"] == []
        assert await _counts(b, bob) == (0, 0)

        # A request made while private becomes a follow once the account is public.
        await a.call("follow.add", user=bob.id)
        await b.call("user.update", private=False)
        assert await a.call("follow.add", user=bob.id) == {"state": "following"}
        assert (await b.call("follow.requests"))["items"] == []
        assert await _counts(b, bob) == (1, 0)


async def test_unfollow_and_remove_follower(node: Node) -> None:
    alice, bob = await _bot(node), await _bot(node)
    async with _online(node, alice, bob) as (a, b):
        await a.call("follow.add", user=bob.id)
        await b.call("follow.add", user=alice.id)
        assert await _counts(a, alice) == (1, 1)
        assert await a.call("follow.remove", user=bob.id) == {"removed": True}
        assert await a.call("follow.remove", user=bob.id) == {"removed": False}  # idempotent
        assert await _counts(a, alice) == (1, 0)
        assert await _counts(a, bob) == (0, 1)

        # Alice drops Bob as a follower.
        assert await a.call("follow.remove", user=bob.id, follower=True) == {"removed": True}
        assert await a.call("follow.remove", user=bob.id, follower=True) == {"removed": False}
        assert await _counts(a, alice) == (0, 0)
        assert await _counts(a, bob) == (0, 0)
        assert (await b.call("user.get", id=alice.id))["followed_by_me"] is False
        assert (await a.call("follow.list", user=alice.id, kind="followers"))["items"] == []


async def test_block_hides_both_ways_and_cuts_follows(node: Node) -> None:
    alice, bob, carol = [await _bot(node) for _ in range(3)]
    async with _online(node, alice, bob, carol) as (a, b, c):
        await a.call("follow.add", user=bob.id)
        await b.call("follow.add", user=alice.id)
        await c.call("follow.add", user=bob.id)
        assert await _counts(c, bob) == (2, 1)

        assert await b.call("block.add", user=alice.id) == {"blocked": True, "changed": True}
        assert await b.call("block.add", user=alice.id) == {"blocked": True, "changed": False}
        assert await _counts(c, bob) == (1, 0)
        assert await _counts(c, alice) == (0, 0)
        for viewer, other in ((a, bob), (b, alice)):
            with pytest.raises(NotFound):
                await viewer.call("user.get", id=other.id)
            with pytest.raises(NotFound):
                await viewer.call("user.get", username=other.username)
            with pytest.raises(NotFound):
                await viewer.call("follow.add", user=other.id)
            with pytest.raises(NotFound):
                await viewer.call("follow.list", user=other.id, kind="followers")
        with pytest.raises(NotFound):  # blocking back would reveal the block
            await a.call("block.add", user=bob.id)
        # Alice does not appear in lists Bob looks at, nor Bob in Alice's.
        await a.call("follow.add", user=carol.id)
        await c.call("follow.add", user=alice.id)
        assert [u["id"] for u in (await b.call(
            "follow.list", user=carol.id, kind="followers"))["items"]] == []
        assert [u["id"] for u in (await a.call(
            "follow.list", user=carol.id, kind="following"))["items"]] == [alice.id]
        rows = await _graph_rows(node, alice.id, bob.id)
        assert rows["blocks"] == 1

        assert await b.call("block.remove", user=alice.id) == {"blocked": False, "changed": True}
        assert await b.call("block.remove", user=alice.id) == {"blocked": False,
                                                               "changed": False}
        assert (await a.call("user.get", id=bob.id))["followed_by_me"] is False
        assert await a.call("follow.add", user=bob.id) == {"state": "following"}


async def test_block_removes_pending_requests_both_ways(node: Node) -> None:
    alice, bob = await _bot(node), await _bot(node)
    async with _online(node, alice, bob) as (a, b):
        await a.call("user.update", private=True)
        await b.call("user.update", private=True)
        await a.call("follow.add", user=bob.id)
        await b.call("follow.add", user=alice.id)
        await a.call("block.add", user=bob.id)
        assert (await a.call("follow.requests"))["items"] == []
        assert (await b.call("follow.requests"))["items"] == []
        assert (await _graph_rows(node, alice.id))["follow_requests"] == 0


async def test_mute_suppresses_notifications_until_unmuted(node: Node) -> None:
    alice, bob, carol = [await _bot(node) for _ in range(3)]
    async with _online(node, alice, bob, carol) as (a, b, c):
        assert await b.call("mute.add", user=alice.id) == {"muted": True, "changed": True}
        assert await b.call("mute.add", user=alice.id) == {"muted": True, "changed": False}
        assert (await b.call("user.get", id=alice.id))["muted"] is True
        assert await a.call("follow.add", user=bob.id) == {"state": "following"}
        assert await _counts(b, bob) == (1, 0)  # the follow happened, silently
        await c.call("follow.add", user=bob.id)
        assert (await _notification(b))["actor"]["id"] == carol.id

        assert await b.call("mute.remove", user=alice.id) == {"muted": False, "changed": True}
        assert await b.call("mute.remove", user=alice.id) == {"muted": False, "changed": False}
        await a.call("follow.remove", user=bob.id)
        await a.call("follow.add", user=bob.id)
        assert (await _notification(b))["actor"]["id"] == alice.id


async def test_bad_arguments_change_nothing(node: Node) -> None:
    alice, bob = await _bot(node), await _bot(node)
    ghost = (1 << 62) + 12345
    async with _online(node, alice) as (a,):
        await a.call("follow.add", user=bob.id)
        await a.call("follow.remove", user=bob.id)  # leaves one notification for bob
        before = await _graph_rows(node, alice.id, bob.id)
        bad: list[tuple[str, dict[str, Any]]] = [
            ("follow.add", {}),
            ("follow.add", {"user": str(bob.id)}),
            ("follow.add", {"user": -1}),
            ("follow.add", {"user": 1 << 63}),
            ("follow.add", {"user": True}),
            ("follow.add", {"username": 5}),
            ("follow.add", {"username": ""}),
            ("follow.add", {"user": bob.id, "extra": 1}),
            ("follow.remove", {"user": bob.id, "follower": "yes"}),
            ("follow.approve", {"user": [bob.id]}),
            ("block.add", {"user": 1.5}),
            ("mute.add", {}),
            ("follow.list", {"user": bob.id}),
            ("follow.list", {"kind": "followers"}),  # no default user, unlike post.list
            ("follow.list", {"user": bob.id, "kind": "friends"}),
            ("follow.list", {"user": bob.id, "kind": "followers", "limit": 0}),
            ("follow.list", {"user": bob.id, "kind": "followers", "limit": 101}),
            ("follow.list", {"user": bob.id, "kind": "followers", "cursor": "nope"}),
            ("follow.list", {"user": bob.id, "kind": "followers", "cursor": 7}),
            ("follow.requests", {"cursor": "rq.1.x"}),
            ("follow.requests", {"cursor": "rq." + "9" * 30 + ".1"}),
            ("follow.requests", {"cursor": "rq.1." + "9" * 25}),
            ("follow.requests", {"cursor": "rq.1.²"}),
            ("follow.requests", {"cursor": "rq.1.2.3"}),
            ("follow.requests", {"cursor": "rq.300000000000000000.1"}),  # past year 9999
            ("follow.requests", {"cursor": "1.2"}),  # no kind
            ("follow.requests", {"limit": "10"}),
        ]
        for op, args in bad:
            with pytest.raises(BadRequest):
                await a.call(op, **args)
        for op in ("follow.add", "follow.remove", "follow.approve", "follow.deny", "block.add",
                   "block.remove", "mute.add", "mute.remove"):
            with pytest.raises(NotFound):
                await a.call(op, user=ghost)
            with pytest.raises(NotFound):
                await a.call(op, username=unique("nobody"))
        with pytest.raises(NotFound):
            await a.call("follow.list", user=ghost, kind="followers")
        for op in ("follow.add", "follow.remove", "block.add", "block.remove", "mute.add"):
            with pytest.raises(Forbidden):
                await a.call(op, user=alice.id)
        with pytest.raises(NotFound):  # there is no request from bob
            await a.call("follow.approve", user=bob.id)
        assert await _graph_rows(node, alice.id, bob.id) == before
        assert await _counts(a, alice) == (0, 0)
        assert await _counts(a, bob) == (0, 0)


async def test_suspended_users_are_not_found(node: Node) -> None:
    alice, bob = await _bot(node), await _bot(node)
    await node.storage.tx(lambda conn: conn.execute(
        "UPDATE users SET suspended_at = now() WHERE id = $1", bob.id))
    async with _online(node, alice) as (a,):
        for op, args in (("user.get", {"id": bob.id}), ("follow.add", {"user": bob.id}),
                         ("follow.list", {"user": bob.id, "kind": "followers"})):
            with pytest.raises(NotFound):
                await a.call(op, **args)


async def test_concurrent_follows_are_counted_exactly(node: Node) -> None:
    """50 bots follow one user at once (each twice), then page through the list."""
    star = await _bot(node, "star")
    fans = [await _bot(node, "fan") for _ in range(50)]
    async with _online(node, star, *fans) as clients:
        s, fan_clients = clients[0], clients[1:]
        states: list[str] = []

        async def follow(client: Client) -> None:
            states.append((await client.call("follow.add", user=star.id))["state"])

        with trio.fail_after(WAIT * 3):
            async with trio.open_nursery() as nursery:
                for client in fan_clients * 2:
                    nursery.start_soon(follow, client)
        assert states == ["following"] * 100
        assert await _counts(s, star) == (50, 0)
        got = {(await _notification(s))["actor"]["id"] for _ in range(50)}
        assert got == {f.id for f in fans}

        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            page = await s.call("follow.list", user=star.id, kind="followers", limit=20,
                                cursor=cursor)
            seen += [u["id"] for u in page["items"]]
            pages += 1
            cursor = page["cursor"]
            if cursor is None:
                break
        assert pages == 3 and len(seen) == 50 and set(seen) == {f.id for f in fans}
        assert all(u["follows_me"] for u in page["items"])

        # And all at once away again.
        async def unfollow(client: Client) -> None:
            await client.call("follow.remove", user=star.id)

        with trio.fail_after(WAIT * 3):
            async with trio.open_nursery() as nursery:
                for client in fan_clients * 2:
                    nursery.start_soon(unfollow, client)
        assert await _counts(s, star) == (0, 0)


async def test_signed_up_user_sees_counts_in_hello(node: Node) -> None:
    name = unique("sg")
    async with connect(node.ws_url) as c:
        hello = await c.signup(name, f"{name}@example.com", PASSWORD)
        user = hello["user"]
        assert (user["followers_count"], user["following_count"], user["posts_count"]) == (
            0, 0, 0)


async def test_follow_racing_block_never_outlives_it(node: Node) -> None:
    """A follow and a block of the same pair at once: the block always wins in the end."""
    alice, bob = await _bot(node), await _bot(node)
    async with _online(node, alice, bob) as (a, b):
        outcomes = set()
        for _ in range(15):
            await b.call("block.remove", user=alice.id)

            async def follow() -> None:
                try:
                    outcomes.add((await a.call("follow.add", user=bob.id))["state"])
                except NotFound:
                    outcomes.add("not_found")

            with trio.fail_after(WAIT):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(follow)
                    nursery.start_soon(functools.partial(b.call, "block.add", user=alice.id))
            rows = await _graph_rows(node, alice.id, bob.id)
            assert rows["follows"] == 0 and rows["blocks"] == 1
            assert await _counts(b, bob) == (0, 0)
        assert outcomes <= {"following", "not_found"}


async def test_requests_page_newest_first(node: Node) -> None:
    owner = await _bot(node)
    askers = [await _bot(node) for _ in range(5)]
    async with _online(node, owner, *askers) as (o, *clients):
        await o.call("user.update", private=True)
        for client in clients:  # one after another: distinct times, known order
            assert await client.call("follow.add", user=owner.id) == {"state": "requested"}
        seen: list[int] = []
        cursor = None
        for expected in (2, 2, 1):
            page = await o.call("follow.requests", limit=2, cursor=cursor)
            assert len(page["items"]) == expected
            seen += [i["user"]["id"] for i in page["items"]]
            cursor = page["cursor"]
        assert cursor is None
        assert seen == [b.id for b in reversed(askers)]
