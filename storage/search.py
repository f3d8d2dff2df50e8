"""Discovery queries: people, hashtags and captions by prefix; tag pages; explore.

Matching uses the stored, folded columns of migration 0006 (users.search_words,
posts.caption_words, hashtags.folded): the search text is folded by the same SQL
function (glint_fold), so "jose" finds "José". Every step has a LIMIT, so a query
costs the same at a million posts as at a thousand.

The SQL filters on visibility (`_VISIBLE`, `_RECOMMENDABLE`) mirror
actors/privacy.py so that pages come back full; privacy.py still has the last word
on every row returned (actors/discover.py asks it). Trending hashtags are counted
in Redis in hourly buckets (public authors' posts only) and summed with decaying
weights when read; a viewer is shown a tag, trending or found, only with a live post
they may see (`_tag_seen`).
"""

from __future__ import annotations

import logging
import random
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import msgpack
import redis.asyncio as aioredis

from config import limits as L
from storage.accounts import UserRecord, user_columns, user_record
from storage.errors import Unavailable
from storage.ids import id_time_ms, make_id
from storage.store import Storage

log = logging.getLogger(__name__)

_DAY_MS = 86_400_000
_USERNAME = re.compile(r"^[a-z0-9._]+$")
_DOT_ABOVE = re.compile("(?<=[iI])\u0307")  # a combining dot above an i: İ decomposed

# The viewer ($1) may see the posts of author `a` (privacy.can_see_posts).
_VISIBLE = """(a.id = $1 OR (
    a.suspended_at IS NULL
    AND (NOT a.is_private
         OR EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = a.id))
    AND NOT EXISTS (SELECT 1 FROM blocks b
                    WHERE (b.blocker_id = $1 AND b.blocked_id = a.id)
                       OR (b.blocker_id = a.id AND b.blocked_id = $1))))"""

# ... and may be recommended them (privacy.can_recommend): not own, not muted.
_RECOMMENDABLE = f"""(a.id <> $1 AND {_VISIBLE}
    AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.muter_id = $1 AND m.muted_id = a.id))"""

# User `u` exists for the viewer $1 (privacy.can_see_profile), oneself included.
_FINDABLE = """(u.id = $1 OR (
    u.suspended_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM blocks b
                    WHERE (b.blocker_id = $1 AND b.blocked_id = u.id)
                       OR (b.blocker_id = u.id AND b.blocked_id = $1))))"""


@dataclass(frozen=True)
class FoundUser:
    user: UserRecord
    following: bool  # the viewer follows them
    follows_me: bool
    mutuals: int = 0  # suggestions: how many of the viewer's follows follow them


@dataclass(frozen=True)
class TagCount:
    tag: str
    posts: int
    score: float = 0.0  # trending: the decayed count of recent uses


@dataclass(frozen=True)
class Ranked:
    post_id: int
    author_id: int
    score: float = 0.0


# -- the search text --------------------------------------------------------------------
def tag_text(text: str) -> str:
    """Text as hashtags are read from it (captions, `tag` arguments, search text): in
    Unicode's composed form (NFC: an accent typed as a combining mark joins its letter),
    and a Turkish dotted capital İ, one character or I + U+0307, is a plain I. Python
    lower-cases 'İ' to 'i' + U+0307, a combining dot: a tag stored with it could be
    neither opened nor found (glint_fold keeps the dot). Migration 0015 re-keyed the
    tags stored that way."""
    return _DOT_ABOVE.sub("", unicodedata.normalize("NFC", text).replace("İ", "I"))


def tag_key(tag: str) -> str:
    """A tag (read by tag_text) as stored and looked up: lower-cased, then composed
    again (lower-casing can leave a letter and a mark that compose: 'T' + U+0308 is
    't' + U+0308, stored as 'ẗ' so that tag.get, which composes first, finds it)."""
    return unicodedata.normalize("NFC", tag.lower())


def is_tag_char(ch: str) -> bool:
    """A character of a hashtag after its first: a word character (letter, digit, _) or
    a combining mark (the vowel signs of Devanagari and other scripts; an accent that
    has no composed form). Its first character is a word character."""
    return ch == "_" or ch.isalnum() or unicodedata.category(ch)[0] == "M"


def is_tag(text: str) -> bool:
    """Whether the whole text is one hashtag (without its '#')."""
    return bool(text) and (text[0] == "_" or text[0].isalnum()) and all(
        is_tag_char(ch) for ch in text)


def tags_in(text: str) -> list[str]:
    """The hashtags of a text (as tag_text reads it), in order: '#' and its run of tag
    characters, not inside a word (after a tag character, '&' or '#': "a#b", "&#38;")."""
    text = tag_text(text)
    out: list[str] = []
    at = text.find("#")
    while at != -1:
        end = at + 1
        before = text[at - 1] if at else ""
        if not (before and (before in "&#" or is_tag_char(before))) and end < len(text) \
                and (text[end] == "_" or text[end].isalnum()):
            while end < len(text) and is_tag_char(text[end]):
                end += 1
            out.append(text[at + 1:end])
        at = text.find("#", end if end > at + 1 else at + 1)
    return out


@dataclass(frozen=True)
class Terms:
    folded: str
    words: tuple[str, ...]  # folded words, at most SEARCH_TOKENS_MAX
    username: str | None  # the text as a username prefix, when it can be one
    tag: str  # the text as a hashtag prefix ('' when it cannot be one)

    def prefix_query(self, *, all_prefix: bool) -> str | None:
        """A to_tsquery text: every word a prefix (people), or only the last (captions).
        None when no word is long enough to be worth a GIN prefix scan."""
        words = self.words
        if all_prefix or (words and len(words[-1]) < L.SEARCH_WORD_PREFIX_MIN):
            # a short word as a prefix reads a huge part of the index, wherever it is
            # ("j k rowling": 'j':* & 'k':* & ...); people are found by the others
            words = tuple(w for w in words if len(w) >= L.SEARCH_WORD_PREFIX_MIN)
        if not words:
            return None
        parts = [f"'{w}'" for w in words]
        if all_prefix:
            parts = [p + ":*" for p in parts]
        elif len(words[-1]) >= L.SEARCH_WORD_PREFIX_MIN:
            parts[-1] += ":*"
        return " & ".join(parts)


