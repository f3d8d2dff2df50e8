"""What explore's first page keeps between calls (storage/search.py): the trending sum
is rebuilt at most once per TRENDING_CACHE_SECONDS even when no tag was used (it
was rebuilt on every page), and the trending tags' post counts and public authors are
kept per process for as long (the authors' relations to each viewer are read live)."""

from __future__ import annotations

import uuid
from typing import Any

from config import limits as L
from server.node import Node
from storage import search
from tests.server.test_posts import block, bots, follow, make_private, quick_post, sql, uid


async def _trending(node: Node) -> list[tuple[str, float]]:
    return await node.storage.redis_op(
        lambda r: search.trending(node.storage, r, L.TRENDING_TAGS))


async def test_an_empty_trending_sum_is_not_rebuilt_on_every_call(node: Node) -> None:
    """Seen through this test's own namespace only (a server-wide command count also
    counted other runs' rebuilds): a tag counted after an empty sum was built shows
    only once that sum's marker is gone, and only an empty sum is marked."""
    st = node.storage
    empty = st.key("trend", "empty")
    assert await _trending(node) == []  # a fresh namespace: no tag used yet
    ttl = await st.redis_op(lambda r: r.ttl(empty))
    assert 0 < ttl <= L.TRENDING_CACHE_SECONDS  # marked fresh, for as long as a sum
    tag = f"late{uuid.uuid4().hex[:8]}"
    await search.count_tags(st, [tag])  # as a post would
    for _ in range(3):
        assert await _trending(node) == []  # kept, though Redis holds no empty sum
    await st.redis_op(lambda r: r.delete(empty))  # as its TTL running out would
    assert tag in dict(await _trending(node))  # rebuilt
    assert not await st.redis_op(lambda r: r.exists(empty))  # not empty: no marker
    await st.redis_op(lambda r: r.delete(st.key("trend", "sum")))  # evicted early
    assert tag in dict(await _trending(node))  # so rebuilt at once, not shown empty


async def test_trending_counts_are_kept_per_process(node: Node) -> None:
    tag, unknown = f"kept{uuid.uuid4().hex[:8]}", f"none{uuid.uuid4().hex[:8]}"
    async with bots(node, 1) as (author,):
        await quick_post(author, f"#{tag}")

    async def counts(conn: Any) -> dict[str, int]:
        return await search.tag_counts_kept(conn, [tag, unknown])

    search._tag_counts.clear()
    assert await node.storage.read(counts) == {tag: 1}
    await sql(node, "UPDATE hashtags SET post_count = 7 WHERE tag = $1", tag)
    assert await node.storage.read(counts) == {tag: 1}  # kept: no statement
    assert search._tag_counts[unknown][1] is None  # an unknown tag is kept as such
    search._tag_counts.clear()  # as TRENDING_CACHE_SECONDS passing would
    assert await node.storage.read(counts) == {tag: 7}


async def test_a_trending_sum_gone_early_is_rebuilt_at_once(node: Node) -> None:
    """Only an empty sum is marked fresh: a sum with tags that Redis evicted (or someone
    deleted) before its 30 s is rebuilt on the next page, not shown empty meanwhile."""
    tag = f"gone{uuid.uuid4().hex[:8]}"
    async with bots(node, 1) as (author,):
        await quick_post(author, f"#{tag}")  # counted in this hour's bucket
    await node.storage.redis_op(lambda r: r.delete(node.storage.key("trend", "sum")))
    assert tag in dict(await _trending(node))  # rebuilt: the new tag is in it
    await node.storage.redis_op(lambda r: r.delete(node.storage.key("trend", "sum")))
    assert tag in dict(await _trending(node))  # and again, at once


async def test_a_deleted_post_drops_its_tag_from_the_kept_counts(node: Node) -> None:
    """The kept counts are forgotten as a post is deleted through this process: a tag
    whose only post it was shows no count at once (explore drops such tags)."""
    tag = f"last{uuid.uuid4().hex[:8]}"
    async with bots(node, 1) as (author,):
        pid = (await quick_post(author, f"#{tag}"))["id"]

        async def counts(conn: Any) -> dict[str, int]:
            return await search.tag_counts_kept(conn, [tag])

        assert await node.storage.read(counts) == {tag: 1}
        await author.call("post.delete", post=pid)
        assert await node.storage.read(counts) == {tag: 0}


async def test_kept_tag_authors_still_answer_to_each_viewers_live_relations(
        node: Node) -> None:
    """A trending tag is shown through its kept public authors only while one of them
    passes the viewer's live relations: a block, a turn to private or a suspension
    since the authors were kept hides it at once (then Postgres decides, as before)."""
    k = f"kept{uuid.uuid4().hex[:8]}"
    async with bots(node, 5) as (pub, other, fan, viewer, solo):
        await follow(fan, pub)
        await quick_post(pub, f"#{k}a")
        await quick_post(solo, f"#{k}b")

        async def trending(c: Any) -> list[str]:
            return sorted(t["tag"] for t in (await c.call("feed.explore"))["tags"]
                          if t["tag"].startswith(k))

        assert await trending(viewer) == [f"{k}a", f"{k}b"]
        assert search._tag_authors[f"{k}a"][1] == (uid(pub),)  # kept
        await block(pub, viewer)
        assert await trending(viewer) == [f"{k}b"]  # the block counts at once
        assert await trending(other) == [f"{k}a", f"{k}b"]
        await make_private(pub)
        assert await trending(other) == [f"{k}b"]  # private now: strangers lose it
        assert await trending(fan) == [f"{k}a", f"{k}b"]  # a follower keeps it
        await sql(node, "UPDATE users SET suspended_at = now() WHERE id = $1 RETURNING id",
                  uid(solo))
        assert await trending(other) == []
        assert await trending(fan) == [f"{k}a"]


async def test_an_edit_taking_a_tag_off_forgets_its_kept_author(node: Node) -> None:
    """Public P and private Q both use #k; P's caption edit takes it off. The kept author
    (P) no longer vouches for the tag: strangers stop seeing it at once (else Q's
    private caption word showed in their trending for up to 30 s)."""
    k = f"edit{uuid.uuid4().hex[:8]}"
    async with bots(node, 3) as (pub, priv, stranger):
        await make_private(priv)
        await quick_post(priv, f"#{k} private words")
        post = await quick_post(pub, f"#{k}")

        async def trending(c: Any) -> list[str]:
            return [t["tag"] for t in (await c.call("feed.explore"))["tags"]
                    if t["tag"].startswith(k)]

        assert await trending(stranger) == [k]
        assert search._tag_authors[k][1] == (uid(pub),)
        await pub.call("post.edit", post=post["id"], caption="no tag now")
        assert await trending(stranger) == []
        await follow(stranger, priv)
        assert await trending(stranger) == [k]  # Q's post, now seen: the tag is back
