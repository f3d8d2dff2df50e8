"""Suspension, reports and the audit log in Postgres (storage/moderation.py)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from config import Settings
from server.node import open_storage
from storage import accounts
from storage import moderation as mod
from storage.store import Storage


async def _user(st: Storage) -> int:
    name = f"mod{uuid.uuid4().hex[:10]}"
    user = await accounts.create_user(st, name, f"{name}@example.com", "not-a-real-hash")
    return user.id


async def test_suspend_revokes_every_token_and_unsuspend_restores(settings: Settings) -> None:
    async with open_storage(settings) as st:
        uid = await _user(st)
        for t in ("token-one-0123456789", "token-two-0123456789"):
            await accounts.issue_token(st, uid, t, 3600)
        assert await accounts.resolve_token(st, "token-one-0123456789") is not None
        assert await st.tx(mod.suspend, uid, "spam") == (True, 2)
        assert await st.tx(mod.suspend, uid, "again") == (False, 0)
        assert await st.read(mod.is_suspended, uid)
        assert await accounts.resolve_token(st, "token-two-0123456789") is None
        row = await st.read(mod.user_row, uid)
        assert row is not None and row["suspended"] and row["suspend_reason"] == "spam"
        since = await st.tx(mod.unsuspend, uid)  # when the suspension began, in ms
        assert since is not None and abs(since - time.time() * 1000) < 60_000
        assert await st.tx(mod.unsuspend, uid) is None
        row = await st.read(mod.user_row, uid)
        assert row is not None and not row["suspended"] and row["suspend_reason"] == ""


async def test_reports_are_kept_once_per_reporter_grouped_and_resolved(
        settings: Settings) -> None:
    async with open_storage(settings) as st:
        target, r1, r2, admin = [await _user(st) for _ in range(4)]
        first = await st.tx(mod.add_report, r1, "user", target, target, "spam", "")
        repeat = await st.tx(mod.add_report, r1, "user", target, target, "hate", "later")
        assert first[1] is True and repeat == (first[0], False)
        await st.tx(mod.add_report, r2, "user", target, target, "hate", "mean")

        async def groups() -> list[dict[str, Any]]:
            return await st.read(lambda c: mod.report_groups(
                c, kind="user", target_id=target, before_id=None, limit=10))

        (g,) = await groups()
        assert g["count"] == 2 and g["reasons"] == {"spam": 1, "hate": 1}
        assert g["notes"] == ["mean"] and g["target_user"] == target
        assert await st.tx(mod.resolve_reports, "user", target, admin, "dismissed") == 2
        assert await groups() == []
        again = await st.tx(mod.add_report, r1, "user", target, target, "spam", "")
        assert again[1] is True and again[0] != first[0]


async def test_audit_rows_page_newest_first_and_filter(settings: Settings) -> None:
    async with open_storage(settings) as st:
        admin, target = await _user(st), await _user(st)
        ids = [await st.tx(mod.audit, admin, "boss", f"admin.t{i % 2}", "user", target,
                           {"i": i}) for i in range(5)]

        async def page(before: int | None, **f: Any) -> list[dict[str, Any]]:
            args = {"action": None, "admin_id": admin, "target_kind": None, "target_id": None}
            args.update(f)
            return await st.read(lambda c: mod.audit_page(c, before_id=before, limit=2, **args))

        first = await page(None)
        second = await page(first[-1]["id"])
        assert [e["id"] for e in first + second] == ids[::-1][:4]
        assert first[0]["details"] == {"i": 4} and first[0]["admin"] == {"id": admin,
                                                                          "username": "boss"}
        only = await page(None, action="admin.t1")
        assert [e["details"]["i"] for e in only] == [3, 1]
        assert await page(None, target_kind="post") == []


async def test_a_report_colliding_with_one_being_resolved_is_created(
        settings: Settings) -> None:
    """The reporter's INSERT collides with their open report, which an operator resolves
    (another real transaction) before the reporter reads it back: a new report is made,
    never a reply without an id."""
    async with open_storage(settings) as st:
        target, reporter, admin = [await _user(st) for _ in range(3)]
        first, _ = await st.tx(mod.add_report, reporter, "user", target, target, "spam", "")

        class ResolvedAfterInsert:
            """The reporter's connection; right after its first INSERT the operator's
            connection resolves the open report and commits."""

            def __init__(self, conn: Any, other: Any) -> None:
                self.conn, self.other, self.resolved = conn, other, False

            async def fetchval(self, query: str, *args: Any) -> Any:
                value = await self.conn.fetchval(query, *args)
                if not self.resolved and query.lstrip().startswith("INSERT"):
                    self.resolved = True
                    assert await mod.resolve_reports(self.other, "user", target, admin,
                                                     "dismissed") == 1
                return value

        async def racing(conn: Any) -> tuple[int, bool]:
            assert st.pool is not None
            async with st.pool.acquire() as other:
                return await mod.add_report(ResolvedAfterInsert(conn, other), reporter,
                                            "user", target, target, "hate", "")

        report_id, created = await st.tx(racing)
        assert created is True and report_id is not None and report_id != first
        (g,) = await st.read(lambda c: mod.report_groups(
            c, kind="user", target_id=target, before_id=None, limit=10))
        assert g["count"] == 1 and g["reasons"] == {"hate": 1}