# The parser's token types whose text is a word as to_tsvector indexes it: letters and
# digits only (so a quoted word can never break a tsquery). A hyphenated word's parts
# are indexed beside the whole: the parts are used, so "jean-lu" finds "jean-luc".
_WORD_TOKENS = ("asciiword", "word", "numword", "hword_asciipart", "hword_part",
                "hword_numpart", "uint")


async def terms(conn: asyncpg.Connection, text: str) -> Terms:
    """The search text folded as stored text is (glint_fold), and split into words by
    PostgreSQL's own parser, the one that indexed captions and names: a split of our
    own cut Thai and Devanagari words at their vowel signs, and found nothing."""
    row = await conn.fetchrow(
        """SELECT f, ARRAY(SELECT p.token FROM ts_parse('default', f) WITH ORDINALITY
                               AS p(tokid, token, i)
                           JOIN ts_token_type('default') t ON t.tokid = p.tokid
                           WHERE t.alias = ANY($2::text[]) ORDER BY p.i) AS words
           FROM glint_fold($1) AS f""", tag_text(text.strip()), list(_WORD_TOKENS))
    folded: str = row["f"]
    words = tuple(row["words"])[:L.SEARCH_TOKENS_MAX]
    name = folded.strip().removeprefix("@")
    tag = "".join(ch for ch in folded.strip().removeprefix("#") if is_tag_char(ch))
    return Terms(folded, words, name if _USERNAME.match(name) else None, tag)


