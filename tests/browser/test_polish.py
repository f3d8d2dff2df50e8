"""UX polish: the desktop post view in two columns, log out in Settings on a phone,
and Retry on a failed direct message only when a retry can help."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import (
    back_online,
    call,
    create_post_via_protocol,
    log_out,
    photo_jpeg,
    sign_up_via_http,
    upload,
)
from tests.browser.steps_direct import (
    block,
    friends,
    message,
    open_conversation,
    send_message,
    submit_message,
    wait_for_message,
)
from tests.browser.steps_feed import open_post
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


LIKE = re.compile("^(Like|Unlike)$")


def _box(locator: Locator) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None, locator
    return box


def _post_view_parts(page: Page, author: str) -> dict[str, Any]:
    view = page.get_by_role("article", name=f"Post by {author}")
    return {
        "view": _box(view),
        "photo": _box(view.get_by_role("img", name=f"Photo by {author}")),
        "header": _box(view.locator(".post-header")),
        "comments": _box(view.get_by_role("region", name="Comments")),
        "like": _box(view.locator(".post-actions").get_by_role("button", name=LIKE)),
        "likes": _box(view.get_by_test_id("like-count")),
        "box": _box(view.get_by_label("Add a comment")),
    }


def test_desktop_post_view_has_photo_left_and_comments_right(
        person: Callable[..., Person]) -> None:
    who = person(DESKTOP)
    page = who.page
    name = unique("wide")
    sign_up_via_http(page, name)
    post_id = create_post_via_protocol(page, "Two columns #wide", seed=7)
    for i in range(24):  # more than fit: the comments scroll on their own
        call(page, "comment.add", post=post_id, text=f"comment number {i}")
    open_post(page, post_id)
    view = page.get_by_role("article", name=f"Post by {name}")
    expect(view.get_by_role("region", name="Comments").get_by_role(
        "article", name=f"Comment by {name}")).to_have_count(20)

    parts = _post_view_parts(page, name)
    photo, comments = parts["photo"], parts["comments"]
    # The comments column is to the right of the photo, beside it (overlapping rows).
    assert comments["x"] >= photo["x"] + photo["width"] - 1, parts
    assert comments["y"] < photo["y"] + photo["height"], parts
    # On the right: the author at the top, then the comments, then the action bar, the
    # like count and the comment box at the foot, all in the post's own box.
    assert parts["header"]["x"] >= photo["x"] + photo["width"] - 1, parts
    assert parts["header"]["y"] < comments["y"] < parts["like"]["y"] < parts["box"]["y"], parts
    assert parts["likes"]["y"] > parts["like"]["y"], parts
    bottom = parts["view"]["y"] + parts["view"]["height"]
    assert parts["box"]["y"] + parts["box"]["height"] <= bottom + 1, parts
    assert bottom <= DESKTOP["height"], parts  # the whole post fits the window
    # The comments scroll inside their column, not the page: the box stays put.
    scroller = view.get_by_test_id("post-side-scroll")
    assert scroller.evaluate("el => el.scrollHeight > el.clientHeight + 10")
    scroller.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(view.get_by_text("comment number 19")).to_be_in_viewport()
    assert _box(view.get_by_label("Add a comment")) == parts["box"]
    expect(view.get_by_role("button", name="Like", exact=True)).to_be_in_viewport()
    expect(view.get_by_test_id("comment-count")).to_have_text("24 comments")
    expect(view.get_by_test_id("post-caption")).to_contain_text("Two columns")
    screenshot(page, "polish-post-desktop")

    # The comment box at the foot works, and the comment shows in the column.
    page.get_by_label("Add a comment").fill("from the foot")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(view.get_by_text("from the foot")).to_be_visible()
    page.get_by_role("button", name="Like", exact=True).click()
    expect(view.get_by_test_id("like-count")).to_contain_text("1")

    # A phone-sized window: one column again, the comments below the photo.
    page.set_viewport_size(PHONE)
    expect(page.locator("article.post-view.wide")).to_have_count(0)
    phone = _post_view_parts(page, name)
    assert phone["comments"]["y"] >= phone["photo"]["y"] + phone["photo"]["height"] - 1, phone
    assert phone["like"]["y"] >= phone["photo"]["y"] + phone["photo"]["height"] - 1, phone
    assert phone["like"]["y"] < phone["comments"]["y"], phone
    first = view.get_by_role("region", name="Comments").get_by_role("article").first
    expect(first).to_contain_text("comment number 0")
    screenshot(page, "polish-post-phone")


def test_desktop_post_view_shows_a_tall_photo_whole(person: Callable[..., Person]) -> None:
    page = person(DESKTOP).page
    name = unique("tall")
    sign_up_via_http(page, name)
    media = upload(page, photo_jpeg((600, 1000), seed=3))
    post_id = str(call(page, "post.create", media=[str(media["id"])], caption="tall")["id"])
    record = call(page, "post.get", post=post_id)["media"][0]
    want = int(record["width"]) / int(record["height"])
    short = {"width": DESKTOP["width"], "height": 640}  # a laptop: shorter than the photo
    page.set_viewport_size(short)
    open_post(page, post_id)
    view = page.get_by_role("article", name=f"Post by {name}")
    expect(view.get_by_role("img", name=f"Photo by {name}")).to_be_visible()
    photo = _box(view.locator(".carousel"))
    comments = _box(view.get_by_role("region", name="Comments"))
    assert comments["x"] >= photo["x"] + photo["width"] - 1
    # Narrowed to its own shape (not cropped to the column) and within the window.
    assert abs(photo["width"] / photo["height"] - want) < 0.02, (photo, want)
    assert photo["y"] + photo["height"] <= short["height"]
    screenshot(page, "polish-post-desktop-tall")


def _two_friends(person: Callable[..., Person]) -> tuple[Person, Person, str]:
    """Alice (phone) and bob (desktop), following each other, alice in their thread."""
    alice, bob, a, b = friends(person)
    open_conversation(alice.page, b)
    send_message(alice.page, "hello")
    return alice, bob, a


def test_a_message_refused_for_good_offers_delete_not_retry(
        person: Callable[..., Person]) -> None:
    alice, bob, a = _two_friends(person)
    page = alice.page
    active = page.get_by_text("Active now")
    expect(active.first).to_be_visible()
    block(bob.page, a)
    expect(active).to_have_count(0)  # a block takes back the status shown (presence nil)
    failed = submit_message(page, "are you there?")
    alert = failed.get_by_role("alert")
    # Refused as to an account gone: a block is not revealed to the one blocked.
    expect(alert).to_contain_text("Not sent. This conversation, or what you\u2019re sharing, "
                                  "isn\u2019t available any more.")
    expect(alert).to_have_attribute("data-retryable", "false")
    expect(failed.get_by_role("button", name="Retry")).to_have_count(0)
    screenshot(page, "polish-dm-refused-phone")
    failed.get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("pending-message")).to_have_count(0)
    expect(message(page, "are you there?")).to_have_count(0)
    expect(message(page, "hello")).to_have_count(1)


def test_a_send_that_timed_out_offline_offers_retry_and_goes_once(
        person: Callable[..., Person]) -> None:
    alice, bob, a = _two_friends(person)
    page = alice.page
    open_conversation(bob.page, a)
    wait_for_message(bob.page, "hello")
    # Keep alice offline (the reconnect needs /api/info, which now fails), with calls
    # timing out quickly: the send waits for the reconnect, times out, is retried with
    # the same idem key, and gives up.
    alice.allow_console(r"ERR_FAILED|Failed to fetch")
    page.route("**/api/info", lambda route: route.abort())
    page.evaluate("window.__glint.conn.callTimeoutMs = 300")
    page.evaluate("window.__glint.conn.ws.close()")
    expect(page.get_by_test_id("offline-banner")).to_be_visible()
    failed = submit_message(page, "sent while offline")
    alert = failed.get_by_role("alert")
    expect(alert).to_contain_text("Not sent. Glint didn\u2019t answer in time.")
    expect(alert).to_have_attribute("data-retryable", "true")
    expect(failed.get_by_role("button", name="Delete")).to_be_visible()
    retry = failed.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()

    # Back online: Retry sends it, once.
    page.evaluate("window.__glint.conn.callTimeoutMs = 15000")
    back_online(page)
    retry.click()
    wait_for_message(page, "sent while offline")
    expect(page.get_by_test_id("pending-message")).to_have_count(0)
    wait_for_message(bob.page, "sent while offline")
    expect(message(bob.page, "sent while offline")).to_have_count(1)
