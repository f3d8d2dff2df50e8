"""Playwright steps for the password: logging in on the login screen, and changing the
password in Settings (Change password)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.steps_common import expect_home, go


def log_in(page: Page, username: str, password: str, *, expect_ok: bool = True) -> None:
    """Log in on the login screen (the page must show it); with `expect_ok`, wait for
    the home feed."""
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    if expect_ok:
        expect_home(page)


def open_password_form(page: Page) -> None:
    """Go to Settings and show its Change password section."""
    go(page, "/settings")
    expect(page).to_have_title("Edit profile · Glint")
    expect(page.get_by_role("heading", name="Change password")).to_be_visible()


def fill_password_form(page: Page, current: str, new: str, confirm: str | None = None) -> None:
    """Fill the Change password form in Settings (open) and submit it."""
    form = page.locator(".settings-password")
    form.get_by_label("Current password").fill(current)
    form.get_by_label("New password", exact=True).fill(new)
    form.get_by_label("Confirm new password").fill(new if confirm is None else confirm)
    form.get_by_role("button", name="Change password").click()


def change_password(page: Page, current: str, new: str) -> None:
    """Change the password in Settings and wait for the confirmation toast."""
    open_password_form(page)
    fill_password_form(page, current, new)
    expect(page.get_by_role("status").filter(has_text="Password changed")).to_be_visible()