def prefix_end(prefix: str) -> str:
    """The least string above every string that starts with `prefix` (byte order)."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:
        last = 0xE000
    return prefix[:-1] + chr(min(last, 0x10FFFF))


# -- people -----------------------------------------------------------------------------
# Matches of one kind (username prefix, name words, tag prefix) read before the most
# followed (most used) SEARCH_CANDIDATES of them are kept: all of them, but for a very
# short text. When a text has more people matches than that, the site's
# SEARCH_POPULAR_SCAN most followed accounts are read for matches too (the famous are
# found by their first letters). (Here, not in config/limits, while they are new.)
SEARCH_MATCH_SCAN = 1_000
SEARCH_POPULAR_SCAN = 1_000


async def find_users(conn: asyncpg.Connection, viewer_id: int, t: Terms,
                     limit: int) -> list[FoundUser]:
    """Users whose username starts with the text, or whose display-name or username words
    start with its words; ranked: followed, follows me, exact username, most followed.

    The candidates follow that ranking, each kind bounded: the matches the viewer
    follows (SEARCH_CANDIDATES), those among their latest SEARCH_CANDIDATES followers,
    the exact username, the SEARCH_CANDIDATES most followed of the first
    SEARCH_MATCH_SCAN matches of each kind and, past that many, the matches among the
    site's SEARCH_POPULAR_SCAN most followed. (A cut in name or heap order left the
    most followed out for a short text.) The tiers are the branches themselves, so
    ranking needs no lookup per candidate; visibility and the relation flags are read
    for the returned rows only, in rank order."""
    tsq = t.prefix_query(all_prefix=True)
    matches: list[str] = []  # predicates on `u`; only those that can match (plans stay simple)
    args: list[object] = [viewer_id, limit, L.SEARCH_CANDIDATES]
    if t.username:
        args += [t.username, prefix_end(t.username)]
        matches.append("(lower(u.username) ~>=~ $4 AND lower(u.username) ~<~ $5)")
    if tsq is not None:
        args.append(tsq)
        matches.append(f"u.search_words @@ to_tsquery('simple', ${len(args)})")
    if not matches:
        return []
    scan, popular = int(SEARCH_MATCH_SCAN), int(SEARCH_POPULAR_SCAN)
    any_match = " OR ".join(matches)
    kinds = "".join(
        f"m{i} AS (SELECT u.id, u.followers_count FROM users u WHERE {m} LIMIT {scan + 1}),\n"
        for i, m in enumerate(matches))
    overflow = " OR ".join(f"(SELECT count(*) FROM m{i}) > {scan}" for i in range(len(matches)))
    branches = ["SELECT id, followers_count FROM followed",
                "SELECT id, followers_count FROM fans",
                *(f"(SELECT id, followers_count FROM m{i} ORDER BY followers_count DESC, id"
                  " LIMIT $3)" for i in range(len(matches))),
                f"""(SELECT u.id, u.followers_count FROM (
                        SELECT id, username, search_words, followers_count FROM users
                        WHERE suspended_at IS NULL
                        ORDER BY followers_count DESC, id LIMIT {popular}) u
                    WHERE ({overflow}) AND ({any_match}) LIMIT $3)"""]
    exact = "false"
    if t.username:
        branches.append("SELECT id, followers_count FROM users WHERE lower(username) = $4")
        exact = "c.id IS NOT DISTINCT FROM (SELECT id FROM users WHERE lower(username) = $4)"
    rows = await conn.fetch(
        f"""WITH {kinds}
            followed AS (  -- (users by key, one probe a follow: OFFSET 0 keeps the
                -- planner from a merge join that walks the users key up to the last id)
                SELECT u.id, u.followers_count FROM follows f CROSS JOIN LATERAL (
                    SELECT id, username, search_words, followers_count FROM users
                    WHERE id = f.followee_id OFFSET 0) u
                WHERE f.follower_id = $1 AND ({any_match}) LIMIT $3),
            fans AS (
                SELECT u.id, u.followers_count FROM (
                    SELECT follower_id FROM follows WHERE followee_id = $1
                    ORDER BY created_at DESC LIMIT $3) f
                CROSS JOIN LATERAL (
                    SELECT id, username, search_words, followers_count FROM users
                    WHERE id = f.follower_id OFFSET 0) u
                WHERE {any_match}),
            cand AS ({" UNION ".join(branches)}),
            ranked AS (
                SELECT c.id, c.followers_count, c.id IN (SELECT id FROM followed) AS fol,
                       c.id IN (SELECT id FROM fans) AS fan, {exact} AS exact
                FROM cand c
                ORDER BY fol DESC, fan DESC, exact DESC, c.followers_count DESC, c.id
                OFFSET 0)
            SELECT {user_columns("u")},
                EXISTS (SELECT 1 FROM follows
                        WHERE follower_id = $1 AND followee_id = u.id) AS following,
                EXISTS (SELECT 1 FROM follows
                        WHERE follower_id = u.id AND followee_id = $1) AS follows_me
            FROM ranked r JOIN users u ON u.id = r.id
            WHERE {_FINDABLE}
            ORDER BY r.fol DESC, r.fan DESC, r.exact DESC, r.followers_count DESC, r.id
            LIMIT $2""",
        *args)
    return [_found(r) for r in rows]


def _found(r: asyncpg.Record, mutuals: int = 0) -> FoundUser:
    user = user_record(r)
    assert user is not None
    return FoundUser(user, r["following"], r["follows_me"], mutuals)


# -- hashtags ---------------------------------------------------------------------------
# A tag is shown (search, trending) only to a viewer who may see one of its live posts,
# as tag.posts would show it: among its newest TAG_SEEN_SCAN posts (bounded; a tag whose
# newest posts are all hidden from the viewer is not shown). Else a private account's,
# a blocker's or a suspended user's tags told their caption words to anyone.
TAG_SEEN_SCAN = 100


def _tag_seen(tag: str) -> str:
    """SQL: the viewer ($1) may see one of the newest TAG_SEEN_SCAN live posts tagged
    `tag` (an SQL expression)."""
    return f"""EXISTS (
        SELECT 1 FROM (SELECT post_id FROM post_tags WHERE tag = {tag}
                       ORDER BY post_id DESC LIMIT {int(TAG_SEEN_SCAN)}) x
        JOIN posts p ON p.id = x.post_id JOIN users a ON a.id = p.author_id
        WHERE p.deleted_at IS NULL AND {_VISIBLE})"""


async def find_tags(conn: asyncpg.Connection, viewer_id: int, t: Terms,
                    limit: int) -> list[TagCount]:
    """Tags in use whose folded form starts with the text and that the viewer may see a
    post of (`_tag_seen`): the exact tag first, then by number of posts. The candidates
    are the exact tags and the SEARCH_CANDIDATES most used of the first
    SEARCH_MATCH_SCAN matches (in name order: all of them but for a very short text);
    the visibility checks run in rank order and stop at `limit` tags."""
    if not t.tag:
        return []
    rows = await conn.fetch(
        f"""WITH m AS (
                SELECT tag, folded, post_count FROM hashtags
                WHERE folded ~>=~ $2 AND folded ~<~ $3 AND post_count > 0
                ORDER BY folded USING ~<~ LIMIT {int(SEARCH_MATCH_SCAN)}),  -- the index order
            cand AS (
                (SELECT tag, folded, post_count FROM m ORDER BY post_count DESC, tag LIMIT $4)
                UNION
                SELECT tag, folded, post_count FROM hashtags
                WHERE folded = $2 AND post_count > 0)
            SELECT c.tag, c.post_count FROM (
                SELECT tag, folded = $2 AS exact, post_count FROM cand
                ORDER BY exact DESC, post_count DESC, tag OFFSET 0) c
            WHERE {_tag_seen("c.tag")}
            ORDER BY c.exact DESC, c.post_count DESC, c.tag LIMIT $5""",
        viewer_id, t.tag, prefix_end(t.tag), L.SEARCH_CANDIDATES, limit)
    return [TagCount(r["tag"], r["post_count"]) for r in rows]


async def tags_seen(conn: asyncpg.Connection, viewer_id: int, tags: Sequence[str],
                    limit: int) -> list[str]:
    """The first `limit` of these tags, in their order, that the viewer may see a post
    of (`_tag_seen`): which trending tags a viewer is shown."""
    if not tags:
        return []
    rows = await conn.fetch(
        f"""SELECT t.tag FROM unnest($2::text[]) WITH ORDINALITY t(tag, i)
            WHERE {_tag_seen("t.tag")} ORDER BY t.i LIMIT $3""",
        viewer_id, list(tags), limit)
    return [r["tag"] for r in rows]


async def tag_counts(conn: asyncpg.Connection, tags: Sequence[str]) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT tag, post_count FROM hashtags WHERE tag = ANY($1::text[])", list(tags))
    return {r["tag"]: r["post_count"] for r in rows}


# Trending tags' post counts, kept per process as long as the trending sum itself
# (TRENDING_CACHE_SECONDS): every first explore page shows the same twenty, and their
# counts were a Postgres round trip of their own. A post deleted through this process
# forgets them all (`forget_tag_counts`): a tag whose last post it was must drop out
# at once, as it does from search. tag -> (until, count; None: no such tag)
_tag_counts: dict[str, tuple[float, int | None]] = {}


def forget_tag_counts() -> None:
    """Called as a post is deleted: the kept counts (and authors) may include its tags
    (at most TRENDING_COUNTS_KEPT, read again in one statement)."""
    _tag_counts.clear()
    _tag_authors.clear()


# Which trending tags a viewer is shown (a tag needs a live post they may see, as
# `_tag_seen`) was one statement per first explore page. Kept per process as the
# counts are: up to TRENDING_AUTHORS_KEPT public, unsuspended authors of live posts
# among each tag's newest TAG_SEEN_SCAN. A viewer is shown the tag when one of them
# passes privacy.can_see_posts in the page's own relations read (blocks, a turn to
# private or a suspension since count at once); a tag with none that pass is checked
# as before (`tags_seen`). tag -> (until, authors)
_tag_authors: dict[str, tuple[float, tuple[int, ...] | None]] = {}
V = TypeVar("V")


async def _kept(cache: dict[str, tuple[float, V | None]], tags: Sequence[str],
                read: Callable[[list[str]], Awaitable[dict[str, V]]]) -> dict[str, V | None]:
    """Each tag's value from `cache` if kept within TRENDING_CACHE_SECONDS, the others
    from one `read` (a tag it does not answer is kept as None); at most
    TRENDING_COUNTS_KEPT tags are kept."""
    now = time.monotonic()
    out: dict[str, V | None] = {}
    missing: list[str] = []
    for tag in tags:
        kept = cache.get(tag)
        if kept is None or kept[0] <= now:
            missing.append(tag)
        else:
            out[tag] = kept[1]
    if missing:
        fresh = await read(missing)
        if len(cache) + len(missing) > L.TRENDING_COUNTS_KEPT:
            cache.clear()
        until = time.monotonic() + L.TRENDING_CACHE_SECONDS
        for tag in missing:
            out[tag] = fresh.get(tag)
            cache[tag] = (until, out[tag])
    return out


async def tag_authors_kept(conn: asyncpg.Connection,
                           tags: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Each tag's kept public authors (see `_tag_authors`); one statement for those not
    kept within TRENDING_CACHE_SECONDS."""

    async def read(missing: list[str]) -> dict[str, tuple[int, ...]]:
        rows = await conn.fetch(
            f"""SELECT t.tag, ARRAY(
                    SELECT a.id FROM (SELECT post_id FROM post_tags WHERE tag = t.tag
                                      ORDER BY post_id DESC LIMIT {int(TAG_SEEN_SCAN)}) x
                    JOIN posts p ON p.id = x.post_id AND p.deleted_at IS NULL
                    JOIN users a ON a.id = p.author_id
                    WHERE NOT a.is_private AND a.suspended_at IS NULL
                    GROUP BY a.id ORDER BY max(x.post_id) DESC
                    LIMIT {int(L.TRENDING_AUTHORS_KEPT)}) AS authors
                FROM unnest($1::text[]) t(tag)""", missing)
        return {r["tag"]: tuple(r["authors"]) for r in rows}

    return {t: a or () for t, a in (await _kept(_tag_authors, tags, read)).items()}


