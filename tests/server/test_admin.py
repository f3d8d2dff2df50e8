"""Operators on a real node: roles, live stats, suspension, moderation, reports, audit."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from protocol.client import Client, connect
from protocol.errors import BadRequest, Forbidden, NotFound, Unauthorized, Unsupported
from server.node import Node
from storage.accounts import set_admin
from tests.conftest import PASSWORD, unique
from tests.nodeproc import ROOT, node_process
from tests.rowlock import holding
from tests.server.test_feed import drained
from tests.server.test_posts import (
    EVENT_WAIT,
    block,
    bots,
    expect,
    follow,
    make_private,
    next_event,
    quick_post,
    sql,
    uid,
    uname,
)


@contextlib.asynccontextmanager
async def admins(node: Node, n: int = 1) -> AsyncIterator[list[Client]]:
    """`n` fresh users made admins (the role is read per op: no new hello needed)."""
    async with bots(node, n) as clients:
        for c in clients:
            assert await set_admin(node.storage, uname(c), True)
        yield clients


def admin_ops(node: Node) -> list[str]:
    router: Any = node.gateway.handler
    return sorted(op for op in router.ops if op.startswith("admin."))


async def audit_rows(node: Node, admin_id: int) -> int:
    return int(await sql(node, "SELECT count(*) FROM audit_log WHERE admin_id = $1", admin_id))


async def closed_code(c: Client) -> int | None:
    """Wait until the server has ended this client's session; its close code."""
    with trio.fail_after(EVENT_WAIT):
        async for _ in c.events():
            pass
    return c.close_code


async def stats_until(c: Client, check: Any) -> dict[str, Any]:
    """The first pushed `admin.stats` whose data passes `check`."""
    with trio.fail_after(EVENT_WAIT * 2):
        while True:
            ev = await c.next_event("admin.stats")
            if check(ev.data):
                return ev.data


# -- roles -------------------------------------------------------------------------------------
async def test_non_admins_get_forbidden_for_every_admin_op(node: Node) -> None:
    async with bots(node, 2) as (user, victim), admins(node) as (admin,):
        post = await quick_post(victim, "keep me")
        ops = admin_ops(node)
        assert {"admin.stats", "admin.suspend", "admin.remove_post", "admin.announce",
                "admin.reports", "admin.resolve", "admin.audit", "admin.kick"} <= set(ops)
        tries = [{}, {"user": uid(victim), "reason": "x"}, {"post": post["id"], "reason": "x"},
                 {"text": "hi"}, {"bogus": 1}]
        for op in [*ops, "admin.no_such_op"]:
            for args in tries:
                await expect(Forbidden, user, op, **args)
        # Nothing changed, nothing was written, the node serves everyone.
        assert (await user.call("post.get", post=post["id"]))["id"] == post["id"]
        assert await sql(node, "SELECT suspended_at FROM users WHERE id = $1", uid(victim)) is None
        assert await audit_rows(node, uid(user)) == 0
        assert "t" in await victim.call("ping")
        # An admin gets `unsupported` for an unknown admin op; before hello: unauthorized.
        await expect(Unsupported, admin, "admin.no_such_op")
        async with connect(node.ws_url, reconnect=False) as anon:
            await expect(Unauthorized, anon, "admin.stats")
        # Revoking the role takes effect at once, without a new hello.
        assert await set_admin(node.storage, uname(admin), False)
        await expect(Forbidden, admin, "admin.stats")


async def test_bad_args_change_nothing(node: Node) -> None:
    async with bots(node, 1) as (bot,), admins(node) as (admin,):
        post = await quick_post(bot, "still here")
        bad = [("admin.suspend", {"user": uid(bot)}),  # no reason
               ("admin.suspend", {"user": uid(bot), "reason": "   "}),
               ("admin.suspend", {"user": str(uid(bot)), "reason": "spam"}),
               ("admin.suspend", {"user": uid(bot), "reason": "x", "extra": 1}),
               ("admin.remove_post", {"post": post["id"]}),
               ("admin.remove_post", {"post": post["id"], "reason": "x" * 501}),
               ("admin.resolve", {"kind": "planet", "target": 1, "action": "dismiss"}),
               ("admin.resolve", {"kind": "post", "target": post["id"], "action": "burn"}),
               ("admin.announce", {"text": ""}),
               ("admin.announce", {"text": "hi", "level": "shouting"}),
               ("admin.kick", {"node": "x"}),
               ("admin.users", {"cursor": "not-a-cursor"}),
               ("admin.sessions", {"limit": 0})]
        for op, args in bad:
            await expect(BadRequest, admin, op, **args)
        await expect(NotFound, admin, "admin.suspend", user=uid(bot) + 12345, reason="spam")
        await expect(Forbidden, admin, "admin.suspend", user=uid(admin), reason="me")
        assert await sql(node, "SELECT suspended_at FROM users WHERE id = $1", uid(bot)) is None
        assert (await bot.call("post.get", post=post["id"]))["id"] == post["id"]
        assert await audit_rows(node, uid(admin)) == 0
        assert "t" in await bot.call("ping")


