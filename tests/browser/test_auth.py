"""Sign up, log out, log in, wrong password; the connection survives a dropped socket."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import back_online, expect_home, follow, log_out, sign_up
from tests.conftest import PASSWORD, unique


def log_in(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_sign_up_log_out_and_log_in_again(person: Callable[..., Person]) -> None:
    who = person(DESKTOP)
    page = who.page
    name = unique("web")
    sign_up(page, name)
    assert page.evaluate("window.__glint.me.get().username") == name
    screenshot(page, "home-desktop")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_title("Log in · Glint")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert page.evaluate("localStorage.getItem('glint.token')") is None

    log_in(page, name, PASSWORD)
    expect_home(page)
    assert page.evaluate("window.__glint.me.get().username") == name
    # The session survives a reload (the token is kept) and says hello again.
    page.reload()
    expect_home(page)


def test_wrong_password_is_explained(person: Callable[..., Person]) -> None:
    who = person(PHONE)
    page = who.page
    name = unique("web")
    sign_up(page, name)
    screenshot(page, "home-phone")
    # On a phone the tab bar is at the bottom; log out is in Settings (not the top bar).
    tabbar = page.get_by_role("navigation", name="Main").bounding_box()
    assert tabbar is not None and tabbar["y"] > PHONE["height"] / 2
    log_out(page)

    log_in(page, name, "not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page).to_have_title("Log in · Glint")
    screenshot(page, "login-error-phone")


def test_signup_field_errors_are_in_words(person: Callable[..., Person]) -> None:
    who = person(DESKTOP)
    page = who.page
    name = unique("web")
    sign_up(page, name)
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Email").fill(f"other-{name}@example.com")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("alert")).to_contain_text("taken")
    expect(page).to_have_title("Sign up · Glint")


def test_reconnect_after_a_dropped_socket_loses_and_repeats_nothing(
        person: Callable[..., Person]) -> None:
    alice, bob = person(DESKTOP), person(PHONE)
    a_name, b_name = unique("alice"), unique("bob")
    sign_up(alice.page, a_name)
    sign_up(bob.page, b_name)
    page = alice.page
    # Record every durable event alice's tab hands to the screens.
    page.evaluate("""() => { window.__seen = [];
        window.__glint.conn.on('*', (data, ev) => {
            if (ev && ev.seq !== undefined) window.__seen.push(`${ev.ev}:${ev.seq}`); }); }""")

    # Keep alice offline: the reconnect needs /api/info, which now fails.
    alice.allow_console(r"ERR_FAILED|Failed to fetch")
    page.route("**/api/info", lambda route: route.abort())
    page.evaluate("window.__glint.conn.ws.close()")
    banner = page.get_by_test_id("offline-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Reconnecting")

    # Meanwhile bob follows alice: a durable `notification` event for her.
    follow(bob.page, a_name)

    back_online(page)
    page.wait_for_function("window.__seen.length >= 1")
    seen = page.evaluate("window.__seen")
    assert [s.split(":")[0] for s in seen] == ["notification"], seen

    # Drop it again: the resume replays nothing already seen.
    page.evaluate("window.__glint.conn.ws.close()")
    expect(page.locator(".shell")).to_have_attribute("data-conn", "online")
    assert page.evaluate("window.__glint.conn.call('ping').then(r => typeof r.t)") in (
        "number", "bigint")
    assert page.evaluate("window.__seen") == seen


def test_a_session_ended_elsewhere_returns_to_login(person: Callable[..., Person]) -> None:
    who = person(DESKTOP)
    page = who.page
    sign_up(page, unique("web"))
    token = page.evaluate("localStorage.getItem('glint.token')")
    # Logging out over HTTP (as another device would) closes this tab's socket with 4001.
    resp = page.request.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert resp.ok
    expect(page).to_have_title("Log in · Glint")
    expect(page.get_by_role("status")).to_contain_text("signed out")
    assert page.evaluate("localStorage.getItem('glint.token')") is None


def test_log_in_and_navigate_with_the_keyboard_only(person: Callable[..., Person]) -> None:
    page = person(DESKTOP).page
    name = unique("web")
    sign_up(page, name)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_title("Log in · Glint")
    page.get_by_label("Username or email").focus()
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect_home(page)
    # Tab order: the skip link first, then the navigation's real links.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # the logo, then Home
    expect(page.get_by_role("link", name="Home")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Search
    expect(page).to_have_title("Search · Glint")
    expect(page.get_by_role("link", name="Search")).to_have_attribute("aria-current", "page")
