"""Read receipts ("Seen") survive a reload: the thread starts from the read positions
that dm.history and dm.list carry, not only from dm.read events seen while open."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.conftest import Person, screenshot
from tests.browser.steps_common import call, go
from tests.browser.steps_direct import (
    friends,
    open_conversation,
    open_dm_via_protocol,
    picnic_group,
    reload_thread,
    send_message,
    wait_for_message,
    wait_for_seen,
)


def test_seen_shows_again_after_a_reload(person: Callable[..., Person]) -> None:
    alice, bob, a, b = friends(person)

    open_conversation(alice.page, b)
    send_message(alice.page, "are you there?")
    reload_thread(alice.page)  # not read yet: no "Seen", after a reload either
    wait_for_message(alice.page, "are you there?")
    expect(alice.page.get_by_test_id("seen")).to_have_count(0)

    # Bob opens the thread (which reads it): alice sees "Seen" live …
    conv = open_dm_via_protocol(bob.page, a)
    go(bob.page, f"/direct/{conv}")
    wait_for_message(bob.page, "are you there?")
    wait_for_seen(alice.page)
    # … and still after reloading the page, and on a fresh load of the thread.
    reload_thread(alice.page)
    wait_for_seen(alice.page)
    expect(alice.page.get_by_test_id("seen")).to_have_text("Seen")
    alice.page.goto(f"/direct/{conv}")
    wait_for_seen(alice.page)
    screenshot(alice.page, "conversation-seen-after-reload-phone")

    # A newer message of hers, while bob is in his inbox, is not seen: no "Seen" on reload.
    go(bob.page, "/direct")
    expect(bob.page.get_by_role("heading", name="Messages")).to_be_visible()
    send_message(alice.page, "hello?")
    expect(alice.page.get_by_test_id("seen")).to_have_count(0)
    reload_thread(alice.page)
    wait_for_message(alice.page, "hello?")
    expect(alice.page.get_by_test_id("seen")).to_have_count(0)


def test_group_seen_by_after_a_reload(person: Callable[..., Person]) -> None:
    alice, bob, carol, group = picnic_group(person)

    call(bob.page, "dm.read", conversation=group, seq=2)
    wait_for_seen(alice.page, "Seen by 1")
    reload_thread(alice.page)
    expect(alice.page.get_by_test_id("seen")).to_have_text("Seen by 1")

    call(carol.page, "dm.read", conversation=group, seq=2)
    wait_for_seen(alice.page, "Seen by everyone")
    reload_thread(alice.page)
    expect(alice.page.get_by_test_id("seen")).to_have_text("Seen by everyone")
    expect(alice.page).to_have_url(re.compile(rf"/direct/{group}$"))
