"""Discovery fixes found by a review, end to end against a real node: hashtags with a
Turkish dotted İ (and migration 0015 re-keying the old ones), caption search that keeps
its newest matches when the index fallback runs, people and tag candidates cut by
followers and post counts, tags that only hidden posts use, and empty `mode`/`kind`."""

from __future__ import annotations

import time
from typing import Any

import pytest

from config import limits as L
from protocol.client import Client
from protocol.errors import BadRequest
from server.node import Node
from storage import migrations
from storage import search as db
from tests.server.test_discover import code, ids
from tests.server.test_posts import (
    block,
    bots,
    expect,
    follow,
    make_private,
    quick_post,
    sql,
    uid,
)


async def tags_of(c: Client, q: str, **args: Any) -> list[dict[str, Any]]:
    return list((await c.call("search", q=q, **args))["tags"])


# -- hashtags with a dotted capital I ---------------------------------------------------------
async def test_dotted_capital_i_tags_can_be_opened_and_found(node: Node) -> None:
    """Python lower-cases 'İ' to 'i' + U+0307 (a combining dot, not a word character):
    the tag was stored with the dot, and neither tag.get, tag.posts nor search reached it."""
    async with bots(node, 2) as (me, author):
        k = code()
        post = await quick_post(author, f"#İstanbul{k} #İZMİR{k} #I\u0307zmit{k} #Ispir{k}")
        assert sorted(post["tags"]) == [f"ispir{k}", f"istanbul{k}", f"izmir{k}", f"izmit{k}"]
        for raw in (f"İstanbul{k}", f"#ISTANBUL{k}", f"i\u0307stanbul{k}", f"I\u0307stanbul{k}"):
            assert await me.call("tag.get", tag=raw) == {
                "tag": f"istanbul{k}", "posts": 1, "following": False}, raw
        for mode in ("recent", "top"):
            page = await me.call("tag.posts", tag=f"#İSTANBUL{k}", mode=mode)
            assert ids(page["posts"]) == [post["id"]] and page["tag"] == f"istanbul{k}"
        want = [{"tag": f"istanbul{k}", "posts": 1}]
        assert await tags_of(me, f"#İstanbul{k}") == want
        assert await tags_of(me, f"#istanbul{k}") == want
        assert await tags_of(me, f"istanbul{k}", kind="tags") == want


async def test_tags_with_combining_marks_are_whole(node: Node) -> None:
    """A combining mark ended a tag: Devanagari writes vowels as marks, so '#हिन्दी' was
    stored as 'ह', and an accent typed decomposed ('e' + U+0301) cut '#café' to 'caf'.
    Marks now belong to the tag, and a decomposed accent is composed (NFC) first."""
    async with bots(node, 2) as (me, author):
        k = code()
        hindi, cafe = f"हिन्दी{k}", f"café{k}"
        post = await quick_post(author, f"नमस्ते #{hindi} #cafe\u0301{k} #{k}x\u0301 a#{k}no")
        assert sorted(post["tags"]) == sorted([hindi, cafe, f"{k}x\u0301"])
        for raw, tag in ((hindi, hindi), (f"#{hindi}", hindi), (f"cafe\u0301{k}", cafe),
                         (cafe.upper(), cafe)):
            assert await me.call("tag.get", tag=raw) == {
                "tag": tag, "posts": 1, "following": False}, raw
        page = await me.call("tag.posts", tag=hindi, mode="recent")
        assert ids(page["posts"]) == [post["id"]]
        assert await tags_of(me, f"#हिन्दी{k}") == [{"tag": hindi, "posts": 1}]
        assert await tags_of(me, f"#caf\u00e9{k}"[:-2]) == [{"tag": cafe, "posts": 1}]
        # lower-casing can leave a letter and a mark that compose: stored composed
        odd = await quick_post(author, f"#T\u0308{k} #J\u030c{k}")
        assert sorted(odd["tags"]) == sorted([f"\u1e97{k}", f"\u01f0{k}"])
        for raw in (f"T\u0308{k}", f"\u1e97{k}", f"J\u030c{k}"):
            assert (await me.call("tag.get", tag=raw))["posts"] == 1, raw
        # a tag argument written decomposed may be longer than the tag it names
        long_tag = "e\u0301" * 100
        stored = await quick_post(author, f"#{long_tag}")
        assert stored["tags"] == ["\u00e9" * 100]
        assert (await me.call("tag.get", tag=long_tag))["tag"] == "\u00e9" * 100
        # a tag starts with a letter, digit or _: a lone mark is no tag
        with pytest.raises(BadRequest):
            await me.call("tag.get", tag="\u093fx")
        assert (await me.call("post.get", post=post["id"]))["tags"] == post["tags"]


async def _tags_of_post(node: Node, post_id: int) -> list[str]:
    return list(await sql(node, "SELECT array_agg(tag ORDER BY tag) FROM post_tags"
                                " WHERE post_id = $1", post_id) or [])