async def tag_counts_kept(conn: asyncpg.Connection, tags: Sequence[str]) -> dict[str, int]:
    """`tag_counts`, from what this process read in the last TRENDING_CACHE_SECONDS."""

    async def read(missing: list[str]) -> dict[str, int]:
        return await tag_counts(conn, missing)

    return {t: c for t, c in (await _kept(_tag_counts, tags, read)).items() if c is not None}


@dataclass(frozen=True)
class TagPage:
    posts: list[Ranked]
    next_before: int | None  # where the next page starts (a post id), None at the end


async def tag_recent(conn: asyncpg.Connection, viewer_id: int, tag: str,
                     before_id: int | None, limit: int) -> TagPage:
    """Visible live posts with the tag, newest first (the (tag, post_id) key, backwards),
    among the next TAG_RECENT_SCAN tagged posts: a page behind many the viewer may not
    see (a private or suspended account's, a blocker's) comes back short, with a cursor,
    instead of walking them all."""
    rows = await conn.fetch(
        f"""WITH x AS MATERIALIZED (
                SELECT post_id FROM post_tags
                WHERE tag = $2 AND ($3::bigint IS NULL OR post_id < $3)
                ORDER BY post_id DESC LIMIT {L.TAG_RECENT_SCAN:d}),
            v AS (
                SELECT p.id, p.author_id FROM x
                JOIN posts p ON p.id = x.post_id JOIN users a ON a.id = p.author_id
                WHERE p.deleted_at IS NULL AND {_VISIBLE}
                ORDER BY x.post_id DESC LIMIT $4)
            SELECT id, author_id, NULL::bigint AS floor, 0::bigint AS scanned FROM v
            UNION ALL
            SELECT NULL, NULL, min(post_id), count(*) FROM x""",
        viewer_id, tag, before_id, limit)
    found = sorted((r for r in rows if r["id"] is not None), key=lambda r: -r["id"])
    scan = next(r for r in rows if r["id"] is None)
    posts = [Ranked(r["id"], r["author_id"]) for r in found]
    if len(posts) == limit:
        return TagPage(posts, posts[-1].post_id)
    return TagPage(posts, scan["floor"] if scan["scanned"] == L.TAG_RECENT_SCAN else None)


async def tag_top(conn: asyncpg.Connection, viewer_id: int, tag: str, now_ms: int,
                  offset: int, limit: int) -> list[Ranked]:
    """Visible live posts among the newest TAG_TOP_SCAN tagged posts of the last
    TAG_TOP_DAYS, by engagement (likes + 2 x comments), ties newest first (bounded:
    hidden posts are not walked past that many)."""
    since = make_id(now_ms - L.TAG_TOP_DAYS * _DAY_MS, 0, 0)
    rows = await conn.fetch(
        f"""SELECT id, author_id, score FROM (
                SELECT p.id, p.author_id,
                       p.like_count::bigint + 2 * p.comment_count::bigint AS score
                FROM (SELECT post_id FROM post_tags WHERE tag = $2 AND post_id >= $3
                      ORDER BY post_id DESC LIMIT $4) x
                JOIN posts p ON p.id = x.post_id
                JOIN users a ON a.id = p.author_id
                WHERE p.deleted_at IS NULL AND {_VISIBLE}) c
            ORDER BY score DESC, id DESC OFFSET $5 LIMIT $6""",
        viewer_id, tag, since, L.TAG_TOP_SCAN, offset, limit)
    return [Ranked(r["id"], r["author_id"], float(r["score"])) for r in rows]


# -- captions ---------------------------------------------------------------------------
# When a word has more matches than the index read takes (SEARCH_POST_SCAN), the newest
# posts walked for its matches (a bounded backwards primary-key walk: exact among them).
SEARCH_DEEP_SCAN = 10_000