# -- live stats and sessions ----------------------------------------------------------------------
async def test_stats_see_a_bot_connect_and_sessions_list_it(node: Node) -> None:
    async with admins(node) as (admin,):
        reply = await admin.call("admin.watch")
        assert reply["watching"] is True
        first = await stats_until(admin, lambda d: d["totals"]["sessions"] >= 1)
        before = first["totals"]["sessions"]
        me = first["nodes"][0]
        assert me["node"] == node.name and me["postgres"]["ok"] and me["redis"]["ok"]
        assert me["actors"].get("UserActor", 0) >= 1 and me["uptime_s"] >= 0
        assert set(me["op_latency_ms"]) == {"p50", "p99"}
        async with bots(node, 1) as (bot,):
            grown = await stats_until(admin, lambda d: d["totals"]["sessions"] == before + 1)
            assert grown["totals"]["connections"] >= before + 1
            assert grown["totals"]["online_users"] >= 2
            polled = await admin.call("admin.stats")
            assert polled["totals"]["nodes"] == 1 and polled["nodes"][0]["node"] == node.name
            with trio.fail_after(EVENT_WAIT * 2):
                while not (found := await admin.call("admin.sessions", q=uname(bot)[:8]))[
                        "sessions"]:
                    await admin.next_event("admin.stats")  # the next flush to Redis
            s = found["sessions"][0]
            assert s["user"] == {"id": uid(bot), "username": uname(bot)}
            assert s["node"] == node.name and s["client"] and s["ip"] and s["since"] > 0
            kicked = await admin.call("admin.kick", node=s["node"], conn=s["conn"],
                                      reason="bye")
            assert kicked["user"] == uid(bot)
            assert (await next_event(bot, "session.closed"))["reason"] == "bye"
            assert await closed_code(bot) == 4001
        await stats_until(admin, lambda d: d["totals"]["sessions"] == before)
        await expect(NotFound, admin, "admin.kick", node=node.name, conn=10**9)
        # this operator's kicks only: other tests kick too, in parallel
        audit = await admin.call("admin.audit", action="admin.kick", admin=uid(admin))
        assert audit["entries"][0]["target"] == {"kind": "user", "id": uid(bot)}
        assert (await admin.call("admin.unwatch"))["was_watching"] is True


async def test_revoked_admin_stops_receiving_live_stats_at_once(node: Node) -> None:
    async with admins(node, 2) as (revoked, kept):
        for c in (revoked, kept):
            await c.call("admin.watch")
            await c.next_event("admin.stats")
        assert await set_admin(node.storage, uname(revoked), False)
        await kept.next_event("admin.stats")  # a tick that may have begun before the revoke
        queue = revoked.events()
        with contextlib.suppress(trio.WouldBlock):
            while True:
                queue.receive_nowait()  # type: ignore[attr-defined]
        for _ in range(2):  # two whole ticks after the revoke
            await kept.next_event("admin.stats")
        assert "t" in await revoked.call("ping")  # the reply follows anything sent before it
        late = []
        with contextlib.suppress(trio.WouldBlock):
            while True:
                late.append(queue.receive_nowait().name)  # type: ignore[attr-defined]
        assert "admin.stats" not in late
        await expect(Forbidden, revoked, "admin.watch")


async def test_a_kick_closes_the_connection_only_if_it_is_still_that_users(node: Node) -> None:
    """Connection ids restart with a node: a kick for a conn id now held by someone else
    (an entry a previous process left in Redis) closes nothing."""
    from actors.admin import node_channel, pack_kick
    from storage import bus

    async with bots(node, 2) as (stays, goes), admins(node) as (admin,):
        await admin.call("admin.watch")
        with trio.fail_after(EVENT_WAIT * 2):
            while len(listed := (await admin.call("admin.sessions", user=uid(stays)))[
                    "sessions"]) < 1:
                await admin.next_event("admin.stats")
        conn = listed[0]["conn"]
        channel = node_channel(node.storage, node.name)
        await bus.publish(node.storage, [(channel, pack_kick(conn, uid(goes), "not yours")),
                                         (channel, pack_kick(conn, uid(stays), "yours"))])
        # Handled in order: had the first closed it, its reason would have come first.
        assert (await next_event(stays, "session.closed"))["reason"] == "yours"
        assert await closed_code(stays) == 4001
        assert "t" in await goes.call("ping")


async def test_operator_keys_in_redis_all_expire(node: Node) -> None:
    """Snapshots, session tables and report limits carry a TTL; the node list is trimmed."""
    from config.limits import ADMIN_STATS_TTL_SECONDS

    async with bots(node, 2) as (bot, author), admins(node) as (admin,):
        post = await quick_post(author, "for the limit key")
        await bot.call("report.create", kind="post", target=post["id"], reason="spam")
        await admin.call("admin.watch")
        await stats_until(admin, lambda d: d["totals"]["sessions"] >= 3)
        st = node.storage

        async def ttls(r: Any) -> dict[str, int]:
            out = {}
            for pattern in ("nodestat:*", "sessions:*", "rl:report:*"):
                async for k in r.scan_iter(match=st.key(pattern)):
                    out[k.decode() if isinstance(k, bytes) else k] = int(await r.ttl(k))
            return out

        found = await st.redis_op(ttls)
        assert st.key("nodestat", node.name) in found and st.key("sessions", node.name) in found
        assert st.key("rl", "report", uid(bot)) in found
        assert all(t > 0 for t in found.values()), found
        assert all(t <= ADMIN_STATS_TTL_SECONDS for k, t in found.items() if ":rl:" not in k)
        nodes = await st.redis_op(lambda r: r.zrange(st.key("nodes"), 0, -1, withscores=True))
        assert node.name in [n.decode() if isinstance(n, bytes) else n for n, _ in nodes]
        oldest = min(score for _, score in nodes)  # each write trims entries older than 60 s
        assert oldest >= (time.time() - 61) * 1000


