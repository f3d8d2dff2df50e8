"""Direct messages in Postgres: conversations, members, messages, reactions.

Small functions over the caller's connection (inside its transaction). The
order of a conversation is its `last_seq`, taken with an UPDATE … RETURNING on
the conversation row, so every node agrees on it; the same row lock serialises
membership changes with sends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from storage.events import StoredEvent, append_ctes, pack_items, stored_events
from storage.media import MediaRecord, _record
from storage.relations import Relation, relation_columns, relation_from


def _ms(at: Any) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


@dataclass(frozen=True)
class Conversation:
    id: int
    kind: str  # direct | group
    title: str
    created_by: int
    last_seq: int
    last_at_us: int  # microseconds since the epoch: the list cursor


@dataclass(frozen=True)
class Member:
    user_id: int
    role: str
    state: str  # inbox | request
    last_read_seq: int  # the member's own position: their unread counts
    joined_seq: int
    # The position the other members are shown: last_read_seq, except what was read
    # where privacy kept it from them (as a request, across a block in a 1:1).
    shown_read_seq: int


@dataclass(frozen=True)
class Message:
    conversation_id: int
    seq: int
    id: int
    sender_id: int | None
    kind: str
    body: str
    media: MediaRecord | None
    post_id: int | None
    reply_to: int | None
    idem: str | None
    created_ms: int
    edited_ms: int | None
    unsent: bool
    reactions: list[tuple[int, str]] = field(default_factory=list)

    @property
    def system(self) -> dict[str, Any] | None:
        if self.kind != "system" or not self.body:
            return None
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass(frozen=True)
class UserShort:
    id: int
    username: str
    display_name: str
    avatar: dict[str, Any] | None


_CONV = ("id, kind, title, created_by, last_seq, "
         "(extract(epoch FROM last_at) * 1000000)::bigint AS last_at_us")


def _conv(row: asyncpg.Record | None) -> Conversation | None:
    return None if row is None else Conversation(**dict(row))


async def conversation(conn: asyncpg.Connection, conv_id: int, *,
                       lock: bool = False) -> Conversation | None:
    """The conversation row; with `lock`, held until the transaction ends (serialises
    every write to it, on every node)."""
    suffix = " FOR UPDATE" if lock else ""
    return _conv(await conn.fetchrow(
        f"SELECT {_CONV} FROM conversations WHERE id = $1{suffix}", conv_id))


async def direct_between(conn: asyncpg.Connection, a: int, b: int, *,
                         lock: bool = False) -> int | None:
    """The pair's 1:1 conversation, if any; with `lock`, its row is held until the
    transaction ends, as every write to the conversation holds it (`conversation`)."""
    lo, hi = sorted((a, b))
    suffix = " FOR UPDATE" if lock else ""
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT id FROM conversations WHERE kind = 'direct' AND pair_lo = $1 AND pair_hi = $2"
        + suffix, lo, hi)


async def lock_idem(conn: asyncpg.Connection, user_id: int, idem: str,
                    scope: str = "idem") -> None:
    """Serialise a user's writes that carry the same idempotency key in one `scope`
    (sends: "idem", whatever their conversations, the key is the sender's; group opens:
    "open"), until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 11))",
                       f"{scope}:{user_id}:{idem}")


async def create_direct(conn: asyncpg.Connection, creator: int, other: int) -> tuple[int, bool]:
    """The pair's conversation, created if needed: (id, created). Race-safe: a concurrent
    creator waits on the unique index and then finds the winner's row."""
    lo, hi = sorted((creator, other))
    conv_id = await conn.fetchval(
        """INSERT INTO conversations (kind, pair_lo, pair_hi, created_by)
           VALUES ('direct', $1, $2, $3)
           ON CONFLICT (pair_lo, pair_hi) WHERE kind = 'direct' DO NOTHING RETURNING id""",
        lo, hi, creator)
    if conv_id is not None:
        return int(conv_id), True
    found = await direct_between(conn, lo, hi)
    assert found is not None
    return int(found), False


async def group_by_idem(conn: asyncpg.Connection, creator: int, idem: str) -> int | None:
    """The group this creator's dm.open with this key made."""
    return await conn.fetchval(
        "SELECT id FROM conversations WHERE created_by = $1 AND idem = $2", creator, idem)


async def create_group(conn: asyncpg.Connection, creator: int, title: str,
                       idem: str | None = None) -> int:
    return int(await conn.fetchval(
        "INSERT INTO conversations (kind, title, created_by, idem) "
        "VALUES ('group', $1, $2, $3) RETURNING id", title, creator, idem))


