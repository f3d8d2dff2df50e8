"""Your own profile's ☰ "Settings and activity" sheet: Edit profile, Saved and Log out
(on a phone the only way out besides Edit profile), keyboard-usable, and absent on
someone else's profile."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import photo_jpeg, sign_up, sign_up_via_http
from tests.browser.steps_people import expect_profile, open_profile
from tests.conftest import unique

MENU = "Settings and activity"
#: A small photo: enough for an authenticated upload, quick to send.
PROBE_PHOTO = (64, 64)


def open_menu(page: Page) -> None:
    page.get_by_role("button", name=MENU).click()
    expect(page.get_by_role("dialog", name=MENU)).to_be_visible()


def upload_status(page: Page, token: str) -> int:
    """The status of an /api/media upload authorised by `token` (201 while it is live)."""
    resp = page.request.post("/api/media", data=photo_jpeg(PROBE_PHOTO),
                             headers={"Authorization": f"Bearer {token}",
                                      "Content-Type": "application/octet-stream"})
    return resp.status


def test_phone_logs_out_from_the_profile_menu(person: Callable[..., Person]) -> None:
    other = person(DESKTOP)
    other_name = unique("menuother")
    sign_up_via_http(other.page, other_name)

    who = person(PHONE)
    page = who.page
    name = unique("menu")
    sign_up(page, name)
    token = page.evaluate("localStorage.getItem('glint.token')")
    assert token and upload_status(page, token) == 201

    # Not on someone else's profile: theirs has More options instead.
    open_profile(page, other_name)
    expect(page.get_by_role("button", name="More options")).to_be_visible()
    expect(page.get_by_role("button", name=MENU)).to_have_count(0)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profile").click()
    expect_profile(page, name)
    button = page.get_by_role("button", name=MENU)
    expect(button).to_be_in_viewport()

    # Escape closes it and gives the focus back to the button.
    open_menu(page)
    sheet = page.get_by_role("dialog", name=MENU)
    expect(sheet.get_by_role("link", name="Edit profile")).to_have_attribute("href", "/settings")
    expect(sheet.get_by_role("button", name="Saved")).to_be_visible()
    screenshot(page, "profile-menu-phone")
    page.keyboard.press("Escape")
    expect(sheet).to_have_count(0)
    expect(button).to_be_focused()

    # Saved opens the Saved tab.
    open_menu(page)
    sheet.get_by_role("button", name="Saved").click()
    expect(sheet).to_have_count(0)
    expect(page.get_by_role("tab", name="Saved")).to_have_attribute("aria-selected", "true")

    # Log out: the login screen, the token forgotten here and revoked on the server.
    open_menu(page)
    with page.expect_response("**/api/auth/logout") as done:
        sheet.get_by_role("button", name="Log out").click()
    assert done.value.ok
    expect(page).to_have_title("Log in · Glint")
    assert page.evaluate("localStorage.getItem('glint.token')") is None
    assert upload_status(page, token) == 401  # the old token is refused
    page.reload()
    expect(page).to_have_title("Log in · Glint")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()


def test_desktop_profile_menu_opens_edit_profile(person: Callable[..., Person]) -> None:
    page = person(DESKTOP).page
    name = unique("menu")
    sign_up_via_http(page, name)
    open_profile(page, name)
    open_menu(page)
    screenshot(page, "profile-menu-desktop")
    page.get_by_role("dialog", name=MENU).get_by_role("link", name="Edit profile").click()
    expect(page).to_have_title("Edit profile · Glint")
    expect(page.get_by_role("dialog", name=MENU)).to_have_count(0)