async def _recent_matches(conn: asyncpg.Connection, viewer_id: int, tsq: str, limit: int,
                          scan: int) -> list[Ranked]:
    """Visible matches among the newest `scan` live posts, newest first: a backwards
    primary-key walk that stops at `limit` matches (~1 ms for a common word)."""
    rows = await conn.fetch(
        f"""SELECT p.id, p.author_id FROM (
                SELECT id, author_id, caption_words FROM posts WHERE deleted_at IS NULL
                ORDER BY id DESC LIMIT $4) p
            JOIN users a ON a.id = p.author_id
            WHERE p.caption_words @@ to_tsquery('simple', $2) AND {_VISIBLE}
            ORDER BY p.id DESC LIMIT $3""",
        viewer_id, tsq, limit, scan)
    return [Ranked(r["id"], r["author_id"]) for r in rows]


async def _indexed_matches(conn: asyncpg.Connection, viewer_id: int, tsq: str,
                           limit: int) -> tuple[list[Ranked], bool]:
    """The newest visible matches among the first SEARCH_POST_SCAN matches the GIN index
    yields (heap order: roughly the oldest), and whether those were all the matches
    (then the reply is exact)."""
    bound: int | None = limit * L.EXPLORE_CHECK_FACTOR
    while True:
        # The inner LIMIT keeps the plan on the GIN index: ordered by id, the planner may
        # walk the whole primary key looking for a rare word (400 ms at 1M posts, measured).
        # Visibility is checked on the newest `bound` of those matches (then on all).
        row = await conn.fetchrow(
            f"""WITH m AS MATERIALIZED (
                    SELECT id, author_id FROM posts
                    WHERE caption_words @@ to_tsquery('simple', $2) AND deleted_at IS NULL
                    LIMIT $4 + 1),
                best AS (
                    SELECT c.id, c.author_id FROM (
                        SELECT id, author_id FROM m ORDER BY id DESC LIMIT $5) c
                    JOIN users a ON a.id = c.author_id
                    WHERE {_VISIBLE}
                    ORDER BY c.id DESC LIMIT $3)
                SELECT (SELECT count(*) FROM m) <= $4 AS complete,
                       array_agg(id ORDER BY id DESC) AS ids,
                       array_agg(author_id ORDER BY id DESC) AS authors
                FROM best""",
            viewer_id, tsq, limit, L.SEARCH_POST_SCAN, bound)
        assert row is not None
        found = [Ranked(i, a) for i, a in zip(row["ids"] or [], row["authors"] or [],
                                               strict=True)]
        if len(found) >= limit or bound is None:
            return found, row["complete"]
        bound = None


async def find_posts(conn: asyncpg.Connection, viewer_id: int, t: Terms,
                     limit: int) -> list[Ranked]:
    """Visible live posts whose caption has the words (the last one as a prefix), newest
    first. First among the newest SEARCH_RECENT_SCAN posts (exact when that finds
    `limit`). Otherwise through the GIN index: exact when the words have at most
    SEARCH_POST_SCAN matches. With more matches than that (the index read takes them
    in heap order: roughly the oldest), the newest SEARCH_DEEP_SCAN posts are walked,
    exact among them, and only posts older than all of those come from the index read.
    So the reply is always newest first, and no pass loses a newer match another
    found (the index read used to replace the first pass's matches)."""
    tsq = t.prefix_query(all_prefix=False)
    if tsq is None:
        return []
    rows = await _recent_matches(conn, viewer_id, tsq, limit, L.SEARCH_RECENT_SCAN)
    if len(rows) >= limit:
        return rows
    found, complete = await _indexed_matches(conn, viewer_id, tsq, limit)
    if not complete:
        rows = await _recent_matches(conn, viewer_id, tsq, limit, SEARCH_DEEP_SCAN)
    # The walks found every visible match of their window, so what the index read adds
    # is either already in them or older than their whole window.
    merged = {r.post_id: r for r in (*found, *rows)}
    return sorted(merged.values(), key=lambda r: r.post_id, reverse=True)[:limit]


# -- explore ----------------------------------------------------------------------------
# co_liked's row counts: the first list (EXPLORE_LIST_FIRST positions and one more to
# tell whether more exist), twice that, and the deepest list.
_CO_LIKED_SIZES = (L.EXPLORE_LIST_FIRST + 1, 2 * L.EXPLORE_LIST_FIRST + 1, L.EXPLORE_DEPTH + 1)


def _limit_sql(n: int | None) -> str:
    """A LIMIT written into the statement (None: ALL). Explore's sizes are literals, not
    parameters: with only the viewer as a parameter PostgreSQL settles on one generic
    plan per prepared statement instead of planning each call anew (~0.7 ms each, a
    quarter of the suggestions query)."""
    return "ALL" if n is None else str(int(n))


