"""Search in every script, and tags behind hidden posts (a review of discovery), end to
end against a real node: the search text is split into words by PostgreSQL's own parser
(the one that indexed captions and names), stored text is folded composed, Greek final
sigma and a capital eth fold as their other forms do; a deleted post's tag rows go with
it; a tag page reads a bounded number of tagged posts per page."""

from __future__ import annotations

from typing import Any

import pytest

from config import limits as L
from protocol.client import Client
from server.node import Node
from storage import search as db
from tests.server.test_discover import code, ids
from tests.server.test_posts import bots, make_private, quick_post, uid


async def posts_found(c: Client, q: str) -> list[int]:
    return ids((await c.call("search", q=q, kind="posts"))["posts"])


async def people_found(c: Client, q: str) -> list[int]:
    return [u["id"] for u in (await c.call("search", q=q, kind="users"))["users"]]


async def test_captions_and_names_in_scripts_with_vowel_signs(node: Node) -> None:
    """Thai and Devanagari vowel signs are combining marks: a split of the text at them
    (Python's \\w) made words the index never held, and nothing was found."""
    async with bots(node, 3) as (me, thai, hindi):
        k = code()
        t = await quick_post(thai, f"สวัสดี ครับ {k}")
        h = await quick_post(hindi, f"नमस्ते दुनिया {k}")
        assert await posts_found(me, f"สวัสดี {k}") == [t["id"]]
        assert await posts_found(me, f"{k} ครับ") == [t["id"]]
        assert await posts_found(me, f"नमस्ते {k}") == [h["id"]]
        assert await posts_found(me, f"{k} दुनि") == [h["id"]]  # the last word, a prefix
        await hindi.call("user.update", display_name=f"नमस्ते {k}")
        assert await people_found(me, f"नमस्ते {k}") == [uid(hindi)]


async def test_decomposed_accents_greek_sigma_and_eth_fold_as_typed(node: Node) -> None:
    async with bots(node, 4) as (me, a, b, c):
        k, k2 = code(), code()
        decomposed = await quick_post(a, f"re\u0301sume\u0301 {k}")  # e + combining acute
        capitals = await quick_post(b, f"ΟΔΟΣ {k}")
        small = await quick_post(b, f"οδος {k2}")  # a final sigma
        eth = await quick_post(c, f"Ðorđe {k}")
        for q in ("résumé", "resume", "RÉSUMÉ"):
            assert await posts_found(me, f"{q} {k}") == [decomposed["id"]], q
        for q in ("οδος", "ΟΔΟΣ", "οδοσ"):
            assert await posts_found(me, f"{q} {k}") == [capitals["id"]], q
            assert await posts_found(me, f"{q} {k2}") == [small["id"]], q
        for q in ("dorde", "Ðorđe", "ðorđe"):
            assert await posts_found(me, f"{q} {k}") == [eth["id"]], q


def test_short_words_are_never_index_prefixes() -> None:
    """'j':* reads nearly a whole index's worth of postings: people are found by the
    longer words, and a caption's short words are exact terms (only its last is a
    prefix, and only when long enough)."""
    t = db.Terms("j k rowling", ("j", "k", "rowling"), None, "")
    assert t.prefix_query(all_prefix=True) == "'rowling':*"
    assert t.prefix_query(all_prefix=False) == "'j' & 'k' & 'rowling':*"
    assert db.Terms("rowling j", ("rowling", "j"), None, "").prefix_query(
        all_prefix=False) == "'rowling':*"


async def test_deleted_posts_no_longer_hide_their_tag(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tag is shown when one of its newest TAG_SEEN_SCAN posts is visible; deleted
    posts kept their tag rows and, once they were the newest, hid the tag."""
    monkeypatch.setattr(db, "TAG_SEEN_SCAN", 2)
    async with bots(node, 2) as (me, author):
        k = code()
        live = await quick_post(author, f"#{k}")
        for _ in range(2):
            gone = await quick_post(author, f"#{k}")
            await author.call("post.delete", post=gone["id"])
        found = (await me.call("search", q=f"#{k}", kind="tags"))["tags"]
        assert found == [{"tag": k, "posts": 1}]
        page = await me.call("tag.posts", tag=k, mode="recent")
        assert ids(page["posts"]) == [live["id"]]


async def test_recent_tag_pages_read_a_bounded_number_of_posts(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past TAG_RECENT_SCAN tagged posts the viewer may not see, a page comes back short
    with a cursor; paging on reaches every visible post once."""
    monkeypatch.setattr(L, "TAG_RECENT_SCAN", 2)
    async with bots(node, 2) as (me, priv):
        k = code()
        first = await quick_post(me, f"#{k} mine, older")
        await make_private(priv)
        for _ in range(3):
            await quick_post(priv, f"#{k} hidden from me")
        newest = await quick_post(me, f"#{k} mine, newest")
        seen: list[int] = []
        pages: list[dict[str, Any]] = []
        cursor = None
        for _ in range(10):
            page = await me.call("tag.posts", tag=k, mode="recent", limit=2, cursor=cursor)
            pages.append(page)
            seen += ids(page["posts"])
            cursor = page["cursor"]
            if cursor is None:
                break
        assert seen == [newest["id"], first["id"]]
        assert [len(p["posts"]) for p in pages][:2] == [1, 0]  # short pages, cursors on
        assert pages[0]["cursor"] is not None and pages[1]["cursor"] is not None