# -- suspension ---------------------------------------------------------------------------
async def test_suspend_closes_every_session_hides_content_and_blocks_login(node: Node) -> None:
    async with bots(node, 2) as (bot, viewer), admins(node) as (admin,):
        await follow(viewer, bot)
        word = unique("w")
        post = await quick_post(bot, f"#suspendtag {word} spam")
        other = await quick_post(viewer, "a normal post")
        comment = await bot.call("comment.add", post=other["id"], text="buy now")
        with trio.fail_after(EVENT_WAIT):
            while not any(uid(bot) in [a["id"] for a in i["actors"]]
                          for i in (await viewer.call("notif.list"))["items"]):
                await viewer.next_event("notification")
        async with connect(node.ws_url, token=bot.token) as second:
            assert second.hello_data is not None
            done = await admin.call("admin.suspend", user=uid(bot), reason="spam bot")
            assert done["suspended"] is True and done["tokens_revoked"] >= 1
            for c in (bot, second):
                assert (await next_event(c, "session.closed"))["reason"]
                assert await closed_code(c) == 4001
        # Content is hidden from everyone, wherever it is listed.
        await expect(NotFound, viewer, "post.get", post=post["id"])
        await expect(NotFound, viewer, "user.get", id=uid(bot))
        listed = await viewer.call("comment.list", post=other["id"])
        assert comment["id"] not in [c["id"] for c in listed["comments"]]
        home = await viewer.call("feed.home")
        assert post["id"] not in [p["id"] for p in home["posts"]]
        tagged = await viewer.call("tag.posts", tag="suspendtag")
        assert post["id"] not in [p["id"] for p in tagged["posts"]]
        found = await viewer.call("search", q=word)
        assert found["posts"] == []
        found = await viewer.call("search", q=uname(bot), kind="users")
        assert uid(bot) not in [u["id"] for u in found["users"]]
        explore = await viewer.call("feed.explore")
        assert post["id"] not in [p["id"] for p in explore["posts"]]
        notes = (await viewer.call("notif.list"))["items"]
        assert all(uid(bot) not in [a["id"] for a in i["actors"]] for i in notes)
        # The old token and the password no longer open a session.
        async with connect(node.ws_url, reconnect=False) as again:
            await expect(Unauthorized, again, "hello", token=bot.token)
            await expect(Forbidden, again, "auth.login", username=uname(bot), password=PASSWORD)
        users = await admin.call("admin.users", id=uid(bot))
        u = users["users"][0]
        assert u["suspended"] is True and u["suspend_reason"] == "spam bot"
        entry = (await admin.call("admin.audit", target=uid(bot), kind="user"))["entries"][0]
        assert entry["action"] == "admin.suspend" and entry["admin"]["id"] == uid(admin)
        assert entry["details"]["reason"] == "spam bot"
        # Unsuspended: visible again, and the password works again.
        assert (await admin.call("admin.unsuspend", user=uid(bot)))["suspended"] is False
        trail = (await admin.call("admin.audit", target=uid(bot), kind="user"))["entries"]
        assert [e["action"] for e in trail] == ["admin.unsuspend", "admin.suspend"]
        assert (await viewer.call("post.get", post=post["id"]))["id"] == post["id"]
        assert [p["id"] for p in (await viewer.call("search", q=word))["posts"]] == [post["id"]]
        async with connect(node.ws_url) as back:
            assert (await back.login(uname(bot), PASSWORD))["user"]["id"] == uid(bot)


async def test_hellos_racing_a_suspension_all_end(node: Node) -> None:
    """Racers keep opening sessions with the user's token while the suspension commits:
    every one that got past `hello` is closed with 4001 (the sweep catches a hello that
    attached just after the first close went out), until `hello` is refused."""
    async with bots(node, 1) as (bot,), admins(node) as (admin,):
        token = bot.token
        assert token is not None
        opened: list[Client] = []
        warmed = trio.Semaphore(0)

        async def racer() -> None:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    while True:
                        c = await stack.enter_async_context(
                            connect(node.ws_url, token=token, reconnect=False))
                        opened.append(c)
                        warmed.release()
                except Unauthorized:
                    pass
                for c in opened:
                    assert await closed_code(c) == 4001

        with trio.fail_after(EVENT_WAIT * 4):
            async with trio.open_nursery() as n:
                for _ in range(4):
                    n.start_soon(racer)
                for _ in range(8):  # the racers are in full swing
                    await warmed.acquire()
                await admin.call("admin.suspend", user=uid(bot), reason="racing")
        assert len(opened) >= 8 and all(c.close_code == 4001 for c in opened)
        assert await closed_code(bot) == 4001


async def test_a_suspended_user_is_gone_from_lists_and_comes_back(node: Node) -> None:
    """Follow lists, follow requests, replies, saved posts, their grid and presence."""
    async with bots(node, 3) as (bad, viewer, private), admins(node) as (admin,):
        await follow(viewer, bad)
        await follow(bad, viewer)
        await make_private(private)
        await bad.call("follow.add", user=uid(private))  # a pending request
        mine = await quick_post(viewer, "mine")
        theirs = await quick_post(bad, "theirs")
        await viewer.call("post.save", post=theirs["id"])
        top = await viewer.call("comment.add", post=mine["id"], text="top")
        await bad.call("comment.add", post=mine["id"], text="a reply", reply_to=top["id"])

        async def visible() -> list[bool]:
            followers = await viewer.call("follow.list", user=uid(viewer), kind="followers")
            following = await viewer.call("follow.list", user=uid(viewer), kind="following")
            requests = await private.call("follow.requests")
            replies = await viewer.call("comment.list", post=mine["id"], parent=top["id"])
            saved = await viewer.call("post.list", saved=True)
            presence = (await viewer.call("presence.get", users=[uid(bad)]))["items"][0]
            return [uid(bad) in [i["id"] for i in followers["items"]],
                    uid(bad) in [i["id"] for i in following["items"]],
                    uid(bad) in [i["user"]["id"] for i in requests["items"]],
                    len(replies["comments"]) == 1,
                    theirs["id"] in [p["id"] for p in saved["posts"]],
                    presence["online"] is not None]

        assert await visible() == [True] * 6
        await admin.call("admin.suspend", user=uid(bad), reason="hide")
        assert await visible() == [False] * 6
        await expect(NotFound, viewer, "post.list", user=uid(bad))
        await expect(NotFound, viewer, "follow.list", user=uid(bad), kind="followers")
        await admin.call("admin.unsuspend", user=uid(bad))
        back = await visible()
        assert back[:5] == [True] * 5  # presence: they are offline now, but visible
        presence = (await viewer.call("presence.get", users=[uid(bad)]))["items"][0]
        assert presence["online"] is False


