"""Changing the password in Settings: errors in words, the other device is signed out,
this tab stays signed in, and only the new password logs in afterwards."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import expect_home, log_out, sign_up
from tests.browser.steps_password import (
    change_password,
    fill_password_form,
    log_in,
    open_password_form,
)
from tests.conftest import PASSWORD, unique

NEW_PASSWORD = "purple lantern orbit 42"


def test_change_password_in_settings(person: Callable[..., Person]) -> None:
    laptop, phone = person(DESKTOP), person(PHONE)
    name = unique("pwd")
    sign_up(laptop.page, name)
    phone.page.goto("/login")
    log_in(phone.page, name, PASSWORD)  # a second device: its own token
    page = laptop.page
    open_password_form(page)
    form = page.locator(".settings-password")

    # Typed in clear when asked to, hidden again after.
    current = form.get_by_label("Current password")
    expect(current).to_have_attribute("type", "password")
    form.get_by_role("button", name="Show passwords").click()
    expect(current).to_have_attribute("type", "text")
    expect(form.get_by_role("button", name="Hide passwords")).to_have_attribute(
        "aria-pressed", "true")
    form.get_by_role("button", name="Hide passwords").click()
    expect(current).to_have_attribute("type", "password")

    # Checked in the page: the confirmation must match.
    fill_password_form(page, PASSWORD, NEW_PASSWORD, confirm=NEW_PASSWORD + "x")
    expect(form.get_by_role("alert")).to_have_text("The passwords don\u2019t match.")
    # Refused by the server, in words: a wrong current password, a common new one.
    fill_password_form(page, "not the password", NEW_PASSWORD)
    expect(form.get_by_role("alert")).to_have_text("Your current password is wrong.")
    expect(current).to_have_attribute("aria-invalid", "true")
    fill_password_form(page, PASSWORD, "password123")
    expect(form.get_by_role("alert")).to_contain_text("too common")
    screenshot(page, "password-error-desktop")
    expect(phone.page.locator(".shell")).to_have_attribute("data-conn", "online")  # unchanged

    fill_password_form(page, PASSWORD, NEW_PASSWORD)
    expect(page.get_by_role("status").filter(has_text="Password changed")).to_contain_text(
        "logged out on your other devices")
    expect(current).to_have_value("")
    # The other device is signed out at once; this tab stays signed in and working.
    expect(phone.page).to_have_title("Log in · Glint")
    expect(phone.page.get_by_role("status")).to_contain_text("signed out")
    expect(page.locator(".shell")).to_have_attribute("data-conn", "online")
    page.reload()
    expect(page).to_have_title("Edit profile · Glint")
    expect(page.locator(".shell")).to_have_attribute("data-conn", "online")

    # Only the new password logs in now.
    log_in(phone.page, name, PASSWORD, expect_ok=False)
    expect(phone.page.get_by_role("alert")).to_have_text("Wrong username or password.")
    log_in(phone.page, name, NEW_PASSWORD)
    log_out(page)
    log_in(page, name, NEW_PASSWORD)
    expect_home(page)


def test_change_password_on_a_phone(person: Callable[..., Person]) -> None:
    who = person(PHONE)
    page = who.page
    name = unique("pwp")
    sign_up(page, name)
    change_password(page, PASSWORD, NEW_PASSWORD)
    form = page.locator(".settings-password")
    box = form.get_by_role("button", name="Change password").bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]  # fits the phone
    screenshot(page, "password-phone")
    log_out(page)
    log_in(page, name, NEW_PASSWORD)
