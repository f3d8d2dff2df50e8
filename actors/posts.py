"""Posts, likes, saves and comments — their rules, over storage/posts.py.

Every mutation is one transaction (storage.events.tx_events) that first asks
actors/privacy.py, then changes rows and counters, stores the notifications it
causes (durable `notification` events) and queues live events for the post's
watchers on the bus channel `p:<post id>` (published after commit):
`post.updated` (counters, edits), `post.deleted`, `comment.added`,
`comment.deleted`. What a viewer may not see is `Missing` (not_found), what they
see but may not do is `NotAllowed` (forbidden); either way nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import trio

from actors import args as A
from actors import charges, privacy
from actors.accounts import Session, public_user
from actors.errors import DomainError, Invalid, Missing, NotAllowed, Taken
from actors.graph import position_cursor, position_wire
from actors.media import ADJUSTMENTS, Media, attached_wire, variant_urls
from actors.runtime import after_commit
from config.limits import (
    COMMENTS_WINDOW_SECONDS,
    LIKERS_DEFAULT,
    LIKERS_MAX,
    LIKES_WINDOW_SECONDS,
    USERNAME_MAX,
)
from media.filters import FILTERS, Adjustments
from storage import posts as db
from storage import ratelimit, timelines
from storage import search as search_db
from storage.events import EventSink, tx_events
from storage.graph import Cursor
from storage.notifications import notify
from storage.relations import Relation, relation, relations_many
from storage.store import Storage

CAPTION_MAX = 2200
HASHTAGS_MAX = 30  # distinct #tags in a caption
MENTIONS_MAX = 20  # distinct @usernames in a caption or comment
HASHTAG_MAX = 100  # characters of one tag
LOCATION_MAX = 100
ALT_MAX = 300
IDEM_MAX = 64
MEDIA_PER_POST = 10
COMMENT_MAX = 2200
LIST_DEFAULT = 20
LIST_MAX = 50
# The kinds of the lists' cursors (A.make_cursor): each list refuses the others'.
GRID_CURSOR, SAVED_CURSOR, COMMENTS_CURSOR, LIKERS_CURSOR = "g", "s", "cm", "lk"

# A tag is a run of word characters and combining marks after '#' (search_db.tags_in);
# a mention a run of username characters after '@'; neither counts inside a word
# ("a#b", "me@example.com").
MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9._]+)")

Keys = Callable[[int], str]  # post id -> its bus channel


# -- parsing -------------------------------------------------------------------------------
def hashtags(text: str) -> list[str]:
    """Distinct lower-cased tags in order of appearance, read as tag.get reads its
    argument (search_db.tag_text: composed (NFC), a dotted capital İ a plain I); too
    many or too long is Invalid."""
    found = search_db.tags_in(text)
    tags = list(dict.fromkeys(search_db.tag_key(t) for t in found))
    if len(tags) > HASHTAGS_MAX:
        raise Invalid(f"at most {HASHTAGS_MAX} hashtags")
    if any(len(t) > HASHTAG_MAX for t in tags):
        raise Invalid(f"a hashtag has at most {HASHTAG_MAX} characters")
    return tags


def mentions(text: str) -> list[str]:
    """Distinct lower-cased @usernames (a trailing '.' ends the sentence, not the name)."""
    names = [m.rstrip(".").lower() for m in MENTION_RE.findall(text)]
    out = list(dict.fromkeys(n for n in names if 0 < len(n) <= USERNAME_MAX))
    if len(out) > MENTIONS_MAX:
        raise Invalid(f"at most {MENTIONS_MAX} mentions")
    return out


@dataclass(frozen=True)
class MediaSpec:
    id: int
    filter: str | None
    alt: str
    adjust: Adjustments | None


def _media_specs(value: Any) -> list[MediaSpec]:
    if not isinstance(value, list) or not 1 <= len(value) <= MEDIA_PER_POST:
        raise Invalid(f"`media` must be a list of 1 to {MEDIA_PER_POST} items")
    out = []
    for i, item in enumerate(value):
        try:
            out.append(_media_spec(item))
        except Invalid as exc:
            raise Invalid(f"media[{i}]: {exc.message}") from None
    return out


def _media_spec(item: Any) -> MediaSpec:
    if isinstance(item, int) and not isinstance(item, bool):
        item = {"id": item}
    if not isinstance(item, dict):
        raise Invalid("each item is a map {id, filter?, alt?, adjust?}")
    A.only(item, {"id", "filter", "alt", "adjust"})
    media_id = A.integer(item, "id")
    assert media_id is not None
    name = A.text(item, "filter", max_len=32, required=False)
    if name is not None and name not in FILTERS:
        raise Invalid(f"unknown filter `{name}`; known: {', '.join(sorted(FILTERS))}")
    alt = A.trimmed(item, "alt", max_len=ALT_MAX, required=False) or ""
    adjust = None
    raw = item.get("adjust")
    if raw is not None:
        if not isinstance(raw, dict):
            raise Invalid("`adjust` must be a map of " + ", ".join(ADJUSTMENTS))
        A.only(raw, set(ADJUSTMENTS))
        try:
            adjust = Adjustments(**raw)
        except (TypeError, ValueError) as exc:
            raise Invalid(f"adjust: {exc}") from None
        if adjust.neutral:
            adjust = None
    return MediaSpec(media_id, name, alt.strip(), adjust)


def _limit(args: dict[str, Any]) -> int:
    value = A.integer(args, "limit", required=False, minimum=1, maximum=LIST_MAX)
    return LIST_DEFAULT if value is None else value


# -- wire maps -------------------------------------------------------------------------------
def author_wire(a: db.Author) -> dict[str, Any]:
    return {"id": a.id, "username": a.username, "display_name": a.display_name,
            "avatar": variant_urls(a.avatar) if a.avatar else None}


def post_wire(p: db.PostRecord) -> dict[str, Any]:
    return {
        "id": p.id, "author": author_wire(p.author), "caption": p.caption,
        "location": p.location,
        "media": attached_wire(p.media),
        "tags": list(p.tags), "mentions": [{"id": i, "username": n} for i, n in p.mentions],
        "like_count": p.like_count, "comment_count": p.comment_count,
        "comments_off": p.comments_off, "created_at": p.created_ms, "edited_at": p.edited_ms,
        "liked_by_me": p.liked, "saved_by_me": p.saved,
    }


def comment_wire(c: db.CommentRecord) -> dict[str, Any]:
    return {"id": c.id, "post": c.post_id, "author": author_wire(c.author), "text": c.body,
            "parent": c.parent_id, "like_count": c.like_count, "liked_by_me": c.liked,
            "created_at": c.created_ms, "reply_count": c.reply_count}


def _edit_event(p: db.PostRecord) -> dict[str, Any]:
    """`post.updated` after an edit: what anyone may see (nothing viewer-specific)."""
    return {"post": p.id, "caption": p.caption, "tags": list(p.tags),
            "mentions": [{"id": i, "username": n} for i, n in p.mentions],
            "comments_off": p.comments_off, "edited_at": p.edited_ms,
            "alts": [m.alt for m in p.media],
            "like_count": p.like_count, "comment_count": p.comment_count}


# -- shared steps inside a transaction ---------------------------------------------------------
async def _visible_post(conn: asyncpg.Connection, viewer_id: int,
                        post_id: int) -> tuple[db.PostHead, Relation]:
    """The live post and how the viewer stands to its author; not_found if they can't see it."""
    head = await db.head(conn, post_id)
    if head is None or head.deleted:
        raise Missing("no such post")
    rel = await relation(conn, viewer_id, head.author_id)
    privacy.require_posts(rel)
    return head, rel


