"""Direct messages: conversations (1:1 and groups), their rules, and the ConversationActor.

Every write to a conversation (send, edit, unsend, react, read, accept, and the
group changes) goes through that conversation's ConversationActor on this node
(registry key ("conv", id)): it serialises the node's writes, keeps the member
set to turn non-members away without a transaction, and runs each write as one
transaction (`tx_events`) that locks the conversation row — so writes from
several nodes serialise in Postgres, and the per-conversation `seq` comes from
`UPDATE conversations SET last_seq = last_seq + 1 … RETURNING`. Every member gets a
durable `dm.message` / `dm.updated` / `dm.read` event in the same transaction,
so offline members receive everything, once, in order, on resume. A write is
acknowledged only after it committed. dm.send, dm.edit and dm.react count against the
sender's limit in that transaction, after its checks (`_take`): a refused call counts
nothing.

Reads (dm.list, dm.history) and dm.open (no conversation yet) are plain
transactions. Who may message whom is decided in actors/privacy.py.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
import trio

from actors import args as A
from actors import charges, privacy
from actors.accounts import Session
from actors.errors import DomainError, Invalid, Missing, NotAllowed, Taken
from actors.media import Media, media_wire, variant_urls
from actors.runtime import Actor, Registry
from config.limits import (
    DM_CONVERSATION_IDLE_SECONDS,
    DM_EDIT_SECONDS,
    DM_EMOJI_MAX,
    DM_GROUP_MAX,
    DM_HISTORY_DEFAULT,
    DM_HISTORY_MAX,
    DM_IDEM_MAX,
    DM_LIST_DEFAULT,
    DM_LIST_MAX,
    DM_OPENS_PER_HOUR,
    DM_OPENS_WINDOW_SECONDS,
    DM_SENDS_PER_MINUTE,
    DM_SENDS_WINDOW_SECONDS,
    DM_TEXT_MAX,
    DM_TITLE_MAX,
)
from storage import dm as db
from storage import graph as graph_db
from storage import media as media_db
from storage import posts as posts_db
from storage import ratelimit
from storage.errors import Unavailable
from storage.events import EventSink, tx_events
from storage.media import _attach as attach_media
from storage.relations import Relation, relation
from storage.store import Storage

WRITE_SECONDS = 30.0  # a write not committed within this is rolled back and fails
WRITE_GRACE_SECONDS = 2.0  # the writer waits this much longer for the actor's verdict
FOLDERS = {"inbox": "inbox", "requests": "request"}
# The kinds of dm.list's cursors by folder state (A.make_cursor): each folder refuses
# the other's.
LIST_CURSORS = {"inbox": "di", "request": "dq"}


# -- wire maps ---------------------------------------------------------------------------------
def user_wire(u: db.UserShort) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "display_name": u.display_name,
            "avatar": variant_urls(u.avatar) if u.avatar else None}


def message_wire(m: db.Message) -> dict[str, Any]:
    if m.unsent:
        return {"conversation": m.conversation_id, "seq": m.seq, "id": m.id,
                "sender": m.sender_id, "unsent": True, "created_at": m.created_ms}
    out: dict[str, Any] = {
        "conversation": m.conversation_id, "seq": m.seq, "id": m.id, "sender": m.sender_id,
        "kind": m.kind, "text": "" if m.kind == "system" else m.body,
        "media": media_wire(m.media) if m.media else None, "post": m.post_id,
        "reply_to": m.reply_to, "created_at": m.created_ms, "edited_at": m.edited_ms,
        "reactions": [{"user": u, "emoji": e} for u, e in m.reactions],
    }
    if m.kind == "system":
        out["system"] = m.system
    return out


def reads_wire(members: Iterable[db.Member], viewer_id: int) -> list[dict[str, Any]]:
    """The other members' read positions, as far as the viewer may know them: the
    position each is shown to others (`shown_read_seq`), which moves exactly when a live
    dm.read goes to the others (see `_read`), so a reload shows what the events showed,
    and a read kept from them (as a request; across a block in a 1:1) shows in neither.
    Members who have read nothing since they joined are left out."""
    return [{"user": m.user_id, "seq": m.shown_read_seq} for m in members
            if m.user_id != viewer_id and m.shown_read_seq > m.joined_seq
            and privacy.dm_read_receipts(m.state)]


async def _conversation_wires(conn: asyncpg.Connection, viewer_id: int,
                              listed: list[db.Listed]) -> list[dict[str, Any]]:
    ids = [item.conversation.id for item in listed]
    members = await db.members_many(conn, ids)
    users = await db.users_short(conn, [m.user_id for ms in members.values() for m in ms])
    lasts = await db.messages_at(conn, [(item.conversation.id, item.conversation.last_seq)
                                        for item in listed
                                        if item.conversation.last_seq > item.me.joined_seq])
    out = []
    for item in listed:
        c, me = item.conversation, item.me
        found = lasts.get((c.id, c.last_seq)) if c.last_seq > me.joined_seq else None
        last = message_wire(found) if found else None
        out.append({
            "id": c.id, "kind": c.kind, "title": c.title, "created_by": c.created_by,
            "members": [user_wire(users[m.user_id]) for m in members[c.id]
                        if m.user_id in users],
            "last_seq": c.last_seq, "last_at": c.last_at_us // 1000,
            "read_seq": me.last_read_seq, "unread": item.unread,
            "reads": reads_wire(members[c.id], viewer_id),
            "state": me.state, "role": me.role, "last_message": last,
        })
    return out


async def _conversation_wire(conn: asyncpg.Connection, conv_id: int,
                             viewer_id: int) -> dict[str, Any]:
    c = await db.conversation(conn, conv_id)
    me = await db.member(conn, conv_id, viewer_id)
    if c is None or me is None:
        raise Missing("no such conversation")
    unread = await db.unread(conn, conv_id, viewer_id, me.last_read_seq)
    return (await _conversation_wires(conn, viewer_id, [db.Listed(c, me, unread)]))[0]


# -- shared steps inside a write transaction -----------------------------------------------------
@dataclass(frozen=True)
class Done:
    """A write's reply, and the conversation's members after it (for the actor's cache)."""

    result: Any
    members: frozenset[int]


@dataclass(frozen=True)
class Locked:
    conv: db.Conversation
    members: dict[int, db.Member]
    me: db.Member


async def _lock(conn: asyncpg.Connection, conv_id: int, user_id: int) -> Locked:
    """Lock the conversation row (every write to it, on every node, waits here) and check
    that the caller is a member; a non-member learns nothing (not_found)."""
    conv = await db.conversation(conn, conv_id, lock=True)
    if conv is None:
        raise Missing("no such conversation")
    members = await db.members(conn, conv_id)
    me = members.get(user_id)
    if me is None:
        raise Missing("no such conversation")
    return Locked(conv, members, me)


async def _peer(conn: asyncpg.Connection, lk: Locked, me_id: int) -> Relation | None:
    """How the caller stands to the other member of a 1:1 (one statement, under the
    conversation's lock); None in a group, or in a 1:1 whose other account was deleted."""
    if lk.conv.kind != "direct":
        return None
    other = next((u for u in lk.members if u != me_id), None)
    return None if other is None else await relation(conn, me_id, other)


async def _require_peer(conn: asyncpg.Connection, lk: Locked, me_id: int) -> Relation | None:
    """In a 1:1, what dm.send requires of the other member (privacy.require_dm_peer)."""
    peer = await _peer(conn, lk, me_id)
    if peer is not None:
        privacy.require_dm_peer(peer)
    return peer


async def _visible_message(conn: asyncpg.Connection, lk: Locked, seq: int) -> db.Message:
    m = await db.message(conn, lk.conv.id, seq) if seq > lk.me.joined_seq else None
    if m is None:
        raise Missing("no such message")
    return m


async def _fan_out(sink: EventSink, recipients: list[int] | set[int], kind: str,
                   data: dict[str, Any]) -> None:
    # Recipients in id order: concurrent transactions lock users' rows in the same order.
    for uid in sorted(recipients):
        await sink.to_user(uid, kind, data)


async def _system(conn: asyncpg.Connection, sink: EventSink, conv_id: int, by: int,
                  data: dict[str, Any], recipients: set[int]) -> dict[str, Any]:
    """A system message (membership, title) in the conversation's order, to `recipients`."""
    seq = await db.next_seq(conn, conv_id)
    await db.insert_message(conn, conv_id, seq, by, "system", json.dumps(data))
    await db.mark_read(conn, conv_id, by, seq)
    m = await db.message(conn, conv_id, seq)
    assert m is not None
    wire = message_wire(m)
    await _fan_out(sink, recipients, "dm.message", {"conversation": conv_id, "message": wire})
    return wire


async def _updated(conn: asyncpg.Connection, sink: EventSink, lk: Locked, seq: int,
                   change: str, recipients: set[int] | None = None) -> dict[str, Any]:
    """The changed message as every member (or just `recipients`) gets it: dm.updated;
    never to a member who joined after it (their history starts later: an edit, reaction
    or unsend must not show them a message from before they joined)."""
    m = await db.message(conn, lk.conv.id, seq)
    assert m is not None
    wire = message_wire(m)
    data = {"conversation": lk.conv.id, "seq": seq, "change": change, "message": wire}
    if m.unsent:
        data["unsent"] = True
    saw = {u for u, member in lk.members.items() if member.joined_seq < seq}
    await _fan_out(sink, saw if recipients is None else recipients & saw, "dm.updated", data)
    return wire


def _done(result: Any, members: dict[int, db.Member] | set[int]) -> Done:
    return Done(result, frozenset(members))


async def _take(charge: ratelimit.Charge,
                message: str = "too many messages; slow down") -> None:
    """Count an accepted dm.send, dm.edit, dm.react or new dm.open against the user's
    limit: called in its transaction once every check passed, so a refusal counts
    nothing (and a blocker, a suspended peer and a missing one look alike here too),
    while past the limit the transaction rolls back with nothing changed."""
    await charges.take(charge, message)


OPENS_REFUSED = "too many new conversations; try again later"


# -- write transactions (run by the ConversationActor) ------------------------------------------
@dataclass(frozen=True)
class Outgoing:
    text: str
    media_id: int | None
    post_id: int | None
    reply_to: int | None
    idem: str | None

    @property
    def kind(self) -> str:
        return "photo" if self.media_id else "post" if self.post_id else "text"


async def _send(conn: asyncpg.Connection, sink: EventSink, conv_id: int, me_id: int,
                out: Outgoing, charge: ratelimit.Charge) -> Done:
    # Usually four statements: lock the row, read what the rules need (storage.dm.
    # send_context), then the message, the sender's read state and every member's
    # durable event in one (storage.dm.send_once); the seq is the locked row's next.
    # Between the rules and the write, one Redis round trip counts the send (`_take`).
    conv = await db.conversation(conn, conv_id, lock=True)
    if conv is None:
        raise Missing("no such conversation")
    if out.idem is not None:
        # Two sends with one key racing in two conversations: the second waits for the
        # first, then finds it (`prior`) and is refused clearly and uncounted, instead of
        # failing on the unique index after both were counted.
        await db.lock_idem(conn, me_id, out.idem)
    ctx = await db.send_context(conn, conv_id, me_id, out.idem, conv.kind == "direct")
    me = ctx.members.get(me_id)
    if me is None:
        raise Missing("no such conversation")
    lk = Locked(conv, ctx.members, me)
    if ctx.prior is not None:
        if ctx.prior[0] != conv_id:
            raise Taken("that idempotency key was used for another conversation")
        if ctx.prior[1] <= me.joined_seq:
            # sent before this user left and was added again: a re-added member starts
            # afresh, and that message (with what others did to it since) is not theirs
            raise Taken("that idempotency key was used before you rejoined")
        found = await db.message(conn, conv_id, ctx.prior[1])
        assert found is not None
        await _take(charge)  # accepted, so counted, like the first
        return _done(message_wire(found), lk.members)  # a retry: the same message, no effect
    if ctx.peer is not None:
        privacy.require_dm_peer(ctx.peer)
    if out.post_id is not None:
        head = await posts_db.head(conn, out.post_id)
        if head is None or head.deleted:
            raise Missing("no such post")
        privacy.require_posts(await relation(conn, me_id, head.author_id))
    if out.reply_to is not None:
        await _visible_message(conn, lk, out.reply_to)
    # The photo checked again, its row held (the collector of unattached uploads skips
    # held rows): it may have been collected since the op checked it, outside this
    # transaction, which then failed on the foreign key as `internal`, counted.
    if out.media_id is not None and await media_db.lock_owned(
            conn, out.media_id, me_id) is None:
        raise Missing("no such media")
    await _take(charge)
    media = None
    if out.media_id is not None:
        await attach_media(conn, [out.media_id])
        media = await media_db._get(conn, out.media_id)
    seq = conv.last_seq + 1
    wire = message_wire(db.Message(conv_id, seq, ctx.message_id, me_id, out.kind, out.text,
                                   media, out.post_id, out.reply_to, out.idem, ctx.now_ms,
                                   None, False, []))
    data = {"conversation": conv_id, "message": wire}
    # Recipients in id order: concurrent transactions lock users' rows in the same order.
    events = [(uid, "dm.message", data) for uid in sorted(lk.members)]
    sink.stored(await db.send_once(conn, conv_id, seq, ctx.message_id, me_id, out.kind,
                                   out.text, out.media_id, out.post_id, out.reply_to,
                                   out.idem, events, sink.retention))
    return _done(wire, lk.members)


async def _edit(conn: asyncpg.Connection, sink: EventSink, conv_id: int, me_id: int, seq: int,
                text: str, charge: ratelimit.Charge) -> Done:
    # In a 1:1, editing is writing to the other: dm.send's rule, checked first, so the
    # answer across a block says nothing of the message.
    lk = await _lock(conn, conv_id, me_id)
    await _require_peer(conn, lk, me_id)
    m = await _visible_message(conn, lk, seq)
    if m.unsent:
        raise Missing("that message was unsent")
    if m.sender_id != me_id or m.kind == "system":
        raise NotAllowed("you can only edit your own messages")
    if time.time() * 1000 - m.created_ms > DM_EDIT_SECONDS * 1000:
        raise NotAllowed(f"messages can only be edited within {DM_EDIT_SECONDS // 60} minutes")
    await _take(charge)
    await db.edit(conn, conv_id, seq, text)
    return _done(await _updated(conn, sink, lk, seq, "edit"), lk.members)


async def _unsend(conn: asyncpg.Connection, sink: EventSink, conv_id: int, me_id: int,
                  seq: int) -> Done:
    """Unsending stays allowed in a 1:1 across a block, both ways: it only takes back
    one's own words (the one who blocked may want them gone from the other's screen, the
    one blocked has that right as well), and refusing it would keep what either side
    wants removed. But it is not told live across the block (privacy.dm_reaches_peer):
    the dm.updated goes to the unsender's own devices only, as a gone account would send
    none. The other side finds the message unsent when they next load the history."""
    lk = await _lock(conn, conv_id, me_id)
    m = await _visible_message(conn, lk, seq)
    if m.sender_id != me_id or m.kind == "system":
        raise NotAllowed("you can only unsend your own messages")
    if m.unsent:
        return _done(message_wire(m), lk.members)  # already gone: nothing more to do
    reaches = privacy.dm_reaches_peer(await _peer(conn, lk, me_id))
    await db.unsend(conn, conv_id, seq)
    return _done(await _updated(conn, sink, lk, seq, "unsend",
                                None if reaches else {me_id}), lk.members)


async def _react(conn: asyncpg.Connection, sink: EventSink, conv_id: int, me_id: int, seq: int,
                 emoji: str | None, charge: ratelimit.Charge) -> Done:
    # As for dm.edit: in a 1:1, dm.send's rule, checked first (also for a no-op).
    lk = await _lock(conn, conv_id, me_id)
    await _require_peer(conn, lk, me_id)
    m = await _visible_message(conn, lk, seq)
    if m.unsent:
        raise Missing("that message was unsent")
    await _take(charge)  # also for a no-op: accepted
    if (me_id, emoji) in m.reactions or (emoji is None and
                                         all(u != me_id for u, _ in m.reactions)):
        return _done(message_wire(m), lk.members)  # no change, no event
    await db.react(conn, conv_id, seq, me_id, emoji)
    return _done(await _updated(conn, sink, lk, seq, "react"), lk.members)


async def _read(conn: asyncpg.Connection, sink: EventSink, conv_id: int, me_id: int,
                seq: int) -> Done:
    lk = await _lock(conn, conv_id, me_id)
    if seq > lk.conv.last_seq:
        raise Invalid(f"`seq` is past the last message ({lk.conv.last_seq})")
    # The reader's own position always moves (their unread counts); the one the others
    # are shown only where the read may reach them: not as a request, not across a block
    # in a 1:1 (then the next read after the unblock shows them the position).
    own = seq > lk.me.last_read_seq
    shown = (seq > lk.me.shown_read_seq and privacy.dm_read_receipts(lk.me.state)
             and privacy.dm_reaches_peer(await _peer(conn, lk, me_id)))
    position = max(seq, lk.me.last_read_seq)
    if own or shown:
        await db.mark_read(conn, conv_id, me_id, seq, shown=shown)
        recipients = {u for u in lk.members if (shown and u != me_id) or (own and u == me_id)}
        await _fan_out(sink, recipients, "dm.read",
                       {"conversation": conv_id, "user": me_id, "seq": seq})
    unread = await db.unread(conn, conv_id, me_id, position)
    return _done({"conversation": conv_id, "seq": position, "unread": unread}, lk.members)


async def _accept(conn: asyncpg.Connection, sink: EventSink, conv_id: int, me_id: int) -> Done:
    lk = await _lock(conn, conv_id, me_id)
    moved = await db.set_state(conn, conv_id, me_id, "inbox")
    if moved and lk.me.last_read_seq > lk.me.joined_seq and \
            privacy.dm_reaches_peer(await _peer(conn, lk, me_id)):
        # What was read in the requests folder was kept from the others (no dm.read
        # event); accepting shares it, as dm.list and dm.history now will. Across a block
        # in a 1:1 it stays kept, like any read then.
        await db.show_read(conn, conv_id, me_id)
        await _fan_out(sink, set(lk.members) - {me_id}, "dm.read",
                       {"conversation": conv_id, "user": me_id, "seq": lk.me.last_read_seq})
    return _done(await _conversation_wire(conn, conv_id, me_id), lk.members)


def _require_group(lk: Locked) -> None:
    if lk.conv.kind != "group":
        raise NotAllowed("only group conversations have members to change")


async def _add(conn: asyncpg.Connection, sink: EventSink, conv_id: int, me_id: int,
               user_ids: list[int], charge: ratelimit.Charge) -> Done:
    """Adding people lands the group in their requests, as a new conversation does: it
    counts against the same limit (`dm.open`'s), once per call that adds someone, or
    one could go on adding strangers to a group once dm.open was refused."""
    lk = await _lock(conn, conv_id, me_id)
    _require_group(lk)
    new = [u for u in user_ids if u not in lk.members]
    if len(lk.members) + len(new) > DM_GROUP_MAX:
        raise Invalid(f"a group has at most {DM_GROUP_MAX} members")
    if new:
        await _lock_pairs(conn, me_id, new)
        for uid in new:
            if uid == me_id:
                continue
            privacy.require_dm_peer(await relation(conn, me_id, uid))
        await _take(charge, OPENS_REFUSED)
        for uid in new:
            folder = privacy.dm_folder(await relation(conn, uid, me_id))
            await db.add_member(conn, conv_id, uid, state=folder, joined_seq=lk.conv.last_seq)
        everyone = set(lk.members) | set(new)
        await _system(conn, sink, conv_id, me_id,
                      {"action": "added", "by": me_id, "users": new}, everyone)
        return _done(await _conversation_wire(conn, conv_id, me_id), everyone)
    return _done(await _conversation_wire(conn, conv_id, me_id), lk.members)


async def _remove(conn: asyncpg.Connection, sink: EventSink, conv_id: int, me_id: int,
                  user_id: int) -> Done:
    lk = await _lock(conn, conv_id, me_id)
    _require_group(lk)
    if user_id == me_id:
        raise Invalid("use dm.leave to leave a group")
    if lk.me.role != "admin":
        raise NotAllowed("only a group's admins may remove members")
    if user_id not in lk.members:
        raise Missing("no such member")
    await _system(conn, sink, conv_id, me_id,
                  {"action": "removed", "by": me_id, "users": [user_id]}, set(lk.members))
    await db.leave(conn, conv_id, user_id)
    remaining = set(lk.members) - {user_id}
    return _done(await _conversation_wire(conn, conv_id, me_id), remaining)


async def _leave(conn: asyncpg.Connection, sink: EventSink, conv_id: int, me_id: int) -> Done:
    lk = await _lock(conn, conv_id, me_id)
    _require_group(lk)
    await _system(conn, sink, conv_id, me_id, {"action": "left", "by": me_id},
                  set(lk.members))
    await db.leave(conn, conv_id, me_id)
    remaining = set(lk.members) - {me_id}
    if lk.me.role == "admin" and remaining and \
            not any(lk.members[u].role == "admin" for u in remaining):
        await conn.execute("UPDATE conversation_members SET role = 'admin' "
                           "WHERE conversation_id = $1 AND user_id = $2", conv_id, min(remaining))
    return _done({"conversation": conv_id, "left": True}, remaining)


async def _rename(conn: asyncpg.Connection, sink: EventSink, conv_id: int, me_id: int,
                  title: str) -> Done:
    lk = await _lock(conn, conv_id, me_id)
    _require_group(lk)
    if title != lk.conv.title:
        await db.set_title(conn, conv_id, title)
        await _system(conn, sink, conv_id, me_id,
                      {"action": "renamed", "by": me_id, "title": title}, set(lk.members))
    return _done(await _conversation_wire(conn, conv_id, me_id), lk.members)


# -- transactions outside any conversation actor ------------------------------------------------
async def _lock_pairs(conn: asyncpg.Connection, me_id: int, others: list[int]) -> None:
    """Hold the graph's pair lock of me and each of `others` (in id order) before their
    relations are read: a block of either way then lands wholly before this transaction
    (read as blocked) or after it (and finds the conversation), never in between, which
    put someone in a group with a user they had just blocked. Two such transactions
    share at most the pair of their two adders, so they cannot deadlock."""
    for uid in sorted(set(others) - {me_id}):
        await graph_db.lock_pair(conn, me_id, uid)


async def _open_direct(conn: asyncpg.Connection, sink: EventSink, me_id: int,
                       other: int, charge: ratelimit.Charge) -> dict[str, Any]:
    await _lock_pairs(conn, me_id, [other])
    privacy.require_dm_peer(await relation(conn, me_id, other))
    conv_id, created = await db.create_direct(conn, me_id, other)
    if created:  # a new pair counts (re-opening is free); past the limit, rolled back
        await _take(charge, OPENS_REFUSED)
        await db.add_member(conn, conv_id, me_id, state="inbox")
        folder = privacy.dm_folder(await relation(conn, other, me_id))
        await db.add_member(conn, conv_id, other, state=folder)
    return await _conversation_wire(conn, conv_id, me_id)


async def _open_group(conn: asyncpg.Connection, sink: EventSink, me_id: int, others: list[int],
                      title: str, charge: ratelimit.Charge,
                      idem: str | None = None) -> dict[str, Any]:
    if idem is not None:
        # A retry answers the group its key made (not_found once its creator left it),
        # checked and charged nothing more; the same key racing waits here.
        await db.lock_idem(conn, me_id, idem, scope="open")
        made = await db.group_by_idem(conn, me_id, idem)
        if made is not None:
            return await _conversation_wire(conn, made, me_id)
    await _lock_pairs(conn, me_id, others)
    for uid in others:
        privacy.require_dm_peer(await relation(conn, me_id, uid))
    await _take(charge, OPENS_REFUSED)
    conv_id = await db.create_group(conn, me_id, title, idem)
    await db.add_member(conn, conv_id, me_id, state="inbox", role="admin")
    for uid in others:
        folder = privacy.dm_folder(await relation(conn, uid, me_id))
        await db.add_member(conn, conv_id, uid, state=folder)
    await _system(conn, sink, conv_id, me_id,
                  {"action": "created", "by": me_id, "users": others, "title": title},
                  {me_id, *others})
    return await _conversation_wire(conn, conv_id, me_id)


async def _history(conn: asyncpg.Connection, conv_id: int, me_id: int, before: int | None,
                   limit: int) -> dict[str, Any]:
    members = await db.members(conn, conv_id)  # with their read positions, in one statement
    me = members.get(me_id)
    if me is None:
        raise Missing("no such conversation")
    found = await db.history(conn, conv_id, me_id, me.joined_seq, before, limit)
    if found is None:  # removed (or left) since the read above
        raise Missing("no such conversation")
    more = len(found) == limit and found[-1].seq > me.joined_seq + 1
    return {"conversation": conv_id, "messages": [message_wire(m) for m in found],
            "before": found[-1].seq if more else None,
            "reads": reads_wire(members.values(), me_id)}


async def _list(conn: asyncpg.Connection, me_id: int, state: str,
                cursor: tuple[int, int] | None, limit: int) -> dict[str, Any]:
    listed = await db.list_for(conn, me_id, state, cursor, limit)
    last = listed[-1].conversation if len(listed) == limit else None
    return {"conversations": await _conversation_wires(conn, me_id, listed),
            "cursor": (A.make_cursor(LIST_CURSORS[state], last.last_at_us, last.id) if last
                       else None)}


async def _member_ids(conn: asyncpg.Connection, conv_id: int) -> frozenset[int]:
    return frozenset(await db.members(conn, conv_id))


# -- the actor -----------------------------------------------------------------------------------
WriteFn = Callable[..., Awaitable[Done]]


@dataclass(frozen=True)
class Write:
    user_id: int
    fn: WriteFn  # fn(conn, sink, conversation id, user id, *args) -> Done
    args: tuple[Any, ...]
    reply: trio.MemorySendChannel[Any]
    deadline: float  # time.monotonic(): not committed by then, it is not committed at all


class CrashRequested(Exception):
    """Raised by the actor on a `Crash` message: lets tests show crash isolation."""


@dataclass(frozen=True)
class Crash:
    """Test hook: make this conversation's actor crash (its supervisor restarts it)."""


ConversationMsg = Write | Crash


class ConversationActor(Actor[ConversationMsg]):
    """One per active conversation per node: serialises this node's writes to it."""

    def __init__(self, key: Hashable, st: Storage, idle_seconds: float) -> None:
        super().__init__(key)
        assert isinstance(key, tuple)
        self.conv_id: int = key[1]
        self.st = st
        self.idle_timeout = idle_seconds
        self.members: frozenset[int] | None = None  # None: not known yet

    async def handle(self, msg: ConversationMsg) -> None:
        if isinstance(msg, Crash):
            raise CrashRequested(f"conversation {self.conv_id}: crash requested")
        try:
            if self.members is None or msg.user_id not in self.members:
                # Unknown, or perhaps added on another node since: ask Postgres.
                self.members = await self.st.read(_member_ids, self.conv_id)
                if msg.user_id not in self.members:
                    raise Missing("no such conversation")
            if time.monotonic() >= msg.deadline:  # the writer has been told it failed
                raise Unavailable("the conversation did not answer in time")
            done: Done = await tx_events(self.st, msg.fn, self.conv_id, msg.user_id, *msg.args,
                                         deadline=msg.deadline)
            self.members = done.members
            _answer(msg.reply, done.result)
        except Exception as exc:  # the requester gets the error; the actor lives on
            if isinstance(exc, Missing):
                self.members = None  # maybe removed elsewhere: re-read next time
            _answer(msg.reply, exc)


def _answer(reply: trio.MemorySendChannel[Any], result: Any) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, trio.WouldBlock):
        reply.send_nowait(result)


