"""Operators' lists on a real node: who took a post or comment down (its author, the
post's owner or an operator), a comment that went with its post, and the audit log naming
the users behind its targets."""

from __future__ import annotations

from typing import Any

from protocol.errors import Forbidden, NotFound
from server.node import Node
from tests.server.test_admin import admins, audit_rows
from tests.server.test_posts import bots, expect, quick_post, uid, uname


def by_id(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in rows}


async def test_posts_tell_an_authors_delete_from_an_operators_removal(node: Node) -> None:
    async with bots(node, 2) as (author, reporter), admins(node) as (admin,):
        live = await quick_post(author, "still here")
        mine = await quick_post(author, "I changed my mind")
        taken = await quick_post(author, "against the rules")
        reported = await quick_post(author, "reported spam")
        gone_first = await quick_post(author, "deleted before the verdict")
        await author.call("post.delete", post=mine["id"])
        await admin.call("admin.remove_post", post=taken["id"], reason="breaks rule 3")
        await reporter.call("report.create", kind="post", target=reported["id"], reason="spam")
        await admin.call("admin.resolve", kind="post", target=reported["id"], action="remove",
                         reason="spam")
        # Reported, then deleted by its author; removing it afterwards changes nothing.
        await reporter.call("report.create", kind="post", target=gone_first["id"],
                            reason="spam")
        await author.call("post.delete", post=gone_first["id"])
        await admin.call("admin.resolve", kind="post", target=gone_first["id"], action="remove")

        rows = by_id((await admin.call("admin.posts", author=uid(author)))["posts"])
        me = {"id": uid(admin), "username": uname(admin)}
        assert rows[live["id"]]["state"] == "live"
        assert rows[live["id"]]["removed"] is False and rows[live["id"]]["removed_by"] is None
        for deleted in (mine, gone_first):
            row = rows[deleted["id"]]
            assert (row["state"], row["removed"], row["removed_by"]) == ("deleted", True, None)
            assert row["removed_at"] > 0 and row["removal_reason"] is None
        row = rows[taken["id"]]
        assert (row["state"], row["removed"], row["removed_by"]) == ("removed", True, me)
        assert row["removal_reason"] == "breaks rule 3" and row["removed_at"] > 0
        row = rows[reported["id"]]
        assert (row["state"], row["removed_by"], row["removal_reason"]) == ("removed", me, "spam")
        # One post by id says the same.
        one = (await admin.call("admin.posts", post=taken["id"]))["posts"]
        assert [(p["id"], p["state"]) for p in one] == [(taken["id"], "removed")]

        # Non-admins still get forbidden, and learn nothing.
        for op, args in (("admin.posts", {"post": taken["id"]}),
                         ("admin.comments", {"post": taken["id"]}),
                         ("admin.audit", {"kind": "post", "target": taken["id"]})):
            await expect(Forbidden, author, op, **args)
            await expect(Forbidden, reporter, op, **args)
        assert "t" in await author.call("ping")


async def test_comments_tell_who_took_them_down_replies_included(node: Node) -> None:
    async with bots(node, 3) as (owner, writer, replier), admins(node) as (admin,):
        post = await quick_post(owner, "comments below")
        live = await writer.call("comment.add", post=post["id"], text="nice")
        own = await writer.call("comment.add", post=post["id"], text="oops")
        by_owner = await writer.call("comment.add", post=post["id"], text="off topic")
        top = await writer.call("comment.add", post=post["id"], text="rude")
        reply = await replier.call("comment.add", post=post["id"], text="ruder",
                                   reply_to=top["id"])
        early = await replier.call("comment.add", post=post["id"], text="never mind",
                                   reply_to=top["id"])
        await writer.call("comment.delete", comment=own["id"])
        await owner.call("comment.delete", comment=by_owner["id"])
        await replier.call("comment.delete", comment=early["id"])
        await admin.call("admin.remove_comment", comment=top["id"], reason="harassment")

        rows = by_id((await admin.call("admin.comments", post=post["id"]))["comments"])
        me = {"id": uid(admin), "username": uname(admin)}
        states = {cid: (rows[cid]["state"], rows[cid]["removed_by"])
                  for cid in (live["id"], own["id"], by_owner["id"], top["id"], reply["id"],
                              early["id"])}
        assert states == {live["id"]: ("live", None), own["id"]: ("deleted", None),
                          by_owner["id"]: ("deleted", None), top["id"]: ("removed", me),
                          reply["id"]: ("removed", me), early["id"]: ("deleted", None)}
        assert rows[reply["id"]]["removal_reason"] == "harassment"
        assert rows[live["id"]]["removed"] is False
        assert all(rows[c]["removed"] for c in (own["id"], top["id"], reply["id"]))