# -- content removal ---------------------------------------------------------------------------
async def test_removed_post_and_comment_disappear_live_for_watchers(node: Node) -> None:
    async with bots(node, 2) as (author, watcher), admins(node) as (admin,):
        post = await quick_post(author, "to be removed")
        comment = await watcher.call("comment.add", post=post["id"], text="rude words")
        await watcher.call("post.watch", post=post["id"])
        listed = await admin.call("admin.comments", post=post["id"])
        assert [c["id"] for c in listed["comments"]] == [comment["id"]]
        done = await admin.call("admin.remove_comment", comment=comment["id"], reason="rude")
        assert done["removed"] is True
        gone = await next_event(watcher, "comment.deleted")
        assert gone["comment"] == comment["id"] and gone["post"] == post["id"]
        await next_event(watcher, "post.updated", comment_count=0)

        done = await admin.call("admin.remove_post", post=post["id"], reason="off-topic")
        assert done["removed"] is True
        assert (await next_event(watcher, "post.deleted")) == {"post": post["id"]}
        await expect(NotFound, watcher, "post.get", post=post["id"])
        await expect(NotFound, admin, "admin.remove_post", post=post["id"], reason="again")
        seen = (await admin.call("admin.posts", author=uid(author)))["posts"]
        assert seen[0]["id"] == post["id"] and seen[0]["removed"] is True
        assert seen[0]["photos"] == 1 and seen[0]["thumbnail"]["jpeg"].startswith("/media/")
        actions = [e["action"] for e in (await admin.call(
            "admin.audit", limit=10, admin=uid(admin)))["entries"]]
        assert actions[:2] == ["admin.remove_post", "admin.remove_comment"]


async def test_removed_content_is_gone_from_every_listing_and_counts_move(node: Node) -> None:
    async with bots(node, 3) as (author, fan, other), admins(node) as (admin,):
        await follow(fan, author)
        await follow(author, fan)
        word = unique("rm")
        post = await quick_post(author, f"#removetag {word}")
        keep = await quick_post(author, "stays")
        top = await fan.call("comment.add", post=keep["id"], text="top")
        await other.call("comment.add", post=keep["id"], text="reply",
                         reply_to=top["id"])
        conv = await fan.call("dm.open", user=uid(author))
        await fan.call("dm.send", conversation=conv["id"], post=post["id"])
        await drained(node)  # fanned out to the fan's home feed
        assert post["id"] in [p["id"] for p in (await fan.call("feed.home"))["posts"]]
        count = await sql(node, "SELECT posts_count FROM users WHERE id = $1", uid(author))

        await admin.call("admin.remove_post", post=post["id"], reason="gone")
        await admin.call("admin.remove_comment", comment=top["id"], reason="gone")
        await drained(node)
        assert await sql(node, "SELECT posts_count FROM users WHERE id = $1",
                         uid(author)) == count - 1
        for viewer in (fan, other):
            await expect(NotFound, viewer, "post.get", post=post["id"])
            await expect(NotFound, viewer, "comment.list", post=post["id"])
            grid = await viewer.call("post.list", user=uid(author))
            assert [p["id"] for p in grid["posts"]] == [keep["id"]]
            assert post["id"] not in [p["id"] for p in (await viewer.call("feed.home"))["posts"]]
            tagged = await viewer.call("tag.posts", tag="removetag")
            assert post["id"] not in [p["id"] for p in tagged["posts"]]
            assert (await viewer.call("search", q=word))["posts"] == []
            explore = await viewer.call("feed.explore")
            assert post["id"] not in [p["id"] for p in explore["posts"]]
            assert (await viewer.call("comment.list", post=keep["id"]))["comments"] == []
            assert (await viewer.call("post.get", post=keep["id"]))["comment_count"] == 0
        # The DM that shared it keeps only the id, which resolves to nothing.
        shared = (await author.call("dm.history", conversation=conv["id"]))["messages"][0]
        assert shared["post"] == post["id"]
        await expect(NotFound, author, "post.get", post=shared["post"])


