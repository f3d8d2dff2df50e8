"""Cursors are opaque, but a forged one is `bad_request`, never `internal`: a number past
PostgreSQL's bigint reached a query (asyncpg: "value out of int64 range") in tag.posts,
post.list, comment.list and — once the viewer followed a celebrity — feed.home; and
`int()` took "٣" (an Arabic-Indic three), "+5" and "5_0" as numbers. The node answers
the same calls with a real cursor, and keeps serving, after each refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from config.settings import Settings
from protocol.client import Client, connect
from protocol.errors import BadRequest
from server.node import Node
from storage.accounts import set_admin
from tests.conftest import PASSWORD, make_settings, unique
from tests.server.test_posts import (
    EVENT_WAIT,
    bots,
    expect,
    follow,
    make_private,
    quick_post,
    uid,
    uname,
)

PAST_BIGINT_INT = 1 << 63  # one more than PostgreSQL's bigint holds
PAST_BIGINT = str(PAST_BIGINT_INT)
FORGED_NUMBERS = [PAST_BIGINT, "9" * 25, "٣", "+5", "5_0", "-1", " 7", ""]


def forged(template: str) -> list[str]:
    """`template` with each forged number in place of `{}` (the empty one only where it
    leaves something: a wholly empty cursor means the first page)."""
    return [template.format(n) for n in FORGED_NUMBERS if template.format(n)]


async def refused_then_served(c: Client, op: str, cursors: list[str], **args: Any) -> None:
    for cursor in cursors:
        await expect(BadRequest, c, op, cursor=cursor, **args)
    await c.call(op, **args)  # the node goes on answering the same call


@pytest.fixture
def settings(services: tuple[str, str], tmp_path: Path) -> Settings:
    # everyone followed is merged at read time (where the unchecked number reached a
    # query); the refusals come faster than the per-connection op rate allows
    return make_settings(services, tmp_path, feed_celebrity_threshold=0, ops_per_second=1000.0,
                         ops_burst=1000)


async def test_forged_cursors_are_bad_requests(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        await follow(alice, bob)
        post = await quick_post(bob, "a #cursortag here")
        await alice.call("comment.add", post=post["id"], text="first")
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        await alice.call("dm.send", conversation=conv, text="hello")

        await refused_then_served(alice, "feed.home", forged("c.{}.1.0") + forged("c.1.{}.0")
                                  + forged("c.1.1.{}") + ["c.1.1", "c.1.1.0.0"],
                                  mode="chronological")
        await refused_then_served(alice, "feed.home", [*forged("r.abc.{}"), "r.ab-c.1", "r.é.1"])
        await refused_then_served(alice, "tag.posts", forged("tr.{}"), tag="cursortag",
                                  mode="recent")
        await refused_then_served(alice, "tag.posts", forged("tt.{}"), tag="cursortag")
        await refused_then_served(alice, "feed.explore", forged("x.{}"))
        await refused_then_served(alice, "post.list", [*forged("g.{}"), "g.1.2"],
                                  user=uid(bob))
        await refused_then_served(alice, "post.list", forged("s.{}.1") + forged("s.1.{}"),
                                  saved=True)
        await refused_then_served(alice, "comment.list", forged("cm.{}"), post=post["id"])
        await refused_then_served(alice, "dm.list",
                                  forged("di.{}.1") + forged("di.1.{}") + ["di.1"])

        # Real cursors still page: bob's grid one post at a time reaches the end.
        await quick_post(bob, "second")
        page = await alice.call("post.list", user=uid(bob), limit=1)
        nxt = await alice.call("post.list", user=uid(bob), limit=1, cursor=page["cursor"])
        assert [p["id"] for p in nxt["posts"]] == [post["id"]]


async def test_a_cursor_pages_only_the_list_and_mode_that_gave_it(node: Node) -> None:
    """Every list's cursor carries its list's kind. A cursor of another op, or of the same
    op in another mode (feed.home's, tag.posts', follow.list's `kind`, dm.list's folder),
    is `bad_request`: a tag's `recent` cursor (a post id) was read by mode `top` as an
    offset past the end, an empty page with a nil cursor that a bot takes for the end;
    a ranked feed cursor was taken in chronological mode; bare numbers ("7", "99", "1")
    paged explore, tag.posts and post.list from anywhere. Each cursor still pages its own
    list after all the refusals."""
    tag = unique("kinds")
    async with bots(node, 6) as (alice, bob, carol, dan, eve, admin):
        assert await set_admin(node.storage, uname(admin), True)
        for fan in (alice, carol):
            await follow(fan, bob)
        await follow(alice, dan)
        await make_private(carol)
        for asker in (alice, dan):  # two pending requests to carol
            assert (await asker.call("follow.add", user=uid(carol)))["state"] == "requested"
        posts = [await quick_post(bob, f"#{tag} {i}") for i in range(3)]
        for p in posts[:2]:
            await alice.call("post.save", post=p["id"])
            for liker in (alice, carol):
                await liker.call("post.like", post=p["id"])
        for text in ("one", "two"):
            await alice.call("comment.add", post=posts[0]["id"], text=text)
        for sender, to in ((alice, bob), (alice, dan), (dan, bob)):
            conv = (await sender.call("dm.open", user=uid(to)))["id"]
            await sender.call("dm.send", conversation=conv, text="hi")

        lists: dict[str, tuple[Client, str, dict[str, Any]]] = {
            "home ranked": (alice, "feed.home", {"mode": "ranked"}),
            "home chronological": (alice, "feed.home", {"mode": "chronological"}),
            "tag top": (alice, "tag.posts", {"tag": tag, "mode": "top"}),
            "tag recent": (alice, "tag.posts", {"tag": tag, "mode": "recent"}),
            "explore": (eve, "feed.explore", {}),
            "grid": (alice, "post.list", {"user": uid(bob)}),
            "saved": (alice, "post.list", {"saved": True}),
            "comments": (alice, "comment.list", {"post": posts[0]["id"]}),
            "likers": (alice, "post.likers", {"post": posts[0]["id"]}),
            "followers": (alice, "follow.list", {"user": uid(bob), "kind": "followers"}),
            "following": (alice, "follow.list", {"user": uid(alice), "kind": "following"}),
            "requests": (carol, "follow.requests", {}),
            "inbox": (alice, "dm.list", {"folder": "inbox"}),
            "dm requests": (bob, "dm.list", {"folder": "requests"}),
            "admin users": (admin, "admin.users", {}),
            "admin posts": (admin, "admin.posts", {}),
            "admin comments": (admin, "admin.comments", {}),
            "admin sessions": (admin, "admin.sessions", {}),
        }
        await admin.call("admin.watch")
        with trio.fail_after(EVENT_WAIT * 2):  # the sessions reach Redis with a stats flush
            while (await admin.call("admin.sessions", limit=1))["cursor"] is None:
                await admin.next_event("admin.stats")
        firsts = {name: await c.call(op, limit=1, **args)
                  for name, (c, op, args) in lists.items()}
        cursors = {name: page["cursor"] for name, page in firsts.items()}
        assert all(cursors.values()), cursors  # each list has a second page
        assert len(set(cursors.values())) == len(cursors)

        for name, (c, op, args) in lists.items():
            for other, cursor in cursors.items():
                if other != name:
                    await expect(BadRequest, c, op, limit=1, cursor=cursor, **args)
        # A bare number, or nothing but a kind, is no cursor either.
        for name, (c, op, args) in lists.items():
            for bare in ("7", "99", "1", "1.2", cursors[name].split(".")[0]):
                await expect(BadRequest, c, op, limit=1, cursor=bare, **args)
        # Without `mode`, a feed is ranked and a tag's list is top: not the others'.
        await expect(BadRequest, alice, "feed.home", cursor=cursors["home chronological"])
        await expect(BadRequest, alice, "tag.posts", tag=tag, cursor=cursors["tag recent"])

        # Each list still pages on with its own cursor: nothing was read or changed.
        for name, (c, op, args) in lists.items():
            page = await c.call(op, limit=1, cursor=cursors[name], **args)
            key = next(k for k, v in page.items() if isinstance(v, list))
            assert len(page[key]) == 1, (name, page)
            assert page[key] != firsts[name][key], name
        top = await alice.call("tag.posts", tag=tag, mode="top", limit=1,
                               cursor=cursors["tag top"])
        assert top["cursor"] is not None  # the third post follows: no silent end


async def test_a_ranked_feeds_chronological_rest_is_ranked_modes_own(node: Node) -> None:
    """Below its snapshot a ranked feed goes on chronologically, with a cursor of its own
    kind: it pages the same posts as a chronological cursor at the same position, in
    ranked mode only; a chronological feed's cursor is refused there."""
    async with bots(node, 2) as (alice, bob):
        await follow(alice, bob)
        made = [(await quick_post(bob, f"p{i}"))["id"] for i in range(3)]
        chrono = await alice.call("feed.home", mode="chronological", limit=1)
        assert chrono["cursor"].startswith("c.")
        rest = "rc." + chrono["cursor"].removeprefix("c.")
        expected = await alice.call("feed.home", mode="chronological", limit=5,
                                    cursor=chrono["cursor"])
        got = await alice.call("feed.home", mode="ranked", limit=5, cursor=rest)
        assert [p["id"] for p in got["posts"]] == [p["id"] for p in expected["posts"]]
        assert [p["id"] for p in got["posts"]] == made[1::-1]
        await expect(BadRequest, alice, "feed.home", mode="chronological", cursor=rest)
        await expect(BadRequest, alice, "feed.home", mode="ranked", cursor=chrono["cursor"])


