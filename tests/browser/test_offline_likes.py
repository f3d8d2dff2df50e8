"""Going offline is noticed at once (the browser's `offline` event, not the ping
deadline a minute later), and a like or unlike made offline is kept on screen and sent
when the connection is back, as Instagram does."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Person
from tests.browser.steps_common import call, create_post_via_protocol, sign_up_via_http
from tests.browser.steps_feed import expect_like_count, open_post
from tests.conftest import unique

#: The offline banner must show this soon after the network goes (the ping deadline,
#: which was all that noticed it, took 45 to 60 s).
NOTICED_MS = 5000


def test_a_like_made_offline_is_kept_and_sent_on_reconnect(
        person: Callable[..., Person]) -> None:
    viewer, author = person(PHONE), person(DESKTOP)
    # The reconnect attempts while offline fail in the browser's own log.
    viewer.allow_console(r"ERR_INTERNET_DISCONNECTED|Failed to fetch|ERR_FAILED")
    a_name = unique("ola")
    sign_up_via_http(author.page, a_name)
    sign_up_via_http(viewer.page, unique("olv"))
    post = create_post_via_protocol(author.page, "liked from a tunnel")
    keep = create_post_via_protocol(author.page, "liked, then unliked offline", seed=3)
    call(viewer.page, "post.like", post=keep)
    open_post(author.page, post)  # the author watches the count live
    expect_like_count(author.page, 0)

    page = viewer.page
    open_post(page, post)
    view = page.locator("article.post-view")
    page.context.set_offline(True)
    expect(page.get_by_test_id("offline-banner")).to_be_visible(timeout=NOTICED_MS)
    expect(page.locator(".shell")).to_have_attribute("data-conn", "offline")

    # Liked while offline: shown at once, and it stays (no roll-back, no error).
    view.get_by_role("button", name="Like", exact=True).click()
    expect(view.get_by_role("button", name="Unlike")).to_have_attribute("aria-pressed", "true")
    expect_like_count(view, 1)
    expect(page.locator(".toasts [role=alert]")).to_have_count(0)  # no error toast

    # Back online: the like reaches the server (the author sees it live), the view
    # still shows it, and a reload shows the server's state.
    page.context.set_offline(False)
    expect(page.locator(".shell")).to_have_attribute("data-conn", "online")
    expect_like_count(author.page, 1)
    expect(view.get_by_role("button", name="Unlike")).to_have_attribute("aria-pressed", "true")
    expect_like_count(view, 1)
    page.reload()
    expect(page.locator("article.post-view").get_by_role("button", name="Unlike")).to_be_visible()

    # An unlike offline, and a like and unlike in a row: the last wish is what is sent.
    open_post(page, keep)
    view = page.locator("article.post-view")
    expect(view.get_by_role("button", name="Unlike")).to_be_visible()
    page.context.set_offline(True)
    expect(page.get_by_test_id("offline-banner")).to_be_visible(timeout=NOTICED_MS)
    view.get_by_role("button", name="Unlike").click()
    view.get_by_role("button", name="Like", exact=True).click()
    view.get_by_role("button", name="Unlike").click()
    expect(view.get_by_role("button", name="Like", exact=True)).to_have_attribute(
        "aria-pressed", "false")
    expect_like_count(view, 0)
    page.context.set_offline(False)
    expect(page.locator(".shell")).to_have_attribute("data-conn", "online")
    open_post(author.page, keep)
    expect_like_count(author.page, 0)
    assert call(page, "post.get", post=keep)["liked_by_me"] is False
