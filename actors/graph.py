"""The social graph's rules: follow, requests, remove, block, mute, and the lists.

Each mutation is one transaction (`tx_events`): take the pair lock, read the
relation, apply the rules of actors/privacy.py, then change rows, counters,
notifications and durable events together — on any error nothing changes, and
events are published only after the commit. A user you may not see (unknown,
suspended, blocked either way) is `Missing`, so a block is never revealed. A change
that can take away sight of someone's posts (a block, a private account's follow
gone) then ends the live watches it hides (`actors.watch.sight_lost`).
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from actors import args as A
from actors import charges, privacy
from actors.accounts import Session, public_user
from actors.errors import DomainError, Invalid, Missing
from actors.presence import status_hidden
from actors.watch import sight_lost
from config.limits import (
    FEED_TIMELINE_TTL_SECONDS,
    FOLLOW_REQUEST_RETELL_SECONDS,
    FOLLOWS_WINDOW_SECONDS,
    USERNAME_MAX,
)
from storage import dm as dm_db
from storage import graph as db
from storage import notifications as notes_db
from storage import presence as presence_db
from storage import ratelimit
from storage import timelines as tl
from storage.errors import Unavailable
from storage.events import EventSink, tx_events
from storage.notifications import notify
from storage.presence import PresenceLink
from storage.relations import Relation, relation
from storage.store import Storage

LIST_LIMIT_DEFAULT = 30
LIST_LIMIT_MAX = 100
log = logging.getLogger(__name__)

LIST_KINDS = ("followers", "following")
# The kinds of the lists' cursors (A.make_cursor): each list refuses the others'.
LIST_CURSORS = {"followers": "fr", "following": "fg"}
REQUESTS_CURSOR = "rq"
OWN_LIST_CURSORS = {"blocked": "bl", "muted": "mu"}  # block.list, mute.list

FOLLOWING = "following"
REQUESTED = "requested"
NONE = "none"


def _ms(at: Any) -> int:
    return int(at.timestamp() * 1000)


def _target_args(raw: dict[str, Any]) -> tuple[int | None, str | None]:
    """`user` (an id) or `username`; with both, `user` wins (as in user.get)."""
    uid = A.integer(raw, "user", required=False)
    name = A.text(raw, "username", max_len=USERNAME_MAX, min_len=1, required=False)
    if uid is None and name is None:
        raise Invalid("`user` (an id) or `username` is required")
    return uid, (name.lower() if name is not None else None)


async def _resolve(conn: asyncpg.Connection, me: int, uid: int | None,
                   name: str | None) -> int:
    if uid is not None:
        return uid
    assert name is not None
    found = await db.user_id_by_name(conn, name)
    if found is None:
        raise Missing("no such user")
    return int(found)


async def _locked_relation(conn: asyncpg.Connection, me: int, uid: int | None,
                           name: str | None) -> Relation:
    """Resolve the target, lock the pair, and read the relation under that lock."""
    target = await _resolve(conn, me, uid, name)
    if target != me:
        await db.lock_pair(conn, me, target)
    return await relation(conn, me, target)


def position_cursor(raw: dict[str, Any], kind: str) -> db.Cursor | None:
    """The (time, user) position of a `kind` cursor (`position_wire`), None for none;
    another list's, malformed or out of range is `Invalid` (A.cursor_fields)."""
    numbers = A.cursor(raw, kind, 2)
    if numbers is None:
        return None
    cur = db.Cursor.of(*numbers)
    if cur is None:
        raise Invalid("bad `cursor`")
    return cur


def position_wire(kind: str, cur: db.Cursor | None) -> str | None:
    return A.make_cursor(kind, cur.at_us, cur.user_id) if cur else None


def _limit(raw: dict[str, Any]) -> int:
    n = A.integer(raw, "limit", required=False, minimum=1, maximum=LIST_LIMIT_MAX)
    return LIST_LIMIT_DEFAULT if n is None else n