# -- reports ------------------------------------------------------------------------------
async def test_reports_dedup_visibility_queue_and_resolution(node: Node) -> None:
    async with bots(node, 4) as (author, r1, r2, hidden), admins(node) as (admin,):
        post = await quick_post(author, "report me")
        a = await r1.call("report.create", kind="post", target=post["id"], reason="spam")
        again = await r1.call("report.create", kind="post", target=post["id"], reason="scam",
                              text="changed my mind")
        assert a["created"] is True and again["created"] is False
        assert again["report"] == a["report"]
        await r2.call("report.create", kind="post", target=post["id"], reason="scam",
                      text="a scam link")
        # Only what the reporter can see; no reporting yourself; fixed reasons.
        await make_private(hidden)
        secret = await quick_post(hidden, "followers only")
        await expect(NotFound, r1, "report.create", kind="post", target=secret["id"],
                     reason="spam")
        await block(author, r2)
        await expect(NotFound, r2, "report.create", kind="user", target=uid(author),
                     reason="spam")
        await expect(Forbidden, author, "report.create", kind="post", target=post["id"],
                     reason="spam")
        await expect(BadRequest, r1, "report.create", kind="post", target=post["id"],
                     reason="boring")
        await expect(BadRequest, r1, "report.create", kind="post", target=post["id"],
                     reason="spam", text="x" * 501)
        await expect(NotFound, r1, "report.create", kind="message", target=post["id"],
                     reason="spam")
        user_report = await r1.call("report.create", kind="user", target=uid(author),
                                    reason="harassment")
        assert user_report["created"] is True

        queue = await admin.call("admin.reports", kind="post", target=post["id"])
        group = queue["reports"][0]
        assert group["count"] == 2 and group["reasons"] == {"spam": 1, "scam": 1}
        assert group["notes"] == ["a scam link"] and group["target_user"] == uid(author)
        listed = await admin.call("admin.users", id=uid(author))
        assert listed["users"][0]["open_reports"] == 3

        done = await admin.call("admin.resolve", kind="post", target=post["id"],
                                action="remove", reason="scam")
        assert done["reports_closed"] == 2
        await expect(NotFound, r1, "post.get", post=post["id"])
        assert (await admin.call("admin.reports", kind="post", target=post["id"]))[
            "reports"] == []
        await expect(NotFound, admin, "admin.resolve", kind="post", target=post["id"],
                     action="dismiss")
        await expect(BadRequest, admin, "admin.resolve", kind="user", target=uid(author),
                     action="remove")
        # Resolved: the same reporter may report the same target again.
        post2 = await quick_post(author, "again")
        await r1.call("report.create", kind="post", target=post2["id"], reason="spam")
        dismissed = await admin.call("admin.resolve", kind="post", target=post2["id"],
                                     action="dismiss")
        assert dismissed["reports_closed"] == 1
        assert (await r1.call("report.create", kind="post", target=post2["id"],
                              reason="spam"))["created"] is True

        suspended = await admin.call("admin.resolve", kind="user", target=uid(author),
                                     action="suspend", reason="harassment")
        assert suspended["user"] == uid(author) and suspended["reports_closed"] == 1
        assert await closed_code(author) == 4001
        entries = (await admin.call("admin.audit", action="admin.resolve",
                                    admin=uid(admin)))["entries"]
        assert {e["details"].get("action") for e in entries
                if e["admin"]["id"] == uid(admin)} >= {"dismiss", "suspend"}
        [row] = [e for e in entries if e["details"].get("action") == "suspend"
                 and e["admin"]["id"] == uid(admin)]
        assert row["details"]["reports_closed"] == 1  # as a dismissal's row says
        assert row["details"]["kind"] == "user" and row["details"]["target"] == uid(author)


async def test_report_a_message_and_the_rate_limit(node: Node) -> None:
    from config.limits import REPORTS_PER_HOUR

    async with bots(node, 3) as (sender, reader, outsider):
        await follow(reader, sender)
        conv = await sender.call("dm.open", user=uid(reader))
        sent = await sender.call("dm.send", conversation=conv["id"], text="hello there")
        mid = sent["message"]["id"]
        await expect(NotFound, outsider, "report.create", kind="message", target=mid,
                     reason="spam")
        done = await reader.call("report.create", kind="message", target=mid, reason="spam")
        assert done["created"] is True
        for _ in range(REPORTS_PER_HOUR - 1):  # repeats count against the limit too
            await reader.call("report.create", kind="message", target=mid, reason="spam")
        from protocol.errors import RateLimited

        with pytest.raises(RateLimited):
            await reader.call("report.create", kind="message", target=mid, reason="spam")
        n = await sql(node, "SELECT count(*) FROM reports WHERE reporter_id = $1", uid(reader))
        assert n == 1


async def test_racing_reports_of_one_target_are_one_report(node: Node) -> None:
    async with bots(node, 3) as (author, reporter, suspended):
        post = await quick_post(author, "race me")
        replies: list[dict[str, Any]] = []

        async def report(c: Client) -> None:
            replies.append(await c.call("report.create", kind="post", target=post["id"],
                                        reason="spam"))

        async with connect(node.ws_url, token=reporter.token) as twin, \
                trio.open_nursery() as n:
            for i in range(6):
                n.start_soon(report, reporter if i % 2 else twin)
        assert len({r["report"] for r in replies}) == 1
        assert sorted(r["created"] for r in replies) == [False] * 5 + [True]
        assert await sql(node, "SELECT count(*) FROM reports WHERE target_id = $1",
                         post["id"]) == 1
        # A suspended user's posts, and the user, are as unknown to reporters as elsewhere.
        hidden = await quick_post(suspended, "gone soon")
        await sql(node, "UPDATE users SET suspended_at = now() WHERE id = $1", uid(suspended))
        await expect(NotFound, reporter, "report.create", kind="post", target=hidden["id"],
                     reason="spam")
        await expect(NotFound, reporter, "report.create", kind="user", target=uid(suspended),
                     reason="spam")
        await expect(NotFound, reporter, "report.create", kind="user",
                     target=uid(suspended) + 10**9, reason="spam")