async def _one_post(conn: asyncpg.Connection, viewer_id: int, post_id: int) -> dict[str, Any]:
    found = await db.load(conn, viewer_id, [post_id])
    if post_id not in found:
        raise Missing("no such post")
    return post_wire(found[post_id])


@dataclass(frozen=True)
class _Notice:
    recipient_id: int
    kind: str
    comment_id: int | None = None
    body: str = ""


async def _send_notices(conn: asyncpg.Connection, sink: EventSink, actor_id: int,
                        head: db.PostHead, notices: Sequence[_Notice]) -> None:
    """Store and emit notifications about a post, in recipient order (so concurrent
    transactions lock the recipients' rows in the same order)."""
    for n in sorted(notices, key=lambda n: n.recipient_id):
        if n.recipient_id == actor_id:
            continue
        rel = (Relation(head.author_id, head.author_id, exists=True)
               if n.recipient_id == head.author_id
               else await relation(conn, n.recipient_id, head.author_id))
        await notify(conn, sink, recipient_id=n.recipient_id, actor_id=actor_id, kind=n.kind,
                     allowed=privacy.post_notice(rel), post_id=head.id,
                     comment_id=n.comment_id, body=n.body)


def _counts_event(sink: EventSink, keys: Keys, post_id: int, counts: tuple[int, int]) -> None:
    sink.to_channel(keys(post_id), "post.updated",
                    {"post": post_id, "like_count": counts[0], "comment_count": counts[1]})


# -- transactions: posts -----------------------------------------------------------------------
async def _existing_post(conn: asyncpg.Connection, author_id: int,
                         idem: str) -> dict[str, Any] | None:
    post_id = await db.by_idem(conn, author_id, idem)
    if post_id is None:
        return None
    found = await db.load(conn, author_id, [post_id])
    if post_id not in found:
        raise Taken("that idempotency key belongs to a deleted post")
    return post_wire(found[post_id])


