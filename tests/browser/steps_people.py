"""Playwright steps for people, profiles, explore, search, hashtags and notifications
(the profile / explore / notifications screens), for the browser tests and the
cross-cutting acceptance test. Every step waits on DOM state, never on time. Set-up
through the protocol (calls, posts) is in steps_common."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.steps_common import go


def search_and_open_profile(page: Page, query: str, username: str) -> None:
    """Open Search from the nav, type `query`, and open `username` from the People results."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    expect(page).to_have_title("Search · Glint")
    page.get_by_label("Search people and hashtags").fill(query)
    result = page.get_by_role("list", name="People").get_by_role("link").filter(
        has=page.locator(".search-names strong", has_text=re.compile(rf"^{re.escape(username)}$")))
    expect(result).to_be_visible()
    result.click()
    expect_profile(page, username)


def open_search(page: Page) -> None:
    """Open Search from the nav."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    expect(page.get_by_role("heading", level=1, name="Search")).to_be_visible()


def open_profile(page: Page, username: str) -> None:
    """Go to /u/<username> (in-app navigation) and wait for its header."""
    go(page, f"/u/{username}")
    expect_profile(page, username)


def expect_profile(page: Page, username: str) -> None:
    expect(page).to_have_url(re.compile(rf"/u/{re.escape(username)}$"))
    expect(page.get_by_role("heading", level=1, name=username)).to_be_visible()


def follow_on_profile(page: Page, username: str) -> str:
    """On `username`'s profile, press Follow; returns the new state ("Following" or
    "Requested"), once the button shows it."""
    expect_profile(page, username)
    page.get_by_role("button", name="Follow", exact=True).click()
    button = page.locator(".profile-actions .follow-button")
    expect(button).to_have_text(re.compile(r"^(Following|Requested)$"))
    return button.inner_text()


def unfollow(page: Page, username: str) -> None:
    """On `username`'s profile: Following → confirm Unfollow → the button says Follow."""
    expect_profile(page, username)
    page.get_by_role("button", name="Following", exact=True).click()
    page.get_by_role("dialog", name=f"Unfollow @{username}?").get_by_role(
        "button", name="Unfollow").click()
    expect(page.get_by_role("button", name="Follow", exact=True)).to_be_visible()


def follower_count(page: Page) -> int:
    """The follower count shown on the open profile."""
    text = page.get_by_test_id("followers-count").inner_text()
    return int(text.replace(",", ""))


def approve_request(page: Page, username: str) -> None:
    """Confirm `username`'s follow request from the requests list shown on your own
    profile or on Notifications (it appears live with the follow.request event)."""
    requests = page.get_by_role("list", name="Follow requests")
    button = requests.get_by_role("button", name=f"Confirm {username}", exact=True)
    expect(button).to_be_visible()
    button.click()
    expect(requests.get_by_role("button", name=f"Confirm {username}", exact=True)).to_have_count(0)


def notification_badge(page: Page) -> int:
    """The unread count on the nav's Notifications item (0 when no badge shows)."""
    badge = page.get_by_test_id("badge-heart")
    if badge.count() == 0:
        return 0
    text = badge.inner_text()
    return 100 if text == "99+" else int(text)


def expect_notification_badge(page: Page, n: int) -> None:
    """Wait until the nav's notification badge shows `n` (0: no badge)."""
    badge = page.get_by_test_id("badge-heart")
    if n == 0:
        expect(badge).to_have_count(0)
    else:
        expect(badge).to_have_text(str(n))


def open_notifications(page: Page) -> None:
    """Open Notifications from the nav; wait for the list (the screen marks all read)."""
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile(r"^Notifications")).click()
    expect(page).to_have_title("Notifications · Glint")
    expect(page.get_by_role("heading", level=1, name="Notifications")).to_be_visible()


def notification_item(page: Page, text: str | re.Pattern[str]) -> object:
    """The notification row whose text contains `text` (a Locator)."""
    return page.get_by_role("list", name="Notifications").get_by_role("listitem").filter(
        has_text=text)


def open_explore(page: Page) -> None:
    """Open Explore from the nav and wait for the recommended grid."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Explore").click()
    expect(page).to_have_title("Explore · Glint")
    expect(page.get_by_role("list", name="Recommended posts")).to_be_attached()


def grid_links(page: Page, label: str) -> object:
    """The post links in the grid named `label` (a Locator)."""
    return page.get_by_role("list", name=label).get_by_role("link")


def open_tag(page: Page, tag: str) -> None:
    """Go to the hashtag page /t/<tag> and wait for its heading."""
    go(page, f"/t/{tag}")
    expect(page.get_by_role("heading", level=1, name=f"#{tag}")).to_be_visible()


def edit_profile(page: Page, *, bio: str | None = None, display_name: str | None = None) -> None:
    """Open Edit profile (/settings), change the given fields, Save; waits for the toast."""
    go(page, "/settings")
    expect(page.get_by_role("heading", level=1, name="Edit profile")).to_be_visible()
    if display_name is not None:
        page.get_by_label("Name", exact=True).fill(display_name)
    if bio is not None:
        page.get_by_label("Bio").fill(bio)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Profile saved.")).to_be_visible()


def upload_avatar(page: Page, image_path: str) -> None:
    """On Edit profile, choose `image_path` as the profile photo; waits until it shows."""
    page.get_by_test_id("avatar-input").set_input_files(image_path)
    expect(page.get_by_role("status").filter(has_text="Profile photo updated.")).to_be_visible()
    expect(page.locator(".settings-avatar img.avatar")).to_be_visible()


def set_private(page: Page, private: bool = True) -> None:
    """On Edit profile, flip the Private account switch to `private`."""
    go(page, "/settings")
    switch = page.get_by_role("switch", name="Private account")
    expect(switch).to_be_visible()
    if switch.is_checked() != private:
        switch.click()
    expect(switch).to_be_checked(checked=private)
    expect(page.get_by_role("status").filter(
        has_text="private" if private else "public")).to_be_visible()