async def test_migration_0015_rekeys_dotted_tags_and_merges_counts(node: Node) -> None:
    """Rows as the old extraction stored them ('i' + U+0307): re-keyed to the plain 'i',
    merged with the fixed key where a post (or another post) already has it, counts
    recomputed by the triggers, the old hashtags rows gone."""
    mig = next((m for m in migrations.available() if m.version == 15), None)
    assert mig is not None and mig.name == "hashtag_fold"
    async with bots(node, 2) as (me, author):
        k = code()
        old, new = f"i\u0307stanbul{k}", f"istanbul{k}"
        old_gone, new_gone = f"i\u0307zmi\u0307r{k}", f"izmir{k}"
        p1, p2, p3, p4 = [await quick_post(author, f"post {i}") for i in range(4)]
        await sql(node, "INSERT INTO post_tags (tag, post_id) VALUES ($1, $2), ($1, $3),"
                        " ($4, $3), ($4, $5), ($6, $7) RETURNING 1",
                  old, p1["id"], p2["id"], new, p3["id"], old_gone, p4["id"])
        await author.call("post.delete", post=p4["id"])
        before = await sql(node, "SELECT post_count FROM hashtags WHERE tag = $1", old)
        assert before == 2  # as stored by the old code: a tag of its own

        async def run(conn: Any) -> None:
            await conn.execute(mig.sql)

        await node.storage.tx(run)
        assert await _tags_of_post(node, p1["id"]) == [new]
        assert await _tags_of_post(node, p2["id"]) == [new]  # both keys: one row left
        assert await _tags_of_post(node, p3["id"]) == [new]
        assert await _tags_of_post(node, p4["id"]) == []  # deleted: its rows went with it
        assert await sql(node, "SELECT count(*) FROM hashtags WHERE tag = ANY($1::text[])",
                         [old, old_gone]) == 0
        assert await sql(node, "SELECT post_count || ' ' || folded FROM hashtags"
                               " WHERE tag = $1", new) == f"3 {new}"
        assert await me.call("tag.get", tag=f"İstanbul{k}") == {
            "tag": new, "posts": 3, "following": False}
        assert (await me.call("tag.get", tag=new_gone))["posts"] == 0
        page = await me.call("tag.posts", tag=new, mode="recent")
        assert ids(page["posts"]) == [p3["id"], p2["id"], p1["id"]]
        assert await tags_of(me, f"#{new}") == [{"tag": new, "posts": 3}]