async def test_ids_past_bigint_and_nul_passwords_are_bad_requests(node: Node) -> None:
    """An avatar or a post's media id past bigint reached a query (`internal`); a
    password with a NUL was taken at signup, then refused at login (found by reviews)."""
    async with bots(node, 1) as (alice,):
        await expect(BadRequest, alice, "user.update", avatar=PAST_BIGINT_INT)
        await expect(BadRequest, alice, "post.create", media=[PAST_BIGINT_INT])
        await expect(BadRequest, alice, "post.create", media=[{"id": PAST_BIGINT_INT}])
        await expect(BadRequest, alice, "auth.password", old_password=PASSWORD,
                     new_password="a perfectly long\x00password")
        assert (await alice.call("user.get"))["id"] == uid(alice)  # still serving
    async with connect(node.ws_url) as c:
        with pytest.raises(BadRequest):
            name = unique("nul")
            await c.signup(name, f"{name}@example.com", "a perfectly long\x00password")


async def test_profile_texts_are_trimmed_and_websites_are_web_addresses(node: Node) -> None:
    """A display name that fits once trimmed is taken; a website must be an http(s)
    address: "javascript:…" and control characters were accepted (found by a review)."""
    async with bots(node, 1) as (alice,):
        got = await alice.call("user.update", display_name=" " + "d" * 64 + " ",
                               website=" example.com/me ")
        assert (got["display_name"], got["website"]) == ("d" * 64, "example.com/me")
        for bad in ("javascript:alert(1)//x.com", "javascript://x.com/%0aalert(1)",
                    "https://x.example/\x07", "not a site"):
            await expect(BadRequest, alice, "user.update", website=bad)
        assert (await alice.call("user.get"))["website"] == "example.com/me"
