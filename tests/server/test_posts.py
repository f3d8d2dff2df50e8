"""Posts end to end against a real node: create with real uploads and filters, read,
edit, delete, profile grids, saves — and who may do which."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from protocol.client import Client, connect
from protocol.errors import BadRequest, Conflict, Forbidden, NotFound
from server.node import Node
from tests.conftest import PASSWORD, unique
from tests.fixtures import images

EVENT_WAIT = 5.0


# -- helpers shared by the posts, comments and watch tests ------------------------------------
@contextlib.asynccontextmanager
async def bots(node: Node, n: int) -> AsyncIterator[list[Client]]:
    """`n` freshly signed-up users, each on its own connection, signed up concurrently."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connect(node.ws_url)) for _ in range(n)]

        async def signup(c: Client) -> None:
            name = unique("p")
            await c.signup(name, f"{name}@example.com", PASSWORD)

        async with trio.open_nursery() as nursery:
            for c in clients:
                nursery.start_soon(signup, c)
        yield clients


def uid(c: Client) -> int:
    assert c.user is not None
    return int(c.user["id"])


def uname(c: Client) -> str:
    assert c.user is not None
    return str(c.user["username"])


async def sql(node: Node, query: str, *args: Any) -> Any:
    """One statement straight on Postgres (test set-up: privacy flags, follows, blocks)."""
    async def run(conn: Any, *a: Any) -> Any:
        return await conn.fetchval(query, *a)

    return await node.storage.tx(run, *args)


async def make_private(c: Client) -> None:
    await c.call("user.update", private=True)


async def follow(follower: Client, followee: Client) -> None:
    """Follow, with the followee's approval when the account is private."""
    r = await follower.call("follow.add", user=uid(followee))
    if r["state"] != "following":
        await followee.call("follow.approve", user=uid(follower))


async def block(blocker: Client, blocked: Client) -> None:
    await blocker.call("block.add", user=uid(blocked))


async def posts_count(node: Node, c: Client) -> int:
    return int(await sql(node, "SELECT posts_count FROM users WHERE id = $1", uid(c)))


async def quick_post(c: Client, caption: str = "", **extra: Any) -> dict[str, Any]:
    """A post with one small real upload."""
    rec = await c.upload(images.jpeg(320, 240))
    return await c.call("post.create", media=[{"id": rec["id"]}], caption=caption, **extra)


async def next_event(c: Client, name: str, **match: Any) -> dict[str, Any]:
    """The next `name` event whose data has these values (others are skipped)."""
    with trio.fail_after(EVENT_WAIT):
        while True:
            ev = await c.next_event(name)
            if all(ev.data.get(k) == v for k, v in match.items()):
                return ev.data


async def expect(error: type[Exception], c: Client, op: str, **args: Any) -> None:
    try:
        await c.call(op, **args)
    except error:
        return
    raise AssertionError(f"{op} {args} should fail with {error.__name__}")


