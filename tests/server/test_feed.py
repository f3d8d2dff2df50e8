"""The home feed against real nodes: fan-out into Redis timelines, read-time merge of
celebrities, visibility re-checked at read, both modes and their cursors, live
`feed.post`, cold rebuilds, and a node killed in the middle of a fan-out job."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio

from config import limits, load_settings
from protocol.client import Client, connect
from protocol.errors import BadRequest
from server.node import Node, open_node, open_storage
from server.ops.feed import feed_of
from storage import bus
from storage import posts as posts_db
from storage import timelines as tl
from storage.ids import id_time_ms
from tests.conftest import PASSWORD, make_settings, unique
from tests.nodeproc import node_process
from tests.server.test_posts import (
    block,
    bots,
    expect,
    follow,
    make_private,
    next_event,
    quick_post,
    sql,
    uid,
)

WAIT = 20.0


async def drained(node: Node) -> None:
    with trio.fail_after(WAIT):
        await feed_of(node).drained()


async def home(c: Client, **args: Any) -> dict[str, Any]:
    return await c.call("feed.home", **args)


def ids(page: dict[str, Any]) -> list[int]:
    return [p["id"] for p in page["posts"]]


async def all_pages(c: Client, limit: int, **args: Any) -> list[int]:
    seen: list[int] = []
    cursor = None
    for _ in range(100):
        page = await home(c, limit=limit, cursor=cursor, **args)
        seen += ids(page)
        cursor = page["cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the feed never ended")


async def in_timeline(node: Node, user: int, post: int) -> bool:
    key = tl.timeline_key(node.storage, user)
    return await node.storage.redis_op(lambda r: r.zscore(key, str(post))) is not None


async def test_followed_only_and_visibility_at_read(node: Node) -> None:
    async with bots(node, 8) as (alice, bob, carol, dave, erin, frank, gina, hank):
        await make_private(dave)
        await make_private(erin)
        for other in (bob, dave, frank, gina, hank):
            await follow(alice, other)
        await alice.call("follow.add", user=uid(erin))  # requested, never approved
        posts = {}
        for c in (bob, carol, dave, erin, frank, gina, hank, alice):
            posts[uid(c)] = (await quick_post(c, "hi"))["id"]
        bob2 = (await quick_post(bob, "again"))["id"]
        await drained(node)
        expected = [bob2, posts[uid(alice)], posts[uid(hank)], posts[uid(gina)],
                    posts[uid(frank)], posts[uid(dave)], posts[uid(bob)]]
        page = await home(alice, mode="chronological")
        assert ids(page) == sorted(expected, reverse=True)
        assert page["cursor"] is None and "caught_up_at" not in page
        first = page["posts"][0]
        assert first["author"]["id"] in {uid(bob), uid(alice)} and first["media"][0]["variants"]
        assert {"like_count", "comment_count", "liked_by_me", "saved_by_me"} <= set(first)
        assert await in_timeline(node, uid(alice), posts[uid(frank)])

        # Mute, block, unfollow and delete take effect at once, whatever the cache holds.
        await alice.call("mute.add", user=uid(frank))
        await block(gina, alice)
        await alice.call("follow.remove", user=uid(hank))
        await bob.call("post.delete", post=bob2)
        page = await home(alice, mode="chronological")
        assert ids(page) == sorted([posts[uid(alice)], posts[uid(dave)], posts[uid(bob)]],
                                   reverse=True)
        assert ids(await home(alice)) and set(ids(await home(alice))) == set(ids(page))
        # The deleted post leaves the reader's timeline lazily (and the others' by its job).
        assert not await in_timeline(node, uid(alice), bob2)
        await drained(node)
        assert not await in_timeline(node, uid(bob), bob2)
        # The private account's follower sees its posts; the pending requester does not.
        assert posts[uid(erin)] not in ids(page)
        assert ids(await home(dave, mode="chronological")) == [posts[uid(dave)]]


async def test_a_post_deleted_through_another_node_is_not_shown(node: Node) -> None:
    """This process keeps the heads the feed ranks with for a few seconds
    (timelines.heads_kept); a post deleted elsewhere meanwhile still never shows."""
    async with bots(node, 2) as (alice, bob):
        await follow(alice, bob)
        kept = (await quick_post(bob, "stays"))["id"]
        gone = (await quick_post(bob, "goes"))["id"]
        await drained(node)
        assert set(ids(await home(alice))) == {kept, gone}
        assert gone in tl._heads
        # What post.delete on another node leaves this process: its head still kept.
        await sql(node, "UPDATE posts SET deleted_at = now() WHERE id = $1 RETURNING id", gone)
        assert gone in tl._heads
        for mode in ("ranked", "chronological"):
            assert ids(await home(alice, mode=mode)) == [kept]


async def test_a_kept_head_is_the_head_postgres_gives(node: Node) -> None:
    """heads_kept keeps a head as a plain tuple of ints: read back from the process, it
    equals the one Postgres gives, down to the largest counts the columns hold."""
    async with bots(node, 1) as (bob,):
        small = (await quick_post(bob, "small"))["id"]
        big = (await quick_post(bob, "big"))["id"]
        await sql(node, "UPDATE posts SET like_count = 2147483647, comment_count = 2147483646"
                        " WHERE id = $1 RETURNING id", big)
        want = await node.storage.read(lambda conn: tl.heads(conn, [small, big]))
        tl._heads.clear()
        first = await node.storage.read(lambda conn: tl.heads_kept(conn, [small, big]))
        assert small in tl._heads and big in tl._heads
        again = await node.storage.read(lambda conn: tl.heads_kept(conn, [small, big]))
        assert first == again == want
        assert (want[big].likes, want[big].comments) == (2_147_483_647, 2_147_483_646)
        assert want[small].author_id == want[big].author_id == uid(bob)
        # The session's database is shared: no int4-max post left to outrank later tests.
        await bob.call("post.delete", post=big)


async def test_the_caught_up_line_skips_a_post_deleted_elsewhere(node: Node) -> None:
    """`caught_up_at` counts the posts shown, not the candidates ranked: a post deleted
    through another node while its head is kept here drops out before the line."""
    async with bots(node, 2) as (alice, bob):
        await follow(alice, bob)
        first = (await quick_post(bob, "seen"))["id"]
        await drained(node)
        assert ids(await home(alice)) == [first]  # the seen mark is now at `first`

        async def arrive_and_lose_one() -> tuple[int, int]:
            gone = (await quick_post(bob, "deleted elsewhere"))["id"]
            new = (await quick_post(bob, "new"))["id"]
            await drained(node)
            await node.storage.read(lambda conn: tl.heads_kept(conn, [gone, new]))
            await sql(node, "UPDATE posts SET deleted_at = now() WHERE id = $1 RETURNING id",
                      gone)
            return gone, new

        _, new = await arrive_and_lose_one()
        page = await home(alice, mode="chronological")
        assert ids(page) == [new, first] and page["caught_up_at"] == 1
        _, newer = await arrive_and_lose_one()
        page = await home(alice)  # ranked: the unseen first, then the seen
        assert ids(page)[:1] == [newer] and page["caught_up_at"] == 1


async def test_a_feed_read_racing_a_deletion_does_not_keep_its_head(node: Node) -> None:
    """A read between post.delete's UPDATE and its commit still finds the post live: this
    process must not keep that head (the page would come back short). Review repro."""
    async with bots(node, 2) as (alice, bob):
        await follow(alice, bob)
        kept = (await quick_post(bob, "stays"))["id"]
        gone = (await quick_post(bob, "goes"))["id"]
        await drained(node)
        tl._heads.clear()
        pool = node.storage.pool
        assert pool is not None

        async def delete_with_a_concurrent_read(conn: Any) -> None:
            assert await posts_db.soft_delete(conn, gone) is not None  # not committed yet
            async with pool.acquire() as other:  # another task's feed read, meanwhile
                found = await tl.heads_kept(other, [gone, kept])
            assert set(found) == {gone, kept}  # still live to that read

        await node.storage.tx(delete_with_a_concurrent_read)
        assert gone not in tl._heads and kept in tl._heads
        assert ids(await home(alice, mode="chronological", limit=1)) == [kept]


async def no_feed_post(c: Client, follower: Client, user: int | None = None) -> None:
    """`c` got no feed.post so far: `follower` follows its user (`user`, if `c` is a
    second connection of a bot), and the notification of that, which comes after
    everything published before it, arrives with no feed.post ahead of it."""
    await follower.call("follow.add", user=user if user is not None else uid(c))
    with trio.fail_after(WAIT):
        async for e in c.events():
            assert e.name != "feed.post"
            if e.name == "notification":
                break


async def test_feed_post_arrives_live(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        await follow(alice, bob)
        await follow(carol, bob)
        await carol.call("mute.add", user=uid(bob))
        post = await quick_post(bob, "live")
        ev = await next_event(alice, "feed.post")
        assert ev["post"]["id"] == post["id"] and ev["post"]["author"]["id"] == uid(bob)
        assert ev["post"]["media"] and ev["post"]["liked_by_me"] is False
        await drained(node)
        # Carol muted bob: no feed.post. A later event on her channel proves it.
        await no_feed_post(carol, alice)


async def test_feed_post_reaches_followers_on_every_node(
        node: Node, services: tuple[str, str], tmp_path: Path) -> None:
    """One multicast per batch on the broadcast channel: each node hands it to the
    followers it holds, and only to them."""
    other = make_settings(services, tmp_path / "b", namespace=node.settings.namespace,
                          node_name="node-b")
    async with open_node(other) as node_b, bots(node, 4) as (alice, bob, carol, dave), \
            connect(node_b.ws_url, token=carol.token) as far_carol, \
            connect(node_b.ws_url, token=dave.token) as far_dave:
        for fan in (alice, carol):
            await follow(fan, bob)
        post = await quick_post(bob, "to both nodes")
        for fan in (alice, far_carol):  # node a, node b
            ev = await next_event(fan, "feed.post")
            assert ev["post"]["id"] == post["id"]
        await drained(node)
        # Dave follows no one: nothing for him on node b; a later event proves it.
        await no_feed_post(far_dave, alice, uid(dave))


async def test_a_batch_is_one_multicast_naming_its_followers(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[list[int], dict[str, Any]]] = []
    real = node._multicast

    def recording(item: bus.Message) -> None:
        found = bus.unpack_multicast(item.body)
        assert found is not None
        seen.append((found[0], msgpack.unpackb(found[1], raw=False)))
        real(item)

    monkeypatch.setattr(node, "_multicast", recording)
    async with bots(node, 4) as (alice, bob, carol, dave):
        for fan in (alice, carol):
            await follow(fan, bob)
        post = await quick_post(bob, "one message")
        ev = await next_event(carol, "feed.post")
        assert ev["post"]["id"] == post["id"]
        mine = [(ids, f) for ids, f in seen if f["data"]["post"]["id"] == post["id"]]
        assert [ids for ids, _ in mine] == [sorted([uid(alice), uid(carol)])]
        assert mine[0][1]["ev"] == "feed.post" and uid(dave) not in mine[0][0]


async def test_malformed_multicasts_change_nothing(
        node: Node, caplog: pytest.LogCaptureFixture) -> None:
    """Bad messages on the broadcast channel are logged and dropped; the node goes on
    delivering."""
    async with bots(node, 2) as (alice, bob):
        await follow(alice, bob)
        everyone = bus.broadcast_channel(node.storage)
        await bus.publish(node.storage, [
            (everyone, bus.pack(bus.MULTICAST, b"not msgpack \xc1")),
            (everyone, bus.pack(bus.MULTICAST, msgpack.packb([["x"], b"frame"]))),
            (everyone, bus.pack(bus.MULTICAST, msgpack.packb([[uid(alice)], "not bytes"]))),
        ])
        post = await quick_post(bob, "after the junk")
        ev = await next_event(alice, "feed.post")
        assert ev["post"]["id"] == post["id"]
        assert sum(r.getMessage() == "malformed multicast message"
                   for r in caplog.records) == 3


async def test_chronological_pages_without_duplicates_while_posting(node: Node) -> None:
    async with bots(node, 2) as (alice, bob):
        await follow(alice, bob)
        old = [(await quick_post(bob, f"p{i}"))["id"] for i in range(7)]
        await drained(node)
        seen: list[int] = []
        page = await home(alice, mode="chronological", limit=3)
        assert "caught_up_at" not in page  # nothing was seen before
        seen += ids(page)
        new = []
        while page["cursor"] is not None:
            new.append((await quick_post(bob, "meanwhile"))["id"])
            await drained(node)
            page = await home(alice, mode="chronological", limit=3, cursor=page["cursor"])
            seen += ids(page)
        assert seen == old[::-1]
        # Reloading: the new posts first, then "you're all caught up" before the old ones.
        page = await home(alice, mode="chronological", limit=50)
        assert ids(page) == new[::-1] + old[::-1]
        assert page["caught_up_at"] == len(new)
        again = await home(alice, mode="chronological", limit=50)
        assert again["caught_up_at"] == 0
        await expect(BadRequest, alice, "feed.home", limit=51)
        await expect(BadRequest, alice, "feed.home", mode="best")
        await expect(BadRequest, alice, "feed.home", mode="")  # not taken as the default
        await expect(BadRequest, alice, "feed.home", cursor="x.1.2")


async def test_ranked_scores_and_pages_once(node: Node) -> None:
    async with bots(node, 4) as (alice, bob, carol, dan):
        await follow(alice, bob)
        await follow(alice, carol)
        carols = [(await quick_post(carol, f"c{i}"))["id"] for i in range(3)]
        bobs = [(await quick_post(bob, f"b{i}"))["id"] for i in range(3)]
        carol_hot = (await quick_post(carol, "hot"))["id"]
        for c in (bob, dan):
            await c.call("post.like", post=carols[0])
        await dan.call("comment.add", post=carols[0], text="nice")
        # Affinity: alice talks to carol; engagement: carols[0] has 3 interactions.
        await alice.call("post.like", post=carols[1])
        await alice.call("comment.add", post=carols[1], text="love it")
        await drained(node)
        everything = set(carols + bobs + [carol_hot])
        ranked = await all_pages(alice, 2)
        assert len(ranked) == len(everything) and set(ranked) == everything
        # Seconds apart, recency barely differs: affinity puts carol first, then engagement
        # (3 interactions before 2, before none) and recency order her posts.
        assert ranked[:4] == [carols[0], carols[1], carol_hot, carols[2]]
        assert ranked[4:] == sorted(bobs, reverse=True)
        # The first load marked everything seen: a new post ranks first, then caught up.
        fresh = (await quick_post(bob, "new"))["id"]
        await drained(node)
        page = await home(alice, limit=3)
        assert ids(page)[0] == fresh and page["caught_up_at"] == 1
        # Pages of a ranked snapshot drop what became invisible meanwhile.
        page = await home(alice, limit=2)
        assert page["caught_up_at"] == 0
        await alice.call("follow.remove", user=uid(bob))
        rest = []
        cursor = page["cursor"]
        while cursor is not None:
            nxt = await home(alice, limit=2, cursor=cursor)
            rest += ids(nxt)
            cursor = nxt["cursor"]
        assert set(rest) == {*carols, carol_hot} - set(ids(page))


async def test_celebrity_posts_are_merged_at_read(services: tuple[str, str],
                                                  tmp_path: Path) -> None:
    settings = make_settings(services, tmp_path, feed_celebrity_threshold=2)
    async with open_node(settings) as node, bots(node, 5) as (alice, star, x, y, plain):
        for fan in (alice, x, y):
            await follow(fan, star)
        await follow(alice, plain)
        older = (await quick_post(plain, "before"))["id"]
        post = (await quick_post(star, "to the many"))["id"]
        newer = (await quick_post(plain, "after"))["id"]
        ev = await next_event(alice, "feed.post")
        while ev["post"]["id"] != post:  # online followers hear it even from a celebrity
            ev = await next_event(alice, "feed.post")
        await drained(node)
        assert not await in_timeline(node, uid(alice), post)  # not fanned out...
        assert await in_timeline(node, uid(star), post)  # (the author's own timeline is)
        assert await all_pages(alice, 1, mode="chronological") == [newer, post, older]
        assert set(await all_pages(alice, 2)) == {newer, post, older}
        await alice.call("mute.add", user=uid(star))
        assert ids(await home(alice, mode="chronological")) == [newer, older]


async def test_cold_timeline_is_rebuilt_from_postgres(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        await follow(alice, bob)
        mine = (await quick_post(alice, "me"))["id"]
        theirs = [(await quick_post(bob, f"b{i}"))["id"] for i in range(3)]
        await quick_post(carol, "stranger")
        await drained(node)
        key = tl.timeline_key(node.storage, uid(alice))
        await node.storage.redis_op(lambda r: r.delete(key))
        page = await home(alice, mode="chronological")
        assert ids(page) == sorted([mine, *theirs], reverse=True)
        assert await node.storage.redis_op(lambda r: r.zscore(key, tl.SENTINEL)) == 0
        assert await node.storage.redis_op(lambda r: r.zcard(key)) == 5  # 4 posts + sentinel
        # A fan-out into an evicted timeline creates it unbuilt: the next read merges.
        await node.storage.redis_op(lambda r: r.delete(key))
        last = (await quick_post(bob, "into the cold"))["id"]
        await drained(node)
        assert await node.storage.redis_op(lambda r: r.zscore(key, tl.SENTINEL)) is None
        assert ids(await home(alice, mode="chronological")) == \
            sorted([mine, *theirs, last], reverse=True)


async def _bulk_followers(st: Any, author: int, n: int) -> list[int]:
    tag = uuid.uuid4().hex[:8]

    async def run(conn: Any) -> list[int]:
        rows = await conn.fetch(
            """INSERT INTO users (username, email, password_hash)
               SELECT 'bulk' || $1 || '_' || g, 'bulk' || $1 || '_' || g || '@example.com', 'x'
               FROM generate_series(1, $2) AS g RETURNING id""", tag, n)
        users = [r["id"] for r in rows]
        await conn.execute(
            """INSERT INTO follows (follower_id, followee_id)
               SELECT u, $1 FROM unnest($2::bigint[]) AS u""", author, users)
        await conn.execute(
            "UPDATE users SET followers_count = followers_count + $2 WHERE id = $1", author, n)
        return users

    return await st.tx(run)


async def test_a_node_killed_mid_fanout_leaves_the_job_to_another(
        services: tuple[str, str], tmp_path: Path) -> None:
    db, redis = services
    ns = f"fk{uuid.uuid4().hex[:8]}"
    env = {"DATABASE_URL": db, "REDIS_URL": redis, "GLINT_NAMESPACE": ns,
           "GLINT_FEED_FANOUT_BATCH": "20", "GLINT_FEED_FANOUT_PAUSE": "0.01"}
    base = load_settings(env={}, database_url=db, redis_url=redis, namespace=ns,
                         data_dir=tmp_path / "tools")
    async with node_process(tmp_path / "victim", env=env, name="victim") as victim, \
            connect(victim.ws_url) as author, connect(victim.ws_url) as fan, \
            open_storage(base) as st:
        for c in (author, fan):
            name = unique("k")
            await c.signup(name, f"{name}@example.com", PASSWORD)
        await follow(fan, author)  # the earliest follower: in the first batch
        bulk = await _bulk_followers(st, uid(author), 3000)
        post = (await quick_post(author, "to everyone"))["id"]
        with trio.fail_after(WAIT):
            ev = await fan.next_event("feed.post")
        victim.process.send_signal(signal.SIGKILL)
        await victim.process.wait()
        assert ev.data["post"]["id"] == post

        async def pending(r: Any) -> int:
            return int((await r.xpending(tl.stream_key(st), tl.GROUP))["pending"])

        assert await st.redis_op(pending) == 1  # killed mid-job: still pending
    settings = make_settings(services, tmp_path, namespace=ns, feed_claim_idle_seconds=0.2,
                             feed_fanout_batch=500)
    async with open_node(settings) as node:
        await drained(node)
        everyone = [uid(fan), *bulk, uid(author)]

        async def scores(r: Any) -> list[Any]:
            async with r.pipeline(transaction=False) as pipe:
                for u in everyone:
                    pipe.zscore(tl.timeline_key(node.storage, u), str(post))
                return await pipe.execute()

        found = await node.storage.redis_op(scores)
        assert found == [id_time_ms(post)] * len(everyone)
        assert await node.storage.redis_op(lambda r: r.xlen(tl.stream_key(node.storage))) == 0
        async with connect(node.ws_url, token=fan.token) as again:
            assert ids(await home(again, mode="chronological")) == [post]


async def test_a_new_follow_brings_the_followees_posts_at_once(node: Node) -> None:
    async with bots(node, 3) as (alice, bob, carol):
        await make_private(carol)
        assert ids(await home(alice, mode="chronological")) == []  # built, and empty
        older = [(await quick_post(bob, f"before {i}"))["id"] for i in range(3)]
        hidden = (await quick_post(carol, "private"))["id"]
        await drained(node)
        key = tl.timeline_key(node.storage, uid(alice))
        assert await node.storage.redis_op(lambda r: r.zscore(key, tl.SENTINEL)) is not None

        await follow(alice, bob)
        assert ids(await home(alice, mode="chronological")) == sorted(older, reverse=True)
        assert all([await in_timeline(node, uid(alice), p) for p in older])

        # A private account's posts come when the request is approved, not before.
        assert (await alice.call("follow.add", user=uid(carol)))["state"] == "requested"
        assert not await in_timeline(node, uid(alice), hidden)
        await carol.call("follow.approve", user=uid(alice))
        assert await in_timeline(node, uid(alice), hidden)
        assert ids(await home(alice, mode="chronological")) == sorted([*older, hidden],
                                                                      reverse=True)
        # Following again changes nothing; the feed has each post once.
        await follow(alice, bob)
        assert ids(await home(alice, mode="chronological")) == sorted([*older, hidden],
                                                                      reverse=True)


async def test_ranked_snapshots_per_viewer_are_bounded(node: Node) -> None:
    """Each ranked first page longer than a page stores its order for paging: one
    viewer's first pages at the op rate left a key each (~4 KB for 30 min). Now at most
    FEED_SNAPSHOT_SLOTS per viewer; the newest page's cursor still pages on."""
    async with bots(node, 2) as (author, reader):
        await follow(reader, author)
        for i in range(3):
            await quick_post(author, f"post {i}")
        await drained(node)
        for _ in range(3 * limits.FEED_SNAPSHOT_SLOTS):
            first = await home(reader, limit=1)
        assert first["cursor"].startswith("r.")
        second = await home(reader, limit=1, cursor=first["cursor"])
        assert ids(second) and ids(second) != ids(first)
        pattern = node.storage.key("feed", "rk*", uid(reader), "*")
        keys = await node.storage.redis_op(lambda r: r.keys(pattern))
        assert 0 < len(keys) <= limits.FEED_SNAPSHOT_SLOTS
        await expect(BadRequest, reader, "feed.home", cursor="r.zzzzzzzzzzzz.1")


@pytest.mark.parametrize("mode", ["chronological", "ranked"])
async def test_a_peek_leaves_the_seen_mark_where_it_was(node: Node, mode: str) -> None:
    """The web's look for posts missed while offline marked them seen: a first page
    moves the mark. `peek` shows the same page and leaves it."""
    async with bots(node, 2) as (author, reader):
        await follow(reader, author)
        old = await quick_post(author, "seen")
        await drained(node)
        await home(reader, mode=mode)  # marks `old` seen
        new = await quick_post(author, "not yet seen")
        await drained(node)
        peeked = await home(reader, mode=mode, peek=True)
        assert ids(peeked)[:2] == [new["id"], old["id"]] and peeked["caught_up_at"] == 1
        again = await home(reader, mode=mode)  # the real load: `new` is still new
        assert ids(again)[:2] == [new["id"], old["id"]] and again["caught_up_at"] == 1
        after = await home(reader, mode=mode)  # and now it has been seen
        assert after.get("caught_up_at") == 0
        await expect(BadRequest, reader, "feed.home", peek="yes")