# -- caption search: the index fallback keeps the newest matches ------------------------------
@pytest.mark.alone  # its first pass reads the newest posts site-wide
async def test_caption_fallback_keeps_the_newest_matches(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first pass (newest posts site-wide) finds too few; the GIN read is cut short
    (more matches than it reads, heap order: the oldest). The reply is still the newest
    matches, newest first, with the first pass's matches in it."""
    async with bots(node, 1) as (me,):
        k = code()
        posts = [int((await quick_post(me, f"{k} number {i}"))["id"]) for i in range(4)]
        newest = posts[::-1]
        monkeypatch.setattr(L, "SEARCH_RECENT_SCAN", 2)  # the newest two posts site-wide
        monkeypatch.setattr(L, "SEARCH_POST_SCAN", 2)  # fewer than the four matches
        monkeypatch.setattr(db, "SEARCH_DEEP_SCAN", 3, raising=False)
        got = ids((await me.call("search", q=k, kind="posts", limit=3))["posts"])
        assert got == newest[:3]  # was [#1, #0]: #3, the newest post, was dropped
        got = ids((await me.call("search", q=k, kind="posts", limit=4))["posts"])
        assert got[:3] == newest[:3] and got == sorted(got, reverse=True)
        monkeypatch.setattr(L, "SEARCH_POST_SCAN", 10)  # the index read has them all: exact
        got = ids((await me.call("search", q=k, kind="posts", limit=3))["posts"])
        assert got == newest[:3]


async def test_caption_fallback_skips_hidden_posts(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    async with bots(node, 2) as (me, priv):
        k = code()
        await make_private(priv)
        mine = [int((await quick_post(me, f"{k} mine {i}"))["id"]) for i in range(2)]
        await quick_post(priv, f"{k} hidden")
        last = int((await quick_post(me, f"{k} mine last"))["id"])
        monkeypatch.setattr(L, "SEARCH_RECENT_SCAN", 1)
        monkeypatch.setattr(L, "SEARCH_POST_SCAN", 2)
        monkeypatch.setattr(db, "SEARCH_DEEP_SCAN", 2, raising=False)
        got = ids((await me.call("search", q=k, kind="posts", limit=3))["posts"])
        assert got[0] == last and got == sorted(got, reverse=True)
        assert set(got) <= {last, *mine}


# -- people and tag candidates: by followers and by post counts ------------------------------
async def test_people_candidates_are_the_most_followed(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    async with bots(node, 7) as (me, u1, u2, star, fan, f1, f2):
        k = code()
        for u in (u1, u2, fan, star):  # the star last: last in heap order too
            await u.call("user.update", display_name=f"{k} person")
        await follow(f1, star)
        await follow(f2, star)
        await follow(f1, u2)
        await follow(fan, me)
        monkeypatch.setattr(L, "SEARCH_CANDIDATES", 1)
        got = (await me.call("search", q=k, kind="users", limit=1))["users"]
        assert ids(got) == [uid(fan)]  # someone who follows me comes first
        got = (await me.call("search", q=k, kind="users", limit=2))["users"]
        assert ids(got) == [uid(fan), uid(star)]  # then the most followed
        assert got[0]["follows_me"] is True and got[1]["followers_count"] == 2
        # More matches than are read: the site's most followed are looked at too.
        monkeypatch.setattr(db, "SEARCH_MATCH_SCAN", 1, raising=False)
        monkeypatch.setattr(db, "SEARCH_POPULAR_SCAN", 1_000_000, raising=False)
        got = (await me.call("search", q=k, kind="users", limit=2))["users"]
        assert ids(got) == [uid(fan), uid(star)]
        await follow(me, u1)  # whom I follow comes before all
        got = (await me.call("search", q=k, kind="users", limit=3))["users"]
        assert ids(got) == [uid(u1), uid(fan), uid(star)]


async def test_tag_candidates_are_the_most_used(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    async with bots(node, 1) as (me,):
        k = code()
        for caption in (f"#{k}a #{k}b #{k}bb", f"#{k}bb", f"#{k}bb #{k}bc", f"#{k}bc"):
            await quick_post(me, caption)
        a, b, bb, bc = ({"tag": f"{k}{x}", "posts": n}
                        for x, n in (("a", 1), ("b", 1), ("bb", 3), ("bc", 2)))
        assert await tags_of(me, f"#{k}b") == [b, bb, bc]  # the exact tag first
        monkeypatch.setattr(L, "SEARCH_CANDIDATES", 1)  # candidates: the most used, not
        assert await tags_of(me, f"#{k}", limit=1) == [bb]  # the first in name order
        assert await tags_of(me, f"#{k}b") == [b, bb]  # and the exact tag
        assert a not in await tags_of(me, f"#{k}")


# -- tags of posts the viewer may not see ----------------------------------------------------
async def test_tags_only_hidden_posts_use_are_not_shown(node: Node) -> None:
    async with bots(node, 8) as (me, other, priv, friend, blocker, blocked, susp, pub):
        k = code()
        await make_private(priv)
        await make_private(friend)
        await follow(me, friend)
        await quick_post(priv, f"#{k}priv #{k}mixed")
        await quick_post(pub, f"#{k}mixed")
        await quick_post(friend, f"#{k}friend")
        await quick_post(blocker, f"#{k}blocker")
        await quick_post(blocked, f"#{k}blocked")
        await quick_post(susp, f"#{k}susp")
        await block(blocker, me)
        await block(me, blocked)
        await sql(node, "UPDATE users SET suspended_at = now() WHERE id = $1 RETURNING id",
                  uid(susp))
        # search: only tags with a post I may see (as tag.posts shows); `posts` counts
        # every live post with the tag, as tag.get does
        assert await tags_of(me, f"#{k}") == [{"tag": f"{k}mixed", "posts": 2},
                                              {"tag": f"{k}friend", "posts": 1}]
        assert await tags_of(other, f"#{k}") == [
            {"tag": f"{k}mixed", "posts": 2}, {"tag": f"{k}blocked", "posts": 1},
            {"tag": f"{k}blocker", "posts": 1}]
        assert await tags_of(me, f"{k}priv", kind="tags") == []
        # trending: a private author's post is not counted at all...
        bucket = node.storage.key("trend", db.trend_hour(time.time()))
        score = await node.storage.redis_op(lambda r: r.zscore(bucket, f"{k}priv"))
        assert score is None
        assert await node.storage.redis_op(lambda r: r.zscore(bucket, f"{k}mixed")) == 1

        # ...and a tag counted before is shown only to whom one of its posts is visible
        async def trending(c: Client) -> list[str]:
            return [t["tag"] for t in (await c.call("feed.explore"))["tags"]
                    if t["tag"].startswith(k)]

        assert await trending(me) == [f"{k}mixed"]
        assert sorted(await trending(other)) == sorted(
            [f"{k}mixed", f"{k}blocker", f"{k}blocked"])


# -- empty strings ----------------------------------------------------------------------------
async def test_empty_mode_and_kind_are_bad_requests_an_empty_cursor_is_the_first_page(
        node: Node) -> None:
    async with bots(node, 1) as (me,):
        k = code()
        post = await quick_post(me, f"#{k}")
        await expect(BadRequest, me, "tag.posts", tag=k, mode="")
        await expect(BadRequest, me, "search", q=k, kind="")
        for mode in ("top", "recent"):
            page = await me.call("tag.posts", tag=k, mode=mode, cursor="")
            assert ids(page["posts"]) == [post["id"]]
        assert (await me.call("feed.explore", cursor=""))["cursor"] == (
            await me.call("feed.explore"))["cursor"]
