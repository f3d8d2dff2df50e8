"""Notifications in the browser: the nav badge is right at start-up and goes up live
on another screen; the screen shows the server's groups with thumbnails and
follow-back buttons, marks everything read (badge cleared, also after a reload) and
takes new ones live."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Locator, expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import back_online, call, create_post_via_protocol, sign_up
from tests.browser.steps_people import (
    expect_notification_badge,
    notification_badge,
    notification_item,
    open_notifications,
    open_search,
)
from tests.conftest import unique


def test_live_badge_grouped_items_and_mark_read(person: Callable[..., Person]) -> None:
    bob, alice, cy = person(PHONE), person(DESKTOP), person(DESKTOP)
    b_name, a_name, c_name = unique("nb"), unique("na"), unique("nc")
    for who, name in ((bob, b_name), (alice, a_name), (cy, c_name)):
        sign_up(who.page, name)
    post = create_post_via_protocol(bob.page, "first light")
    page = bob.page
    open_search(page)  # bob looks at another screen
    assert notification_badge(page) == 0

    call(alice.page, "post.like", post=post)
    expect_notification_badge(page, 1)  # live
    call(cy.page, "post.like", post=post)
    expect_notification_badge(page, 2)
    nav_link = page.get_by_role("link", name="Notifications, 2 unread")
    expect(nav_link).to_be_visible()
    # At start-up the count comes from the server.
    page.reload()
    expect_notification_badge(page, 2)
    call(alice.page, "follow.add", username=b_name)
    expect_notification_badge(page, 3)

    open_notifications(page)
    likes = notification_item(page, f"{c_name} and {a_name} liked your post")
    expect(likes).to_have_count(1)  # one group for both likes
    expect(likes.get_by_role("link", name="View post")).to_have_attribute("href", f"/p/{post}")
    expect(likes.locator(".notif-thumb img")).to_be_attached()
    follow = notification_item(page, f"{a_name} started following you")
    expect(follow).to_have_count(1)
    expect_notification_badge(page, 0)  # seen: all read
    screenshot(page, "notifications-phone")
    follow.get_by_role("button", name=f"Follow back {a_name}").click()
    expect(follow.get_by_role("button", name="Following", exact=True)).to_be_visible()

    # New ones arrive live on the screen, and are read at once.
    call(cy.page, "follow.add", username=b_name)
    expect(notification_item(page, f"{c_name} and {a_name} started following you")).to_have_count(1)
    expect_notification_badge(page, 0)
    page.reload()
    expect(page.get_by_role("list", name="Notifications")).to_be_visible()
    expect_notification_badge(page, 0)
    assert call(page, "notif.list", limit=1)["unread"] == 0
    # Names in the text open the profiles.
    page.get_by_role("list", name="Notifications").get_by_role(
        "link", name=a_name, exact=True).first.click()
    expect(page).to_have_url(re.compile(rf"/u/{a_name}$"))


def asked_to_follow(person: Callable[..., Person], prefix: str
                    ) -> tuple[Person, Person, str, str, Locator]:
    """A private owner on their notifications page and an asker whose follow request
    has just shown there; (owner, asker, their names, the requests list)."""
    owner, asker = person(DESKTOP), person(PHONE)
    o_name, a_name = unique(f"{prefix}o"), unique(f"{prefix}a")
    sign_up(owner.page, o_name)
    sign_up(asker.page, a_name)
    call(owner.page, "user.update", private=True)
    open_notifications(owner.page)
    call(asker.page, "follow.add", username=o_name)
    requests = owner.page.get_by_role("list", name="Follow requests")
    expect(requests.get_by_role("button", name=f"Confirm {a_name}")).to_be_visible()
    expect(notification_item(owner.page, f"{a_name} requested to follow you")).to_have_count(1)
    return owner, asker, o_name, a_name, requests


def test_follow_requests_are_on_top_of_notifications(person: Callable[..., Person]) -> None:
    _, asker, o_name, a_name, requests = asked_to_follow(person, "p")
    requests.get_by_role("button", name=f"Delete request from {a_name}").click()
    expect(requests).to_contain_text("Removed")
    relation = call(asker.page, "user.get", username=o_name)
    assert relation["requested"] is False and relation["followed_by_me"] is False  # type: ignore[index]


def test_badge_counts_a_missed_notification_once_after_a_reconnect(
        person: Callable[..., Person]) -> None:
    bob, alice = person(DESKTOP), person(DESKTOP)
    b_name, a_name = unique("rb"), unique("ra")
    sign_up(bob.page, b_name)
    sign_up(alice.page, a_name)
    post = create_post_via_protocol(bob.page, "while you were away")
    page = bob.page
    open_search(page)
    # Bob drops offline (the reconnect's /api/info fails) and misses a like.
    bob.allow_console(r"ERR_FAILED|Failed to fetch")
    page.route("**/api/info", lambda route: route.abort())
    page.evaluate("window.__glint.conn.ws.close()")
    expect(page.get_by_test_id("offline-banner")).to_be_visible()
    call(alice.page, "post.like", post=post)
    back_online(page)
    # The count (from notif.list) and the replayed event make one, not two.
    expect_notification_badge(page, 1)
    assert call(page, "notif.list", limit=1)["unread"] == 1
    call(alice.page, "follow.add", username=b_name)
    expect_notification_badge(page, 2)


def test_a_withdrawn_request_leaves_when_answered(person: Callable[..., Person]) -> None:
    """A withdrawn follow request sends no event (docs/protocol.md, follow.request): the
    open page still lists it, but Confirm then finds it gone and takes it (and its
    notification) away at once, instead of keeping a request that cannot be answered."""
    owner, asker, o_name, a_name, requests = asked_to_follow(person, "w")
    confirm = requests.get_by_role("button", name=f"Confirm {a_name}")
    asked = notification_item(owner.page, f"{a_name} requested to follow you")

    call(asker.page, "follow.remove", username=o_name)  # withdrawn: no event
    confirm.click()
    expect(owner.page.locator(".toasts").get_by_role("alert")).to_have_text(
        re.compile("That request isn\u2019t pending any more."))
    expect(confirm).to_have_count(0)
    expect(asked).to_have_count(0)
    relation = call(asker.page, "user.get", username=o_name)
    assert relation["followed_by_me"] is False and relation["requested"] is False  # type: ignore[index]


def test_tapping_a_rows_text_opens_what_it_is_about(person: Callable[..., Person]) -> None:
    bob, alice = person(PHONE), person(DESKTOP)
    b_name, a_name = unique("tb"), unique("ta")
    sign_up(bob.page, b_name)
    sign_up(alice.page, a_name)
    post = create_post_via_protocol(bob.page, "tap the words")
    call(alice.page, "post.like", post=post)
    call(alice.page, "follow.add", username=b_name)
    page = bob.page
    open_notifications(page)

    # The verb, not a link: the post for a like, the profile for a follow.
    liked = notification_item(page, f"{a_name} liked your post")
    liked.get_by_text("liked your post").click()
    expect(page).to_have_url(re.compile(rf"/p/{post}$"))
    page.go_back()
    followed = notification_item(page, f"{a_name} started following you")
    followed.get_by_text("started following you").click()
    expect(page).to_have_url(re.compile(rf"/u/{a_name}$"))
    expect(page.get_by_role("heading", level=1, name=a_name)).to_be_visible()
