"""Follow requests and their notifications (found by a review): a request withdrawn by
its sender leaves no "X requested to follow you" behind, listed or counted unread."""

from __future__ import annotations

import random
from typing import Any

import trio

from protocol.client import Client
from server.node import Node
from storage import notifications as notes_db
from tests.server.test_posts import EVENT_WAIT, bots, sql, uid


async def test_a_withdrawn_follow_request_leaves_no_notification(node: Node) -> None:
    """"X requested to follow you" stayed listed, and unread, after X withdrew the
    request: nothing left to answer (found by a review). Other notifications stay."""
    async with bots(node, 3) as (private, asker, liker):
        await private.call("user.update", private=True)
        await asker.call("follow.add", user=uid(private))
        await liker.call("follow.add", user=uid(private))
        before = await private.call("notif.list")
        assert {i["kind"] for i in before["items"]} == {"follow_request"}
        assert before["unread"] == 2
        await asker.call("follow.remove", user=uid(private))  # withdrawn
        after = await private.call("notif.list")
        assert after["unread"] == 1
        [item] = after["items"]
        assert [a["id"] for a in item["actors"]] == [uid(liker)]


async def requesters(node: Node, owner: Client) -> set[int]:
    """Who the owner's follow_request notifications are from (stored: a listed group
    shows only its first few actors)."""
    async def run(conn: Any) -> set[int]:
        return {r["actor_id"] for r in await conn.fetch(
            "SELECT actor_id FROM notifications WHERE recipient_id = $1 "
            "AND kind = 'follow_request'", uid(owner))}
    return set(await node.storage.tx(run))


async def test_a_request_answered_or_cut_leaves_no_notification(node: Node) -> None:
    """Approved, denied, cut by a block either way, or turned into a follow once the
    account went public: the request's notification goes with it (it stayed: after an
    unblock it came back, unread, with nothing to approve)."""
    async with bots(node, 6) as (owner, approved, denied, blocked, blocker, late):
        await owner.call("user.update", private=True)
        for c in (approved, denied, blocked, blocker, late):
            await c.call("follow.add", user=uid(owner))
        assert await requesters(node, owner) == {
            uid(c) for c in (approved, denied, blocked, blocker, late)}
        await owner.call("follow.approve", user=uid(approved))
        await owner.call("follow.deny", user=uid(denied))
        await owner.call("block.add", user=uid(blocked))
        await owner.call("block.remove", user=uid(blocked))
        await blocker.call("block.add", user=uid(owner))
        await blocker.call("block.remove", user=uid(owner))
        assert await requesters(node, owner) == {uid(late)}
        await owner.call("user.update", private=False)
        assert (await late.call("follow.add", user=uid(owner)))["state"] == "following"
        page = await owner.call("notif.list")
        assert await requesters(node, owner) == set()
        assert "follow_request" not in {i["kind"] for i in page["items"]}
        assert (await owner.call("follow.requests"))["items"] == []
        follows = [a["id"] for i in page["items"] if i["kind"] == "follow" for a in i["actors"]]
        assert follows == [uid(late), uid(approved)]  # "started following you" instead


async def test_following_again_notifies_once(node: Node) -> None:
    """follow, unfollow, follow again (or request, cancel, request) made a notification
    and a live event each time: spam by toggling."""
    async with bots(node, 3) as (owner, fan, asker):
        for _ in range(3):
            await fan.call("follow.add", user=uid(owner))
            await fan.call("follow.remove", user=uid(owner))
        await fan.call("follow.add", user=uid(owner))
        page = await owner.call("notif.list")
        [item] = [i for i in page["items"] if i["kind"] == "follow"]
        assert [a["id"] for a in item["actors"]] == [uid(fan)] and page["unread"] == 1
        assert await sql(node, "SELECT count(*) FROM notifications WHERE recipient_id = $1 "
                               "AND kind = 'follow'", uid(owner)) == 1
        # The live event came once too: the next one is a later, different notification.
        await asker.call("follow.add", user=uid(owner))
        got = []
        with trio.fail_after(EVENT_WAIT):
            while True:
                ev = await owner.next_event("notification")
                got.append(ev.data["actor"]["id"])
                if ev.data["actor"]["id"] == uid(asker):
                    break
        assert got == [uid(fan), uid(asker)]


async def bury(node: Node, owner: Client, by: Client, n: int = 250) -> None:
    """`n` newer notifications to the owner (a busy account): more than the latest 200
    that withdrawing a request's notification used to search."""
    await sql(node, "INSERT INTO notifications (recipient_id, actor_id, kind) "
                    "SELECT $1, $2, 'follow' FROM generate_series(1, $3)", uid(owner), uid(by), n)


