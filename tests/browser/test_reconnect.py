""""Retry now" while a reconnect attempt is under way: if that attempt fails, the next
one starts at once. It did nothing, and the next attempt waited out the back-off (up to
15 s after a long time offline): a CI run saw the banner outlive a 15 s wait."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Route, expect

from tests.browser.conftest import DESKTOP, Person
from tests.browser.steps_common import sign_up_via_http
from tests.conftest import unique


def test_retry_now_during_a_failing_attempt_retries_at_once(
        person: Callable[..., Person]) -> None:
    you = person(DESKTOP)
    you.allow_console(r"ERR_FAILED|Failed to fetch")
    page = you.page
    page.clock.install()  # the back-off's timers run only when the test says so
    sign_up_via_http(page, unique("rn"))
    held: list[Route] = []

    def hold(route: Route) -> None:  # the next attempt's request waits; later ones pass
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/api/info", hold)
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)  # no back-off timer fires
    page.evaluate("window.__glint.conn.ws.close()")
    banner = page.get_by_test_id("offline-banner")
    retry = banner.get_by_role("button", name="Retry now")
    retry.click()  # an attempt starts: its /api/info is held
    page.wait_for_function("window.__glint.conn.fetchingInfo === true")
    retry.click()  # while it is under way
    held[0].abort()  # that attempt fails; the clock stands still, so only "at once" helps
    expect(page.locator(".shell")).to_have_attribute("data-conn", "online")
    expect(banner).to_be_hidden()
