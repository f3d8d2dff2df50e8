"""`glint seed`: a small data set is exact (counts, counters), skewed, and usable."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from media.store import LocalStore
from protocol.client import connect
from server.node import Node
from server.seed import seed_storage
from storage.ids import id_time_ms
from storage.seed import REFUSE_AT, SeedOptions, SeedRefused, _Generator, allocate_ids, fold

PASSWORD = "seeded pass 123"
USERS, POSTS = 200, 2_000


def test_allocated_ids_are_unique_and_in_time_order() -> None:
    times = sorted([1_800_000_000_000] * 2_500 + [1_800_000_000_001] * 3 + [1_800_000_000_500])
    ids, at = allocate_ids(times, shard=7)
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    assert [id_time_ms(i) for i in ids] == at and at == sorted(at)


def test_usernames_fold_accents() -> None:
    assert fold("José Dvořák") == "jose dvorak"
    assert fold("Søren Weiß") == "soren weiss"


def test_same_seed_same_data_set() -> None:
    def plan(seed: int) -> list[Any]:
        gen = _Generator(SeedOptions(users=50, posts=300, seed=seed), 1, "h", [_spec()], [],
                         set(), 1_800_000_000_000)
        return [(t, rows) for t, _, rows in gen.batches() if t != "media"]

    assert plan(3) == plan(3)
    assert plan(3) != plan(4)


def _spec() -> Any:
    from storage.seed import MediaSpec

    key = "0" * 64 + ".jpg"
    return MediaSpec("photo", 1080, 1080, "L", "#000000", "normal", key,
                     {"feed": {"width": 1080, "height": 1080, "jpeg": key}}, (key,))


async def test_seed_is_exact_skewed_and_usable(node: Node) -> None:
    st = node.storage
    report = await seed_storage(st, node.settings, SeedOptions(users=USERS, posts=POSTS,
                                                               seed=11, force=True),
                                password=PASSWORD, photos=2, avatars=1)
    ids = report.user_ids
    lo, hi = report.post_ids
    assert len(ids) == USERS and report.fixed_counters == 0

    async def check(conn: Any) -> dict[str, Any]:
        q = conn.fetchval
        return {
            "users": await q("SELECT count(*) FROM users WHERE id = ANY($1)", ids),
            "posts": await q("SELECT count(*) FROM posts WHERE author_id = ANY($1)", ids),
            "bad_users": await q(
                """SELECT count(*) FROM users u WHERE u.id = ANY($1) AND (
                     followers_count <> (SELECT count(*) FROM follows WHERE followee_id = u.id)
                  OR following_count <> (SELECT count(*) FROM follows WHERE follower_id = u.id)
                  OR posts_count <> (SELECT count(*) FROM posts p
                                     WHERE p.author_id = u.id AND p.deleted_at IS NULL))""",
                ids),
            "bad_posts": await q(
                """SELECT count(*) FROM posts p WHERE p.id BETWEEN $1 AND $2 AND (
                     like_count <> (SELECT count(*) FROM likes l WHERE l.post_id = p.id)
                  OR comment_count <> (SELECT count(*) FROM comments c
                                       WHERE c.post_id = p.id AND c.deleted_at IS NULL))""",
                lo, hi),
            "likes": await q("SELECT count(*) FROM likes WHERE post_id BETWEEN $1 AND $2",
                             lo, hi),
            "comments": await q("SELECT count(*) FROM comments WHERE post_id BETWEEN $1 AND $2",
                                lo, hi),
            "followers": [r[0] for r in await conn.fetch(
                "SELECT followers_count FROM users WHERE id = ANY($1)", ids)],
            "tags": await q("SELECT count(DISTINCT tag) FROM post_tags "
                            "WHERE post_id BETWEEN $1 AND $2", lo, hi),
            "tagged": await q("SELECT count(DISTINCT post_id) FROM post_tags "
                              "WHERE post_id BETWEEN $1 AND $2", lo, hi),
            "caption_tag": await q(
                """SELECT count(*) FROM post_tags t JOIN posts p ON p.id = t.post_id
                   WHERE p.id BETWEEN $1 AND $2 AND position('#' || t.tag IN p.caption) = 0""",
                lo, hi),
            "no_media": await q(
                """SELECT count(*) FROM posts p WHERE p.id BETWEEN $1 AND $2
                   AND NOT EXISTS (SELECT 1 FROM post_media m WHERE m.post_id = p.id)""", lo, hi),
            "pool": await q("SELECT count(DISTINCT media_id) FROM post_media "
                            "WHERE post_id BETWEEN $1 AND $2", lo, hi),
            "id_time": await q(
                """SELECT count(*) FROM posts WHERE id BETWEEN $1 AND $2
                   AND (id >> 23) + 1735689600000 <>
                       (extract(epoch FROM created_at) * 1000)::bigint""", lo, hi),
            "accents": await q("SELECT count(*) FROM users WHERE id = ANY($1) "
                               "AND display_name ~ '[À-ž]'", ids),
            "private": await q("SELECT count(*) FROM users WHERE id = ANY($1) AND is_private",
                               ids),
            "first": await q("SELECT username FROM users WHERE id = $1", ids[5]),
            "key": await q("SELECT master_key FROM media m JOIN post_media pm "
                           "ON pm.media_id = m.id WHERE pm.post_id = $1 LIMIT 1", lo),
        }

    got = await st.read(check)
    assert got["users"] == USERS and got["posts"] == POSTS == report.counts["posts"]
    assert got["bad_users"] == 0 and got["bad_posts"] == 0
    assert got["likes"] == report.counts["likes"] > POSTS
    assert got["comments"] == report.counts["comments"] > 0
    followers = got["followers"]
    assert max(followers) >= 4 * statistics.median(followers)
    assert got["tags"] >= 20 and got["tagged"] > POSTS // 2 and got["caption_tag"] == 0
    assert got["no_media"] == 0 and got["pool"] == 2  # the pool, shared by every post
    assert got["id_time"] == 0
    assert got["accents"] > 0 and got["private"] > 0
    assert await LocalStore.in_data_dir(node.settings.data_dir).exists(got["key"])

    async with connect(node.ws_url) as client:
        session = await client.login(got["first"], PASSWORD)
        assert session["user"]["username"] == got["first"]

    with pytest.raises(SeedRefused):  # the database is populated now
        assert (await st.read(lambda c: c.fetchval("SELECT count(*) FROM users"))) >= REFUSE_AT
        await seed_storage(st, node.settings, SeedOptions(users=10, posts=10))