async def test_deleted_comments_say_who_deleted_them(node: Node) -> None:
    """An author's own delete and the post owner's are both `"deleted"`; `deleted_by` tells
    them apart (and names who took a reply with its top-level comment)."""
    async with bots(node, 3) as (owner, writer, replier), admins(node) as (admin,):
        post = await quick_post(owner, "comments below")
        add = writer.call
        live = await add("comment.add", post=post["id"], text="nice")
        own = await add("comment.add", post=post["id"], text="oops")
        by_owner = await add("comment.add", post=post["id"], text="off topic")
        owners_own = await owner.call("comment.add", post=post["id"], text="thanks")
        top = await add("comment.add", post=post["id"], text="second thoughts")
        reply = await replier.call("comment.add", post=post["id"], text="agreed",
                                   reply_to=top["id"])
        owners_top = await add("comment.add", post=post["id"], text="spammy")
        owners_reply = await replier.call("comment.add", post=post["id"], text="+1",
                                          reply_to=owners_top["id"])
        taken = await add("comment.add", post=post["id"], text="rude")
        await writer.call("comment.delete", comment=own["id"])
        await owner.call("comment.delete", comment=by_owner["id"])
        await owner.call("comment.delete", comment=owners_own["id"])
        await writer.call("comment.delete", comment=top["id"])  # its reply goes with it
        await owner.call("comment.delete", comment=owners_top["id"])  # and this one's
        await admin.call("admin.remove_comment", comment=taken["id"], reason="harassment")

        rows = by_id((await admin.call("admin.comments", post=post["id"]))["comments"])
        as_owner = {"id": uid(owner), "username": uname(owner), "role": "post_owner"}
        writer_as = {"id": uid(writer), "username": uname(writer)}
        got = {cid: (rows[cid]["state"], rows[cid]["deleted_by"]) for cid in rows}
        assert got == {
            live["id"]: ("live", None),
            own["id"]: ("deleted", {**writer_as, "role": "author"}),
            by_owner["id"]: ("deleted", as_owner),
            owners_own["id"]: ("deleted", {"id": uid(owner), "username": uname(owner),
                                           "role": "author"}),
            top["id"]: ("deleted", {**writer_as, "role": "author"}),
            reply["id"]: ("deleted", {**writer_as, "role": "parent_author"}),
            owners_top["id"]: ("deleted", as_owner),
            owners_reply["id"]: ("deleted", as_owner),
            taken["id"]: ("removed", None),  # the operator: removed_by
        }
        assert rows[taken["id"]]["removed_by"] == {"id": uid(admin), "username": uname(admin)}
        # Older fields as they were: nobody is `removed_by` for a user's delete.
        assert all(rows[c]["removed_by"] is None and rows[c]["removed"]
                   for c in (own["id"], by_owner["id"], reply["id"]))


async def test_comments_say_when_their_post_is_gone(node: Node) -> None:
    """A comment goes with its post, although its own row stays live: `post_gone` says so."""
    async with bots(node, 2) as (author, writer), admins(node) as (admin,):
        kept = await quick_post(author, "kept")
        deleted = await quick_post(author, "deleted by its author")
        removed = await quick_post(author, "removed by an operator")
        on = {p["id"]: await writer.call("comment.add", post=p["id"], text="hi")
              for p in (kept, deleted, removed)}
        await author.call("post.delete", post=deleted["id"])
        await admin.call("admin.remove_post", post=removed["id"], reason="rule 3")

        rows = by_id((await admin.call("admin.comments", author=uid(writer)))["comments"])
        got = {pid: (rows[c["id"]]["state"], rows[c["id"]]["post_gone"]) for pid, c in on.items()}
        assert got == {kept["id"]: ("live", False), deleted["id"]: ("live", True),
                       removed["id"]: ("live", True)}
        # One comment by id says the same.
        one = (await admin.call("admin.comments", comment=on[removed["id"]]["id"]))["comments"]
        assert [(c["state"], c["post_gone"]) for c in one] == [("live", True)]


