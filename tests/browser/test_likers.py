"""Who liked a post, in a real browser against a real node: B likes A's post, A opens
the likers from the like count in the post view and sees B first (follows back from
the list), the list pages on scroll; B's own feed card opens the list too, at 375 px."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import expect

from config.limits import LIKERS_DEFAULT
from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import (
    call,
    create_post_via_protocol,
    follow,
    go,
    sign_up_via_http,
)
from tests.browser.steps_feed import (
    expect_like_count,
    expect_no_sideways_scroll,
    go_home,
    open_post,
    post_card,
    wait_for_post_in_feed,
)
from tests.browser.steps_likers import (
    close_likers,
    liker,
    open_likers,
    scroll_to_end,
    seed_likers,
)
from tests.conftest import unique

SEEDED = LIKERS_DEFAULT + 5  # more than a page: the list needs a second one


def test_author_sees_who_liked_and_pages_on_scroll(person: Callable[..., Person],
                                                   services: tuple[str, str]) -> None:
    a, b = person(DESKTOP), person(PHONE)
    name_a, name_b = unique("la"), unique("lb")
    sign_up_via_http(a.page, name_a)
    sign_up_via_http(b.page, name_b)
    follow(b.page, name_a)
    post_id = create_post_via_protocol(a.page, "Who likes this?", seed=7)
    earlier = seed_likers(services[0], post_id, SEEDED)  # liked before B, latest first

    # B likes it in the post view.
    open_post(b.page, post_id)
    b.page.get_by_role("button", name="Like", exact=True).click()
    expect_like_count(b.page, SEEDED + 1)

    # A opens the post; the like count is a button that opens the likers, B first.
    open_post(a.page, post_id)
    expect_like_count(a.page, SEEDED + 1)
    likers = open_likers(a.page)
    rows = likers.locator("li.user-row")
    expect(rows.first).to_contain_text(name_b)
    expect(rows).to_have_count(LIKERS_DEFAULT)  # one page
    expect(rows.nth(1)).to_contain_text(earlier[0])
    # B follows A, A does not follow B: "Follow back", and it works from the list.
    row_b = liker(likers, name_b)
    row_b.get_by_role("button", name=f"Follow back {name_b}").click()
    expect(row_b.get_by_role("button", name="Following")).to_be_visible()
    assert call(a.page, "user.get", username=name_b)["followed_by_me"] is True
    # Scrolling to the end loads the rest, without repeats.
    scroll_to_end(likers, SEEDED + 1)
    expect(liker(likers, earlier[-1])).to_have_count(1)
    texts = rows.locator(".user-row-username").all_inner_texts()
    assert texts == [name_b, *earlier]
    close_likers(a.page)
    expect(a.page.locator("article.post-view").get_by_role(
        "button", name=f"{SEEDED + 1} likes")).to_be_focused()  # focus back on the opener

    # A person's name in the list leads to their profile (and closes the list).
    likers = open_likers(a.page)
    liker(likers, name_b).get_by_role("link").click()
    expect(a.page).to_have_url(re.compile(rf"/u/{name_b}$"))
    expect(a.page.get_by_role("dialog", name="Likes")).to_have_count(0)

    # B's feed card (375 px): the count opens the same list, B's own row has no button.
    go_home(b.page)
    card = wait_for_post_in_feed(b.page, post_id)
    likers = open_likers(b.page, card)
    mine = liker(likers, name_b)
    expect(mine).to_be_visible()
    expect(mine.get_by_role("button")).to_have_count(0)
    expect(liker(likers, earlier[0]).get_by_role(
        "button", name=f"Follow {earlier[0]}")).to_be_visible()
    expect_no_sideways_scroll(b.page)
    screenshot(b.page, "likers-phone")
    b.page.keyboard.press("Escape")
    expect(b.page.get_by_role("dialog", name="Likes")).to_have_count(0)
    expect(post_card(b.page, post_id)).to_be_visible()


def test_no_likes_is_plain_text(person: Callable[..., Person]) -> None:
    a = person(PHONE)
    name = unique("ln")
    sign_up_via_http(a.page, name)
    post_id = create_post_via_protocol(a.page, "Nobody yet", seed=8)
    go(a.page, f"/p/{post_id}")
    view = a.page.locator("article.post-view")
    expect_like_count(view, 0)
    expect(view.get_by_test_id("like-count").get_by_role("button")).to_have_count(0)
    # One's own like: the count turns into a button, and the list has oneself.
    view.get_by_role("button", name="Like", exact=True).click()
    likers = open_likers(a.page)
    expect(liker(likers, name)).to_be_visible()
    expect(likers.locator("li.user-row")).to_have_count(1)
    close_likers(a.page)