# -- transactions (run inside tx_events) ------------------------------------------------
async def _follow(conn: asyncpg.Connection, sink: EventSink, me: int, uid: int | None,
                  name: str | None, charge: ratelimit.Charge,
                  told: notes_db.Cooldown) -> tuple[str, int | None]:
    """The new state, and the followee when this call started following them."""
    rel = await _locked_relation(conn, me, uid, name)
    privacy.require_follow(rel)
    if rel.following:
        return FOLLOWING, None
    if rel.target_private and rel.requested:  # pending already: nothing changes
        return REQUESTED, None
    # A follow or a request is added below (the pair is locked): counted, per user over
    # all connections — each tells someone, and the op limit is per connection.
    await charges.take(charge, "too many follows; slow down")
    if rel.target_private:
        at = await db.add_request(conn, me, rel.target_id)
        # New: tell the owner, unless a request of theirs did within the cooling-off
        # period (a cancel deletes its notification, so no row tells of a repeat).
        if at is not None and await told.claim(rel.target_id, me):
            who = await conn.fetchval("SELECT username FROM users WHERE id = $1", me)
            await sink.to_user(rel.target_id, "follow.request",
                               {"from": {"id": me, "username": who}, "at": _ms(at)})
            await notify(conn, sink, recipient_id=rel.target_id, actor_id=me,
                         kind="follow_request", allowed=privacy.should_notify)
        return REQUESTED, None
    if await db.remove_request(conn, me, rel.target_id):  # asked while it was private
        await notes_db.withdraw_request(conn, rel.target_id, me)
    if await db.add_follow(conn, me, rel.target_id):
        await notify(conn, sink, recipient_id=rel.target_id, actor_id=me, kind="follow",
                     allowed=privacy.should_notify, once=True)
        return FOLLOWING, rel.target_id
    return FOLLOWING, None


async def _approve(conn: asyncpg.Connection, sink: EventSink, me: int, uid: int | None,
                   name: str | None) -> int:
    """Returns the new follower."""
    rel = await _locked_relation(conn, me, uid, name)
    privacy.require_graph_target(rel, "approve")
    if not await db.remove_request(conn, rel.target_id, me):
        raise Missing("no such follow request")
    await notes_db.withdraw_request(conn, me, rel.target_id)  # answered
    if await db.add_follow(conn, rel.target_id, me):
        # The request's notification gives way to "started following you" (with its
        # Follow back), as Instagram leaves it: read already, as the owner just acted.
        await notify(conn, sink, recipient_id=me, actor_id=rel.target_id, kind="follow",
                     allowed=privacy.should_notify, once=True, read=True)
    await notify(conn, sink, recipient_id=rel.target_id, actor_id=me, kind="follow_accepted",
                 allowed=privacy.should_notify)
    return rel.target_id


async def _deny(conn: asyncpg.Connection, sink: EventSink, me: int, uid: int | None,
                name: str | None) -> None:
    rel = await _locked_relation(conn, me, uid, name)
    privacy.require_graph_target(rel, "deny")
    if not await db.remove_request(conn, rel.target_id, me):
        raise Missing("no such follow request")
    await notes_db.withdraw_request(conn, me, rel.target_id)  # answered


async def _unfollow(conn: asyncpg.Connection, sink: EventSink, me: int, uid: int | None,
                    name: str | None, follower: bool) -> tuple[bool, dict[int, list[int]]]:
    """Whether something was removed, and who lost sight of whose posts by it: a follow
    of a private account gone (`sight_lost`)."""
    rel = await _locked_relation(conn, me, uid, name)
    privacy.require_graph_target(rel, "unfollow")
    if follower:  # remove them from my followers
        removed = await db.remove_follow(conn, rel.target_id, me)
        return removed, ({me: [rel.target_id]} if removed else {})  # as below
    cancelled = await db.remove_request(conn, me, rel.target_id)
    if cancelled:  # withdrawn: "X requested to follow you" has nothing left to answer
        await notes_db.withdraw_request(conn, rel.target_id, me)
    unfollowed = await db.remove_follow(conn, me, rel.target_id)
    # Any follow gone is a sight re-check (it keeps a public account's watchers): the
    # privacy read above is not under the pair lock, and an account turning private
    # meanwhile re-checked its watchers before this commit, with the follow still there.
    lost = {rel.target_id: [me]} if unfollowed else {}
    return unfollowed or cancelled, lost