async def co_liked(conn: asyncpg.Connection, viewer_id: int, now_ms: int,
                   limit: int) -> list[Ranked]:
    """Item-to-item collaborative filtering over likes, in one bounded query.

    Seeds S: the viewer's latest EXPLORE_SEED_LIKES likes. Co-likers: the latest
    EXPLORE_LIKERS_PER_POST likers of each seed; a co-liker u weighs
    w(u) = sum over the seeds i they liked of 1/sqrt(n_i) (n = a post's like count),
    and the EXPLORE_CO_LIKERS heaviest are kept. Candidates: their latest
    EXPLORE_LIKES_PER_CO_LIKER likes within EXPLORE_LIKE_DAYS. A candidate j scores
    sum over its co-likers of w(u), divided by sqrt(n_j): the sampled form of
    sum_i co(i, j) / sqrt(n_i n_j), cosine similarity of the seed and the candidate
    over their likers — so a post liked by everybody does not win by popularity.
    Own, already liked, deleted and not recommendable posts are left out.
    """
    since_ms = now_ms - L.EXPLORE_LIKE_DAYS * _DAY_MS
    # The limit is a literal too: rounded up to a few sizes, so that deeper lists make
    # a handful of statements, not one per depth (each planned anew for its first runs,
    # and all competing for the connection's statement cache).
    fetch = next((n for n in _CO_LIKED_SIZES if n >= limit), limit)
    bound: int | None = fetch * L.EXPLORE_CHECK_FACTOR
    while True:
        # Cheap exclusions (deleted, own, already liked) on every candidate, then the
        # privacy checks only on the best `bound`: checking all of them (~4,000 at 1M
        # posts) was most of the query's time. `scored` is not materialised, so those
        # checks run in its order and stop at `fetch` rows (a nested loop under the
        # LIMIT: ~75 authors checked, not ~220). With the probes below, ~15% off the
        # query's execution (identical lists), measured.
        rows = await conn.fetch(
            f"""WITH seeds AS (
                    SELECT l.post_id, greatest(p.like_count, 1) AS n FROM likes l
                    JOIN posts p ON p.id = l.post_id AND p.deleted_at IS NULL
                    WHERE l.user_id = $1 ORDER BY l.created_at DESC LIMIT {L.EXPLORE_SEED_LIKES:d}),
                co AS (
                    SELECT c.user_id, sum(1.0 / sqrt(s.n)) AS w
                    FROM seeds s CROSS JOIN LATERAL (
                        SELECT user_id FROM likes WHERE post_id = s.post_id AND user_id <> $1
                        ORDER BY created_at DESC LIMIT {L.EXPLORE_LIKERS_PER_POST:d}) c
                    GROUP BY c.user_id ORDER BY w DESC LIMIT {L.EXPLORE_CO_LIKERS:d}),
                cand AS MATERIALIZED (  -- planned on its own, so its sums add up in
                    -- one order whatever the rest's plan (inlined, it was seen grouped
                    -- by a sort instead: scores changed in their last bit)
                    SELECT x.post_id, sum(co.w) AS s
                    FROM co CROSS JOIN LATERAL (
                        SELECT post_id FROM likes
                        WHERE user_id = co.user_id AND created_at > to_timestamp($2 / 1000.0)
                        ORDER BY created_at DESC LIMIT {L.EXPLORE_LIKES_PER_CO_LIKER:d}) x
                    GROUP BY x.post_id),
                scored AS (  -- one primary-key probe per candidate not yet liked (OFFSET
                    -- 0: never a scan of posts, which the planner picked on misestimates):
                    -- ~4 buffers a candidate, no id array or hash join back to `cand`
                    -- (walking the key by a sorted id array read ~5.3 and, with the
                    -- liked left out after it, cost ~3% more here, measured)
                    SELECT c.post_id AS id, p.author_id,
                           c.s / sqrt(greatest(p.like_count, 1)) AS score
                    FROM cand c CROSS JOIN LATERAL (
                        SELECT author_id, like_count FROM posts
                        WHERE id = c.post_id AND deleted_at IS NULL AND author_id <> $1
                        OFFSET 0) p
                    WHERE c.post_id NOT IN (SELECT post_id FROM likes WHERE user_id = $1)
                    ORDER BY score DESC, c.post_id DESC LIMIT {_limit_sql(bound)})
                SELECT s.id, s.author_id, s.score
                FROM scored s JOIN users a ON a.id = s.author_id
                WHERE {_RECOMMENDABLE}
                ORDER BY s.score DESC, s.id DESC LIMIT {fetch:d}""",
            viewer_id, since_ms)
        if len(rows) >= limit or bound is None:
            return [Ranked(r["id"], r["author_id"], float(r["score"])) for r in rows[:limit]]
        bound = None  # too many of the best were hidden: check every candidate


async def popular(conn: asyncpg.Connection, viewer_id: int, now_ms: int,
                  limit: int) -> list[Ranked]:
    """Cold start: the most liked of the newest EXPLORE_POPULAR_SCAN recommendable posts
    of the last EXPLORE_POPULAR_DAYS (ids are time-ordered: a backwards key scan)."""
    since = make_id(now_ms - L.EXPLORE_POPULAR_DAYS * _DAY_MS, 0, 0)
    rows = await conn.fetch(
        f"""SELECT id, author_id, like_count FROM (
                SELECT p.id, p.author_id, p.like_count FROM posts p
                JOIN users a ON a.id = p.author_id
                WHERE p.id >= $2 AND p.deleted_at IS NULL AND {_RECOMMENDABLE}
                  AND NOT EXISTS (SELECT 1 FROM likes l
                                  WHERE l.post_id = p.id AND l.user_id = $1)
                ORDER BY p.id DESC LIMIT $3) c
            ORDER BY like_count DESC, id DESC LIMIT $4""",
        viewer_id, since, L.EXPLORE_POPULAR_SCAN, limit)
    return [Ranked(r["id"], r["author_id"], float(r["like_count"])) for r in rows]


