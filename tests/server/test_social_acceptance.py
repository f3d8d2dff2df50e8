"""Social core acceptance: across two node processes, and every op against junk arguments."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import trio

from protocol.client import connect
from protocol.errors import GlintError
from server.node import Node, open_node
from tests.conftest import PASSWORD, make_settings, unique
from tests.fixtures import images
from tests.nodeproc import node_process
from tests.server.test_posts import next_event, quick_post, uid


async def test_like_and_comment_on_node_1_reach_author_and_watcher_on_node_2(
        services: tuple[str, str], tmp_path: Path) -> None:
    db, redis = services
    env = {"DATABASE_URL": db, "REDIS_URL": redis, "GLINT_NAMESPACE": f"x{uuid.uuid4().hex[:8]}"}
    async with node_process(tmp_path / "one", env=env, name="one") as one, \
            node_process(tmp_path / "two", env=env, name="two") as two, \
            connect(two.ws_url) as author, connect(one.ws_url) as fan, \
            connect(two.ws_url) as watcher:
        for c in (author, fan, watcher):
            name = unique("x")
            await c.signup(name, f"{name}@example.com", PASSWORD)
        assert author.hello_data and author.hello_data["node"] == "two"
        assert fan.hello_data and fan.hello_data["node"] == "one"
        post = await quick_post(author, "hello from node two")
        await watcher.call("post.watch", post=post["id"])

        liked = await fan.call("post.like", post=post["id"])
        assert liked["like_count"] == 1
        note = await next_event(author, "notification", kind="like", post=post["id"])
        assert note["actor"]["id"] == uid(fan)

        comment = await fan.call("comment.add", post=post["id"], text="from node one")
        added = await next_event(watcher, "comment.added", post=post["id"])
        assert added["comment"]["id"] == comment["id"]
        updated = await next_event(watcher, "post.updated", post=post["id"])
        with trio.fail_after(5):
            while updated["comment_count"] != 1 or updated["like_count"] != 1:
                updated = await next_event(watcher, "post.updated", post=post["id"])
        note = await next_event(author, "notification", kind="comment", post=post["id"])
        assert note["actor"]["id"] == uid(fan)


# -- every op, junk arguments: a documented error and no change ------------------------------
SOCIAL_OPS = [
    "user.get", "user.update", "follow.add", "follow.remove", "follow.approve", "follow.deny",
    "follow.requests", "follow.list", "block.add", "block.remove", "mute.add", "mute.remove",
    "post.create", "post.get", "post.edit", "post.delete", "post.list", "post.like",
    "post.unlike", "post.save", "post.unsave", "post.watch", "post.unwatch", "comment.add",
    "comment.delete", "comment.list", "comment.like", "comment.unlike", "notif.list",
    "notif.read",
]
ARG_NAMES = ["user", "username", "post", "comment", "media", "text", "caption", "cursor",
             "limit", "kind", "reply_to", "idem", "ids", "all", "before", "saved", "follower",
             "parent", "comments_off", "alts", "bio", "private", "avatar", "location", "bogus"]
DOCUMENTED = {"bad_request", "not_found", "forbidden", "conflict", "unsupported", "too_large"}
CALLS = 400
SEED = 20261122


def junk(rng: random.Random, real_ids: list[int]) -> Any:
    """One argument value: of every msgpack type, at the edges of ranges, or a real id."""
    pick = rng.randrange(12)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() < 0.5
    if pick == 2:
        return rng.choice([0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64 - 1, -(2**63)])
    if pick == 3:
        return rng.uniform(-1e9, 1e9)
    if pick == 4:
        return "".join(rng.choice("ab#@ .\u00e9\u2603\x00") for _ in range(rng.randrange(40)))
    if pick == 5:
        return "x" * rng.choice([0, 1, 64, 65, 2200, 2201, 5000])
    if pick == 6:
        return rng.randbytes(rng.randrange(16))
    if pick == 7:
        return [rng.choice([*real_ids, -1, "a", None]) for _ in range(rng.randrange(4))]
    if pick == 8:
        return {"id": rng.choice(real_ids), "filter": rng.choice(["moon", "nope", 3])}
    return rng.choice(real_ids)


async def _snapshot(node: Node, users: list[int], post: int) -> Any:
    async def run(conn: Any) -> Any:
        return await conn.fetchrow(
            """SELECT
                 (SELECT row(like_count, comment_count, caption, comments_off,
                             deleted_at IS NULL)::text FROM posts WHERE id = $2) AS post,
                 (SELECT array_agg(row(followers_count, following_count, posts_count, bio,
                                       display_name, is_private, avatar_id)::text ORDER BY id)
                  FROM users WHERE id = ANY($1)) AS users,
                 (SELECT count(*) FROM follows
                  WHERE follower_id = ANY($1) OR followee_id = ANY($1)) AS follows,
                 (SELECT count(*) FROM follow_requests
                  WHERE requester_id = ANY($1) OR target_id = ANY($1)) AS requests,
                 (SELECT count(*) FROM blocks WHERE blocker_id = ANY($1)) AS blocks,
                 (SELECT count(*) FROM mutes WHERE muter_id = ANY($1)) AS mutes,
                 (SELECT count(*) FROM saves WHERE user_id = ANY($1)) AS saves,
                 (SELECT count(*) FROM likes WHERE user_id = ANY($1)) AS likes,
                 (SELECT count(*) FROM comment_likes WHERE user_id = ANY($1)) AS clikes,
                 (SELECT count(*) FROM comments WHERE author_id = ANY($1)
                  AND deleted_at IS NULL) AS comments,
                 (SELECT count(*) FROM posts WHERE author_id = ANY($1)
                  AND deleted_at IS NULL) AS posts,
                 (SELECT count(*) FROM notifications WHERE recipient_id = ANY($1)
                  AND read_at IS NULL) AS unread""", users, post)

    return tuple(await node.storage.tx(run))


async def test_every_social_op_with_junk_arguments_fails_cleanly_and_changes_nothing(
        services: tuple[str, str], tmp_path: Path) -> None:
    settings_ = make_settings(services, tmp_path, ops_per_second=100_000.0, ops_burst=100_000)
    async with open_node(settings_) as node, connect(node.ws_url) as me, \
            connect(node.ws_url) as other:
        for c in (me, other):
            name = unique("j")
            await c.signup(name, f"{name}@example.com", PASSWORD)
        post = await quick_post(other, "a target #tag @nobody")
        comment = await other.call("comment.add", post=post["id"], text="a target comment")
        media = await me.upload(images.jpeg(200, 200))
        real_ids = [uid(me), uid(other), post["id"], comment["id"], media["id"]]
        users = [uid(me), uid(other)]
        rng = random.Random(SEED)
        seen: dict[str, int] = {}
        for _ in range(CALLS):
            op = rng.choice(SOCIAL_OPS)
            args = {rng.choice(ARG_NAMES): junk(rng, real_ids) for _ in range(rng.randrange(4))}
            before = await _snapshot(node, users, post["id"])
            try:
                with trio.fail_after(10):
                    await me.call(op, **args)
            except GlintError as err:
                code = err.code.value
                seen[code] = seen.get(code, 0) + 1
                assert code in DOCUMENTED, (op, args, code, err.message)
                assert await _snapshot(node, users, post["id"]) == before, (op, args, code)
            else:
                seen["ok"] = seen.get("ok", 0) + 1
        assert seen.get("bad_request", 0) > CALLS // 4, seen  # the junk really was junk
        assert seen.get("ok", 0) > 0, seen  # and real ids reached real code paths
        assert "t" in await other.call("ping")  # the node kept serving throughout


async def test_comment_idempotency_key_is_not_reused_across_posts(node: Node) -> None:
    from protocol.errors import Conflict

    async with connect(node.ws_url) as c:
        name = unique("idem")
        await c.signup(name, f"{name}@example.com", PASSWORD)
        first, second = await quick_post(c, "one"), await quick_post(c, "two")
        a = await c.call("comment.add", post=first["id"], text="hi", idem="k-1")
        again = await c.call("comment.add", post=first["id"], text="hi", idem="k-1")
        assert again["id"] == a["id"]
        try:
            await c.call("comment.add", post=second["id"], text="hi", idem="k-1")
        except Conflict:
            pass
        else:
            raise AssertionError("a key reused on another post must be a conflict")
        assert (await c.call("post.get", post=second["id"]))["comment_count"] == 0