async def _block(conn: asyncpg.Connection, sink: EventSink, me: int, uid: int | None,
                 name: str | None) -> tuple[int, list[PresenceLink]] | None:
    """The blocked user when the block is new, and how each of the two could see the
    other's activity status before it (the follows it cuts included: read after, a
    viewer who saw the other only through one was never told)."""
    rel = await _locked_relation(conn, me, uid, name)
    privacy.require_block_target(rel)
    # A write to the pair's 1:1 (send, edit, react, read) checks for a block under its
    # conversation's row lock: taking that row too puts each such write wholly before the
    # block or after it, so none passes its check, then lands once the block was answered.
    # After the pair lock and before any `users` row lock (a DM write takes those after
    # the conversation's, for its events), so the two cannot deadlock.
    await dm_db.direct_between(conn, me, rel.target_id, lock=True)
    before = await presence_db.links_between(conn, me, rel.target_id)
    new = await db.add_block(conn, me, rel.target_id)
    # add_block cut the pending requests both ways: their notifications go with them
    # (an unblock showed a request no one could approve any more)
    await notes_db.withdraw_request(conn, rel.target_id, me)
    await notes_db.withdraw_request(conn, me, rel.target_id)
    return (rel.target_id, before) if new else None


async def _unblock(conn: asyncpg.Connection, sink: EventSink, me: int, uid: int | None,
                   name: str | None) -> bool:
    rel = await _locked_relation(conn, me, uid, name)
    privacy.require_other(rel, "unblock")
    return await db.remove_block(conn, me, rel.target_id)


async def _mute(conn: asyncpg.Connection, sink: EventSink, me: int, uid: int | None,
                name: str | None, on: bool) -> tuple[bool, int | None]:
    """(changed, the unmuted account when it is one I follow: its posts of the mute's
    time never reached my timeline — fan-out skips muters — and are backfilled)."""
    rel = await _locked_relation(conn, me, uid, name)
    privacy.require_graph_target(rel, "mute")
    if on:
        return await db.add_mute(conn, me, rel.target_id), None
    changed = await db.remove_mute(conn, me, rel.target_id)
    return changed, rel.target_id if changed and rel.following else None


async def _list(conn: asyncpg.Connection, me: int, uid: int | None, name: str | None,
                kind: str, after: db.Cursor | None, limit: int) -> db.Page:
    target = await _resolve(conn, me, uid, name)
    privacy.require_connections(await relation(conn, me, target))
    return await db.page(conn, kind, target, me, after, limit)


async def _requests(conn: asyncpg.Connection, me: int, after: db.Cursor | None,
                    limit: int) -> db.Page:
    return await db.page(conn, "requests", me, me, after, limit)


def _listed_user(item: db.Listed, me: int) -> dict[str, Any]:
    out = public_user(item.user)
    if item.user.id != me:
        out.update(followed_by_me=item.followed_by_me, follows_me=item.follows_me,
                   requested=item.requested)
    return out


def _page_reply(page: db.Page, kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "cursor": position_wire(kind, page.next)}


