"""Small words and a safety net: search counts "1 person" / "1 hashtag"; times read
"3d", "4w", then a date, in lower case on the post view as on the feed card ("1M" read
as months); leaving the composer with photos or a caption asks "Discard post?"."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Person
from tests.browser.steps_common import create_post_via_protocol, go, make_photo, sign_up_via_http
from tests.browser.steps_feed import open_composer, post_card
from tests.conftest import unique

#: A date as the short form shows it past four weeks: "Nov 3", or "Nov 3, 2025".
SHORT_DATE = re.compile(r"^[A-Z][a-z]{2} \d{1,2}(, \d{4})?$")


def test_search_counts_in_the_singular(person: Callable[..., Person]) -> None:
    alice, bob = person(DESKTOP), person(DESKTOP)
    b_name = unique("snb")
    sign_up_via_http(alice.page, unique("sna"))
    sign_up_via_http(bob.page, b_name)
    tag = unique("one")
    create_post_via_protocol(bob.page, f"just one #{tag}")
    page = alice.page
    go(page, "/search")
    status = page.locator("#search-status")
    page.get_by_label("Search people and hashtags").fill(b_name)
    expect(page.get_by_role("list", name="People").get_by_role("link")).to_have_count(1)
    expect(status).to_have_text("1 person, 0 hashtags")
    page.get_by_label("Search people and hashtags").fill(f"#{tag}")
    expect(page.get_by_role("list", name="Hashtags").get_by_role("link")).to_have_count(1)
    expect(status).to_have_text(re.compile(r", 1 hashtag$"))


def _time_on_post_view(page: Page) -> str:
    """The post view's time as the reader sees it (innerText applies CSS case)."""
    return page.locator("article.post-view time").last.inner_text()


def test_times_read_like_instagram_on_card_and_post(person: Callable[..., Person]) -> None:
    viewer, author = person(DESKTOP), person(DESKTOP)
    a_name = unique("tma")
    sign_up_via_http(author.page, a_name)
    sign_up_via_http(viewer.page, unique("tmv"))
    post = create_post_via_protocol(author.page, "a while ago")
    page = viewer.page
    page.evaluate("(u) => window.__glint.conn.call('follow.add', {username: u})", a_name)

    # Three days on (the page's clock moved; timers keep running).
    page.clock.set_fixed_time(datetime.now() + timedelta(days=3, minutes=1))
    page.reload()
    card = post_card(page, post)
    expect(card.locator(".post-time time")).to_have_text("3d", use_inner_text=True)
    card.locator(".post-time").click()
    expect(page.locator("article.post-view")).to_be_visible()
    expect(page.locator("article.post-view time").last).to_have_text("3d", use_inner_text=True)
    assert _time_on_post_view(page) == "3d"  # not "3D"

    # Four weeks, then a date.
    page.clock.set_fixed_time(datetime.now() + timedelta(days=29))
    page.reload()
    expect(page.locator("article.post-view time").last).to_have_text("4w", use_inner_text=True)
    page.clock.set_fixed_time(datetime.now() + timedelta(days=40))
    page.reload()
    expect(page.locator("article.post-view time").last).to_have_text(
        SHORT_DATE, use_inner_text=True)


def test_leaving_the_composer_asks_to_discard(person: Callable[..., Person],
                                             tmp_path: Path) -> None:
    page = person(PHONE).page
    sign_up_via_http(page, unique("dis"))
    nav = page.get_by_role("navigation", name="Main")

    # Nothing in it: leaving asks nothing.
    open_composer(page)
    nav.get_by_role("link", name="Explore").click()
    expect(page).to_have_title("Explore · Glint")

    # A photo: the Home tab asks first; Cancel keeps the photo.
    open_composer(page)
    page.get_by_label("Choose photos").set_input_files(str(make_photo(tmp_path / "d.jpg", seed=4)))
    expect(page.get_by_role("button", name="Edit photo 1")).to_be_visible()
    nav.get_by_role("link", name="Home").click()
    ask = page.get_by_role("dialog", name="Discard post?")
    expect(ask).to_be_visible()
    ask.get_by_role("button", name="Cancel").click()
    expect(ask).to_have_count(0)
    expect(page).to_have_title("New post · Glint")
    expect(page.get_by_role("button", name="Edit photo 1")).to_be_visible()

    # The browser's Back asks too; Discard goes where Back was going.
    page.go_back()
    expect(ask).to_be_visible()
    expect(page).to_have_url(re.compile(r"/new$"))
    ask.get_by_role("button", name="Discard").click()
    expect(page).to_have_title("Explore · Glint")

    # A caption left after its photo was removed: asked as well; Discard follows the link.
    open_composer(page)
    page.get_by_label("Choose photos").set_input_files(str(make_photo(tmp_path / "e.jpg", seed=5)))
    page.get_by_label("Caption").fill("half a thought")
    page.get_by_role("button", name="Remove photo 1").click()
    expect(page.get_by_test_id("drop-zone")).to_be_visible()
    nav.get_by_role("link", name="Search").click()
    expect(ask).to_be_visible()
    ask.get_by_role("button", name="Discard").click()
    expect(page).to_have_title("Search · Glint")