async def suggested_accounts(conn: asyncpg.Connection, viewer_id: int,
                             limit: int) -> list[FoundUser]:
    """Friends of friends by how many of the viewer's follows follow them, then the most
    followed; never oneself, anyone followed or requested, blocked either way, muted
    or suspended."""
    bound: int | None = limit * L.EXPLORE_CHECK_FACTOR
    while True:
        # One pipeline, nothing materialised (each tuplestore of the ~1,700 candidates
        # cost ~0.25 ms): the follows read and the most followed are counted in one
        # aggregation, oneself and the followed left out before it (once: the checks
        # below see the same snapshot); sorted by mutual count, the users table is read
        # only until the best `bound` are known (an incremental sort by followers_count
        # within each count: of ~1,500 candidates for a viewer following a hundred, ~35
        # are read); and the other checks stop at `limit` rows (they follow the best's
        # order). ~18% off the execution of the earlier shape (two materialised CTEs, a
        # cut, every check on all `bound`), measured.
        rows = await conn.fetch(
            f"""WITH mine AS (
                    SELECT followee_id AS id FROM follows WHERE follower_id = $1
                    ORDER BY created_at DESC LIMIT {L.EXPLORE_FOLLOWS_SCAN:d}),
                fresh AS (
                    SELECT x.id, sum(x.mutual) AS mutuals FROM (
                        SELECT f.followee_id AS id, 1 AS mutual
                        FROM mine CROSS JOIN LATERAL (
                            SELECT followee_id FROM follows WHERE follower_id = mine.id
                            ORDER BY created_at DESC LIMIT {L.EXPLORE_FOF_PER_FOLLOW:d}) f
                        UNION ALL
                        (SELECT id, 0 FROM users WHERE suspended_at IS NULL
                         ORDER BY followers_count DESC, id LIMIT {L.EXPLORE_POPULAR_ACCOUNTS:d})) x
                    WHERE x.id <> $1 AND x.id NOT IN (SELECT followee_id FROM follows
                                                      WHERE follower_id = $1)
                    GROUP BY x.id ORDER BY mutuals DESC),
                best AS (
                    SELECT c.id, c.mutuals, u.followers_count FROM fresh c CROSS JOIN LATERAL (
                        SELECT followers_count FROM users
                        WHERE id = c.id AND suspended_at IS NULL OFFSET 0) u
                    ORDER BY c.mutuals DESC, u.followers_count DESC, c.id LIMIT {_limit_sql(bound)})
                SELECT {user_columns("u")}, best.mutuals, false AS following,
                    EXISTS (SELECT 1 FROM follows
                            WHERE follower_id = u.id AND followee_id = $1) AS follows_me
                FROM best JOIN users u ON u.id = best.id
                WHERE {_FINDABLE}
                  AND NOT EXISTS (SELECT 1 FROM follow_requests
                                  WHERE requester_id = $1 AND target_id = u.id)
                  AND NOT EXISTS (SELECT 1 FROM mutes WHERE muter_id = $1 AND muted_id = u.id)
                ORDER BY best.mutuals DESC, best.followers_count DESC, best.id LIMIT {limit:d}""",
            viewer_id)
        if len(rows) == limit or bound is None:
            return [_found(r, int(r["mutuals"])) for r in rows]
        bound = None


async def users_by_id(conn: asyncpg.Connection, viewer_id: int,
                      ids_mutuals: Sequence[tuple[int, int]]) -> list[FoundUser]:
    """Fresh records of these users, in the given order (the gone are left out), with
    their mutual counts as given: cached suggestions brought up to date."""
    if not ids_mutuals:
        return []
    rows = await conn.fetch(
        f"""SELECT {user_columns("u")}, false AS following,
               EXISTS (SELECT 1 FROM follows
                       WHERE follower_id = u.id AND followee_id = $1) AS follows_me
            FROM users u WHERE u.id = ANY($2::bigint[])""",
        viewer_id, [i for i, _ in ids_mutuals])
    found = {r["id"]: r for r in rows}
    return [_found(found[i], m) for i, m in ids_mutuals if i in found]


# -- explore: the viewer's computed list, cached (Redis) ---------------------------------
@dataclass(frozen=True)
class ExploreList:
    """What one explore computation found: ranked posts (and whether more existed), and
    the suggested accounts with their mutual counts. Cached as is; every page re-checks
    what it shows (privacy, deletions, likes since)."""

    posts: tuple[Ranked, ...]
    more: bool
    accounts: tuple[tuple[int, int], ...]


def explore_key(st: Storage, viewer_id: int) -> str:
    return st.key("explore", viewer_id)


def explorer_key(st: Storage, viewer_id: int) -> str:
    """Set while the user opened explore within EXPLORER_DAYS."""
    return st.key("explorer", viewer_id)


async def precompute_state(st: Storage, r: aioredis.Redis, viewer_id: int) -> tuple[bool, bool]:
    """(a list is cached, the user is a recent explorer), in one round trip."""
    async with r.pipeline(transaction=False) as pipe:
        pipe.exists(explore_key(st, viewer_id))
        pipe.exists(explorer_key(st, viewer_id))
        cached, explorer = await pipe.execute()
    return bool(cached), bool(explorer)


def _explore_list_of(raw: bytes | None) -> ExploreList | None:
    if raw is None:
        return None
    posts, more, accounts = msgpack.unpackb(raw)
    return ExploreList(tuple(Ranked(p, a) for p, a in posts), bool(more),
                       tuple((u, m) for u, m in accounts))


async def explore_cached(st: Storage, r: aioredis.Redis, viewer_id: int) -> ExploreList | None:
    return _explore_list_of(await r.get(explore_key(st, viewer_id)))


async def explore_store(st: Storage, r: aioredis.Redis, viewer_id: int,
                        found: ExploreList, ttl_seconds: int) -> None:
    raw = msgpack.packb([[[p.post_id, p.author_id] for p in found.posts], found.more,
                         [list(a) for a in found.accounts]])
    await r.set(explore_key(st, viewer_id), raw, ex=ttl_seconds)