# -- the service the ops call ---------------------------------------------------------------------
def _conv_arg(raw: dict[str, Any]) -> int:
    value = A.integer(raw, "conversation")
    assert value is not None
    return value


def _seq_arg(raw: dict[str, Any], name: str = "seq", *, required: bool = True) -> int | None:
    return A.integer(raw, name, required=required, minimum=1)


def _user_list(raw: dict[str, Any], name: str, *, minimum: int, maximum: int) -> list[int]:
    value = raw.get(name)
    if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= A.BIGINT_MAX
            for v in value):
        raise Invalid(f"`{name}` must be a list of user ids")
    ids = list(dict.fromkeys(value))
    if not minimum <= len(ids) <= maximum:
        raise Invalid(f"`{name}` must hold {minimum} to {maximum} distinct users")
    return ids


def _title(raw: dict[str, Any], *, required: bool = False) -> str:
    return A.trimmed(raw, "title", max_len=DM_TITLE_MAX, required=required) or ""


class DirectMessages:
    def __init__(self, st: Storage, registry: Registry, media: Media, *,
                 idle_seconds: float = DM_CONVERSATION_IDLE_SECONDS) -> None:
        self.st = st
        self.registry = registry
        self.media = media
        self.idle_seconds = idle_seconds

    def _actor(self, key: Hashable) -> ConversationActor:
        return ConversationActor(key, self.st, self.idle_seconds)

    async def _write(self, conv_id: int, user_id: int, fn: WriteFn, *args: Any,
                     charge: ratelimit.Charge | None = None) -> Any:
        """Hand a write to the conversation's actor (spawned on demand) and await its commit.

        The write carries a deadline that the actor checks before it starts and before
        it commits, so a write answered `unavailable` (no verdict in time) never lands
        later; the grace lets a verdict reached at the deadline still arrive. A
        `charge` goes to `fn` last, and is given back if the write is refused after
        all (`Charge.given_back_on`)."""
        if charge is None:
            return await self._ask(conv_id, user_id, fn, args)
        async with charge.given_back_on(DomainError):
            return await self._ask(conv_id, user_id, fn, (*args, charge))

    async def _ask(self, conv_id: int, user_id: int, fn: WriteFn, args: tuple[Any, ...]) -> Any:
        deadline = time.monotonic() + WRITE_SECONDS
        with trio.move_on_after(WRITE_SECONDS + WRITE_GRACE_SECONDS):
            while True:
                entry = await self.registry.get_or_spawn(("conv", conv_id), self._actor,
                                                         kind="ConversationActor")
                try:
                    return await entry.ask(lambda ch: Write(user_id, fn, args, ch, deadline))
                except trio.ClosedResourceError:
                    continue  # it stopped (idle) as we arrived: spawn a fresh one
        raise Unavailable("the conversation did not answer in time")

    def _opens(self, user_id: int) -> ratelimit.Charge:
        """The user's limit on new conversations, taken by the open's transaction once its
        checks passed and only if it creates one (`_take`)."""
        return ratelimit.Charge(self.st, "dm.open", str(user_id), DM_OPENS_PER_HOUR,
                                DM_OPENS_WINDOW_SECONDS)

    def _sends(self, user_id: int) -> ratelimit.Charge:
        """The user's dm.send limit (dm.edit and dm.react share it), to be taken by the
        write's transaction once its checks passed (`_take`): not here, where the call
        may still be refused."""
        return ratelimit.Charge(self.st, "dm.send", str(user_id), DM_SENDS_PER_MINUTE,
                                DM_SENDS_WINDOW_SECONDS)

    # -- ops --------------------------------------------------------------------------------
    async def open(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"user", "users", "title", "idem"})
        # 1:1: accepted and not needed (a pair has one conversation)
        idem = A.text(raw, "idem", max_len=DM_IDEM_MAX, min_len=1, required=False)
        if ("user" in raw) == ("users" in raw):
            raise Invalid("give `user` (1:1) or `users` (a group)")
        if "user" in raw:
            if "title" in raw:
                raise Invalid("a 1:1 conversation has no title")
            other = A.integer(raw, "user", minimum=1)
            assert other is not None
            if other == s.user_id:
                raise Invalid("you cannot message yourself")
            charge = self._opens(s.user_id)
            async with charge.given_back_on(DomainError):
                result: dict[str, Any] = await tx_events(self.st, _open_direct, s.user_id,
                                                         other, charge)
            return result
        others = [u for u in _user_list(raw, "users", minimum=1, maximum=DM_GROUP_MAX)
                  if u != s.user_id]
        if not 2 <= len(others) <= DM_GROUP_MAX - 1:
            raise Invalid(f"a group needs 2 to {DM_GROUP_MAX - 1} other members")
        title = _title(raw)
        charge = self._opens(s.user_id)
        async with charge.given_back_on(DomainError):
            result = await tx_events(self.st, _open_group, s.user_id, others, title, charge,
                                     idem)
        return result

    async def list(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"folder", "cursor", "limit"})
        folder = A.text(raw, "folder", max_len=16, required=False) or "inbox"
        if folder not in FOLDERS:
            raise Invalid("`folder` is inbox or requests")
        limit = A.integer(raw, "limit", required=False, minimum=1, maximum=DM_LIST_MAX)
        state = FOLDERS[folder]
        cur = A.cursor(raw, LIST_CURSORS[state], 2)
        result: dict[str, Any] = await self.st.tx(
            _list, s.user_id, state, (cur[0], cur[1]) if cur else None,
            limit or DM_LIST_DEFAULT)
        return result

    async def history(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"conversation", "before", "limit"})
        conv_id = _conv_arg(raw)
        before = _seq_arg(raw, "before", required=False)
        limit = A.integer(raw, "limit", required=False, minimum=1, maximum=DM_HISTORY_MAX)
        result: dict[str, Any] = await self.st.tx(
            _history, conv_id, s.user_id, before, limit or DM_HISTORY_DEFAULT)
        return result

    async def send(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"conversation", "text", "media", "post", "reply_to", "idem"})
        conv_id = _conv_arg(raw)
        text = A.text(raw, "text", max_len=DM_TEXT_MAX, required=False) or ""
        media_id = A.integer(raw, "media", required=False, minimum=1)
        post_id = A.integer(raw, "post", required=False, minimum=1)
        reply_to = _seq_arg(raw, "reply_to", required=False)
        idem = A.text(raw, "idem", max_len=DM_IDEM_MAX, min_len=1, required=False)
        if media_id is not None and post_id is not None:
            raise Invalid("a message carries a photo or a post, not both")
        if media_id is None and post_id is None and A.blank(text):
            raise Invalid("a message needs `text`, `media` or `post`")
        if media_id is not None:
            await self.media.owned(s, media_id)
        message = await self._write(conv_id, s.user_id, _send,
                                    Outgoing(text, media_id, post_id, reply_to, idem),
                                    charge=self._sends(s.user_id))
        return {"message": message}

    async def edit(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"conversation", "seq", "text"})
        conv_id, seq = _conv_arg(raw), _seq_arg(raw)
        text = A.text(raw, "text", max_len=DM_TEXT_MAX, min_len=1)
        assert text is not None
        if A.blank(text):
            raise Invalid("`text` must not be blank")
        return {"message": await self._write(conv_id, s.user_id, _edit, seq, text,
                                             charge=self._sends(s.user_id))}

    async def unsend(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"conversation", "seq"})
        conv_id, seq = _conv_arg(raw), _seq_arg(raw)
        return {"message": await self._write(conv_id, s.user_id, _unsend, seq)}

    async def react(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"conversation", "seq", "emoji"})
        conv_id, seq = _conv_arg(raw), _seq_arg(raw)
        if "emoji" not in raw:
            raise Invalid("`emoji` is required (nil removes your reaction)")
        emoji = A.text(raw, "emoji", max_len=DM_EMOJI_MAX, min_len=1, required=False)
        if emoji is not None and A.blank(emoji):
            raise Invalid("`emoji` must not be blank")
        return {"message": await self._write(conv_id, s.user_id, _react, seq, emoji,
                                             charge=self._sends(s.user_id))}

    async def read(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"conversation", "seq"})
        conv_id = _conv_arg(raw)
        seq = A.integer(raw, "seq", minimum=0)
        result: dict[str, Any] = await self._write(conv_id, s.user_id, _read, seq)
        return result

    async def accept(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"conversation"})
        result: dict[str, Any] = await self._write(_conv_arg(raw), s.user_id, _accept)
        return result

    async def add(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"conversation", "users"})
        conv_id = _conv_arg(raw)
        users = _user_list(raw, "users", minimum=1, maximum=DM_GROUP_MAX - 1)
        result: dict[str, Any] = await self._write(conv_id, s.user_id, _add, users,
                                                   charge=self._opens(s.user_id))
        return result

    async def remove(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"conversation", "user"})
        conv_id = _conv_arg(raw)
        user = A.integer(raw, "user", minimum=1)
        result: dict[str, Any] = await self._write(conv_id, s.user_id, _remove, user)
        return result

    async def leave(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"conversation"})
        result: dict[str, Any] = await self._write(_conv_arg(raw), s.user_id, _leave)
        return result

    async def rename(self, s: Session, raw: dict[str, Any]) -> dict[str, Any]:
        A.only(raw, {"conversation", "title"})
        conv_id = _conv_arg(raw)
        if "title" not in raw:
            raise Invalid("`title` is required")
        result: dict[str, Any] = await self._write(conv_id, s.user_id, _rename, _title(raw))
        return result


async def members_of(st: Storage, conv_id: int) -> frozenset[int]:
    """The conversation's current members (empty if there is no such conversation): for
    other domains that address a conversation's members, such as dm.typing."""
    return await st.read(_member_ids, conv_id)