async def test_a_reply_in_a_hidden_thread_cannot_be_reported(node: Node) -> None:
    """A reply is hidden with its thread (comment.list, comment.like answer not_found):
    reporting it answered `created`, telling that it exists (found by a review)."""
    async with bots(node, 4) as (author, commenter, replier, blocked):
        post = await quick_post(author, "a post")
        thread = await commenter.call("comment.add", post=post["id"], text="a thread")
        reply = await replier.call("comment.add", post=post["id"], text="a reply",
                                   reply_to=thread["id"])
        await block(commenter, blocked)
        await expect(NotFound, blocked, "comment.like", comment=reply["id"])
        await expect(NotFound, blocked, "report.create", kind="comment", target=reply["id"],
                     reason="spam")
        assert await sql(node, "SELECT count(*) FROM reports WHERE reporter_id = $1",
                         uid(blocked)) == 0
        # others still report it; a note that fits once trimmed is taken
        got = await author.call("report.create", kind="comment", target=reply["id"],
                                reason="spam", text=" " * 600 + "x")
        assert got["created"] is True


async def test_removing_a_post_closes_the_reports_on_its_comments(node: Node) -> None:
    """Its comments went with it: their reports stayed open in the queue, each to be
    dismissed by hand (found by a review)."""
    async with bots(node, 2) as (author, reporter), admins(node) as (admin,):
        post = await quick_post(author, "a post")
        spam = await author.call("comment.add", post=post["id"], text="buy now")
        kept = await quick_post(author, "another post")
        other = await author.call("comment.add", post=kept["id"], text="buy later")
        for c in (spam, other):
            await reporter.call("report.create", kind="comment", target=c["id"],
                                reason="spam")
        await reporter.call("report.create", kind="post", target=post["id"], reason="spam")
        done = await admin.call("admin.remove_post", post=post["id"], reason="spam")
        assert done["reports_closed"] == 2  # the post's and its comment's
        assert (await admin.call("admin.reports", kind="comment", target=spam["id"]))[
            "reports"] == []
        [still] = (await admin.call("admin.reports", kind="comment", target=other["id"]))[
            "reports"]
        assert still["count"] == 1  # another post's comment is still reported


async def test_every_admin_action_writes_exactly_one_audit_row(node: Node) -> None:
    async with bots(node, 3) as (author, reporter, target), admins(node) as (admin,):
        p1, p2, p3 = [await quick_post(author, f"audit {i}") for i in range(3)]
        c1 = await reporter.call("comment.add", post=p1["id"], text="one")
        c2 = await reporter.call("comment.add", post=p1["id"], text="two")
        for kind, tid in (("post", p2["id"]), ("post", p3["id"]), ("comment", c2["id"])):
            await target.call("report.create", kind=kind, target=tid, reason="spam")
        await reporter.call("report.create", kind="user", target=uid(target), reason="spam")
        steps: list[tuple[str, dict[str, Any], str, int]] = [
            ("admin.kick", {"user": uid(target)}, "user", uid(target)),
            ("admin.remove_comment", {"comment": c1["id"], "reason": "r"}, "comment", c1["id"]),
            ("admin.remove_post", {"post": p1["id"], "reason": "r"}, "post", p1["id"]),
            ("admin.resolve", {"kind": "post", "target": p2["id"], "action": "dismiss"},
             "post", p2["id"]),
            ("admin.resolve", {"kind": "post", "target": p3["id"], "action": "remove"},
             "post", p3["id"]),
            ("admin.resolve", {"kind": "comment", "target": c2["id"], "action": "remove"},
             "comment", c2["id"]),
            ("admin.resolve", {"kind": "user", "target": uid(target), "action": "suspend"},
             "user", uid(target)),
            ("admin.unsuspend", {"user": uid(target)}, "user", uid(target)),
            ("admin.announce", {"text": "audited"}, "", 0),
        ]
        for op, args, kind, tid in steps:
            before = await audit_rows(node, uid(admin))
            await admin.call(op, **args)
            assert await audit_rows(node, uid(admin)) == before + 1, op
            entry = (await admin.call("admin.audit", admin=uid(admin), limit=1))["entries"][0]
            assert entry["action"] == op and entry["at"] > 0
            assert entry["admin"] == {"id": uid(admin), "username": uname(admin)}
            assert entry["target"] == {"kind": kind, "id": tid or None}
            if op == "admin.resolve":
                assert entry["details"]["action"] == args["action"]
        # Reads, watching and refused actions write nothing.
        before = await audit_rows(node, uid(admin))
        for op, args in (("admin.stats", {}), ("admin.users", {}), ("admin.reports", {}),
                         ("admin.audit", {}), ("admin.watch", {}), ("admin.unwatch", {})):
            await admin.call(op, **args)
        await expect(NotFound, admin, "admin.remove_post", post=p1["id"], reason="again")
        await expect(NotFound, admin, "admin.resolve", kind="post", target=p2["id"],
                     action="dismiss")
        assert await audit_rows(node, uid(admin)) == before


# -- announcements and audit paging -----------------------------------------------------------
async def test_announcement_reaches_every_session_and_audit_pages(node: Node) -> None:
    async with bots(node, 2) as (u1, u2), admins(node) as (admin,):
        async with connect(node.ws_url, reconnect=False) as anon:
            sent = await admin.call("admin.announce", text="Maintenance at 04:00 UTC",
                                    level="warning")
            assert set(sent) == {"id", "text", "level", "ts"}
            for c in (u1, u2, admin):
                got = await next_event(c, "announcement")
                assert got == sent
            assert "t" in await anon.call("ping")  # no hello: no announcement, still served
        for i in range(4):
            await admin.call("admin.announce", text=f"note {i}")
        seen: list[int] = []
        cursor = None
        while True:
            page = await admin.call("admin.audit", action="admin.announce", admin=uid(admin),
                                    limit=2, **({"cursor": cursor} if cursor else {}))
            seen += [e["id"] for e in page["entries"]]
            cursor = page["cursor"]
            if cursor is None:
                break
        assert len(seen) == 5 and seen == sorted(seen, reverse=True)
        assert seen[-1] == sent["id"]


