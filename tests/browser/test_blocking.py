"""Blocking and muting can be undone from the web app: blocking from a profile leaves
you on a page that says so, with Unblock; the page of someone you blocked says so too
(not "isn't available"); Settings lists blocked and muted accounts (block.list,
mute.list) with Unblock / Unmute."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import call, go, sign_up_via_http
from tests.browser.steps_people import open_profile
from tests.conftest import unique


def block_from_profile(page: Page, username: str) -> None:
    """On `username`'s profile: ⋯ → Block → confirm."""
    open_profile(page, username)
    page.get_by_role("button", name="More options").click()
    page.get_by_role("dialog", name=username).get_by_role("button", name="Block").click()
    page.get_by_role("dialog", name=f"Block {username}?").get_by_role(
        "button", name="Block").click()


def expect_blocked_page(page: Page, username: str) -> None:
    """The profile URL shows the "You blocked …" page with its Unblock button."""
    expect(page).to_have_url(f"{page.url.split('/u/')[0]}/u/{username}")
    blocked = page.get_by_test_id("blocked-profile")
    expect(blocked).to_contain_text(f"You blocked {username}.")
    expect(blocked.get_by_role("button", name="Unblock")).to_be_visible()


def test_block_from_a_profile_then_unblock_there(person: Callable[..., Person]) -> None:
    alice, bob = person(PHONE), person(DESKTOP)
    a_name, b_name = unique("bka"), unique("bkb")
    sign_up_via_http(alice.page, a_name)
    sign_up_via_http(bob.page, b_name)
    page = alice.page
    call(page, "follow.add", username=b_name)

    block_from_profile(page, b_name)
    expect_blocked_page(page, b_name)  # not sent home
    screenshot(page, "blocked-profile-phone")
    # Bob no longer finds alice: the block is real.
    found = bob.page.evaluate(
        "(u) => window.__glint.conn.call('user.get', {username: u}).then(() => 'found',"
        " (e) => e.code)", a_name)
    assert found == "not_found"

    # Opening the page again (a reload) still says so, and Unblock undoes it there.
    page.reload()
    expect_blocked_page(page, b_name)
    page.get_by_test_id("blocked-profile").get_by_role("button", name="Unblock").click()
    expect(page.get_by_role("status").filter(has_text=f"Unblocked {b_name}.")).to_be_visible()
    expect(page.get_by_role("heading", level=1, name=b_name)).to_be_visible()
    # The follow the block cut is not restored (docs/protocol.md, block.remove).
    expect(page.get_by_role("button", name="Follow", exact=True)).to_be_visible()
    assert call(bob.page, "user.get", username=a_name)["username"] == a_name


def test_settings_lists_blocked_and_muted_accounts(person: Callable[..., Person]) -> None:
    alice, bob, cy = person(DESKTOP), person(DESKTOP), person(DESKTOP)
    a_name, b_name, c_name = unique("bla"), unique("blb"), unique("blc")
    for who, name in ((alice, a_name), (bob, b_name), (cy, c_name)):
        sign_up_via_http(who.page, name)
    page = alice.page
    bob_id = call(page, "user.get", username=b_name)["id"]
    cy_id = call(page, "user.get", username=c_name)["id"]
    call(page, "block.add", user=bob_id)
    call(page, "mute.add", user=cy_id)

    # From Settings (Edit profile): Blocked accounts.
    go(page, "/settings")
    page.get_by_role("link", name="Blocked accounts").click()
    expect(page).to_have_title("Blocked accounts · Glint")
    blocked = page.get_by_role("list", name="Blocked accounts")
    row = blocked.get_by_role("listitem").filter(has_text=b_name)
    expect(row).to_have_count(1)
    expect(blocked.get_by_role("listitem").filter(has_text=c_name)).to_have_count(0)
    screenshot(page, "blocked-accounts-desktop")
    row.get_by_role("button", name=f"Unblock {b_name}").click()
    # The row stays, with Block to undo a slip.
    expect(row.get_by_role("button", name=f"Block {b_name}")).to_be_visible()
    assert call(page, "user.get", username=b_name)["username"] == b_name

    # Muted accounts, from the own profile's ☰ menu this time.
    open_profile(page, a_name)
    page.get_by_role("button", name="Settings and activity").click()
    page.get_by_role("dialog", name="Settings and activity").get_by_role(
        "link", name="Muted accounts").click()
    expect(page).to_have_title("Muted accounts · Glint")
    muted = page.get_by_role("list", name="Muted accounts")
    mrow = muted.get_by_role("listitem").filter(has_text=c_name)
    mrow.get_by_role("button", name=f"Unmute {c_name}").click()
    expect(mrow.get_by_role("button", name=f"Mute {c_name}")).to_be_visible()
    assert call(page, "user.get", username=c_name)["muted"] is False

    # A reload reads the lists again: nobody blocked or muted now.
    page.reload()
    expect(page.get_by_text("You haven\u2019t muted anyone.")).to_be_visible()
    go(page, "/settings/blocked")
    expect(page.get_by_text("You haven\u2019t blocked anyone.")).to_be_visible()