async def _create(conn: asyncpg.Connection, sink: EventSink, author_id: int, caption: str,
                  location: str, idem: str | None, items: list[tuple[int, str]],
                  tags: list[str], names: list[str]) -> tuple[dict[str, Any], bool]:
    """The post, and whether this call made it (not a concurrent retry's)."""
    post_id = await db.insert(conn, author_id, caption, location, idem)
    if post_id is None:  # a concurrent retry with the same key won: its post is the answer
        assert idem is not None
        existing = await _existing_post(conn, author_id, idem)
        assert existing is not None
        return existing, False
    gone = await db.claim_media(conn, author_id, items, post_id)
    if gone:
        raise Missing(f"no such media: {gone[0]}")
    await db.add_tags(conn, post_id, tags, counted=True)
    ids = await db.user_ids(conn, names)
    mentioned = await db.set_mentions(conn, post_id, list(ids.values()))
    await db.bump_posts_count(conn, author_id, 1)
    await timelines.outbox_add(conn, timelines.POST, post_id, author_id)
    head = await db.head(conn, post_id)
    assert head is not None
    await _send_notices(conn, sink, author_id, head,
                        [_Notice(uid, "mention", body=caption) for uid in mentioned])
    return await _one_post(conn, author_id, post_id), True


async def _get(conn: asyncpg.Connection, viewer_id: int, post_id: int) -> dict[str, Any]:
    await _visible_post(conn, viewer_id, post_id)
    return await _one_post(conn, viewer_id, post_id)


async def _edit(conn: asyncpg.Connection, sink: EventSink, viewer_id: int, post_id: int,
                caption: str | None, parsed: tuple[list[str], list[str]] | None,
                alts: list[str] | None, comments_off: bool | None, keys: Keys) -> dict[str, Any]:
    head, rel = await _visible_post(conn, viewer_id, post_id)
    privacy.require_own_post(rel)
    if alts is not None and len(alts) != head.media_count:
        raise Invalid(f"`alts` needs one text per photo ({head.media_count})")
    if not await db.update(conn, post_id, caption=caption, comments_off=comments_off):
        raise Missing("no such post")
    if alts is not None:
        await db.set_alts(conn, post_id, alts)
    removed: list[str] = []
    if caption is not None and parsed is not None:
        tags, names = parsed
        removed = await db.drop_tags(conn, post_id, tags)
        await db.add_tags(conn, post_id, tags, counted=False)
        ids = await db.user_ids(conn, names)
        mentioned = await db.set_mentions(conn, post_id, list(ids.values()))
        # Only on the first mention in this post: taking a name out and putting it back
        # notified again at every edit.
        told = await db.mention_notified(conn, post_id, viewer_id, mentioned)
        await _send_notices(conn, sink, viewer_id, head,
                            [_Notice(uid, "mention", body=caption)
                             for uid in mentioned if uid not in told])
    found = await db.load(conn, viewer_id, [post_id])
    sink.to_channel(keys(post_id), "post.updated", _edit_event(found[post_id]))
    return {**post_wire(found[post_id]), "_tags_removed": removed}


async def _delete(conn: asyncpg.Connection, sink: EventSink, viewer_id: int, post_id: int,
                  keys: Keys) -> dict[str, Any]:
    _, rel = await _visible_post(conn, viewer_id, post_id)
    privacy.require_own_post(rel)
    tags = await db.soft_delete(conn, post_id)
    if tags is None:
        raise Missing("no such post")
    sink.to_channel(keys(post_id), "post.deleted", {"post": post_id})
    return {"post": post_id, "deleted": True, "_tags": tags}


async def _grid(conn: asyncpg.Connection, viewer_id: int, user_id: int | None,
                username: str | None, before: int | None, limit: int) -> dict[str, Any]:
    if user_id is None:
        assert username is not None
        user_id = (await db.user_ids(conn, [username])).get(username)
        if user_id is None:
            raise Missing("no such user")
    privacy.require_grid(await relation(conn, viewer_id, user_id))
    ids = await db.grid(conn, user_id, before, limit)
    found = await db.load(conn, viewer_id, ids)
    return {"posts": [post_wire(found[i]) for i in ids if i in found],
            "cursor": A.make_cursor(GRID_CURSOR, ids[-1]) if len(ids) == limit else None}


async def _saved(conn: asyncpg.Connection, viewer_id: int, before: tuple[int, int] | None,
                 limit: int) -> dict[str, Any]:
    rows = await db.saved(conn, viewer_id, before, limit)
    rels = await relations_many(conn, viewer_id, {author_id for _, author_id, _ in rows})
    ids = [pid for pid, author_id, _ in rows if privacy.can_see_posts(rels[author_id])]
    found = await db.load(conn, viewer_id, ids)
    last = rows[-1] if len(rows) == limit else None
    return {"posts": [post_wire(found[i]) for i in ids if i in found],
            "cursor": A.make_cursor(SAVED_CURSOR, last[2], last[0]) if last else None}


