"""Explore, search and hashtag pages in the browser: recommended posts never include
your own, a friend-of-a-friend is suggested with a follow button, hashtags are found
by search (keyboard only) and their page lists the tagged post in both orders."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import call, create_post_via_protocol, sign_up
from tests.browser.steps_feed import open_post
from tests.browser.steps_people import (
    grid_links,
    open_explore,
    open_tag,
)
from tests.conftest import unique

#: Explore pages to scroll through at most while looking for a post (the list ends
#: at 300 positions; other tests' posts share the database).
MAX_PAGES = 13


def scroll_grid_until(page: Page, label: str, href: str) -> None:
    """Page through the infinite grid `label` until a link to `href` is in it (or the
    list ends), pressing its "Load more" button."""
    links = grid_links(page, label)
    idle = "!document.querySelector('.more [role=status]')"
    for _ in range(MAX_PAGES):
        page.wait_for_function(idle)
        if page.locator(f'a[href="{href}"]').count():
            return
        more = page.locator(".more button")
        if more.count() == 0:
            break
        before = links.count()
        more.click()
        page.wait_for_function(
            f"(n) => ({idle} && document.querySelectorAll('.grid .grid-link').length > n)"
            " || !document.querySelector('.more')", arg=before)
    expect(page.locator(f'a[href="{href}"]')).to_have_count(1)


def test_explore_suggests_and_recommends_but_never_your_own(
        person: Callable[..., Person]) -> None:
    alice, bob, cy = person(PHONE), person(DESKTOP), person(DESKTOP)
    a_name, b_name, c_name = unique("exa"), unique("exb"), unique("exc")
    for who, name in ((alice, a_name), (bob, b_name), (cy, c_name)):
        sign_up(who.page, name)
    tag = unique("tg")
    b_post = create_post_via_protocol(bob.page, f"harbour at dusk #{tag}", seed=20)
    a_post = create_post_via_protocol(alice.page, f"my own #{tag}", seed=220)
    call(cy.page, "post.like", post=b_post)  # bob's post is liked: popular
    call(alice.page, "follow.add", username=c_name)
    call(cy.page, "follow.add", username=b_name)  # bob: followed by one alice follows

    page = alice.page
    # Explore recommends any recent post in the shared database, also those of other
    # test modules, whose nodes kept the photo files in their own data directories.
    alice.allow_console(r"status of 404 .*/media/")
    open_explore(page)
    scroll_grid_until(page, "Recommended posts", f"/p/{b_post}")
    expect(page.locator(f'a[href="/p/{a_post}"]')).to_have_count(0)
    # Bob is suggested (alice follows cy, who follows bob), with a working Follow button.
    suggested = page.get_by_role("region", name="Suggested for you")
    row = suggested.get_by_role("listitem").filter(has_text=b_name)
    expect(row).to_contain_text("Followed by 1 person you follow")
    row.get_by_role("button", name=f"Follow {b_name}").click()
    expect(row.get_by_role("button", name="Following", exact=True)).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "explore-phone")

    # The post opens from the grid.
    page.locator(f'a[href="/p/{b_post}"]').click()
    expect(page).to_have_url(f"{page.url.split('/p/')[0]}/p/{b_post}")


def test_search_a_hashtag_with_the_keyboard_and_open_its_page(
        person: Callable[..., Person]) -> None:
    alice, bob = person(DESKTOP), person(DESKTOP)
    a_name, b_name = unique("hta"), unique("htb")
    sign_up(alice.page, a_name)
    sign_up(bob.page, b_name)
    tag = unique("Sunset")
    b_post = create_post_via_protocol(bob.page, f"golden hour #{tag} over the river")

    page = alice.page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    box = page.get_by_label("Search people and hashtags")
    box.fill(f"#{tag[:-3].upper()}")  # a prefix, another case
    hashtags = page.get_by_role("list", name="Hashtags")
    expect(hashtags.get_by_role("link").first).to_contain_text(f"#{tag.lower()}")
    expect(hashtags.get_by_role("link").first).to_contain_text("1 post")
    box.press("ArrowDown")
    expect(hashtags.get_by_role("link").first).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1, name=f"#{tag.lower()}")).to_be_visible()
    expect(page.get_by_test_id("tag-count")).to_have_text("1 post")
    expect(grid_links(page, f"Top posts tagged #{tag.lower()}")).to_have_count(1)
    page.get_by_role("tab", name="Recent").click()
    expect(page.get_by_role("tab", name="Recent")).to_have_attribute("aria-selected", "true")
    recent = grid_links(page, f"Recent posts tagged #{tag.lower()}")
    expect(recent).to_have_count(1)
    expect(recent.first).to_have_attribute("href", f"/p/{b_post}")
    screenshot(page, "hashtag-desktop")

    # The search remembers what was opened.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    expect(page.get_by_role("list", name="Recent searches")).to_contain_text(f"#{tag.lower()}")
    # An unused tag is a page with no posts, not an error.
    open_tag(page, unique("nothing"))
    expect(page.get_by_test_id("tag-count")).to_have_text("0 posts")
    expect(page.get_by_role("heading", name="No posts yet")).to_be_visible()


def test_a_hashtag_with_vowel_signs_links_whole_to_its_page(
        person: Callable[..., Person]) -> None:
    """Devanagari writes vowels as combining marks: the caption's link, the tag stored
    and its page all hold the whole word (a mark used to end the tag), and an accent
    typed decomposed is the composed tag."""
    alice, bob = person(DESKTOP), person(DESKTOP)
    sign_up(alice.page, unique("hia"))
    sign_up(bob.page, unique("hib"))
    k = unique("t")[-6:]
    hindi = f"हिन्दी{k}"
    b_post = create_post_via_protocol(bob.page, f"नमस्ते #{hindi} and #cafe\u0301{k}")

    page = alice.page
    open_post(page, str(b_post))
    # the text as written (decomposed), the link to the composed tag
    cafe = page.get_by_role("link", name=f"#cafe\u0301{k}").first
    cafe.wait_for()
    assert "caf%C3%A9" in (cafe.get_attribute("href") or "") or \
        f"café{k}" in (cafe.get_attribute("href") or "")
    page.get_by_role("link", name=f"#{hindi}").first.click()
    expect(page.get_by_role("heading", level=1, name=f"#{hindi}")).to_be_visible()
    expect(page.get_by_test_id("tag-count")).to_have_text("1 post")
    expect(grid_links(page, f"Top posts tagged #{hindi}")).to_have_count(1)