class Graph:
    """The graph ops of the protocol over storage; one transaction per call."""

    def __init__(self, st: Storage) -> None:
        self.st = st

    async def follow(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        """Public account: following at once; private: a pending request."""
        A.only(raw, {"user", "username"})
        uid, name = _target_args(raw)
        charge = ratelimit.Charge(self.st, "follow.add", str(s.user_id),
                                  self.st.settings.follows_per_hour, FOLLOWS_WINDOW_SECONDS)
        told = notes_db.Cooldown(self.st, "follow_request", FOLLOW_REQUEST_RETELL_SECONDS)
        async with charge.given_back_on(DomainError), told.released_on_failure():
            state, followed = await tx_events(self.st, _follow, s.user_id, uid, name, charge,
                                              told)
        if followed is not None:
            await self._backfill(s.user_id, followed)
        return {"state": state}

    async def approve(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"user", "username"})
        follower = await tx_events(self.st, _approve, s.user_id, *_target_args(raw))
        await self._backfill(follower, s.user_id)
        return {"follower": True}

    async def _backfill(self, follower: int, followee: int) -> None:
        """After the commit: the followee's posts show in the follower's feed at once. A
        failure costs only that (the read path re-checks everything), so it is logged."""
        try:
            await tl.backfill(self.st, follower, followee, FEED_TIMELINE_TTL_SECONDS * 1000)
        except Unavailable:
            log.warning("timeline backfill failed", extra={"user": follower})

    async def deny(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"user", "username"})
        await tx_events(self.st, _deny, s.user_id, *_target_args(raw))
        return {"follower": False}

    async def unfollow(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        """Stop following (or cancel a request); with `follower`, drop them as a follower."""
        A.only(raw, {"user", "username", "follower"})
        follower = bool(A.flag(raw, "follower", required=False))
        removed, lost = await tx_events(self.st, _unfollow, s.user_id, *_target_args(raw),
                                        follower)
        if lost:
            await sight_lost(self.st, lost)
        return {"removed": removed}

    async def block(self, s: Session, raw: dict[str, Any], on: bool) -> dict[str, Any]:
        """A new block ends the live watches each of the two has of the other's posts, and
        each stops seeing the other's activity status (live, too)."""
        A.only(raw, {"user", "username"})
        if not on:
            changed = await tx_events(self.st, _unblock, s.user_id, *_target_args(raw))
            return {"blocked": False, "changed": changed}
        done = await tx_events(self.st, _block, s.user_id, *_target_args(raw))
        if done is not None:
            blocked, before = done
            await sight_lost(self.st, {s.user_id: [blocked], blocked: [s.user_id]})
            await status_hidden(self.st, before)
        return {"blocked": True, "changed": done is not None}

    async def mute(self, s: Session, raw: dict[str, Any], on: bool) -> dict[str, Any]:
        A.only(raw, {"user", "username"})
        changed, followed = await tx_events(self.st, _mute, s.user_id, *_target_args(raw), on)
        if followed is not None:
            await self._backfill(s.user_id, followed)
        return {"muted": on, "changed": changed}

    async def requests(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        """Pending requests to me, newest first."""
        A.only(raw, {"cursor", "limit"})
        page = await self.st.tx(_requests, s.user_id, position_cursor(raw, REQUESTS_CURSOR),
                                _limit(raw))
        return _page_reply(page, REQUESTS_CURSOR,
                           [{"user": _listed_user(i, s.user_id), "at": _ms(i.at)}
                            for i in page.items])

    async def list_users(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        """Followers or following of a user, newest first; private lists need a follow."""
        A.only(raw, {"user", "username", "kind", "cursor", "limit"})
        uid, name = _target_args(raw)
        kind = A.text(raw, "kind", max_len=20)
        if kind not in LIST_KINDS:
            raise Invalid("`kind` must be \"followers\" or \"following\"")
        page = await self.st.tx(_list, s.user_id, uid, name, kind,
                                position_cursor(raw, LIST_CURSORS[kind]), _limit(raw))
        return _page_reply(page, LIST_CURSORS[kind],
                           [_listed_user(i, s.user_id) for i in page.items])

    async def own_list(self, s: Session, raw: dict[str, Any], kind: str) -> dict[str, Any]:
        """`block.list` / `mute.list`: the users I blocked or muted, newest first (the
        web's settings list them, to be unblocked or unmuted)."""
        A.only(raw, {"cursor", "limit"})
        cursor_kind = OWN_LIST_CURSORS[kind]
        page = await self.st.read(db.own_page, kind, s.user_id,
                                  position_cursor(raw, cursor_kind), _limit(raw))
        return _page_reply(page, cursor_kind, [_listed_user(i, s.user_id) for i in page.items])