async def test_a_request_gone_takes_its_notification_however_many_came_after(
        node: Node) -> None:
    """Withdrawing only looked at the owner's latest 200 notifications: on a busy account
    "X requested to follow you" outlived its request (cancelled, approved, denied, cut by
    a block), and after a block came back on unblock (found by a review)."""
    async with bots(node, 6) as (owner, fan, cancelled, approved, denied, blocked):
        await owner.call("user.update", private=True)
        for c in (cancelled, approved, denied, blocked):
            await c.call("follow.add", user=uid(owner))
        await bury(node, owner, fan)
        await cancelled.call("follow.remove", user=uid(owner))
        await owner.call("follow.approve", user=uid(approved))
        await owner.call("follow.deny", user=uid(denied))
        await owner.call("block.add", user=uid(blocked))
        await owner.call("block.remove", user=uid(blocked))
        assert await requesters(node, owner) == set()
        assert await sql(node, "SELECT count(*) FROM notifications WHERE recipient_id = $1 "
                               "AND kind = 'follow' AND actor_id = $2", uid(owner),
                         uid(fan)) == 250  # the rest stay


async def test_asking_again_after_withdrawing_tells_the_owner_once(node: Node) -> None:
    """Request, cancel, request... made a `follow.request` event and a notification each
    time: cancelling deletes the notification that the repeat check looked for (found by
    a review). Within the cooling-off period a request made again is only listed."""
    async with bots(node, 3) as (owner, asker, other):
        await owner.call("user.update", private=True)
        for _ in range(3):
            assert (await asker.call("follow.add", user=uid(owner)))["state"] == "requested"
            await asker.call("follow.remove", user=uid(owner))
        await asker.call("follow.add", user=uid(owner))
        await other.call("follow.add", user=uid(owner))  # a later, different request
        got: dict[str, list[int]] = {"follow.request": [], "notification": []}
        with trio.fail_after(EVENT_WAIT):
            while [v[-1:] for v in got.values()] != [[uid(other)]] * 2:
                ev = await owner.next_event()
                if ev.name in got:
                    got[ev.name].append(ev.data.get("from", ev.data.get("actor"))["id"])
        assert got == {"follow.request": [uid(asker), uid(other)],
                       "notification": [uid(asker), uid(other)]}
        assert await requesters(node, owner) == {uid(other)}
        listed = await owner.call("follow.requests")
        assert {i["user"]["id"] for i in listed["items"]} == {uid(asker), uid(other)}


async def test_a_cancelled_request_gives_its_cooling_off_claim_back(node: Node) -> None:
    """The claim is taken inside the request's transaction; a call cancelled before it
    committed (a node shutting down rolls it back) gave it back only on an error, and
    the owner was not told of the next request for a day."""
    owner, asker = random.randrange(1 << 40), random.randrange(1 << 40)

    def cooldown() -> notes_db.Cooldown:
        return notes_db.Cooldown(node.storage, "follow_request", 3600)

    told = cooldown()
    with trio.CancelScope() as scope:
        async with told.released_on_failure():
            assert await node.storage.both(lambda st: told.claim(owner, asker))
            scope.cancel()
            await trio.sleep_forever()
    assert scope.cancelled_caught
    again = cooldown()  # the next request's call
    assert await node.storage.both(lambda st: again.claim(owner, asker))


async def test_an_approved_request_leaves_started_following_you_read(node: Node) -> None:
    """As Instagram does: once approved, "X requested to follow you" gives way to "X
    started following you" (with its Follow back) in the owner's list, already read and
    sent to no device (the owner just acted). Before, nothing was left of it."""
    async with bots(node, 3) as (owner, asker, later):
        await owner.call("user.update", private=True)
        await asker.call("follow.add", user=uid(owner))
        assert (await owner.call("notif.list"))["unread"] == 1
        await owner.call("follow.approve", user=uid(asker))
        page = await owner.call("notif.list")
        [item] = page["items"]
        assert item["kind"] == "follow" and [a["id"] for a in item["actors"]] == [uid(asker)]
        assert item["read"] is True and page["unread"] == 0
        # No live notification of it: the next one the owner's device gets is later's.
        await later.call("follow.add", user=uid(owner))
        with trio.fail_after(EVENT_WAIT):
            while True:
                ev = await owner.next_event("notification")
                assert ev.data["kind"] == "follow_request" or ev.data["actor"]["id"] != uid(asker)
                if ev.data["actor"]["id"] == uid(later):
                    break