async def add_member(conn: asyncpg.Connection, conv_id: int, user_id: int, *, state: str,
                     role: str = "member", joined_seq: int = 0) -> None:
    """Add, or bring back someone who had left (their history starts again now)."""
    await conn.execute(
        """INSERT INTO conversation_members
               (conversation_id, user_id, role, state, joined_seq, last_read_seq,
                shown_read_seq)
           VALUES ($1, $2, $3, $4, $5, $5, $5)
           ON CONFLICT (conversation_id, user_id) DO UPDATE
           SET left_at = NULL, state = EXCLUDED.state, role = EXCLUDED.role,
               joined_seq = EXCLUDED.joined_seq, last_read_seq = EXCLUDED.last_read_seq,
               shown_read_seq = EXCLUDED.shown_read_seq, joined_at = now()
           WHERE conversation_members.left_at IS NOT NULL""",
        conv_id, user_id, role, state, joined_seq)


async def members(conn: asyncpg.Connection, conv_id: int) -> dict[int, Member]:
    rows = await conn.fetch(
        """SELECT user_id, role, state, last_read_seq, joined_seq, shown_read_seq
           FROM conversation_members
           WHERE conversation_id = $1 AND left_at IS NULL ORDER BY user_id""", conv_id)
    return {r["user_id"]: Member(**dict(r)) for r in rows}


async def member(conn: asyncpg.Connection, conv_id: int, user_id: int) -> Member | None:
    row = await conn.fetchrow(
        """SELECT user_id, role, state, last_read_seq, joined_seq, shown_read_seq
           FROM conversation_members
           WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL""", conv_id, user_id)
    return None if row is None else Member(**dict(row))


async def leave(conn: asyncpg.Connection, conv_id: int, user_id: int) -> None:
    await conn.execute(
        "UPDATE conversation_members SET left_at = now() "
        "WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL", conv_id, user_id)


async def set_state(conn: asyncpg.Connection, conv_id: int, user_id: int, state: str) -> bool:
    done = await conn.execute(
        "UPDATE conversation_members SET state = $3 "
        "WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL AND state <> $3",
        conv_id, user_id, state)
    return bool(done.endswith(" 1"))


async def mark_read(conn: asyncpg.Connection, conv_id: int, user_id: int, seq: int, *,
                    shown: bool = True) -> bool:
    """Move the member's read position forward (never back) and, with `shown`, the one the
    others are shown; whether either moved."""
    done = await conn.execute(
        """UPDATE conversation_members
           SET last_read_seq = greatest(last_read_seq, $3),
               shown_read_seq = CASE WHEN $4 THEN greatest(shown_read_seq, $3)
                                     ELSE shown_read_seq END
           WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL
             AND (last_read_seq < $3 OR ($4 AND shown_read_seq < $3))""",
        conv_id, user_id, seq, shown)
    return bool(done.endswith(" 1"))


async def show_read(conn: asyncpg.Connection, conv_id: int, user_id: int) -> None:
    """Show the others the member's own read position (what was kept from them)."""
    await conn.execute(
        "UPDATE conversation_members SET shown_read_seq = last_read_seq "
        "WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL "
        "AND shown_read_seq < last_read_seq", conv_id, user_id)


async def set_title(conn: asyncpg.Connection, conv_id: int, title: str) -> None:
    await conn.execute("UPDATE conversations SET title = $2 WHERE id = $1", conv_id, title)


async def next_seq(conn: asyncpg.Connection, conv_id: int) -> int:
    return int(await conn.fetchval(
        "UPDATE conversations SET last_seq = last_seq + 1, last_at = now() WHERE id = $1 "
        "RETURNING last_seq", conv_id))


