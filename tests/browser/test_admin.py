"""The operator console (/admin), issue #8's acceptance: live connection count, suspend
closes the bot's socket with 4001, a removed post vanishes live for a watcher, an
announcement reaches the app, a non-operator is turned away; dashboard screenshots."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, LiveNode, Person, screenshot
from tests.browser.steps_admin import (
    Bot,
    announce,
    bot_factory,
    expect_dashboard,
    extra_node,
    find_user,
    fits_width,
    go_to,
    kick_session,
    kpi,
    reconnect,
    remove_comment,
    remove_post,
    report_row,
    resolve_reports,
    set_admin,
    sign_in_new_operator,
    suspend_user,
    wait_kpi,
)
from tests.browser.steps_common import sign_up
from tests.conftest import unique
from tests.fixtures.images import jpeg

CLOSE_SESSION_ENDED = 4001


@pytest.fixture
def bots(live_node: LiveNode) -> Iterator[Callable[[str], Bot]]:
    """Factory: bots(prefix) → a signed-up, connected Bot; all stopped at teardown."""
    with bot_factory(live_node.ws_url) as make:
        yield make


def test_operator_console_acts_live(person: Callable[..., Person], bots: Callable[[str], Bot],
                                    services: tuple[str, str], tmp_path: Path) -> None:
    op = person(DESKTOP).page
    sign_in_new_operator(op, services, tmp_path / "cli")
    assert op.evaluate("window.__glint.role.get()") == "operator"

    # A bot connects: the live connection count goes up by one, and it is listed.
    before = kpi(op, "connections")
    target = bots("bot")
    wait_kpi(op, "connections", before + 1)
    go_to(op, "Sessions")
    row = op.locator(f"tr[data-user='{target.username}']")
    expect(row).to_contain_text("glint-bot/test")

    # Suspending its user closes its socket at once, with 4001.
    suspend_user(op, target.username, "spam bot")
    assert target.wait_closed() == CLOSE_SESSION_ENDED
    go_to(op, "Dashboard")
    wait_kpi(op, "connections", before)

    # Removing a post that another client is watching: the watcher gets post.deleted.
    author, watcher = bots("author"), bots("watcher")
    media = author.upload(jpeg(320, 240))
    post = author.call("post.create", media=[media["id"]], caption="to be taken down")
    assert watcher.call("post.watch", post=post["id"])["id"] == post["id"]
    remove_post(op, post["id"], "breaks the rules")
    # Its photo files went with it: a placeholder, no <img> (that was a broken picture
    # and a 404 in the console).
    row = op.locator(f"tr[data-id='{post['id']}']")
    expect(row.get_by_test_id("thumb-gone")).to_be_visible()
    expect(row.locator("img")).to_have_count(0)
    deleted = watcher.next_event("post.deleted")
    assert deleted["post"] == post["id"]

    # An announcement from the console reaches a person using the app (and bots).
    fan_person = person(PHONE)
    fan = fan_person.page
    sign_up(fan, unique("fan"))
    text = f"Maintenance at 04:00 UTC ({unique('m')})"
    announce(op, text, "warning")
    banner = fan.get_by_test_id("announcement")
    expect(banner).to_contain_text(text)
    screenshot(fan, "announcement-phone")
    fan.get_by_role("button", name="Dismiss announcement").click()
    expect(banner).to_have_count(0)
    assert watcher.next_event("announcement")["text"] == text

    # A non-operator opening /admin is told so (the server answers forbidden).
    fan.goto("/admin")
    expect(fan.get_by_test_id("not-operator")).to_have_text("This account is not an operator.")
    expect(fan.get_by_role("navigation", name="Console")).to_have_count(0)

    # The dashboard, on a desktop and on a phone.
    go_to(op, "Dashboard")
    expect_dashboard(op)
    # When the push stops the dashboard says its figures are stale; after a dropped
    # socket the console reconnects, watches again, and the figures move on.
    # (the console notices the silence and watches again by itself).
    assert op.evaluate("window.__glint.conn.call('admin.unwatch', {})")["was_watching"] is True
    expect(op.get_by_test_id("stats-stale")).to_be_visible()
    expect(op.get_by_test_id("stats-stale")).to_have_count(0)
    go_to(op, "Users")
    op.get_by_label("Username starts with, or user id").fill("kept")
    reconnect(op)
    expect(op.get_by_label("Username starts with, or user id")).to_have_value("kept")
    go_to(op, "Dashboard")
    expect(op.get_by_test_id("stats-stale")).to_have_count(0)
    updated = op.get_by_test_id("stats-updated")
    expect(updated).not_to_have_text(updated.inner_text())
    screenshot(op, "admin-dashboard-desktop")
    op.set_viewport_size(PHONE)
    expect_dashboard(op)
    assert fits_width(op)
    screenshot(op, "admin-dashboard-phone")


def test_reports_kick_audit_and_keyboard(person: Callable[..., Person],
                                         bots: Callable[[str], Bot],
                                         services: tuple[str, str], tmp_path: Path) -> None:
    op = person(DESKTOP).page
    admin_name = sign_in_new_operator(op, services, tmp_path / "cli")

    # Two people report one post: one queue entry with both reasons and the note.
    author, first, second = bots("author"), bots("rep"), bots("rep")
    media = author.upload(jpeg(320, 240))
    post = author.call("post.create", media=[media["id"]], caption="buy followers here")
    assert first.call("report.create", kind="post", target=post["id"], reason="spam",
                      text="selling followers")["created"] is True
    second.call("report.create", kind="post", target=post["id"], reason="scam")
    go_to(op, "Reports")
    row = report_row(op, post["id"])
    expect(row).to_contain_text("post")
    expect(row.locator("td.num")).to_have_text("2")
    expect(row).to_contain_text("spam \u00d71")
    expect(row).to_contain_text("scam \u00d71")
    expect(row).to_contain_text("selling followers")
    expect(row).to_contain_text(f"@{author.username}")
    screenshot(op, "admin-reports-desktop")
    # From the queue to the reported post and its author.
    row.get_by_role("link", name=f"Show post {post['id']}").click()
    expect(op.locator(f"tr[data-id='{post['id']}']")).to_contain_text("buy followers here")
    go_to(op, "Reports")
    report_row(op, post["id"]).get_by_role("link", name=f"@{author.username}").click()
    expect(op.locator(f"tr[data-user='{author.username}']")).to_be_visible()
    resolve_reports(op, "post", post["id"], "dismiss")
    expect(op.get_by_test_id("reports-outcome")).to_contain_text("2 reports closed")

    # A removed comment disappears live for someone watching its post.
    comment = second.call("comment.add", post=post["id"], text="dm me for cheap followers")
    first.call("post.watch", post=post["id"])
    remove_comment(op, comment["id"], "spam in comments")
    gone = first.next_event("comment.deleted")
    assert (gone["post"], gone["comment"]) == (post["id"], comment["id"])

    # Kick one session from the Sessions list: the bot sees 4001 (it may sign in again).
    kick_session(op, author.username)
    assert author.wait_closed() == CLOSE_SESSION_ENDED

    # Keyboard only: a nav link by Enter, and Escape cancels a destructive action.
    op.get_by_role("link", name="Users").focus()
    op.keyboard.press("Enter")
    expect(op.get_by_role("heading", name="Users")).to_be_visible()
    row = find_user(op, first.username)
    button = row.get_by_role("button", name=f"Suspend @{first.username}")
    button.focus()
    op.keyboard.press("Enter")
    dialog = op.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Suspend")).to_be_disabled()  # a reason is required
    screenshot(op, "admin-confirm-desktop")
    op.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(row.get_by_test_id("user-status")).to_have_text("Active")
    assert first.call("user.get", username=first.username)["username"] == first.username

    op.set_viewport_size(PHONE)
    assert fits_width(op)
    screenshot(op, "admin-users-phone")
    op.set_viewport_size(DESKTOP)

    # Errors in words: an author who does not exist.
    go_to(op, "Posts & comments")
    op.get_by_label("Find by").select_option("author")
    op.get_by_label("Id or username").fill(unique("nobody"))
    op.get_by_role("search", name="Find posts").get_by_role("button", name="Search").click()
    expect(op.get_by_role("alert")).to_have_text(
        "That doesn\u2019t exist, or it isn\u2019t visible to you.")

    # The audit log lists what this operator did, newest first.
    go_to(op, "Audit log")
    rows = op.locator("tbody tr").filter(has_text=f"@{admin_name}")
    expect(rows.first).to_contain_text("admin.kick")
    expect(rows.nth(1)).to_contain_text("admin.remove_comment")
    expect(rows.nth(1)).to_contain_text("spam in comments")
    expect(rows.nth(2)).to_contain_text("admin.resolve")
    op.get_by_label("Action").select_option("admin.resolve")
    expect(op.locator("tbody tr").first).to_contain_text("dismiss")

    # The role revoked while the console is open: it notices and turns the operator away.
    set_admin(services, admin_name, tmp_path / "cli", grant=False)
    expect(op.get_by_test_id("not-operator")).to_be_visible()
    go_back = op.get_by_role("button", name="Check again")
    set_admin(services, admin_name, tmp_path / "cli", grant=True)
    go_back.click()
    go_to(op, "Dashboard")
    expect_dashboard(op)


def test_one_console_for_two_nodes(person: Callable[..., Person], live_node: LiveNode,
                                   services: tuple[str, str], tmp_path: Path) -> None:
    with extra_node(services, live_node.namespace, "browser-2", tmp_path / "node2") as node2:
        op = person(DESKTOP).page
        admin_name = sign_in_new_operator(op, services, tmp_path / "cli")
        # Both nodes report into the same dashboard, each with its own card.
        for name in ("browser", "browser-2"):
            expect(op.locator(f"article[data-node='{name}']")).to_be_visible()
        expect(op.get_by_role("heading", name="Cluster")).to_contain_text("2 nodes")

        far, listener = Bot(node2.ws_url, unique("far")), Bot(node2.ws_url, unique("lis"))
        try:
            far.start()
            listener.start()
            card = op.locator("article[data-node='browser-2']")
            expect(card.locator("dd").first).to_have_text("2")  # its connections
            go_to(op, "Sessions")
            expect(op.locator(f"tr[data-user='{far.username}']")).to_contain_text("browser-2")
            op.get_by_label("Node").select_option("browser")
            expect(op.locator(f"tr[data-user='{admin_name}']")).to_be_visible()
            expect(op.locator(f"tr[data-user='{far.username}']")).to_have_count(0)
            op.get_by_label("Node").select_option("browser-2")
            expect(op.locator(f"tr[data-user='{far.username}']")).to_be_visible()
            expect(op.locator(f"tr[data-user='{admin_name}']")).to_have_count(0)

            # Suspended from a console on the other node: closed at once with 4001.
            suspend_user(op, far.username, "abuse from node 2")
            assert far.wait_closed() == CLOSE_SESSION_ENDED
            # An announcement reaches users on every node.
            text = f"Rolling restart ({unique('r')})"
            announce(op, text, "info")
            assert listener.next_event("announcement")["text"] == text
            expect(op.get_by_role("list").filter(has_text=text)).to_be_visible()

            go_to(op, "Dashboard")
            expect(card).to_be_visible()
            screenshot(op, "admin-dashboard-two-nodes-desktop")
        finally:
            far.stop()
            listener.stop()