# -- trending (Redis) -------------------------------------------------------------------
def trend_hour(now: float) -> int:
    """The hourly trending bucket (`{ns}:trend:{hour}`) a use at unix time `now` counts in."""
    return int(now // 3600)


async def count_into_bucket(r: aioredis.Redis, key: str, tags: Sequence[str],
                            trim: bool) -> None:
    """One use of each tag in bucket `key`, which lives a day and an hour; `trim` keeps
    its TRENDING_BUCKET_KEEP most used (the benchmark writes its buckets with this too)."""
    async with r.pipeline(transaction=False) as pipe:
        for tag in tags:
            pipe.zincrby(key, 1, tag)
        pipe.expire(key, (L.TRENDING_HOURS + 1) * 3600)
        if trim:
            pipe.zremrangebyrank(key, 0, -(L.TRENDING_BUCKET_KEEP + 1))
        await pipe.execute()


async def _public_author(st: Storage, author_id: int, suspended_too: bool) -> bool:
    assert st.pool is not None
    async with st.pool.acquire() as conn:
        return bool(await conn.fetchval(
            "SELECT NOT is_private AND ($2 OR suspended_at IS NULL) FROM users WHERE id = $1",
            author_id, suspended_too))


async def _if_public(st: Storage, author_id: int, suspended_too: bool,
                     write: Callable[..., Awaitable[None]], *args: Any) -> None:
    """`write(redis, *args)` if the author is public, and not suspended unless
    `suspended_too` (asyncio side)."""
    if await _public_author(st, author_id, suspended_too):
        assert st.redis is not None
        await write(st.redis, *args)


async def count_public_tags(st: Storage, author_id: int, tags: Sequence[str]) -> None:
    """`count_tags` for a new post, unless its author is private or suspended: trending
    is one list for everybody (each viewer is shown only tags they may see a post of,
    but their counts should not come from posts few may see). One crossing, as
    `count_tags`."""
    if not tags:
        return
    trim = random.randrange(L.TRENDING_TRIM_EVERY) == 0
    try:
        await st.both(_if_public, author_id, False, count_into_bucket,
                      st.key("trend", trend_hour(time.time())), list(tags), trim)
    except Unavailable as exc:
        log.warning("trending count lost", extra={"error": str(exc)})


async def _uncount(r: aioredis.Redis, key: str, tags: Sequence[str]) -> None:
    async with r.pipeline(transaction=True) as pipe:  # never seen at zero or below
        for tag in tags:
            pipe.zincrby(key, -1, tag)
        pipe.zremrangebyscore(key, "-inf", 0)  # also what was never counted, or trimmed
        await pipe.execute()


async def uncount_public_tags(st: Storage, author_id: int, post_id: int,
                              tags: Sequence[str]) -> None:
    """Take a deleted or removed post's uses back from the hourly bucket its making
    counted them in (the hour in its id), so trending does not rank tags by posts that
    are gone. Counted only for a public author, so taken back only from one, as now;
    uses never counted (the author turned public since, or an edit added the tag) are
    taken back too: at worst a tag's count drops early, never below zero. Trending's
    cached sum follows within TRENDING_CACHE_SECONDS. Best effort, as counting."""
    hour = trend_hour(id_time_ms(post_id) / 1000)
    if not tags or trend_hour(time.time()) - hour >= L.TRENDING_HOURS:
        return  # its bucket no longer counts (or is gone)
    try:
        # A suspended author's posts were counted before the suspension (a suspended
        # user posts nothing): an operator removing them takes their uses back.
        await st.both(_if_public, author_id, True, _uncount, st.key("trend", hour),
                      list(tags))
    except Unavailable as exc:
        log.warning("trending uncount lost", extra={"error": str(exc)})


async def count_tags(st: Storage, tags: Sequence[str]) -> None:
    """Count one use of each tag in this hour's bucket. Best effort: trending is
    rebuilt by use, so a Redis outage loses counts, never the post."""
    if not tags:
        return
    trim = random.randrange(L.TRENDING_TRIM_EVERY) == 0
    try:
        await st.redis_op(count_into_bucket, st.key("trend", trend_hour(time.time())),
                          list(tags), trim)
    except Unavailable as exc:
        log.warning("trending count lost", extra={"error": str(exc)})


def _tags_of(rows: Sequence[tuple[bytes | str, float]]) -> list[tuple[str, float]]:
    return [(t.decode() if isinstance(t, bytes) else str(t), float(s)) for t, s in rows]


def _trend_empty_key(st: Storage) -> str:
    """Set while a fresh trending sum is empty: Redis keeps no empty sorted set, so the
    sum's own key could not say it is fresh, and when no tag was used in TRENDING_HOURS
    every explore page rebuilt it (a round trip and a 24-key union each). Only then: a
    marker set on every rebuild would outlive a sum evicted or deleted meanwhile, and
    trending would show empty until it expired."""
    return st.key("trend", "empty")


async def _trending_rebuilt(st: Storage, r: aioredis.Redis, limit: int) -> list[tuple[str, float]]:
    cache = st.key("trend", "sum")
    now_h = trend_hour(time.time())
    weights = {st.key("trend", now_h - age): 0.5 ** (age / L.TRENDING_HALF_LIFE_HOURS)
               for age in range(L.TRENDING_HOURS)}
    async with r.pipeline(transaction=True) as pipe:
        pipe.zunionstore(cache, weights)
        pipe.expire(cache, L.TRENDING_CACHE_SECONDS)
        pipe.zrevrange(cache, 0, limit - 1, withscores=True)
        size, _, rows = await pipe.execute()
    if not size:  # once per TRENDING_CACHE_SECONDS at most
        await r.set(_trend_empty_key(st), 1, ex=L.TRENDING_CACHE_SECONDS)
    return _tags_of(rows)


async def trending(st: Storage, r: aioredis.Redis, limit: int) -> list[tuple[str, float]]:
    """The top tags of the last TRENDING_HOURS hourly buckets, each bucket weighted
    0.5 ** (age / TRENDING_HALF_LIFE_HOURS); the sum is cached TRENDING_CACHE_SECONDS.
    Runs on the asyncio side (inside `Storage.both`)."""
    trend, _ = await trending_and_explore(st, r, limit, None)
    return trend


async def trending_and_explore(st: Storage, r: aioredis.Redis, limit: int,
                               viewer_id: int | None) -> tuple[list[tuple[str, float]],
                                                               ExploreList | None]:
    """`trending` and, for `viewer_id`, their cached explore list (and their mark as a
    recent explorer renewed): one round trip unless the trending sum has expired (then
    one more rebuilds it: at most once per TRENDING_CACHE_SECONDS, even when empty)."""
    cache = st.key("trend", "sum")
    async with r.pipeline(transaction=False) as pipe:
        pipe.exists(cache, _trend_empty_key(st))  # how many of the two exist
        pipe.zrevrange(cache, 0, limit - 1, withscores=True)
        if viewer_id is not None:
            pipe.get(explore_key(st, viewer_id))
            pipe.set(explorer_key(st, viewer_id), 1, ex=L.EXPLORER_DAYS * 86_400)
        got = await pipe.execute()
    found = _explore_list_of(got[2]) if viewer_id is not None else None
    if not got[0]:
        return await _trending_rebuilt(st, r, limit), found
    return _tags_of(got[1]), found
