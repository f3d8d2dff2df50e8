"""Cursors are opaque, but a forged one is `bad_request`, never `internal`: a number past
PostgreSQL's bigint reached a query (asyncpg: "value out of int64 range") in tag.posts,
post.list, comment.list and — once the viewer followed a celebrity — feed.home; and
`int()` took "٣" (an Arabic-Indic three), "+5" and "5_0" as numbers. The node answers
the same calls with a real cursor, and keeps serving, after each refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from protocol.client import Client, connect
from protocol.errors import BadRequest
from server.node import Node
from tests.conftest import PASSWORD, make_settings, unique
from tests.server.test_posts import bots, expect, follow, quick_post, uid

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
    return make_settings(services, tmp_path, feed_celebrity_threshold=0, ops_per_second=1000.0)


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
        await refused_then_served(alice, "tag.posts", forged("{}"), tag="cursortag",
                                  mode="recent")
        await refused_then_served(alice, "tag.posts", forged("{}"), tag="cursortag")
        await refused_then_served(alice, "feed.explore", forged("{}"))
        await refused_then_served(alice, "post.list", [*forged("{}"), "1.2"], user=uid(bob))
        await refused_then_served(alice, "post.list", forged("{}.1") + forged("1.{}"),
                                  saved=True)
        await refused_then_served(alice, "comment.list", forged("{}"), post=post["id"])
        await refused_then_served(alice, "dm.list", forged("{}.1") + forged("1.{}") + ["1"])

        # Real cursors still page: bob's grid one post at a time reaches the end.
        await quick_post(bob, "second")
        page = await alice.call("post.list", user=uid(bob), limit=1)
        nxt = await alice.call("post.list", user=uid(bob), limit=1, cursor=page["cursor"])
        assert [p["id"] for p in nxt["posts"]] == [post["id"]]


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