# -- two nodes -------------------------------------------------------------------------------------
async def test_across_nodes_stats_sessions_kick_announce_and_suspend(
        node: Node, services: tuple[str, str], tmp_path: Path) -> None:
    """Node a runs in this process, node b as its own process, sharing Postgres and Redis."""
    db, redis = services
    env = {"DATABASE_URL": db, "REDIS_URL": redis, "GLINT_NAMESPACE": node.settings.namespace}
    async with node_process(tmp_path / "b", env=env, name="b") as b, \
            admins(node) as (admin,), bots(node, 1) as (on_a,), \
            connect(b.ws_url) as bot, connect(b.ws_url) as other_b:
        name = unique("nb")
        await bot.signup(name, f"{name}@example.com", PASSWORD)
        await other_b.signup(name + "o", f"{name}o@example.com", PASSWORD)
        assert bot.hello_data is not None and bot.hello_data["node"] == "b"
        await admin.call("admin.watch")
        both = await stats_until(admin, lambda d: d["totals"]["nodes"] == 2
                                 and d["totals"]["sessions"] >= 4)
        assert [n["node"] for n in both["nodes"]] == sorted([node.name, "b"])
        assert all(n["redis"]["ok"] and n["postgres"]["ok"] for n in both["nodes"])

        async with connect(b.ws_url, token=bot.token) as second:
            with trio.fail_after(EVENT_WAIT * 2):
                while len((listed := await admin.call("admin.sessions", user=uid(bot)))[
                        "sessions"]) < 2:
                    await admin.next_event("admin.stats")
            assert {s["node"] for s in listed["sessions"]} == {"b"}
            one = listed["sessions"][0]  # the newest: `second`
            await admin.call("admin.kick", node="b", conn=one["conn"], reason="kicked far")
            assert await closed_code(second) == 4001
            assert "t" in await bot.call("ping")  # its other connection stays

        sent = await admin.call("admin.announce", text="both nodes hear this")
        for c in (on_a, bot, other_b):
            assert await next_event(c, "announcement") == sent

        await admin.call("admin.suspend", user=uid(bot), reason="far away spam")
        assert (await next_event(bot, "session.closed"))["reason"] == "account suspended"
        assert await closed_code(bot) == 4001
        assert "t" in await other_b.call("ping")  # others on node b are untouched
        async with connect(b.ws_url, reconnect=False) as late:
            await expect(Unauthorized, late, "hello", token=bot.token)


@pytest.mark.alone  # counts every audit row
async def test_cli_grant_and_revoke_are_audited(node: Node, services: tuple[str, str],
                                                tmp_path: Path) -> None:
    db, redis = services
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": db, "REDIS_URL": redis,
           "GLINT_NAMESPACE": node.settings.namespace, "GLINT_LOG_LEVEL": "warning"}
    async with bots(node, 1) as (user,):
        for verb in ("grant", "revoke", "grant"):
            done = await trio.run_process(
                [sys.executable, "-m", "server.cli", "admin", verb, uname(user), "--data-dir",
                 str(tmp_path / "cli")], env=env, cwd=ROOT, capture_stdout=True,
                capture_stderr=True)
            assert done.returncode == 0, done.stderr
        entries = (await user.call("admin.audit", target=uid(user), kind="user"))["entries"]
        assert [e["action"] for e in entries[:3]] == ["admin.grant", "admin.revoke",
                                                        "admin.grant"]
        assert entries[0]["admin"] == {"id": None, "username": "cli"}
        # `glint user create --admin` gives the role too: audited the same way.
        made = unique("cliadm")
        done = await trio.run_process(
            [sys.executable, "-m", "server.cli", "user", "create", made, "--admin",
             "--password", PASSWORD, "--data-dir", str(tmp_path / "cli")], env=env, cwd=ROOT,
            capture_stdout=True, capture_stderr=True)
        assert done.returncode == 0, done.stderr
        made_id = await sql(node, "SELECT id FROM users WHERE username = $1", made)
        entry = (await user.call("admin.audit", target=made_id, kind="user"))["entries"]
        assert [(e["action"], e["details"]) for e in entry] == [
            ("admin.grant", {"username": made, "created": True})]
        # An unknown user: refused, nothing written.
        rows = await sql(node, "SELECT count(*) FROM audit_log")
        done = await trio.run_process(
            [sys.executable, "-m", "server.cli", "admin", "grant", unique("nobody"),
             "--data-dir", str(tmp_path / "cli")], env=env, cwd=ROOT, capture_stdout=True,
            capture_stderr=True, check=False)
        assert done.returncode != 0
        assert await sql(node, "SELECT count(*) FROM audit_log") == rows


async def test_suspension_hides_the_users_posts_live_from_their_watchers(node: Node) -> None:
    async with bots(node, 3) as (bot, viewer, bystander), admins(node) as (admin,):
        spam = await quick_post(bot, "spam")
        fine = await quick_post(bystander, "fine")
        for p in (spam, fine):
            await viewer.call("post.watch", post=p["id"])
        await admin.call("admin.suspend", user=uid(bot), reason="spam bot")
        assert (await next_event(viewer, "post.deleted"))["post"] == spam["id"]
        # Only the suspended user's posts: a later like on the other one still arrives,
        # and nothing about it said it was deleted.
        await viewer.call("post.like", post=fine["id"])
        with trio.fail_after(EVENT_WAIT):
            async for ev in viewer.events():
                assert ev.name != "post.deleted", ev.data
                if ev.name == "post.updated" and ev.data.get("like_count") == 1:
                    break


