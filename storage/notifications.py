"""Notification rows; each is also a durable `notification` event in the recipient's log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from storage.events import EventSink
from storage.relations import Relation, relation


async def notify(conn: asyncpg.Connection, sink: EventSink, *, recipient_id: int, actor_id: int,
                 kind: str, allowed: Callable[[Relation], bool], post_id: int | None = None,
                 comment_id: int | None = None, body: str = "",
                 extra: dict[str, Any] | None = None) -> int | None:
    """Store and emit a notification inside the caller's transaction.

    `allowed` is the domain's rule (actors.privacy.should_notify) applied to the
    relation from the recipient to the actor. Returns the notification id, or None
    when the rule says no.
    """
    if not allowed(await relation(conn, recipient_id, actor_id)):
        return None
    row = await conn.fetchrow(
        """INSERT INTO notifications (recipient_id, actor_id, kind, post_id, comment_id, body)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id, (extract(epoch FROM created_at) * 1000)::bigint AS at""",
        recipient_id, actor_id, kind, post_id, comment_id, body[:200])
    actor = await conn.fetchrow("SELECT username FROM users WHERE id = $1", actor_id)
    data: dict[str, Any] = {
        "id": row["id"], "kind": kind, "actor": {"id": actor_id, "username": actor["username"]},
        "post": post_id, "comment": comment_id, "body": body[:200], "at": row["at"],
        **(extra or {}),
    }
    await sink.to_user(recipient_id, "notification", data)
    return int(row["id"])