async def _take_like(charge: ratelimit.Charge) -> None:
    """Count a like that adds one (a refused call, or one that adds nothing, is not):
    per user, over all posts, comments and connections — each may tell someone, and the
    op limit is per connection. A call racing the same viewer's like of the same thing
    may be counted and then add nothing."""
    await charges.take(charge, "too many likes; slow down")


async def _like(conn: asyncpg.Connection, sink: EventSink, viewer_id: int, post_id: int,
                keys: Keys, charge: ratelimit.Charge) -> dict[str, Any]:
    # The post's row held (so the notification's id follows commit order), what the rules
    # need (post, relations both ways), then the like, counter, notification and its
    # durable event together (storage.posts.like_once).
    ctx = await db.post_context(conn, viewer_id, post_id)
    if ctx is None or ctx.head.deleted:
        raise Missing("no such post")
    privacy.require_interaction(ctx.viewer_to_author)
    if ctx.liked:  # liking again changes nothing
        return {"post": post_id, "liked": True, "like_count": ctx.head.like_count}
    await _take_like(charge)
    # The author hears of it (seeing their own post) unless should_notify says no.
    notify = (ctx.head.author_id != viewer_id
              and privacy.post_notice(Relation(ctx.head.author_id, ctx.head.author_id,
                                               exists=True))(ctx.author_to_viewer))
    done = await db.like_once(conn, ctx, viewer_id, notify=notify, retention=sink.retention)
    if not done.inserted:
        return {"post": post_id, "liked": True, "like_count": ctx.head.like_count}
    if done.counts is None:
        raise Missing("no such post")
    sink.stored(done.events)
    _counts_event(sink, keys, post_id, done.counts)
    return {"post": post_id, "liked": True, "like_count": done.counts[0]}


async def _unlike(conn: asyncpg.Connection, sink: EventSink, viewer_id: int, post_id: int,
                  keys: Keys) -> dict[str, Any]:
    done = await db.unlike_once(conn, post_id, viewer_id)
    if not done.live:
        raise Missing("no such post")
    if not done.removed:
        # Nothing to undo: answer like a read, so an invisible post stays invisible.
        await _visible_post(conn, viewer_id, post_id)
        return {"post": post_id, "liked": False, "like_count": done.like_count}
    # Taking back one's own like is allowed even after a block.
    if done.counts is None:
        raise Missing("no such post")
    _counts_event(sink, keys, post_id, done.counts)
    if done.author_id is None or not privacy.can_see_posts(
            await relation(conn, viewer_id, done.author_id)):
        return {"post": post_id, "liked": False}  # no count of a post one may not see
    return {"post": post_id, "liked": False, "like_count": done.counts[0]}


async def _save(conn: asyncpg.Connection, viewer_id: int, post_id: int,
                on: bool) -> dict[str, Any]:
    if on:
        await _visible_post(conn, viewer_id, post_id)
        await db.save(conn, viewer_id, post_id)
    else:
        head = await db.head(conn, post_id)
        if head is None:
            raise Missing("no such post")
        await db.unsave(conn, viewer_id, post_id)  # even from a post one can no longer see
    return {"post": post_id, "saved": on}


# -- transactions: comments -----------------------------------------------------------------------
async def _existing_comment(conn: asyncpg.Connection, author_id: int,
                            idem: str) -> dict[str, Any] | None:
    comment_id = await db.comment_by_idem(conn, author_id, idem)
    if comment_id is None:
        return None
    return await _idem_comment(conn, author_id, comment_id)


async def _idem_comment(conn: asyncpg.Connection, author_id: int,
                        comment_id: int) -> dict[str, Any]:
    """The comment an idempotency key names, as its first reply gave it (gone with its
    post too: a retry after the post was deleted answered the comment)."""
    found = await db.load_comments(conn, author_id, [comment_id])
    head = await db.head(conn, found[comment_id].post_id) if comment_id in found else None
    if head is None or head.deleted:
        raise Taken("that idempotency key belongs to a deleted comment")
    return comment_wire(found[comment_id])


