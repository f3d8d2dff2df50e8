"""Home feed in a real browser against a real node: a post made with the composer
reaches a follower live (the "new posts" pill), double tap to like with the heart,
counts and comments live in both directions, deletion removes the card live, and
infinite scroll pages through a seeded feed without duplicates."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import back_online, call, follow, make_photo, sign_up_via_http
from tests.browser.steps_feed import (
    add_comment,
    create_post,
    delete_post,
    double_tap_like,
    expect_comment,
    expect_like_count,
    expect_no_sideways_scroll,
    go_home,
    open_post,
    post_card,
    seed_posts,
    wait_for_new_posts_pill,
    wait_for_post_in_feed,
)
from tests.conftest import unique


def test_a_post_reaches_a_follower_live_and_likes_and_comments_flow_back(
        person: Callable[..., Person], tmp_path: Path) -> None:
    a, b = person(DESKTOP), person(PHONE)
    name_a, name_b = unique("fa"), unique("fb")
    sign_up_via_http(a.page, name_a)
    sign_up_via_http(b.page, name_b)
    # A new user with an empty feed is pointed to Explore.
    expect(a.page.get_by_role("link", name="Find people on Explore")).to_be_visible()
    follow(a.page, name_b)

    tag = unique("golden")
    alt = "An orange evening sky"
    post_id = create_post(b.page, make_photo(tmp_path / "b.jpg", seed=1), filter="clarendon",
                          caption=f"Evening light #{tag} with @{name_a}", alt=alt)
    # B lands on the new post: filtered by the server, alt text and caption links.
    expect(b.page.locator("article.post-view img").first).to_have_attribute("alt", alt)
    expect(b.page.get_by_role("link", name=f"#{tag}")).to_have_attribute("href", f"/t/{tag}")
    expect(b.page.get_by_role("link", name=f"@{name_a}")).to_have_attribute("href", f"/u/{name_a}")

    # A's feed, open all along, gets the "new posts" pill live; a click shows the post.
    url_before = a.page.url
    a.page.evaluate("window.__w1marker = 'no reload'")
    pill = wait_for_new_posts_pill(a.page)
    expect(pill).to_have_text(re.compile(r"1 new post"))
    card = wait_for_post_in_feed(a.page, post_id)
    assert a.page.url == url_before and a.page.evaluate("window.__w1marker") == "no reload"
    expect(pill).to_be_hidden()
    expect(card.get_by_role("link", name=name_b).first).to_have_attribute("href", f"/u/{name_b}")
    img = card.locator("img").last
    expect(img).to_have_attribute("alt", alt)
    expect(img).to_have_attribute("loading", "lazy")
    expect(img).to_have_attribute("srcset", re.compile(r"/media/\w+\.jpg \d+w"))

    # A double-taps the photo: heart, 1 like; B's open post view counts it live.
    double_tap_like(a.page, post_id)
    expect_like_count(b.page, 1)
    # A second double tap keeps the like (it never takes it back).
    double_tap_like(a.page, post_id)
    expect_like_count(card, 1)
    screenshot(a.page, "feed-desktop")

    # A comments in the post view; B sees it live, replies, and A sees the reply
    # under the comment live; both comment counts follow.
    open_post(a.page, post_id)
    add_comment(a.page, "What a sky!")
    expect_comment(b.page, "What a sky!")
    expect(b.page.get_by_test_id("comment-count")).to_have_text("1 comment")
    add_comment(b.page, "Thank you", reply_to=name_a)
    expect_comment(a.page, "Thank you", reply_under="What a sky!")
    expect(a.page.get_by_test_id("comment-count")).to_have_text("2 comments")
    expect_no_sideways_scroll(b.page)
    screenshot(b.page, "post-phone")

    # Back in A's feed the card shows the counts, and follows them live: B likes
    # the post too; then B deletes it and it leaves A's feed live.
    go_home(a.page)
    card = post_card(a.page, post_id)
    expect(card.get_by_test_id("comment-count")).to_have_text("View all 2 comments")
    call(b.page, "post.like", post=post_id)
    expect_like_count(card, 2)
    delete_post(b.page)
    expect(card).to_have_count(0, timeout=10_000)


def test_infinite_scroll_pages_through_the_feed_without_duplicates(
        person: Callable[..., Person], tmp_path: Path) -> None:
    c = person(PHONE)
    sign_up_via_http(c.page, unique("fc"))
    ids = seed_posts(c.page, make_photo(tmp_path / "c.jpg", size=(800, 800), seed=2), 40)
    c.page.reload()
    page = c.page
    # Latest: newest first.
    page.get_by_role("button", name="Latest").click()
    expect(page.get_by_role("button", name="Latest")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("article.post-card").first).to_have_attribute("data-post-id", ids[-1])
    first_page = page.locator("article.post-card").count()
    assert 0 < first_page < 40
    end = page.get_by_test_id("feed-end")
    for _ in range(20):
        if end.is_visible():
            break
        page.locator("article.post-card").last.scroll_into_view_if_needed()
        page.mouse.wheel(0, 4000)
        expect(page.locator("article.post-card")).not_to_have_count(0)
    expect(end).to_be_visible()
    shown = page.eval_on_selector_all("article.post-card", "els => els.map(e => e.dataset.postId)")
    assert len(shown) == 40 and len(set(shown)) == 40, "a page repeated or lost posts"
    assert shown == list(reversed(ids))
    expect_no_sideways_scroll(page)
    screenshot(page, "feed-phone")

    # Back from a post returns to the same place in the feed, without loading it again.
    target = page.locator("article.post-card").nth(30)
    target.scroll_into_view_if_needed()
    target.locator(".post-time").click()
    expect(page.locator("article.post-view")).to_be_visible()
    page.go_back()
    expect(page.locator("article.post-card")).to_have_count(40)
    expect(target).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 1000

    # New posts since the last load come first, then the "all caught up" marker.
    newer = seed_posts(page, make_photo(tmp_path / "n.jpg", size=(600, 600), seed=9), 2,
                       caption="newer")
    page.reload()
    cards = page.locator("article.post-card")
    expect(cards.first).to_have_attribute("data-post-id", newer[-1])
    marker = page.get_by_test_id("caught-up")
    expect(marker).to_be_visible()
    before = page.locator("[data-testid=caught-up] ~ article.post-card").first
    expect(before).to_have_attribute("data-post-id", ids[-1])
    assert page.evaluate("""() => {
      const m = document.querySelector('[data-testid=caught-up]');
      return [...document.querySelectorAll('article.post-card')]
        .filter((c) => c.compareDocumentPosition(m) & Node.DOCUMENT_POSITION_FOLLOWING).length;
    }""") == 2

    # Ranked (the default) pages through the same 40 without duplicates too.
    page.get_by_role("button", name="For you").click()
    expect(page.locator("article.post-card")).not_to_have_count(0)
    for _ in range(20):
        if end.is_visible():
            break
        page.locator("article.post-card").last.scroll_into_view_if_needed()
        page.mouse.wheel(0, 4000)
    expect(end).to_be_visible()
    shown = page.eval_on_selector_all("article.post-card", "els => els.map(e => e.dataset.postId)")
    assert sorted(shown) == sorted(ids + newer)


def _follower_who_goes_offline(person: Callable[..., Person]) -> tuple[Person, Person, str]:
    """A viewer on a phone following an author on a desktop: (viewer, author, the
    author's name). The viewer's console may show the blocked reconnect attempts."""
    viewer, author = person(PHONE), person(DESKTOP)
    viewer.allow_console(r"ERR_FAILED")
    name_a = unique("fo")
    sign_up_via_http(author.page, name_a)
    sign_up_via_http(viewer.page, unique("fv"))
    follow(viewer.page, name_a)
    return viewer, author, name_a


def test_posts_made_while_offline_show_in_the_pill_after_reconnect(
        person: Callable[..., Person], tmp_path: Path) -> None:
    viewer, author, name_a = _follower_who_goes_offline(person)
    long_caption = "A long day at the sea. " * 12 + "The end"
    first = seed_posts(author.page, make_photo(tmp_path / "o.jpg", size=(500, 500), seed=11), 1,
                       caption=long_caption)
    viewer.page.reload()
    card = post_card(viewer.page, first[0])
    expect(card).to_be_visible()
    # A long caption is cut to two lines with a "more" button.
    more = card.get_by_role("button", name=f"More of the caption by {name_a}")
    caption = card.get_by_test_id("post-caption")
    clamped = caption.bounding_box()
    more.click()
    expect(more).to_have_count(0)
    opened = caption.bounding_box()
    assert clamped and opened and opened["height"] > clamped["height"] * 1.5

    # The viewer's socket drops and stays down (reconnects are refused) while the
    # author posts: the feed.post event is lost, which is what it is allowed to be.
    viewer.page.route("**/api/info", lambda route: route.abort())
    viewer.page.evaluate("window.__glint.conn.ws.close()")
    expect(viewer.page.get_by_test_id("offline-banner")).to_be_visible()
    second = seed_posts(author.page, make_photo(tmp_path / "o2.jpg", size=(500, 500), seed=12), 1)
    back_online(viewer.page)

    # Back online, the feed looks for what it missed and offers it in the pill.
    pill = wait_for_new_posts_pill(viewer.page)
    expect(pill).to_have_text(re.compile(r"1 new post"))
    wait_for_post_in_feed(viewer.page, second[0])
    cards = viewer.page.locator("article.post-card")
    expect(cards).to_have_count(2)
    expect(cards.first).to_have_attribute("data-post-id", second[0])


def test_a_post_deleted_while_offline_leaves_the_feed_on_reconnect(
        person: Callable[..., Person], tmp_path: Path) -> None:
    """post.deleted is not replayed after a reconnect; the card's watch, sent again,
    is answered not_found, and that now takes the card away (it stayed, and a tap on
    Like said "This post isn't available any more")."""
    viewer, author, _ = _follower_who_goes_offline(person)
    photo = make_photo(tmp_path / "d.jpg", size=(500, 500), seed=21)
    kept, doomed = seed_posts(author.page, photo, 2)
    viewer.page.reload()
    expect(post_card(viewer.page, doomed)).to_be_visible()
    expect(post_card(viewer.page, kept)).to_be_visible()

    viewer.page.route("**/api/info", lambda route: route.abort())
    viewer.page.evaluate("window.__glint.conn.ws.close()")
    expect(viewer.page.get_by_test_id("offline-banner")).to_be_visible()
    call(author.page, "post.delete", post=doomed)
    back_online(viewer.page)

    expect(post_card(viewer.page, doomed)).to_have_count(0)
    expect(post_card(viewer.page, kept)).to_be_visible()  # the rest of the feed stays
