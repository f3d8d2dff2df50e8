"""Small words: search counts "1 person" / "1 hashtag"."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, Person
from tests.browser.steps_common import create_post_via_protocol, go, sign_up_via_http
from tests.conftest import unique


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