async def test_removing_a_comment_whose_post_is_gone_changes_nothing(node: Node) -> None:
    """It went with its post: admin.remove_comment is not_found and writes nothing;
    admin.resolve with `remove` closes its reports and leaves the comment's row alone.
    An operator's removal of the post closes its comments' reports itself."""
    async with bots(node, 3) as (author, writer, reporter), admins(node) as (admin,):
        deleted = await quick_post(author, "deleted by its author")
        removed = await quick_post(author, "removed by an operator")
        on_deleted = await writer.call("comment.add", post=deleted["id"], text="hi")
        on_removed = await writer.call("comment.add", post=removed["id"], text="spam")
        for c in (on_deleted, on_removed):
            await reporter.call("report.create", kind="comment", target=c["id"],
                                reason="spam")
        await author.call("post.delete", post=deleted["id"])
        await admin.call("admin.remove_post", post=removed["id"], reason="rule 3")
        before = await audit_rows(node, uid(admin))

        for c in (on_deleted, on_removed):
            await expect(NotFound, admin, "admin.remove_comment", comment=c["id"], reason="r")
        assert await audit_rows(node, uid(admin)) == before
        rows = by_id((await admin.call("admin.comments", author=uid(writer)))["comments"])
        assert {c: (rows[c]["state"], rows[c]["post_gone"], rows[c]["open_reports"])
                for c in (on_deleted["id"], on_removed["id"])} == {
            on_deleted["id"]: ("live", True, 1), on_removed["id"]: ("live", True, 0)}

        done = await admin.call("admin.resolve", kind="comment", target=on_deleted["id"],
                                action="remove", reason="spam")
        assert done["reports_closed"] == 1
        (row,) = (await admin.call("admin.comments", comment=on_deleted["id"]))["comments"]
        assert (row["state"], row["removed_at"], row["post_gone"], row["open_reports"]) == (
            "live", None, True, 0)
        (entry,) = (await admin.call("admin.audit", kind="comment",
                                     target=on_deleted["id"]))["entries"]
        assert entry["details"]["post_gone"] is True and entry["details"]["removed"] == 0


async def test_audit_entries_name_the_users_behind_their_targets(node: Node) -> None:
    async with bots(node, 3) as (author, commenter, kicked), admins(node) as (admin,):
        post = await quick_post(author, "audited")
        comment = await commenter.call("comment.add", post=post["id"], text="hm")
        await admin.call("admin.kick", user=uid(kicked))
        await admin.call("admin.remove_comment", comment=comment["id"], reason="r")
        await admin.call("admin.remove_post", post=post["id"], reason="r")
        await admin.call("admin.announce", text="hello all")
        entries = (await admin.call("admin.audit", admin=uid(admin), limit=10))["entries"]
        got = [(e["action"], e["target"], e["target_user"]) for e in entries]
        assert got == [
            ("admin.announce", {"kind": "", "id": None}, None),
            ("admin.remove_post", {"kind": "post", "id": post["id"]},
             {"id": uid(author), "username": uname(author)}),
            ("admin.remove_comment", {"kind": "comment", "id": comment["id"]},
             {"id": uid(commenter), "username": uname(commenter)}),
            ("admin.kick", {"kind": "user", "id": uid(kicked)},
             {"id": uid(kicked), "username": uname(kicked)}),
        ]
        # The ids stay for bots: the operator's, and the author's in the details.
        assert all(e["admin"] == {"id": uid(admin), "username": uname(admin)} for e in entries)
        assert entries[1]["details"]["author"] == uid(author)
        # A filter on the target still finds it, with the name.
        one = (await admin.call("admin.audit", kind="post", target=post["id"]))["entries"]
        assert [e["target_user"]["username"] for e in one] == [uname(author)]
