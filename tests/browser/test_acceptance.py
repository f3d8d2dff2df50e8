"""Issue #7's acceptance, end to end in two browser contexts as two people.

Both sign up; A follows B; B posts a photo with a filter and a #hashtag caption; it
appears in A's feed live; A double-taps to like and B's notification badge updates
live; A comments and B, viewing the post, sees it; a dropped socket in the middle
loses and repeats nothing; they exchange direct messages with a typing indicator and
a read receipt. Screenshots of the feed, a post, a profile and a conversation at phone
and desktop sizes are written as artifacts and checked to be non-blank.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser import steps_common as common
from tests.browser import steps_direct as dm
from tests.browser import steps_feed as feed
from tests.browser import steps_people as people
from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.conftest import unique

#: A real phone photo makes the screenshots look like the product; generated otherwise.
REAL_PHOTO = Path(__file__).resolve().parents[3] / "shared" / "data" / "photos" / "jolla.jpg"


def _photo(tmp_path: Path) -> Path:
    if REAL_PHOTO.is_file():
        return Path(shutil.copy(REAL_PHOTO, tmp_path / "photo.jpg"))
    return common.make_photo(tmp_path / "photo.jpg", seed=7)


def _mark_page_load(page: Page) -> None:
    """A flag that only a page load would clear: proves "live, without reload"."""
    page.evaluate("window.__sameLoad = true")


def _same_page_load(page: Page) -> bool:
    return page.evaluate("window.__sameLoad === true")


def _record_events(page: Page) -> None:
    """Every durable event the tab hands to its screens, as "name:seq"."""
    page.evaluate("""() => { window.__events = [];
        window.__glint.conn.on('*', (data, ev) => {
            if (ev && ev.seq !== undefined) window.__events.push(`${ev.ev}:${ev.seq}`); }); }""")


def _shots(page: Page, name: str) -> None:
    """The current screen at phone and desktop sizes."""
    for size, label in ((PHONE, "phone"), (DESKTOP, "desktop")):
        page.set_viewport_size(size)
        page.wait_for_load_state()
        screenshot(page, f"acceptance-{name}-{label}")
    page.set_viewport_size(DESKTOP)


def test_two_people_use_glint_live(person: Callable[..., Person], tmp_path: Path) -> None:
    a, b = person(DESKTOP), person(DESKTOP)
    a_name, b_name = unique("ana"), unique("ben")
    common.sign_up(a.page, a_name)
    common.sign_up(b.page, b_name)

    # A finds B and follows them from B's profile.
    people.search_and_open_profile(a.page, b_name, b_name)
    assert people.follow_on_profile(a.page, b_name) == "Following"
    feed.go_home(a.page)
    _mark_page_load(a.page)
    _record_events(a.page)

    # B posts a photo with a filter and a caption with a hashtag.
    tag = unique("golden").replace("_", "")
    caption = f"Autumn, backlit #{tag}"
    post_id = feed.create_post(b.page, _photo(tmp_path), filter="clarendon", caption=caption,
                               alt="A backlit autumn leaf")
    expect(b.page.locator("article.post-view")).to_contain_text(f"#{tag}")

    # It reaches A's feed live: the "new posts" pill, no page load.
    card = feed.wait_for_post_in_feed(a.page, post_id)
    expect(card).to_contain_text(caption)
    assert _same_page_load(a.page)
    _shots(a.page, "feed")

    # A double-taps to like; B (on the post view) sees the count and the badge move live.
    people.expect_notification_badge(b.page, 1)  # A's follow
    feed.double_tap_like(a.page, post_id, expect_count=1)
    feed.expect_like_count(b.page, 1)
    people.expect_notification_badge(b.page, 2)

    # A comments; B, viewing the post, sees it appear.
    feed.open_post(a.page, post_id)
    feed.add_comment(a.page, "What a view!")
    feed.expect_comment(b.page, "What a view!")
    _shots(b.page, "post")

    # A's socket drops; B replies meanwhile; A gets it once the tab reconnects.
    a.page.evaluate("window.__glint.conn.ws.close()")
    feed.add_comment(b.page, "Thanks! Shot it last night.")
    expect(a.page.locator(".shell")).to_have_attribute("data-conn", "online")
    feed.expect_comment(a.page, "Thanks! Shot it last night.")
    expect(feed.comment(a.page, "Thanks! Shot it last night.")).to_have_count(1)
    events = a.page.evaluate("window.__events")
    assert len(events) == len(set(events)), f"an event was shown twice: {events}"
    assert _same_page_load(a.page)

    # B's profile, as A sees it.
    people.open_profile(a.page, b_name)
    expect(a.page.get_by_test_id("followers-count")).to_have_text("1")
    _shots(a.page, "profile")

    # Direct messages: A writes, B reads (A sees "Seen"), B types (A sees it), B answers.
    # B follows A back first, so A's message lands in B's inbox rather than requests.
    common.follow(b.page, a_name)
    dm.open_conversation(a.page, b_name)
    dm.send_message(a.page, "Can I use your photo for our page?")
    dm.expect_direct_badge(b.page, 1)
    dm.open_inbox(b.page)
    dm.open_thread_from_inbox(b.page, a_name)
    dm.wait_for_message(b.page, "Can I use your photo for our page?")
    dm.wait_for_seen(a.page)
    dm.start_typing(b.page, "Sure")
    dm.wait_for_typing(a.page)
    b.page.get_by_label("Message", exact=True).fill("")
    dm.send_message(b.page, "Sure, go ahead!")
    dm.wait_for_message(a.page, "Sure, go ahead!")
    dm.wait_for_no_typing(a.page)
    assert dm.message_texts(a.page)[-2:] == ["Can I use your photo for our page?",
                                             "Sure, go ahead!"]
    _shots(a.page, "conversation")
    assert _same_page_load(a.page)