async def _comment(conn: asyncpg.Connection, sink: EventSink, viewer_id: int, post_id: int,
                   text: str, names: list[str], reply_to: int | None, idem: str | None,
                   keys: Keys, charge: ratelimit.Charge) -> dict[str, Any]:
    # Two statements: what the rules need (a comment made with the same key,
    # the post, the comment replied to, every relation asked about below), then the
    # comment, counter, notifications and their durable events (storage.posts.add_comment_once).
    ctx = await db.add_comment_context(conn, viewer_id, post_id, reply_to, idem, names)
    if ctx is None:
        raise Missing("no such post")
    if idem is not None and ctx.idem_id is not None:
        existing = await _idem_comment(conn, viewer_id, ctx.idem_id)
        if existing["post"] != post_id:
            raise Taken("that idempotency key was used for a comment on another post")
        return existing
    head, rel = ctx.head, ctx.viewer_to_author
    if head is None or head.deleted:
        raise Missing("no such post")
    privacy.require_posts(rel)
    privacy.require_interaction(rel)
    if head.comments_off:
        raise NotAllowed("comments are turned off for this post")
    parent: db.CommentHead | None = None
    if reply_to is not None:
        # A comment hidden from the viewer, or one in a hidden thread, is answered as one
        # that does not exist (the same message), so the block is not revealed.
        parent = ctx.reply_to
        if (parent is None or parent.deleted or parent.post_id != post_id
                or not privacy.can_see_comment(ctx.viewer_to_reply_author)):
            raise Missing("no such comment to reply to")
        if parent.parent_id is not None:  # replies are one level deep
            parent = ctx.thread
            if parent is None or parent.deleted:
                raise Missing("no such comment to reply to")
        if not privacy.can_see_comment(ctx.viewer_to_thread_author):
            raise Missing("no such comment to reply to")
    kinds = {t.user_id: "mention" for t in ctx.targets.values() if t.mentioned}
    kinds[head.author_id] = "comment"
    if parent is not None:  # the thread's author hears "reply" (even if they own the post)
        kinds[parent.author_id] = "reply"
    # The rules of _send_notices, in recipient order (the users rows lock in that order);
    # and a reply is news only to those who may see its thread (as in comment.list).
    notices: list[tuple[int, str]] = []
    for uid in sorted(kinds):
        if uid == viewer_id:
            continue
        target = ctx.targets[uid]
        sees = (Relation(head.author_id, head.author_id, exists=True)
                if uid == head.author_id else target.to_post_author)
        if (privacy.post_notice(sees)(target.to_commenter)
                and privacy.can_see_thread(target.to_thread_author)):
            notices.append((uid, kinds[uid]))
    # Counted once every check passed (a refused or repeated call is not): per user,
    # over all posts and connections — the op limit is per connection.
    await charges.take(charge, "too many comments; slow down")
    done = await db.add_comment_once(conn, ctx, viewer_id, post_id,
                                     parent.id if parent else None, text, idem, notices,
                                     retention=sink.retention)
    if not done.inserted:  # a concurrent retry with the same key won
        assert idem is not None
        existing = await _existing_comment(conn, viewer_id, idem)
        assert existing is not None
        if existing["post"] != post_id:  # as when the key is found at once (above)
            raise Taken("that idempotency key was used for a comment on another post")
        return existing
    if done.counts is None:
        raise Missing("no such post")
    sink.stored(done.events)
    wire = comment_wire(done.comment)
    sink.to_channel(keys(post_id), "comment.added", {"post": post_id, "comment": wire})
    _counts_event(sink, keys, post_id, done.counts)
    return wire


async def _uncomment(conn: asyncpg.Connection, sink: EventSink, viewer_id: int,
                     comment_id: int, keys: Keys) -> dict[str, Any]:
    # One statement reads the comment, its post and the viewer's relations to the
    # post's, the comment's and the thread's authors (storage.posts.removal_context).
    ctx = await db.removal_context(conn, viewer_id, comment_id)
    if ctx is None or ctx.comment.deleted or ctx.head.deleted:
        raise Missing("no such comment")
    c, head = ctx.comment, ctx.head
    privacy.require_comment_removal(
        ctx.viewer_to_post_author, c.author_id == viewer_id,
        privacy.can_see_comment(ctx.viewer_to_comment_author)
        and privacy.can_see_thread(ctx.viewer_to_thread_author))
    removed = await db.delete_comment(conn, comment_id, viewer_id)
    if not removed:
        raise Missing("no such comment")
    counts = await db.bump_counts(conn, head.id, comments=-len(removed))
    if counts is None:
        raise Missing("no such comment")
    sink.to_channel(keys(head.id), "comment.deleted",
                    {"post": head.id, "comment": comment_id, "parent": c.parent_id,
                     "removed": len(removed)})
    _counts_event(sink, keys, head.id, counts)
    return {"comment": comment_id, "post": head.id, "deleted": True, "removed": len(removed)}


