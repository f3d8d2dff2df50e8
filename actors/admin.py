"""Operators: the `admin.*` ops — their rules, over storage/moderation.py and the bus.

Every op first reads the caller's admin flag from Postgres (not the one seen at
`hello`, so `glint admin revoke` takes effect at once): anyone else gets
`NotAllowed` (forbidden) before their arguments are even looked at, so a
non-admin learns nothing. Every action that changes something writes an audit
row in the same transaction as the change; its bus messages (closing sessions,
`post.deleted` to watchers, announcements) are published after the commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import asyncpg
import msgpack

from actors import args as A
from actors.accounts import Session
from actors.errors import Invalid, Missing, NotAllowed, Unsupported
from actors.media import Media
from actors.posts import after_post_deleted
from actors.presence import suspension_hidden
from actors.runtime import after_commit
from config.limits import (
    ADMIN_LIST_DEFAULT,
    ADMIN_LIST_MAX,
    ADMIN_REASON_MAX,
    ANNOUNCEMENT_MAX,
    USERNAME_MAX,
)
from protocol.envelope import encode, event
from storage import bus, nodestats, timelines
from storage import moderation as mod
from storage import posts as posts_db
from storage import search as search_db
from storage.events import EventSink, tx_events
from storage.moderation import Operator
from storage.store import Storage

KINDS = ("post", "comment", "user", "message")
ACTIONS = ("dismiss", "remove", "suspend")
LEVELS = ("info", "warning", "critical")
NODE_NAME_MAX = 200
SUSPENDED_REASON = "account suspended"
Keys = Callable[[int], str]  # post id -> its watchers' bus channel
# The kinds of the lists' cursors (A.make_cursor), by the list's reply key: each list
# refuses the others' (a user id read as a post id paged from anywhere).
LIST_CURSORS = {"sessions": "as", "users": "au", "posts": "ap", "comments": "ac",
                "reports": "ar", "entries": "aa"}
SESSION_CURSOR_MAX = 260  # since, conn and a node's name (NODE_NAME_MAX)


def node_channel(st: Storage, node: str) -> str:
    """A node's own bus channel: kicks of one of its connections, and its lag probes."""
    return st.key("adm", node)


def pack_kick(conn_id: int, user_id: int, reason: str) -> bytes:
    """A kick names the user the operator saw on that connection: connection ids restart
    with a node, so an entry left in Redis by its previous process must not close
    somebody else's session."""
    return bus.pack("x", msgpack.packb([conn_id, user_id, reason]))


def unpack_kick(body: bytes) -> tuple[int, int, str]:
    conn_id, user_id, reason = msgpack.unpackb(body)
    return int(conn_id), int(user_id), str(reason)


# -- argument helpers ------------------------------------------------------------------------
def _limit(args: dict[str, Any]) -> int:
    n = A.integer(args, "limit", required=False, minimum=1, maximum=ADMIN_LIST_MAX)
    return ADMIN_LIST_DEFAULT if n is None else n


def _before(args: dict[str, Any], key: str) -> int | None:
    """The id a cursor of the list answered under `key` (`_page`) pages below."""
    cur = A.cursor(args, LIST_CURSORS[key], 1)
    return cur[0] if cur else None


def _page(rows: list[dict[str, Any]], key: str, limit: int, cursor_of: str = "id"
          ) -> dict[str, Any]:
    return {key: rows, "cursor": (A.make_cursor(LIST_CURSORS[key], rows[-1][cursor_of])
                                  if len(rows) == limit else None)}


def _reason(args: dict[str, Any], *, required: bool) -> str:
    text = A.trimmed(args, "reason", max_len=ADMIN_REASON_MAX, required=required) or ""
    if A.blank(text):  # only invisible characters: shows nothing, as none would
        if required:
            raise Invalid("`reason` must not be blank")
        return ""  # an optional one takes its default, as an empty one does
    return text


