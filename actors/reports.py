"""`report.create`: any user flags a post, a comment, a user or a message for operators.

A report is only about something the reporter can see (else not_found, exactly
as for the other ops: actors/privacy.py decides), is kept once per (reporter,
target) while it is open — a repeat answers the same report and changes
nothing — and is rate-limited per user in Redis. Operators work the queue with
`admin.reports` / `admin.resolve` (actors/admin.py).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from actors import args as A
from actors import privacy
from actors.accounts import Session
from actors.errors import Invalid, Missing, NotAllowed, Throttled
from config.limits import REPORT_NOTE_MAX, REPORTS_PER_HOUR
from storage import moderation as mod
from storage import posts as posts_db
from storage import ratelimit
from storage.relations import relation
from storage.store import Storage

KINDS = ("post", "comment", "user", "message")
REASONS = ("spam", "nudity", "harassment", "hate", "violence", "self_harm", "scam",
           "false_information", "intellectual_property", "other")
REPORT_WINDOW_SECONDS = 3600


async def _target_user(conn: asyncpg.Connection, reporter: int, kind: str,
                       target_id: int) -> int:
    """Who is behind the target, if the reporter can see it; else Missing."""
    if kind == "user":
        rel = await relation(conn, reporter, target_id)
        privacy.require_profile(rel)
        if rel.is_self:
            raise NotAllowed("you cannot report yourself")
        return target_id
    if kind == "post":
        head = await posts_db.head(conn, target_id)
        if head is None or head.deleted:
            raise Missing("no such post")
        privacy.require_posts(await relation(conn, reporter, head.author_id))
        return head.author_id
    if kind == "comment":
        c = await posts_db.comment_head(conn, target_id)
        head = await posts_db.head(conn, c.post_id) if c is not None else None
        if c is None or c.deleted or head is None or head.deleted:
            raise Missing("no such comment")
        privacy.require_posts(await relation(conn, reporter, head.author_id), "comment")
        if not privacy.can_see_comment(await relation(conn, reporter, c.author_id)):
            raise Missing("no such comment")
        # A reply is hidden with its thread (comment.list, comment.like): reporting it
        # must not tell that it exists either.
        thread = await posts_db.comment_head(conn, c.parent_id) if c.parent_id else None
        if thread is not None and not privacy.can_see_thread(
                await relation(conn, reporter, thread.author_id)):
            raise Missing("no such comment")
        return c.author_id
    m = await mod.message_for(conn, target_id, reporter)
    if m is None or not m.visible or m.sender_id is None:
        raise Missing("no such message")
    return m.sender_id


async def _create(conn: asyncpg.Connection, reporter: int, kind: str, target_id: int,
                  reason: str, note: str) -> dict[str, Any]:
    target_user = await _target_user(conn, reporter, kind, target_id)
    if target_user == reporter and kind != "user":
        raise NotAllowed("you cannot report your own content")
    report_id, created = await mod.add_report(conn, reporter, kind, target_id, target_user,
                                              reason, note)
    return {"report": report_id, "kind": kind, "target": target_id, "created": created}


class Reports:
    def __init__(self, st: Storage) -> None:
        self.st = st

    async def create(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        A.only(args, {"kind", "target", "reason", "text"})
        kind = A.text(args, "kind", max_len=20)
        if kind not in KINDS:
            raise Invalid(f"`kind` must be one of: {', '.join(KINDS)}")
        target = A.integer(args, "target", minimum=1)
        assert target is not None
        reason = A.text(args, "reason", max_len=40)
        if reason not in REASONS:
            raise Invalid(f"`reason` must be one of: {', '.join(REASONS)}")
        note = A.trimmed(args, "text", max_len=REPORT_NOTE_MAX, required=False) or ""
        verdict = await ratelimit.hit(self.st, "report", str(session.user_id),
                                      REPORTS_PER_HOUR, REPORT_WINDOW_SECONDS)
        if not verdict.allowed:
            raise Throttled("too many reports; try again later", verdict.retry_after)
        return await self.st.tx(_create, session.user_id, kind, target, reason, note)
