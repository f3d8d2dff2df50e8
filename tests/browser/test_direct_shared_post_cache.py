"""A shared post in a DM is read with post.get and kept a while: what one session may
see is not the next one's (found by a review). Alice, who follows a private account,
sees its post shared in a thread; she logs out and Bob logs in on the same tab: the
same post in his thread is "unavailable" to him, not shown from her cache."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Person
from tests.browser.steps_common import (
    call,
    create_post_via_protocol,
    log_out,
    sign_up_via_http,
)
from tests.browser.steps_direct import open_conversation, open_dm_via_protocol
from tests.browser.steps_password import log_in
from tests.conftest import PASSWORD, unique


def test_a_shared_post_seen_by_one_session_is_not_shown_to_the_next(
        person: Callable[..., Person]) -> None:
    tab, carol, bob = person(PHONE), person(DESKTOP), person(DESKTOP)
    name_a, name_c, name_b = unique("sa"), unique("sc"), unique("sb")
    sign_up_via_http(tab.page, name_a)
    sign_up_via_http(carol.page, name_c)
    sign_up_via_http(bob.page, name_b)
    call(carol.page, "user.update", private=True)
    call(tab.page, "follow.add", username=name_c)
    call(carol.page, "follow.approve", username=name_a)
    post = create_post_via_protocol(carol.page, "only for my followers")
    call(tab.page, "dm.send", conversation=open_dm_via_protocol(tab.page, name_b), post=post)

    open_conversation(tab.page, name_b)
    card = tab.page.locator("a.dm-post")
    expect(card).to_contain_text("only for my followers")  # Alice may see it

    log_out(tab.page)
    log_in(tab.page, name_b, PASSWORD)  # the same tab: no reload, the same modules
    open_conversation(tab.page, name_a)
    expect(tab.page.locator(".dm-post-gone")).to_have_text("This post is unavailable.")
    expect(tab.page.get_by_text("only for my followers")).to_have_count(0)