def _id(args: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    return A.integer(args, name, required=required, minimum=1)


def _choice(args: dict[str, Any], name: str, allowed: tuple[str, ...], *,
            default: str | None = None) -> str:
    value = A.text(args, name, max_len=40, required=default is None)
    if value is None:
        assert default is not None
        return default
    if value not in allowed:
        raise Invalid(f"`{name}` must be one of: {', '.join(allowed)}")
    return value


# -- aggregation of node snapshots -------------------------------------------------------------
def cluster_stats(snaps: list[dict[str, Any]]) -> dict[str, Any]:
    """admin.stats: every live node's snapshot and the sums over them."""
    nodes = sorted(snaps, key=lambda s: s.get("node", ""))

    def total(field: str) -> float:
        return round(sum(float(s.get(field) or 0) for s in nodes), 3)

    return {
        "ts": int(time.time() * 1000),
        "nodes": nodes,
        "totals": {
            "nodes": len(nodes),
            "connections": int(total("connections")),
            "sessions": int(total("sessions")),
            "online_users": int(total("online_users")),
            "in_per_s": total("in_per_s"),
            "out_per_s": total("out_per_s"),
            "events_per_s": total("events_per_s"),
            "errors_per_s": total("errors_per_s"),
        },
    }


# -- transactions ------------------------------------------------------------------------------
async def _audit(conn: asyncpg.Connection, op: Operator, action: str, kind: str,
                 target: int | None, details: dict[str, Any]) -> int:
    """The action's audit row, last in its transaction, once the caller is found an
    operator still, their row held: `require` read the role before the transaction, and
    a revoke committed in between let the action through (audited under a former
    operator). Refused, the whole action rolls back."""
    if not await mod.hold_operator(conn, op.user_id):
        raise NotAllowed("operators only")
    return await mod.audit(conn, op.user_id, op.username, action, kind, target, details)


async def _suspend(conn: asyncpg.Connection, op: Operator, user_id: int, reason: str,
                   action: str, extra: dict[str, Any]) -> dict[str, Any]:
    target = await mod.operator(conn, user_id)
    if target is None:
        raise Missing("no such user")
    if target.user_id == op.user_id:
        raise NotAllowed("you cannot suspend yourself")
    if target.is_admin:
        raise NotAllowed("revoke this user's admin role first (glint admin revoke)")
    newly, revoked = await mod.suspend(conn, user_id, reason)
    await _audit(conn, op, action, "user", user_id,
                    {"reason": reason, "username": target.username, "tokens_revoked": revoked,
                     "already_suspended": not newly, **extra})
    return {"user": user_id, "suspended": True, "already": not newly,
            "tokens_revoked": revoked}


async def _unsuspend(conn: asyncpg.Connection, op: Operator, user_id: int,
                     reason: str) -> dict[str, Any]:
    target = await mod.operator(conn, user_id)
    if target is None:
        raise Missing("no such user")
    since = await mod.unsuspend(conn, user_id)
    changed = since is not None
    refan = await timelines.refan_after_suspension(conn, user_id, since) if changed else []
    await _audit(conn, op, "admin.unsuspend", "user", user_id,
                    {"reason": reason, "username": target.username, "was_suspended": changed})
    return {"user": user_id, "suspended": False, "already": not changed, "_refan": refan}


def _resolved_by(action: str) -> dict[str, str]:
    """A removal done by admin.resolve says so in its audit row, as dismiss and suspend do."""
    return {"action": "remove"} if action == "admin.resolve" else {}


async def _remove_post(conn: asyncpg.Connection, sink: EventSink, op: Operator, post_id: int,
                       reason: str, action: str, strict: bool, keys: Keys) -> dict[str, Any]:
    head = await posts_db.head(conn, post_id)
    if head is None or (head.deleted and strict):
        raise Missing("no such post")
    gone = None if head.deleted else await posts_db.soft_delete(conn, post_id)
    removed = gone is not None
    if strict and not removed:  # deleted meanwhile (the head was read unlocked): as gone
        raise Missing("no such post")
    tags: list[str] = gone or []
    if removed:
        sink.to_channel(keys(post_id), "post.deleted", {"post": post_id})
    closed = await mod.resolve_reports(conn, "post", post_id, op.user_id, "removed")
    # its comments went with it: reports on them have nothing left to act on
    closed += await mod.resolve_comment_reports_of_post(conn, post_id, op.user_id, "removed")
    await _audit(conn, op, action, "post", post_id,
                    {"reason": reason, "author": head.author_id, "reports_closed": closed,
                     "already_removed": not removed, **_resolved_by(action)})
    return {"post": post_id, "author": head.author_id, "removed": True,
            "reports_closed": closed, "_fresh": removed, "_tags": tags}


async def _remove_comment(conn: asyncpg.Connection, sink: EventSink, op: Operator,
                          comment_id: int, reason: str, action: str,
                          strict: bool, keys: Keys) -> dict[str, Any]:
    c = await posts_db.comment_head(conn, comment_id)
    if c is None or (c.deleted and strict):
        raise Missing("no such comment")
    # A comment whose post is gone went with it (users no longer see it): it is already
    # down, like a deleted one, and its row is left as it is (admin.comments: `post_gone`).
    post = await posts_db.head(conn, c.post_id)
    post_gone = post is None or post.deleted
    if post_gone and strict:
        raise Missing("the comment's post is gone (deleted or removed): the comment went "
                      "with it")
    gone = [] if c.deleted or post_gone else await posts_db.delete_comment(
        conn, comment_id, op.user_id)
    if strict and not gone:  # deleted meanwhile (read unlocked above): as gone
        raise Missing("no such comment")
    if gone:
        counts = await posts_db.bump_counts(conn, c.post_id, comments=-len(gone))
        sink.to_channel(keys(c.post_id), "comment.deleted",
                        {"post": c.post_id, "comment": comment_id, "parent": c.parent_id,
                         "removed": len(gone)})
        if counts is not None:
            sink.to_channel(keys(c.post_id), "post.updated",
                            {"post": c.post_id, "like_count": counts[0],
                             "comment_count": counts[1]})
    closed = await mod.resolve_reports(conn, "comment", comment_id, op.user_id, "removed")
    await _audit(conn, op, action, "comment", comment_id,
                    {"reason": reason, "author": c.author_id, "post": c.post_id,
                     "removed": len(gone), "reports_closed": closed,
                     **({"post_gone": True} if post_gone else {}), **_resolved_by(action)})
    return {"comment": comment_id, "post": c.post_id, "removed": True,
            "reports_closed": closed}


async def _dismiss(conn: asyncpg.Connection, op: Operator, kind: str, target_id: int,
                   reason: str) -> dict[str, Any]:
    closed = await mod.resolve_reports(conn, kind, target_id, op.user_id, "dismissed")
    if not closed:
        raise Missing("no open reports on this target")
    await _audit(conn, op, "admin.resolve", kind, target_id,
                    {"action": "dismiss", "reason": reason, "reports_closed": closed})
    return {"kind": kind, "target": target_id, "action": "dismiss", "reports_closed": closed}


async def _suspend_for(conn: asyncpg.Connection, op: Operator, kind: str, target_id: int,
                       reason: str) -> dict[str, Any]:
    user_id = await mod.target_user(conn, kind, target_id)
    if user_id is None:
        raise Missing("no such target")
    # closed first, so the audit row says how many (one transaction: a refused
    # suspension closes nothing)
    closed = await mod.resolve_reports(conn, kind, target_id, op.user_id, "suspended")
    done = await _suspend(conn, op, user_id, reason, "admin.resolve",
                          {"action": "suspend", "kind": kind, "target": target_id,
                           "reports_closed": closed})
    return {"kind": kind, "target": target_id, "action": "suspend", "user": user_id,
            "reports_closed": closed, "tokens_revoked": done["tokens_revoked"]}


# -- the service -------------------------------------------------------------------------------
class Admin:
    """The operator ops for one node; every method takes the caller's session and raw args."""

    def __init__(self, st: Storage, media: Media) -> None:
        self.st = st
        self.media = media

    async def require(self, session: Session) -> Operator:
        """The caller, if they are an admin now; else forbidden."""
        op = await self.st.read(mod.operator, session.user_id)
        if op is None or not op.is_admin or op.suspended:
            raise NotAllowed("operators only")
        return op

    async def unknown(self, session: Session) -> None:
        await self.require(session)
        raise Unsupported("no such admin op on this server")

    # -- dashboards -----------------------------------------------------------------------
    async def stats(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        await self.require(session)
        A.only(args, set())
        return cluster_stats(await nodestats.snapshots(self.st))

    async def sessions(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        await self.require(session)
        A.only(args, {"q", "user", "node", "cursor", "limit"})
        q = A.text(args, "q", max_len=USERNAME_MAX, required=False)
        user_id = _id(args, "user", required=False)
        node = A.text(args, "node", max_len=NODE_NAME_MAX, min_len=1, required=False)
        limit = _limit(args)
        cur = A.cursor_fields(args, {LIST_CURSORS["sessions"]: 3}, max_len=SESSION_CURSOR_MAX)
        after: tuple[int, str, int] | None = None
        if cur is not None:
            since, conn, node_name = cur[1]
            after = (-A.cursor_number(since), node_name, A.cursor_number(conn))
        prefix = q.strip().lower() if q else None
        rows = [s for s in await nodestats.sessions(self.st)
                if (prefix is None or str(s["username"]).startswith(prefix))
                and (user_id is None or s["user"] == user_id)
                and (node is None or s["node"] == node)]
        rows.sort(key=lambda s: (-s["since"], s["node"], s["conn"]))
        if after is not None:
            rows = [s for s in rows if (-s["since"], s["node"], s["conn"]) > after]
        page = rows[:limit]
        out = [{"node": s["node"], "conn": s["conn"],
                "user": {"id": s["user"], "username": s["username"]},
                "client": s.get("client", ""), "ip": s.get("ip", ""), "since": s["since"]}
               for s in page]
        cursor = (A.make_cursor(LIST_CURSORS["sessions"], page[-1]["since"], page[-1]["conn"],
                                page[-1]["node"]) if len(rows) > limit else None)
        return {"sessions": out, "cursor": cursor}

    async def users(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        await self.require(session)
        A.only(args, {"id", "q", "suspended", "cursor", "limit"})
        user_id = _id(args, "id", required=False)
        q = A.text(args, "q", max_len=USERNAME_MAX, required=False)
        suspended = A.flag(args, "suspended", required=False)
        limit = _limit(args)
        rows = await self.st.read(lambda c: mod.users_page(
            c, user_id=user_id, prefix=q.strip() if q else None, suspended=suspended,
            before_id=_before(args, "users"), limit=limit))
        return _page(rows, "users", limit)

    async def posts(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        from actors.media import variant_urls

        await self.require(session)
        A.only(args, {"post", "author", "cursor", "limit"})
        post_id = _id(args, "post", required=False)
        author = _id(args, "author", required=False)
        limit = _limit(args)
        rows = await self.st.read(lambda c: mod.posts_page(
            c, post_id=post_id, author_id=author, before_id=_before(args, "posts"), limit=limit))
        for r in rows:
            first = r.pop("first")
            r["thumbnail"] = (variant_urls(first).get("thumb") if first else None)
        return _page(rows, "posts", limit)

    async def comments(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        await self.require(session)
        A.only(args, {"comment", "post", "author", "cursor", "limit"})
        comment_id = _id(args, "comment", required=False)
        post_id = _id(args, "post", required=False)
        author = _id(args, "author", required=False)
        limit = _limit(args)
        rows = await self.st.read(lambda c: mod.comments_page(
            c, comment_id=comment_id, post_id=post_id, author_id=author,
            before_id=_before(args, "comments"), limit=limit))
        return _page(rows, "comments", limit)

    async def reports(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        await self.require(session)
        A.only(args, {"kind", "target", "cursor", "limit"})
        kind = _choice(args, "kind", KINDS) if args.get("kind") is not None else None
        target = _id(args, "target", required=False)
        limit = _limit(args)
        rows = await self.st.read(lambda c: mod.report_groups(
            c, kind=kind, target_id=target, before_id=_before(args, "reports"), limit=limit))
        page = _page(rows, "reports", limit, "last_id")
        for r in rows:
            r.pop("last_id")
        return page

    async def audit(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        await self.require(session)
        A.only(args, {"action", "admin", "kind", "target", "cursor", "limit"})
        action = A.text(args, "action", max_len=60, min_len=1, required=False)
        admin_id = _id(args, "admin", required=False)
        kind = A.text(args, "kind", max_len=20, min_len=1, required=False)
        target = _id(args, "target", required=False)
        limit = _limit(args)
        rows = await self.st.read(lambda c: mod.audit_page(
            c, before_id=_before(args, "entries"), limit=limit, action=action, admin_id=admin_id,
            target_kind=kind, target_id=target))
        return _page(rows, "entries", limit)

    # -- actions ----------------------------------------------------------------------------
    async def kick(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        op = await self.require(session)
        A.only(args, {"node", "conn", "user", "reason"})
        reason = _reason(args, required=False) or "disconnected by an operator"
        user_id = _id(args, "user", required=False)
        node = A.text(args, "node", max_len=NODE_NAME_MAX, min_len=1, required=False)
        conn_id = _id(args, "conn", required=False)
        if user_id is not None:
            if node is not None or conn_id is not None:
                raise Invalid("give either `user`, or `node` and `conn`")
            if await self.st.read(mod.user_row, user_id) is None:
                raise Missing("no such user")
            await self.st.tx(_audit, op, "admin.kick", "user", user_id,
                             {"reason": reason, "all_sessions": True})
            await bus.publish(self.st, [(bus.user_channel(self.st, user_id),
                                         bus.pack("k", reason.encode()))])
            return {"user": user_id, "kicked": True}
        if node is None or conn_id is None:
            raise Invalid("give either `user`, or `node` and `conn`")
        found = await nodestats.session(self.st, node, conn_id)
        if found is None:
            raise Missing("no such session")
        await self.st.tx(_audit, op, "admin.kick", "user", found["user"],
                         {"reason": reason, "node": node, "conn": conn_id})
        await bus.publish(self.st, [(node_channel(self.st, node),
                                     pack_kick(conn_id, found["user"], reason))])
        return {"node": node, "conn": conn_id, "user": found["user"], "kicked": True}

    async def suspend(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        op = await self.require(session)
        A.only(args, {"user", "reason"})
        user_id = _id(args, "user")
        assert user_id is not None
        reason = _reason(args, required=True)
        done = await self.st.tx(_suspend, op, user_id, reason, "admin.suspend", {})
        await self.close_all(user_id)
        await self.hide_from_watchers(user_id)
        await suspension_hidden(self.st, user_id)
        return done

    async def hide_from_watchers(self, user_id: int) -> None:
        """A suspended user's posts and comments vanish live from everyone viewing them,
        as a removal does (`post.deleted`, `comment.deleted`; a top-level comment takes
        its thread's replies with it, which are hidden too); unsuspending shows them
        again on the next load. Counts are unchanged, as for any hidden user."""
        watched = await mod.watched_of(self.st, user_id)
        items = [(self.channel(p), bus.pack_event(None, encode(event(
            "post.deleted", {"post": p})))) for p in watched.posts]
        items.extend((self.channel(c.post_id), bus.pack_event(None, encode(event(
            "comment.deleted", {"post": c.post_id, "comment": c.comment_id,
                                "parent": c.parent_id, "removed": c.removed}))))
            for c in watched.comments)
        await bus.publish(self.st, items)

    async def close_all(self, user_id: int) -> None:
        """Every connection of the user, on every node, closes with 4001 at once."""
        await bus.publish(self.st, [(bus.user_channel(self.st, user_id),
                                     bus.pack("k", SUSPENDED_REASON.encode()))])

    async def unsuspend(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        op = await self.require(session)
        A.only(args, {"user", "reason"})
        user_id = _id(args, "user")
        assert user_id is not None
        done = await self.st.tx(_unsuspend, op, user_id, _reason(args, required=False))
        with after_commit():
            await timelines.enqueue_quietly(self.st, timelines.REFAN, done.pop("_refan"),
                                            user_id)
        return done

    async def remove_post(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        op = await self.require(session)
        A.only(args, {"post", "reason"})
        post_id = _id(args, "post")
        reason = _reason(args, required=True)
        done = await self._tx(_remove_post, op, post_id, reason, "admin.remove_post", True)
        await self._after_post_removal(done)
        return done

    async def _after_post_removal(self, done: dict[str, Any]) -> None:
        tags = done.pop("_tags")
        if done.pop("_fresh", False):
            await after_post_deleted(self.st, self.media, done["post"], done["author"], tags)
        else:
            search_db.forget_tag_counts()  # again once committed (soft_delete forgot them)

    async def remove_comment(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        op = await self.require(session)
        A.only(args, {"comment", "reason"})
        comment_id = _id(args, "comment")
        reason = _reason(args, required=True)
        return await self._tx(_remove_comment, op, comment_id, reason, "admin.remove_comment",
                              True)

    async def resolve(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        op = await self.require(session)
        A.only(args, {"kind", "target", "action", "reason"})
        kind = _choice(args, "kind", KINDS)
        target = _id(args, "target")
        assert target is not None
        action = _choice(args, "action", ACTIONS)
        reason = _reason(args, required=False)
        if action == "dismiss":
            return await self.st.tx(_dismiss, op, kind, target, reason)
        if action == "suspend":
            done = await self.st.tx(_suspend_for, op, kind, target, reason or "reported")
            await self.close_all(done["user"])
            await self.hide_from_watchers(done["user"])
            await suspension_hidden(self.st, done["user"])
            return done
        if kind == "post":
            done = await self._tx(_remove_post, op, target, reason or "reported",
                                  "admin.resolve", False)
            await self._after_post_removal(done)
        elif kind == "comment":
            done = await self._tx(_remove_comment, op, target, reason or "reported",
                                  "admin.resolve", False)
        else:
            raise Invalid("`remove` applies to posts and comments; suspend the user instead")
        return {"kind": kind, "target": target, "action": "remove",
                "reports_closed": done["reports_closed"]}

    async def announce(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        op = await self.require(session)
        A.only(args, {"text", "level"})
        text = A.trimmed(args, "text", max_len=ANNOUNCEMENT_MAX) or ""
        if A.blank(text):
            raise Invalid("`text` must not be blank")
        level = _choice(args, "level", LEVELS, default="info")
        ann_id = await self.st.tx(_audit, op, "admin.announce", "", None,
                                  {"text": text, "level": level})
        data = {"id": ann_id, "text": text, "level": level, "ts": int(time.time() * 1000)}
        await bus.publish(self.st, [(bus.broadcast_channel(self.st),
                                     bus.pack_event(None, encode(event("announcement", data))))])
        return data

    def channel(self, post_id: int) -> str:
        """A post's watcher channel (as actors/posts.py and actors/watch.py name it)."""
        return self.st.key("p", post_id)

    async def _tx(self, fn: Any, *args: Any) -> Any:
        """A moderation transaction whose watcher events go out after the commit."""
        return await tx_events(self.st, fn, *args, self.channel)