async def _comments(conn: asyncpg.Connection, viewer_id: int, post_id: int,
                    parent_id: int | None, after: int | None, limit: int) -> dict[str, Any]:
    await _visible_post(conn, viewer_id, post_id)
    if parent_id is not None:
        # A thread whose comment is hidden from the viewer is not_found as a made-up one:
        # its replies would show what the block hides.
        parent = await db.comment_sight(conn, viewer_id, parent_id)
        if (parent is None or parent.comment.deleted or parent.comment.post_id != post_id
                or parent.comment.parent_id is not None  # a reply has no thread of its own
                or not privacy.can_see_comment(parent.viewer_to_author)):
            raise Missing("no such comment")
    rows = await db.list_comments(conn, post_id, parent_id, after, limit)
    rels = await relations_many(conn, viewer_id, {author_id for _, author_id in rows})
    ids = [cid for cid, author_id in rows if privacy.can_see_comment(rels[author_id])]
    found = await db.load_comments(conn, viewer_id, ids)
    return {"comments": [comment_wire(found[i]) for i in ids if i in found],
            "cursor": (A.make_cursor(COMMENTS_CURSOR, rows[-1][0]) if len(rows) == limit
                       else None)}


async def _like_comment(conn: asyncpg.Connection, sink: EventSink, viewer_id: int,
                        comment_id: int, on: bool, charge: ratelimit.Charge) -> dict[str, Any]:
    # As for post likes: the comment's row held, what the rules need, then the change
    # with its counter, notification and durable event (storage.posts.comment_like_once).
    ctx = await db.comment_context(conn, viewer_id, comment_id)
    if ctx is None or ctx.comment.deleted or ctx.head.deleted:
        raise Missing("no such comment")
    privacy.require_posts(ctx.viewer_to_post_author, "comment")
    c, head = ctx.comment, ctx.head
    # A reply in a thread hidden from the viewer is hidden with it (as in comment.list).
    thread_hidden = (ctx.viewer_to_thread_author is not None
                     and not privacy.can_see_comment(ctx.viewer_to_thread_author))
    notify = False
    if on:
        privacy.require_comment_interaction(ctx.viewer_to_post_author,
                                            ctx.viewer_to_comment_author)
        if thread_hidden:
            raise Missing("no such comment")
        # The comment's author hears of it if they may see the post and their comment's
        # thread (a reply of theirs in a thread now hidden from them is hidden with it),
        # and should_notify holds for the liker (the rules of _send_notices).
        sees = (Relation(head.author_id, head.author_id, exists=True)
                if c.author_id == head.author_id else ctx.comment_author_to_post_author)
        notify = (c.author_id != viewer_id
                  and privacy.can_see_thread(ctx.comment_author_to_thread_author)
                  and privacy.post_notice(sees)(ctx.comment_author_to_viewer))
        if not ctx.liked:  # a new like (liking again changes nothing)
            await _take_like(charge)
    done = await db.comment_like_once(conn, ctx, viewer_id, on, notify=notify,
                                      retention=sink.retention)
    if not done.changed:
        # Nothing to undo: answer like a read, so a hidden comment stays hidden (taking
        # back one's own like is allowed even after a block, as for posts).
        if thread_hidden or not privacy.can_see_comment(ctx.viewer_to_comment_author):
            raise Missing("no such comment")
        return {"comment": comment_id, "liked": on, "like_count": done.current}
    if done.like_count is None:
        raise Missing("no such comment")
    sink.stored(done.events)
    if thread_hidden or not privacy.can_see_comment(ctx.viewer_to_comment_author):
        # one's own like taken back from a comment one may no longer see: no count
        return {"comment": comment_id, "liked": on}
    return {"comment": comment_id, "liked": on, "like_count": done.like_count}


# -- who liked a post ---------------------------------------------------------------------------
def _liker_wire(liker: db.Liker, viewer_id: int) -> dict[str, Any]:
    """A user map as in follow.list: how the viewer stands to them, but for oneself."""
    out = public_user(liker.user)
    if liker.user.id != viewer_id:
        r = liker.viewer_to_liker
        out.update(followed_by_me=r.following, follows_me=r.follows_me, requested=r.requested)
    return out


async def _likers(conn: asyncpg.Connection, viewer_id: int, post_id: int,
                  after: Cursor | None, limit: int) -> dict[str, Any]:
    # Two statements: the post and the viewer's relation to its author (as post.get
    # decides), then the page with each liker's relation to the viewer.
    seen = await db.sight(conn, viewer_id, post_id)
    if seen is None or seen.deleted:
        raise Missing("no such post")
    privacy.require_posts(seen.viewer_to_author)
    page = await db.likers(conn, viewer_id, post_id, after, limit)
    return {"users": [_liker_wire(x, viewer_id) for x in page.likers
                      if privacy.can_list_user(x.viewer_to_liker)],
            "cursor": position_wire(LIKERS_CURSOR, page.next)}


