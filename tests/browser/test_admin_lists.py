"""The console's posts, comments and audit lists say who did what: an author's own delete
("Deleted by author") apart from an operator's removal ("Removed by @op"), a live comment
whose post is gone, and the audit log names the users behind its targets. The result line
of an action goes when the operator switches list or section."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, LiveNode, Person, screenshot
from tests.browser.steps_admin import (
    Bot,
    bot_factory,
    go_to,
    remove_comment,
    remove_post,
    sign_in_new_operator,
)
from tests.fixtures.images import jpeg


@pytest.fixture
def bots(live_node: LiveNode) -> Iterator[Callable[[str], Bot]]:
    """Factory: bots(prefix) → a signed-up, connected Bot; all stopped at teardown."""
    with bot_factory(live_node.ws_url) as make:
        yield make


def find_posts_by(page: Page, username: str) -> None:
    """Posts & comments → Posts → find by author."""
    go_to(page, "Posts & comments")
    page.get_by_role("button", name="Posts", exact=True).click()
    page.get_by_label("Find by").select_option("author")
    page.get_by_label("Id or username").fill(username)
    page.get_by_role("search", name="Find posts").get_by_role("button", name="Search").click()


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
    find_posts_by(op, author.username)
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