async def test_suspension_takes_the_users_comments_live_off_other_posts(node: Node) -> None:
    """Their comments and replies on posts others watch go with `comment.deleted` (a
    top-level one with its thread's replies), counts unchanged as for any hidden user;
    a watcher who blocked them never had those comments and is told nothing."""
    async with bots(node, 4) as (bot, viewer, bystander, blocker), admins(node) as (admin,):
        post = await quick_post(bystander, "fine")
        thread = await bot.call("comment.add", post=post["id"], text="buy followers")
        await bystander.call("comment.add", post=post["id"], text="no", reply_to=thread["id"])
        kept = await bystander.call("comment.add", post=post["id"], text="first")
        spam_reply = await bot.call("comment.add", post=post["id"], text="cheap likes",
                                    reply_to=kept["id"])
        await blocker.call("block.add", user=uid(bot))
        for watcher in (viewer, blocker):
            await watcher.call("post.watch", post=post["id"])
        await admin.call("admin.suspend", user=uid(bot), reason="spam bot")
        gone = [await next_event(viewer, "comment.deleted") for _ in range(2)]
        assert gone == [
            {"post": post["id"], "comment": thread["id"], "parent": None, "removed": 2},
            {"post": post["id"], "comment": spam_reply["id"], "parent": kept["id"],
             "removed": 1}]
        listed = await viewer.call("comment.list", post=post["id"])
        assert [c["id"] for c in listed["comments"]] == [kept["id"]]
        replies = await viewer.call("comment.list", post=post["id"], parent=kept["id"])
        assert replies["comments"] == []
        await expect(NotFound, viewer, "comment.list", post=post["id"], parent=thread["id"])
        # The blocker's next comment event is a new comment, not a deletion; the viewer
        # gets it too, and nothing more was deleted.
        new = await bystander.call("comment.add", post=post["id"], text="still here")
        for watcher in (blocker, viewer):
            with trio.fail_after(EVENT_WAIT):
                async for ev in watcher.events():
                    assert ev.name != "comment.deleted", ev.data
                    if ev.name == "comment.added":
                        assert ev.data["comment"]["id"] == new["id"]
                        break
        shown = await viewer.call("post.get", post=post["id"])
        assert shown["comment_count"] == 5  # hidden users still count


@pytest.mark.parametrize("kind", ["post", "comment"])
async def test_a_removal_that_lost_a_race_is_not_found_and_not_audited(node: Node,
                                                                      kind: str) -> None:
    """Another removal (an operator's, or the author's delete) committed while this one
    waited on the row: it answered `removed: true` and audited a no-op. Here the test's
    own transaction is the other removal."""
    async with bots(node, 1) as (author,), admins(node) as (admin,):
        post = await quick_post(author, "contested")
        target = post["id"]
        table = "posts"
        if kind == "comment":
            target = (await author.call("comment.add", post=post["id"], text="hm"))["id"]
            table = "comments"
        rows = await audit_rows(node, uid(admin))
        got: dict[str, Any] = {}

        async def remove() -> None:
            try:
                got["reply"] = await admin.call(f"admin.remove_{kind}", reason="spam",
                                                **{kind: target})
            except NotFound as exc:
                got["reply"] = exc

        async with (holding(node.storage, f"UPDATE {table} SET deleted_at = now() "
                                          "WHERE id = $1", target) as other,
                    trio.open_nursery() as nursery):
            nursery.start_soon(remove)
            await other.wait_statement_waits("%UPDATE posts SET deleted_at%",
                                             "%FROM comments WHERE id = $1 FOR UPDATE%")
            await other.commit()
        assert isinstance(got["reply"], NotFound), got
        assert await audit_rows(node, uid(admin)) == rows


async def test_an_invisible_optional_reason_takes_the_default(node: Node) -> None:
    """An operator's reason must show something: a zero-width one was stored (and shown
    to the user) as a blank suspension reason instead of the default."""
    async with bots(node, 2) as (spammer, reporter), admins(node) as (admin,):
        post = await quick_post(spammer, "spam")
        await reporter.call("report.create", kind="post", target=post["id"], reason="spam")
        await admin.call("admin.resolve", kind="post", target=post["id"], action="suspend",
                         reason="\u200b\u2060")
        assert await sql(node, "SELECT suspend_reason FROM users WHERE id = $1",
                         uid(spammer)) == "reported"
        await expect(BadRequest, admin, "admin.unsuspend", user=uid(spammer), reason="x" * 501)
        await expect(BadRequest, admin, "admin.suspend", user=uid(reporter), reason="\u200b")


async def test_a_revoke_racing_an_action_refuses_it(node: Node) -> None:
    """The role is read before the action's transaction; a revoke committing in between
    let the action through, audited under a former operator. The action now holds the
    operator's row as it writes its audit row: refused, nothing changed."""
    async with bots(node, 1) as (target,), admins(node) as (admin,):
        rows = await audit_rows(node, uid(admin))
        got: dict[str, Any] = {}

        async def suspend() -> None:
            try:
                got["reply"] = await admin.call("admin.suspend", user=uid(target),
                                                reason="spam")
            except Forbidden as exc:
                got["reply"] = exc

        async with (holding(node.storage, "UPDATE users SET is_admin = false WHERE id = $1",
                            uid(admin)) as revoke, trio.open_nursery() as nursery):
            nursery.start_soon(suspend)
            await revoke.wait_statement_waits("%is_admin AND suspended_at IS NULL FOR SHARE%")
            await revoke.commit()
        assert isinstance(got["reply"], Forbidden), got
        assert await sql(node, "SELECT suspended_at IS NULL FROM users WHERE id = $1",
                         uid(target)) is True
        assert await audit_rows(node, uid(admin)) == rows
        assert (await target.call("ping"))  # still signed in: nothing was done