async def after_post_deleted(st: Storage, media: Media, post_id: int, author_id: int,
                             tags: list[str]) -> None:
    """What a post's deletion (its author's, or an operator's removal) owes once it
    committed: explore's kept tag counts forgotten again (a read in between kept them),
    its fan-out `delete` job queued (else the outbox sweep does), its trending uses
    taken back, its files purged (last: queued with the deletion, a purge cut short by
    the time limit is done again by the collector; the rest has no such second try)."""
    search_db.forget_tag_counts()
    with after_commit():
        await timelines.enqueue_quietly(st, timelines.DELETE, [post_id], author_id)
        await search_db.uncount_public_tags(st, author_id, post_id, tags)
        await media.purge_post(post_id)


# -- the service -------------------------------------------------------------------------------
class Posts:
    """Post and comment ops for one node; every method takes the caller's session and raw args."""

    def __init__(self, st: Storage, media: Media) -> None:
        self.st = st
        self.media = media

    def channel(self, post_id: int) -> str:
        """The bus channel of a post's live events (watchers subscribe to it)."""
        return self.st.key("p", post_id)

    @staticmethod
    def post_arg(args: dict[str, Any], name: str = "post") -> int:
        value = A.integer(args, name)
        assert value is not None
        return value

    async def create(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"media", "caption", "location", "idem"})
        caption = A.trimmed(args, "caption", max_len=CAPTION_MAX, required=False) or ""
        tags, names = hashtags(caption), mentions(caption)
        location = A.trimmed(args, "location", max_len=LOCATION_MAX, required=False) or ""
        idem = A.text(args, "idem", max_len=IDEM_MAX, min_len=1, required=False)
        specs = _media_specs(args.get("media"))
        if idem is not None:  # a retry: answer before doing any work again
            existing = await self.st.tx(_existing_post, session.user_id, idem)
            if existing is not None:
                return existing
        items = await self._prepare_media(session, specs)
        post, made = await tx_events(self.st, _create, session.user_id, caption, location,
                                     idem, items, tags, names)
        if made:  # a retry that lost the race to its first call changes nothing
            with after_commit():
                await timelines.enqueue_quietly(self.st, timelines.POST, [post["id"]],
                                                session.user_id)
                # trending hashtags, counted only for a public author's post
                await search_db.count_public_tags(self.st, session.user_id, post["tags"])
        return post

    async def _prepare_media(self, session: Session,
                             specs: list[MediaSpec]) -> list[tuple[int, str]]:
        """Each spec as (media id, alt): the caller's upload, re-rendered from its master
        when another filter or adjustments are asked for (photos render concurrently)."""
        records = [await self.media.owned(session, s.id) for s in specs]
        out: list[tuple[int, str]] = [(r.id, s.alt) for r, s in zip(records, specs, strict=True)]

        async def render(i: int) -> None:
            rec, spec = records[i], specs[i]
            rendered = await self.media.render(
                rec, kind="photo", filter_name=spec.filter or rec.filter, adjust=spec.adjust,
                attached=False)  # attached by the post's transaction, or collected
            out[i] = (rendered.id, spec.alt)

        todo = [i for i, (rec, spec) in enumerate(zip(records, specs, strict=True))
                if (rec.kind != "photo" or spec.adjust is not None
                    or (spec.filter is not None and spec.filter != rec.filter))]
        if todo:
            await self.media.charge(session.user_id, len(todo))
        async with trio.open_nursery() as nursery:
            for i in todo:
                nursery.start_soon(render, i)
        return out

    async def get(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"post"})
        return await self.st.tx(_get, session.user_id, self.post_arg(args))

    async def get_id(self, session: Session, post_id: int) -> dict[str, Any]:
        return await self.st.tx(_get, session.user_id, post_id)

    async def edit(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"post", "caption", "alts", "comments_off"})
        post_id = self.post_arg(args)
        caption = A.trimmed(args, "caption", max_len=CAPTION_MAX, required=False)
        parsed = None
        if caption is not None:
            parsed = (hashtags(caption), mentions(caption))
        alts = args.get("alts")
        if alts is not None:
            if not isinstance(alts, list) or len(alts) > MEDIA_PER_POST or not all(
                    isinstance(a, str) and len(a.strip()) <= ALT_MAX
                    and len(a) <= ALT_MAX + A.TRIM_SLACK and "\x00" not in a for a in alts):
                raise Invalid(f"`alts` must be a list of strings of at most {ALT_MAX} characters")
            alts = [a.strip() for a in alts]
        comments_off = A.flag(args, "comments_off", required=False)
        if caption is None and alts is None and comments_off is None:
            raise Invalid("nothing to change: give `caption`, `alts` or `comments_off`")
        done = await tx_events(self.st, _edit, session.user_id, post_id, caption, parsed, alts,
                               comments_off, self.channel)
        removed = done.pop("_tags_removed")
        if parsed is not None:
            search_db.forget_tag_counts()  # committed: the kept tags may have lost a post
        if removed:  # their uses leave trending, as a deletion's do
            with after_commit():
                await search_db.uncount_public_tags(self.st, session.user_id, post_id,
                                                    removed)
        return done

    async def delete(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"post"})
        done = await tx_events(self.st, _delete, session.user_id, self.post_arg(args),
                               self.channel)
        await after_post_deleted(self.st, self.media, done["post"], session.user_id,
                                 done.pop("_tags"))
        return done

    async def list_posts(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"user", "username", "saved", "cursor", "limit"})
        limit = _limit(args)
        if A.flag(args, "saved", required=False):
            if args.get("user") is not None or args.get("username") is not None:
                raise Invalid("`saved` lists your own saved posts: no `user` with it")
            cur = A.cursor(args, SAVED_CURSOR, 2)
            return await self.st.tx(_saved, session.user_id,
                                    (cur[0], cur[1]) if cur else None, limit)
        user_id = A.integer(args, "user", required=False)
        username = A.text(args, "username", max_len=USERNAME_MAX, min_len=1, required=False)
        if user_id is None and username is None:
            user_id = session.user_id
        cur = A.cursor(args, GRID_CURSOR, 1)
        return await self.st.tx(_grid, session.user_id, user_id,
                                username.lower() if username else None,
                                cur[0] if cur else None, limit)

    async def like(self, session: Session, args: dict[str, Any], on: bool) -> dict[str, Any]:
        A.only(args, {"post", "idem"})  # likes are idempotent by nature; `idem` is accepted
        A.text(args, "idem", max_len=IDEM_MAX, required=False)
        post_id = self.post_arg(args)
        if not on:  # taking a like back is never limited
            return await tx_events(self.st, _unlike, session.user_id, post_id, self.channel)
        charge = self._likes(session)
        async with charge.given_back_on(DomainError):
            return await tx_events(self.st, _like, session.user_id, post_id, self.channel,
                                   charge)

    def _likes(self, session: Session) -> ratelimit.Charge:
        """The user's allowance of likes, of posts and comments together."""
        return ratelimit.Charge(self.st, "like", str(session.user_id),
                                self.st.settings.likes_per_hour, LIKES_WINDOW_SECONDS)

    async def likers(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        """Who liked a post, the latest like first: for anyone who may see the post."""
        A.only(args, {"post", "cursor", "limit"})
        post_id = self.post_arg(args)
        limit = A.integer(args, "limit", required=False, minimum=1, maximum=LIKERS_MAX)
        return await self.st.tx(_likers, session.user_id, post_id,
                                position_cursor(args, LIKERS_CURSOR),
                                LIKERS_DEFAULT if limit is None else limit)

    async def save(self, session: Session, args: dict[str, Any], on: bool) -> dict[str, Any]:
        A.only(args, {"post", "idem"})
        A.text(args, "idem", max_len=IDEM_MAX, required=False)
        return await self.st.tx(_save, session.user_id, self.post_arg(args), on)

    # -- comments ---------------------------------------------------------------------------
    async def comment(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"post", "text", "reply_to", "idem"})
        post_id = self.post_arg(args)
        text = A.trimmed(args, "text", max_len=COMMENT_MAX, min_len=1)
        if not text or A.blank(text):
            raise Invalid("`text` must not be blank")
        names = mentions(text)
        reply_to = A.integer(args, "reply_to", required=False)
        idem = A.text(args, "idem", max_len=IDEM_MAX, min_len=1, required=False)
        charge = ratelimit.Charge(self.st, "comment.add", str(session.user_id),
                                  self.st.settings.comments_per_minute, COMMENTS_WINDOW_SECONDS)
        async with charge.given_back_on(DomainError):
            return await tx_events(self.st, _comment, session.user_id, post_id, text, names,
                                   reply_to, idem, self.channel, charge)

    async def uncomment(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"comment"})
        return await tx_events(self.st, _uncomment, session.user_id,
                               self.post_arg(args, "comment"), self.channel)

    async def comments(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"post", "parent", "cursor", "limit"})
        post_id = self.post_arg(args)
        parent = A.integer(args, "parent", required=False)
        cur = A.cursor(args, COMMENTS_CURSOR, 1)
        return await self.st.tx(_comments, session.user_id, post_id, parent,
                                cur[0] if cur else None, _limit(args))

    async def like_comment(self, session: Session, args: dict[str, Any],
                           on: bool) -> dict[str, Any]:
        A.only(args, {"comment", "idem"})
        A.text(args, "idem", max_len=IDEM_MAX, required=False)
        comment_id = self.post_arg(args, "comment")
        charge = self._likes(session)  # taken only by a new like
        async with charge.given_back_on(DomainError):
            return await tx_events(self.st, _like_comment, session.user_id, comment_id, on,
                                   charge)
