"""UX polish: the desktop post view in two columns, log out in Settings on a phone,
and Retry on a failed direct message only when a retry can help."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import log_out, sign_up_via_http
from tests.conftest import unique


def test_phone_top_bar_has_no_log_out_and_settings_logs_out(
        person: Callable[..., Person]) -> None:
    who = person(PHONE)
    page = who.page
    sign_up_via_http(page, unique("polish"))
    topbar = page.locator("header.topbar")
    expect(topbar).to_be_visible()
    expect(topbar.get_by_role("link", name="Glint")).to_be_visible()
    expect(topbar.get_by_role("button")).to_have_count(0)
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    # Profile tab → Edit profile → Log out, all by taps.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profile").click()
    page.get_by_role("link", name="Edit profile").click()
    expect(page).to_have_title("Edit profile · Glint")
    button = page.get_by_role("button", name="Log out")
    expect(button).to_have_count(1)
    button.scroll_into_view_if_needed()
    expect(button).to_be_in_viewport()
    screenshot(page, "polish-settings-phone")
    button.click()
    expect(page).to_have_title("Log in · Glint")
    assert page.evaluate("localStorage.getItem('glint.token')") is None


def test_desktop_keeps_log_out_in_the_rail_and_settings(person: Callable[..., Person]) -> None:
    page = person(DESKTOP).page
    sign_up_via_http(page, unique("polish"))
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    log_out(page)
    assert page.evaluate("localStorage.getItem('glint.token')") is None