# -- tests -------------------------------------------------------------------------------------
async def test_create_carousel_with_filter_mentions_and_idempotency(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        ups = [await alice.upload(images.jpeg(480 + 40 * i, 360)) for i in range(3)]
        assert all(u["filter"] == "normal" for u in ups)
        caption = f"Golden hour #Sunset #beach #sunset with @{uname(bob)}. and @nobody_{unique()}"
        post = await alice.call(
            "post.create", caption=caption, location="Lisbon", idem="create-1",
            media=[{"id": ups[0]["id"], "filter": "clarendon", "alt": "the sea"},
                   {"id": ups[1]["id"], "adjust": {"brightness": 0.2}},
                   {"id": ups[2]["id"]}])
        assert post["author"]["id"] == uid(alice) and post["author"]["username"] == uname(alice)
        assert post["caption"] == caption and post["location"] == "Lisbon"
        assert [m["alt"] for m in post["media"]] == ["the sea", "", ""]
        first, second, third = post["media"]
        # A filter other than the upload's renders a new photo from its master.
        assert first["filter"] == "clarendon" and first["id"] != ups[0]["id"]
        assert first["variants"]["feed"]["jpeg"].startswith("/media/")
        assert second["id"] != ups[1]["id"]  # adjustments render too
        assert third["id"] == ups[2]["id"] and third["filter"] == "normal"
        assert post["tags"] == ["beach", "sunset"]
        assert post["mentions"] == [{"id": uid(bob), "username": uname(bob)}]
        assert post["like_count"] == 0 and post["comment_count"] == 0
        assert post["liked_by_me"] is False and post["saved_by_me"] is False
        assert post["comments_off"] is False and post["edited_at"] is None
        assert isinstance(post["created_at"], int) and post["created_at"] > 1_600_000_000_000
        assert await posts_count(node, alice) == 1
        used = await sql(node, "SELECT count(*) FROM media WHERE id = ANY($1::bigint[]) "
                               "AND attached_at IS NOT NULL",
                         [m["id"] for m in post["media"]])
        assert used == 3

        mention = await next_event(bob, "notification", kind="mention")
        assert mention["post"] == post["id"] and mention["actor"]["id"] == uid(alice)

        # A retried create (same idem) returns the same post and changes nothing.
        again = await alice.call("post.create", idem="create-1", caption="other",
                                 media=[{"id": ups[2]["id"]}])
        assert again["id"] == post["id"] and again["caption"] == caption
        assert await posts_count(node, alice) == 1

        # The same upload may appear in another post (files are shared, not copied).
        other = await alice.call("post.create", media=[ups[2]["id"]])
        assert other["media"][0]["id"] == ups[2]["id"] and await posts_count(node, alice) == 2


async def test_create_limits_and_foreign_media(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        up = await alice.upload(images.jpeg(320, 240))
        media = [{"id": up["id"]}]
        tags31 = " ".join(f"#t{i}" for i in range(31))
        await expect(BadRequest, alice, "post.create", media=media, caption=tags31)
        tags30 = " ".join(f"#t{i}" for i in range(30)) + " #T0 #t1"  # repeats count once
        ok = await alice.call("post.create", media=media, caption=tags30)
        assert len(ok["tags"]) == 30
        mentions21 = " ".join(f"@user{i}" for i in range(21))
        await expect(BadRequest, alice, "post.create", media=media, caption=mentions21)
        await expect(BadRequest, alice, "post.create", media=media, caption="x" * 2201)
        await expect(BadRequest, alice, "post.create", media=media, location="x" * 101)
        await expect(BadRequest, alice, "post.create", media=[])
        await expect(BadRequest, alice, "post.create", media=media * 11)
        await expect(BadRequest, alice, "post.create", media=[{"id": up["id"], "filter": "vhs"}])
        await expect(BadRequest, alice, "post.create",
                     media=[{"id": up["id"], "adjust": {"brightness": 3}}])
        await expect(BadRequest, alice, "post.create", media=media, idem="k" * 65)
        await expect(BadRequest, alice, "post.create", media=media, colour="red")
        await expect(Forbidden, bob, "post.create", media=media)  # alice's upload
        await expect(NotFound, alice, "post.create", media=[{"id": 12345}])
        assert await posts_count(node, alice) == 1 and await posts_count(node, bob) == 0


async def test_get_edit_delete_by_author_others_and_invisible(node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, dave):
        post = await quick_post(alice, "first #One")
        pid = post["id"]
        seen = await bob.call("post.get", post=pid)
        assert seen["id"] == pid and seen["tags"] == ["one"]
        await expect(Forbidden, bob, "post.edit", post=pid, caption="mine now")
        await expect(Forbidden, bob, "post.delete", post=pid)
        await expect(NotFound, bob, "post.get", post=pid + 1)

        edited = await alice.call("post.edit", post=pid, caption=f"#Two #three @{uname(carol)}",
                                  alts=["a photo"], comments_off=True)
        assert edited["tags"] == ["three", "two"] and edited["comments_off"] is True
        assert edited["media"][0]["alt"] == "a photo" and edited["edited_at"] is not None
        assert edited["mentions"] == [{"id": uid(carol), "username": uname(carol)}]
        await next_event(carol, "notification", kind="mention", post=pid)
        await expect(BadRequest, alice, "post.edit", post=pid, alts=["a", "b"])
        await expect(BadRequest, alice, "post.edit", post=pid)
        assert (await bob.call("post.get", post=pid))["caption"].startswith("#Two")

        # A private account's posts: only followers see them.
        await make_private(carol)
        secret = await quick_post(carol, "for followers")
        await expect(NotFound, bob, "post.get", post=secret["id"])
        await expect(NotFound, bob, "post.edit", post=secret["id"], caption="x")
        await expect(NotFound, bob, "post.delete", post=secret["id"])
        await expect(Forbidden, bob, "post.list", user=uid(carol))
        await follow(bob, carol)
        assert (await bob.call("post.get", post=secret["id"]))["id"] == secret["id"]
        grid = await bob.call("post.list", username=uname(carol))
        assert [p["id"] for p in grid["posts"]] == [secret["id"]]

        # Blocks hide posts both ways.
        await block(alice, dave)
        await expect(NotFound, dave, "post.get", post=pid)
        await expect(NotFound, dave, "post.list", user=uid(alice))
        await expect(NotFound, alice, "post.list", user=uid(dave))

        # Delete: author only; then gone for everyone.
        assert await posts_count(node, alice) == 1
        assert (await alice.call("post.delete", post=pid))["deleted"] is True
        assert await posts_count(node, alice) == 0
        for c in (alice, bob):
            await expect(NotFound, c, "post.get", post=pid)
        await expect(NotFound, alice, "post.delete", post=pid)
        assert (await bob.call("post.list", user=uid(alice)))["posts"] == []
        assert await posts_count(node, alice) == 0


async def test_profile_grid_pages_newest_first(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        up = await alice.upload(images.jpeg(320, 240))
        ids = [(await alice.call("post.create", media=[up["id"]], caption=f"n{i}"))["id"]
               for i in range(5)]
        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            page = await bob.call("post.list", user=uid(alice), limit=2, cursor=cursor)
            seen += [p["id"] for p in page["posts"]]
            pages += 1
            cursor = page["cursor"]
            if cursor is None:
                break
        assert seen == ids[::-1] and pages == 3
        mine = await alice.call("post.list")
        assert [p["id"] for p in mine["posts"]] == ids[::-1] and mine["cursor"] is None
        await expect(BadRequest, bob, "post.list", user=uid(alice), limit=51)
        await expect(BadRequest, bob, "post.list", user=uid(alice), cursor="nonsense")
        await expect(NotFound, bob, "post.list", username=unique("ghost"))


async def test_save_unsave_and_saved_list(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        p1 = await quick_post(alice, "one")
        p2 = await quick_post(alice, "two")
        p3 = await quick_post(carol, "three")
        for p in (p1, p2, p3, p1):  # saving twice is fine
            assert (await bob.call("post.save", post=p["id"]))["saved"] is True
        assert (await bob.call("post.get", post=p1["id"]))["saved_by_me"] is True
        saved = await bob.call("post.list", saved=True)
        assert [p["id"] for p in saved["posts"]] == [p3["id"], p2["id"], p1["id"]]
        page = await bob.call("post.list", saved=True, limit=2)
        rest = await bob.call("post.list", saved=True, limit=2, cursor=page["cursor"])
        assert [p["id"] for p in page["posts"] + rest["posts"]] == [p3["id"], p2["id"], p1["id"]]
        assert rest["cursor"] is None

        await bob.call("post.unsave", post=p2["id"])
        await bob.call("post.unsave", post=p2["id"])  # idempotent
        # Posts that become invisible drop out of the list.
        await make_private(carol)
        saved = await bob.call("post.list", saved=True)
        assert [p["id"] for p in saved["posts"]] == [p1["id"]]
        await expect(NotFound, bob, "post.save", post=p3["id"])
        await expect(BadRequest, bob, "post.list", saved=True, user=uid(alice))
        # Conflict: an idempotency key of a deleted post is spent.
        kept = await quick_post(alice, "k", idem="spent")
        await alice.call("post.delete", post=kept["id"])
        await expect(Conflict, alice, "post.create", media=[p1["media"][0]["id"]], idem="spent")


async def test_length_refusals_state_the_real_bounds(node: Node) -> None:
    """A too long comment, message or like's `idem` was told "must be 0 to N
    characters" (a comment's minimum is 1; the others have none), and a comment past its
    trimming slack was told the slack's bound (3200)."""
    async with bots(node, 2) as (alice, bob):
        post = await quick_post(alice, "bounds")
        conv = (await alice.call("dm.open", user=uid(bob)))["id"]
        for op, args, message in [
                ("comment.add", {"post": post["id"], "text": "x" * 2201},
                 "`text` must be 1 to 2200 characters"),
                ("comment.add", {"post": post["id"], "text": "x" * 3300},
                 "`text` must be 1 to 2200 characters"),
                ("comment.add", {"post": post["id"], "text": " \n "}, "`text` must not be blank"),
                ("comment.add", {"post": post["id"], "text": "ok", "idem": ""},
                 "`idem` must be 1 to 64 characters"),
                ("dm.send", {"conversation": conv, "text": "x" * 4001},
                 "`text` must be at most 4000 characters"),
                ("post.like", {"post": post["id"], "idem": "x" * 65},
                 "`idem` must be at most 64 characters")]:
            with pytest.raises(BadRequest) as got:
                await alice.call(op, **args)
            assert got.value.message == message, (op, args)


async def test_texts_are_trimmed_before_their_limits(node: Node) -> None:
    """A caption, alt text or comment that fits once trimmed is taken (the newline a
    client adds after a full caption was refused); one that does not fit is not."""
    async with bots(node, 2) as (alice, bob):
        rec = await alice.upload(images.jpeg(320, 240))
        full = "x" * 2200
        post = await alice.call("post.create", media=[{"id": rec["id"], "alt": " a \n"}],
                                caption=full + "\n\n")
        assert post["caption"] == full and post["media"][0]["alt"] == "a"
        await expect(BadRequest, alice, "post.create", media=[rec["id"]], caption=full + "y")
        comment = await bob.call("comment.add", post=post["id"], text=f"  {full}\n")
        assert comment["text"] == full
        await expect(BadRequest, bob, "comment.add", post=post["id"], text=full + "y")