async def insert_message(conn: asyncpg.Connection, conv_id: int, seq: int, sender_id: int | None,
                         kind: str, body: str, *, media_id: int | None = None,
                         post_id: int | None = None, reply_to: int | None = None,
                         idem: str | None = None) -> None:
    await conn.execute(
        """INSERT INTO messages (conversation_id, seq, sender_id, kind, body, media_id, post_id,
                                 reply_to, idem)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        conv_id, seq, sender_id, kind, body, media_id, post_id, reply_to, idem)


async def by_idem(conn: asyncpg.Connection, sender_id: int, idem: str) -> tuple[int, int] | None:
    row = await conn.fetchrow(
        "SELECT conversation_id, seq FROM messages WHERE sender_id = $1 AND idem = $2",
        sender_id, idem)
    return None if row is None else (row["conversation_id"], row["seq"])


_MSG = """SELECT m.conversation_id, m.seq, m.id, m.sender_id, m.kind, m.body, m.post_id,
                 m.reply_to, m.idem, m.created_at, m.edited_at, m.unsent_at,
                 md.id AS md_id, md.owner_id AS md_owner_id, md.kind AS md_kind,
                 md.width AS md_width, md.height AS md_height, md.blurhash AS md_blurhash,
                 md.color AS md_color, md.filter AS md_filter,
                 md.master_key AS md_master_key, md.variants AS md_variants,
                 md.attached_at IS NOT NULL AS md_attached
          FROM messages m LEFT JOIN media md ON md.id = m.media_id"""


def _message(row: asyncpg.Record, reactions: list[tuple[int, str]]) -> Message:
    media = None
    if row["md_id"] is not None:
        media = _record({k[3:]: row[k] for k in row.keys() if k.startswith("md_")})  # noqa: SIM118 (Record iterates values)
    return Message(row["conversation_id"], row["seq"], row["id"], row["sender_id"], row["kind"],
                   row["body"], media, row["post_id"], row["reply_to"], row["idem"],
                   _ms(row["created_at"]) or 0, _ms(row["edited_at"]),
                   row["unsent_at"] is not None, reactions)


async def _reactions(conn: asyncpg.Connection, conv_id: int,
                     seqs: Sequence[int]) -> dict[int, list[tuple[int, str]]]:
    rows = await conn.fetch(
        "SELECT seq, user_id, emoji FROM message_reactions "
        "WHERE conversation_id = $1 AND seq = ANY($2::bigint[]) ORDER BY seq, created_at, user_id",
        conv_id, list(seqs))
    out: dict[int, list[tuple[int, str]]] = {}
    for r in rows:
        out.setdefault(r["seq"], []).append((r["user_id"], r["emoji"]))
    return out


async def message(conn: asyncpg.Connection, conv_id: int, seq: int) -> Message | None:
    row = await conn.fetchrow(f"{_MSG} WHERE m.conversation_id = $1 AND m.seq = $2",
                              conv_id, seq)
    if row is None:
        return None
    return _message(row, (await _reactions(conn, conv_id, [seq])).get(seq, []))


async def messages_at(conn: asyncpg.Connection,
                      keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], Message]:
    """The messages at these (conversation, seq) positions, with their reactions, in two
    statements whatever their number (the inbox's last messages)."""
    if not keys:
        return {}
    convs, seqs = [c for c, _ in keys], [q for _, q in keys]
    rows = await conn.fetch(
        f"""{_MSG} JOIN unnest($1::bigint[], $2::bigint[]) AS k(c, s)
                ON m.conversation_id = k.c AND m.seq = k.s""", convs, seqs)
    reactions: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for r in await conn.fetch(
            """SELECT r.conversation_id, r.seq, r.user_id, r.emoji FROM message_reactions r
               JOIN unnest($1::bigint[], $2::bigint[]) AS k(c, s)
                   ON r.conversation_id = k.c AND r.seq = k.s
               ORDER BY r.conversation_id, r.seq, r.created_at, r.user_id""", convs, seqs):
        reactions.setdefault((r["conversation_id"], r["seq"]), []).append(
            (r["user_id"], r["emoji"]))
    return {(r["conversation_id"], r["seq"]): _message(
        r, reactions.get((r["conversation_id"], r["seq"]), [])) for r in rows}


async def history(conn: asyncpg.Connection, conv_id: int, member: int, after: int,
                  before: int | None, limit: int) -> list[Message] | None:
    """Messages with after < seq < before, newest first, read in the same snapshot as
    `member`'s membership since `after` (their joined_seq): None when that membership
    has ended. Read apart, a removal and a message after it could both commit between
    the two, and the removed member got that message."""
    rows = await conn.fetch(
        f"""SELECT * FROM (SELECT true AS member) me
            LEFT JOIN LATERAL ({_MSG} WHERE m.conversation_id = $1 AND m.seq > $2
                                        AND m.seq < $3
                                ORDER BY m.seq DESC LIMIT $4) x ON true
            WHERE EXISTS (SELECT 1 FROM conversation_members cm
                          WHERE cm.conversation_id = $1 AND cm.user_id = $5
                            AND cm.left_at IS NULL AND cm.joined_seq = $2)""",
        conv_id, after, before if before is not None else (1 << 62), limit, member)
    if not rows:
        return None
    rows = [r for r in rows if r["seq"] is not None]
    reactions = await _reactions(conn, conv_id, [r["seq"] for r in rows])
    return [_message(r, reactions.get(r["seq"], [])) for r in rows]


async def edit(conn: asyncpg.Connection, conv_id: int, seq: int, body: str) -> None:
    await conn.execute("UPDATE messages SET body = $3, edited_at = now() "
                       "WHERE conversation_id = $1 AND seq = $2", conv_id, seq, body)


async def unsend(conn: asyncpg.Connection, conv_id: int, seq: int) -> None:
    """Gone for everyone: the body, photo and shared post are cleared, reactions dropped."""
    await conn.execute(
        "UPDATE messages SET body = '', media_id = NULL, post_id = NULL, unsent_at = now() "
        "WHERE conversation_id = $1 AND seq = $2", conv_id, seq)
    await conn.execute("DELETE FROM message_reactions WHERE conversation_id = $1 AND seq = $2",
                       conv_id, seq)


async def react(conn: asyncpg.Connection, conv_id: int, seq: int, user_id: int,
                emoji: str | None) -> None:
    if emoji is None:
        await conn.execute("DELETE FROM message_reactions "
                           "WHERE conversation_id = $1 AND seq = $2 AND user_id = $3",
                           conv_id, seq, user_id)
        return
    await conn.execute(
        """INSERT INTO message_reactions (conversation_id, seq, user_id, emoji)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (conversation_id, seq, user_id)
           DO UPDATE SET emoji = EXCLUDED.emoji, created_at = now()""",
        conv_id, seq, user_id, emoji)


async def users_short(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, UserShort]:
    rows = await conn.fetch(
        """SELECT u.id, u.username, u.display_name, md.variants AS avatar
           FROM users u LEFT JOIN media md ON md.id = u.avatar_id
           WHERE u.id = ANY($1::bigint[])""", sorted(set(ids)))
    out = {}
    for r in rows:
        avatar = r["avatar"]
        if isinstance(avatar, str):
            avatar = json.loads(avatar)
        out[r["id"]] = UserShort(r["id"], r["username"], r["display_name"], avatar)
    return out


@dataclass(frozen=True)
class Listed:
    conversation: Conversation
    me: Member
    unread: int


async def unread(conn: asyncpg.Connection, conv_id: int, user_id: int, after: int) -> int:
    """Messages after the read position, not counting one's own, system or unsent ones."""
    return int(await conn.fetchval(
        """SELECT count(*) FROM messages WHERE conversation_id = $1 AND seq > $3
           AND sender_id IS DISTINCT FROM $2 AND kind <> 'system' AND unsent_at IS NULL""",
        conv_id, user_id, after))


async def list_for(conn: asyncpg.Connection, user_id: int, state: str,
                   cursor: tuple[int, int] | None, limit: int) -> list[Listed]:
    """A folder by last activity, newest first. A conversation shows once it has a message
    (or to its creator)."""
    lo_us, lo_id = cursor if cursor is not None else (1 << 62, 1 << 62)
    rows = await conn.fetch(
        """SELECT c.id, c.kind, c.title, c.created_by, c.last_seq,
                   (extract(epoch FROM c.last_at) * 1000000)::bigint AS last_at_us,
                   cm.role, cm.state, cm.last_read_seq, cm.joined_seq, cm.shown_read_seq,
                   (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id
                      AND m.seq > cm.last_read_seq AND m.sender_id IS DISTINCT FROM $1
                      AND m.kind <> 'system' AND m.unsent_at IS NULL) AS unread
            FROM conversation_members cm JOIN conversations c ON c.id = cm.conversation_id
            WHERE cm.user_id = $1 AND cm.left_at IS NULL AND cm.state = $2
              AND (c.last_seq > cm.joined_seq OR c.created_by = $1)
              AND ((extract(epoch FROM c.last_at) * 1000000)::bigint, c.id) < ($3, $4)
            ORDER BY c.last_at DESC, c.id DESC LIMIT $5""",
        user_id, state, lo_us, lo_id, limit)
    return [Listed(Conversation(r["id"], r["kind"], r["title"], r["created_by"], r["last_seq"],
                                r["last_at_us"]),
                   Member(user_id, r["role"], r["state"], r["last_read_seq"], r["joined_seq"],
                          r["shown_read_seq"]),
                   int(r["unread"]))
            for r in rows]


async def members_many(conn: asyncpg.Connection,
                       conv_ids: Sequence[int]) -> dict[int, list[Member]]:
    """The current members of each conversation, in the order they joined, with their
    folder and read position (one statement for a whole dm.list page)."""
    rows = await conn.fetch(
        "SELECT conversation_id, user_id, role, state, last_read_seq, joined_seq, "
        "shown_read_seq "
        "FROM conversation_members "
        "WHERE conversation_id = ANY($1::bigint[]) AND left_at IS NULL "
        "ORDER BY conversation_id, joined_at, user_id", list(conv_ids))
    out: dict[int, list[Member]] = {c: [] for c in conv_ids}
    for r in rows:
        out[r["conversation_id"]].append(Member(r["user_id"], r["role"], r["state"],
                                                r["last_read_seq"], r["joined_seq"],
                                                r["shown_read_seq"]))
    return out


# -- dm.send in few statements ----------------------------------------------------------------
@dataclass(frozen=True)
class SendContext:
    """What a send decides on, read in one statement once the conversation row is locked:
    the members, an earlier message with the same idempotency key, how the sender stands
    to the other member of a 1:1, the transaction's time and an id for the message."""

    members: dict[int, Member]
    prior: tuple[int, int] | None  # (conversation id, seq) of the same `idem`
    peer: Relation | None  # sender -> the other member (1:1 only)
    now_ms: int
    message_id: int


_SEND_CONTEXT = f"""
    SELECT (SELECT array_agg(ARRAY[user_id, last_read_seq, joined_seq, shown_read_seq]
                             ORDER BY user_id)
            FROM conversation_members WHERE conversation_id = $1 AND left_at IS NULL) AS nums,
           (SELECT array_agg(role || ' ' || state ORDER BY user_id)
            FROM conversation_members WHERE conversation_id = $1 AND left_at IS NULL) AS texts,
           (SELECT ARRAY[conversation_id, seq] FROM messages
            WHERE $3::text IS NOT NULL AND sender_id = $2 AND idem = $3) AS prior,
           p.peer_id,
           {relation_columns("$2::bigint", "p.peer_id", "rp")},
           floor(extract(epoch FROM now()) * 1000)::bigint AS now_ms,
           glint_next_id() AS message_id
    FROM (SELECT (SELECT user_id FROM conversation_members
                  WHERE $4::boolean AND conversation_id = $1 AND user_id <> $2
                    AND left_at IS NULL ORDER BY user_id LIMIT 1) AS peer_id) p"""


async def send_context(conn: asyncpg.Connection, conv_id: int, sender_id: int,
                       idem: str | None, direct: bool) -> SendContext:
    """Read under the conversation's row lock (`conversation(..., lock=True)` first, a
    statement of its own: this one's snapshot is then taken after the lock, so the
    members are current)."""
    row = await conn.fetchrow(_SEND_CONTEXT, conv_id, sender_id, idem, direct)
    peer_id = row["peer_id"]
    members = {}
    for (uid, read, joined, shown), text in zip(row["nums"] or [], row["texts"] or [],
                                                strict=True):
        role, state = text.split(" ", 1)
        members[uid] = Member(uid, role, state, read, joined, shown)
    prior = (row["prior"][0], row["prior"][1]) if row["prior"] else None
    peer = relation_from(row, "rp", sender_id, peer_id) if peer_id is not None else None
    return SendContext(members, prior, peer, row["now_ms"], row["message_id"])


_SEND = f"""
    WITH nx AS (
        UPDATE conversations SET last_seq = $2, last_at = now() WHERE id = $1
    ), ins AS (
        INSERT INTO messages (conversation_id, seq, id, sender_id, kind, body, media_id,
                              post_id, reply_to, idem)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ), me AS (  -- replying accepts a request; one's own message is read, and shown read
        -- (a 1:1 send is refused across a block, the one case where a read is kept)
        UPDATE conversation_members
        SET last_read_seq = greatest(last_read_seq, $2),
            shown_read_seq = greatest(shown_read_seq, $2),
            state = CASE WHEN state = 'request' THEN 'inbox' ELSE state END
        WHERE conversation_id = $1 AND user_id = $4 AND left_at IS NULL
    ), {append_ctes(11)}
    SELECT ord, seq FROM ev_seq"""


async def send_once(conn: asyncpg.Connection, conv_id: int, seq: int, message_id: int,
                    sender_id: int, kind: str, body: str, media_id: int | None,
                    post_id: int | None, reply_to: int | None, idem: str | None,
                    events: list[tuple[int, str, dict[str, Any]]],
                    retention: int) -> list[StoredEvent]:
    """Store the message at `seq` (the locked conversation's next), mark it read for its
    sender (accepting a request), and append `events`: one statement."""
    rows = await conn.fetch(_SEND, conv_id, seq, message_id, sender_id, kind, body, media_id,
                            post_id, reply_to, idem, *pack_items(events), retention)
    return stored_events(events, [(r["ord"], r["seq"]) for r in rows])
