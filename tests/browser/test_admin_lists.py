"""The console's posts, comments and audit lists say who did what: an author's own delete
("Deleted by author") apart from the post owner's and an operator's removal ("Removed by
@op"), a live comment whose post is gone (and offers no Remove), and the audit log names
the users behind its targets. The result line of an action goes when the operator
switches list, filter or section. Comment text wraps between words."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, LiveNode, Person, screenshot
from tests.browser.steps_admin import (
    Bot,
    bot_factory,
    fits_width,
    go_to,
    remove_comment,
    remove_post,
    report_row,
    resolve_reports,
    sign_in_new_operator,
)
from tests.fixtures.images import jpeg


@pytest.fixture
def bots(live_node: LiveNode) -> Iterator[Callable[[str], Bot]]:
    """Factory: bots(prefix) → a signed-up, connected Bot; all stopped at teardown."""
    with bot_factory(live_node.ws_url) as make:
        yield make


def find_by_author(page: Page, kind: str, username: str) -> None:
    """Posts & comments → `kind` ("Posts" or "Comments") → find by author."""
    go_to(page, "Posts & comments")
    page.get_by_role("button", name=kind, exact=True).click()
    page.get_by_label("Find by").select_option("author")
    page.get_by_label("Id or username").fill(username)
    page.get_by_role("search", name=f"Find {kind.lower()}").get_by_role(
        "button", name="Search").click()


def state_of(page: Page, item_id: int) -> object:
    return page.locator(f"tr[data-id='{item_id}']").get_by_test_id("content-state")


def test_lists_say_who_took_content_down(person: Callable[..., Person],
                                         bots: Callable[[str], Bot],
                                         services: tuple[str, str], tmp_path: Path) -> None:
    op = person(DESKTOP).page
    admin_name = sign_in_new_operator(op, services, tmp_path / "cli")

    author, commenter = bots("author"), bots("com")
    posts = [author.call("post.create", media=[author.upload(jpeg(160, 120))["id"]],
                         caption=caption)
             for caption in ("stays up", "changed my mind", "against the rules")]
    live, mine, taken = (p["id"] for p in posts)
    # Comments that go with their posts: one deleted by its author, one removed below.
    orphans = [commenter.call("comment.add", post=p, text="on a doomed post")["id"]
               for p in (mine, taken)]
    author.call("post.delete", post=mine)
    kept = commenter.call("comment.add", post=live, text="lovely")
    own = commenter.call("comment.add", post=live, text="typo")
    rude = commenter.call("comment.add", post=live, text="rude words")
    commenter.call("comment.delete", comment=own["id"])

    outcome = op.get_by_test_id("content-outcome")
    remove_post(op, taken, "breaks rule 3")
    expect(outcome).to_contain_text(f"Removed post {taken}")
    # Another list: the line was about the post, it goes.
    op.get_by_role("button", name="Comments", exact=True).click()
    expect(outcome).to_be_empty()
    remove_comment(op, rude["id"], "harassment")
    expect(outcome).to_contain_text(f"Removed comment {rude['id']}")
    # Another section and back: gone too.
    go_to(op, "Users")
    go_to(op, "Posts & comments")
    expect(outcome).to_be_empty()

    # The posts list: visible, deleted by its author, removed by this operator (why).
    find_by_author(op, "Posts", author.username)
    expect(state_of(op, live)).to_have_text("Visible")
    expect(state_of(op, mine)).to_contain_text("Deleted by author")
    expect(state_of(op, taken)).to_contain_text(f"Removed by @{admin_name}")
    expect(state_of(op, taken)).to_contain_text("Reason: breaks rule 3")
    expect(state_of(op, mine)).not_to_contain_text("Removed")
    screenshot(op, "admin-posts-states-desktop")

    # The comments of the live post, likewise.
    op.get_by_role("button", name="Comments", exact=True).click()
    op.get_by_label("Find by").select_option("post")
    op.get_by_label("Id or username").fill(str(live))
    op.get_by_role("search", name="Find comments").get_by_role("button", name="Search").click()
    expect(state_of(op, kept["id"])).to_have_text("Visible")
    expect(state_of(op, own["id"])).to_contain_text("Deleted by author")
    expect(state_of(op, rude["id"])).to_contain_text(f"Removed by @{admin_name}")

    # The commenter's comments: those on a post that is gone are live, but tagged.
    op.get_by_label("Find by").select_option("author")
    op.get_by_label("Id or username").fill(commenter.username)
    op.get_by_role("search", name="Find comments").get_by_role("button", name="Search").click()
    for orphan in orphans:
        expect(state_of(op, orphan)).to_contain_text("Visible")
        expect(state_of(op, orphan)).to_contain_text("Post gone")
    expect(state_of(op, kept["id"])).to_have_text("Visible")
    screenshot(op, "admin-comments-post-gone-desktop")

    # The audit log names the users behind the targets, not just their ids.
    go_to(op, "Audit log")
    rows = op.locator("tbody tr").filter(has_text=f"@{admin_name}")
    expect(rows.first).to_contain_text("admin.remove_comment")
    expect(rows.first.get_by_test_id("audit-target")).to_contain_text(
        f"comment {rude['id']} by @{commenter.username}")
    expect(rows.first).to_contain_text(f"author: @{commenter.username}")
    expect(rows.nth(1)).to_contain_text("admin.remove_post")
    expect(rows.nth(1).get_by_test_id("audit-target")).to_contain_text(
        f"post {taken} by @{author.username}")
    expect(rows.nth(1)).to_contain_text(f"author: @{author.username}")
    screenshot(op, "admin-audit-names-desktop")


#: The words of an element's text that the browser split over two lines.
SPLIT_WORDS = """(el) => {
  const split = [];
  const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    for (const m of n.data.matchAll(/\\S+/g)) {
      const r = document.createRange();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      if (new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size > 1) split.push(m[0]);
    }
  }
  return split;
}"""


def test_comments_say_who_deleted_them_and_gone_posts_offer_no_removal(
        person: Callable[..., Person], bots: Callable[[str], Bot],
        services: tuple[str, str], tmp_path: Path) -> None:
    op = person(DESKTOP).page
    sign_in_new_operator(op, services, tmp_path / "cli")
    owner, writer, reporter = bots("owner"), bots("writer"), bots("rep")
    live, doomed = (owner.call("post.create", media=[owner.upload(jpeg(160, 120))["id"]],
                               caption=c)["id"] for c in ("keeps", "goes"))
    long_text = ("Absolutely wonderful photograph, congratulations on capturing such "
                 "extraordinary evening light over the harbour " + "w" * 90)
    talk = writer.call("comment.add", post=live, text=long_text)
    own = writer.call("comment.add", post=live, text="typo")
    by_owner = writer.call("comment.add", post=live, text="off topic")
    orphan = writer.call("comment.add", post=doomed, text="goes with its post")
    writer.call("comment.delete", comment=own["id"])
    owner.call("comment.delete", comment=by_owner["id"])
    owner.call("post.delete", post=doomed)

    find_by_author(op, "Comments", writer.username)
    expect(state_of(op, own["id"])).to_contain_text("Deleted by author")
    expect(state_of(op, own["id"])).not_to_contain_text("owner")
    expect(state_of(op, by_owner["id"])).to_contain_text(
        f"Deleted by the post\u2019s owner @{owner.username}")
    # Its post is gone: no Remove, and a word on why.
    row = op.locator(f"tr[data-id='{orphan['id']}']")
    expect(row.get_by_test_id("content-state")).to_contain_text("Post gone")
    expect(row.get_by_role("button", name=f"Remove comment {orphan['id']}")).to_have_count(0)
    expect(row.get_by_test_id("content-actions")).to_have_text("Gone with its post")
    talk_row = op.locator(f"tr[data-id='{talk['id']}']")
    expect(talk_row.get_by_role("button", name=f"Remove comment {talk['id']}")).to_be_visible()
    screenshot(op, "admin-comments-deleters-desktop")

    # The text wraps between words, on a phone too; only the overlong token is broken.
    text = talk_row.locator("td.admin-text")
    for viewport in (DESKTOP, PHONE):
        op.set_viewport_size(viewport)
        expect(text).to_contain_text("harbour")
        assert text.evaluate(SPLIT_WORDS) == ["w" * 90], viewport
        assert fits_width(op), viewport
    text.evaluate("""(td) => {  // the text just right of the sticky row header
      const header = td.parentElement.firstElementChild;
      td.closest('.admin-table-wrap').scrollLeft = td.offsetLeft - header.offsetWidth;
    }""")
    screenshot(op, "admin-comments-wrap-phone")
    op.set_viewport_size(DESKTOP)

    # Reports: the result line is about the list it was shown over; another kind, gone.
    reporter.call("report.create", kind="comment", target=talk["id"], reason="spam")
    reporter.call("report.create", kind="post", target=live, reason="spam")
    resolve_reports(op, "comment", talk["id"], "dismiss")
    outcome = op.get_by_test_id("reports-outcome")
    op.get_by_label("Kind").select_option("post")
    expect(report_row(op, live)).to_be_visible()
    expect(outcome).to_be_empty()
