"""Read receipts on the inbox rows: when the latest message of a conversation is mine, the
row says "Sent", then "Seen" ("Seen by N" / "Seen by everyone" in a group) once the
others' read positions cover it — live on a dm.read event and again after a reload
(from dm.list's `reads`). The same rule as under the message in the thread."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import call, go, sign_up_via_http
from tests.browser.steps_direct import (
    conversation_row,
    friends,
    open_conversation,
    open_dm_via_protocol,
    open_inbox,
    picnic_group,
    send_message,
    wait_for_message,
)
from tests.conftest import unique


def receipt(page: Page, title: str) -> Locator:
    """The receipt ("Sent", "Seen", …) on the inbox row of `title`."""
    return conversation_row(page, title).get_by_test_id("receipt")


def reload_inbox(page: Page) -> None:
    """Reload the page (a fresh tab: the list and read positions come from dm.list)."""
    page.reload()
    expect(page.get_by_role("heading", name="Messages")).to_be_visible()
    expect(page.locator(".shell")).to_have_attribute("data-conn", "online")


def test_inbox_row_says_sent_then_seen(person: Callable[..., Person]) -> None:
    alice, bob, a, b = friends(person)
    # Bob hides his activity status: read receipts are not affected (docs/protocol.md).
    call(bob.page, "user.update", hide_activity=True)

    open_conversation(alice.page, b)
    send_message(alice.page, "lunch tomorrow?")
    open_inbox(alice.page)
    expect(receipt(alice.page, b)).to_have_text("Sent")
    expect(conversation_row(alice.page, b)).not_to_contain_text("lunch tomorrow?")
    reload_inbox(alice.page)  # not read yet: still "Sent" from dm.list
    expect(receipt(alice.page, b)).to_have_text("Sent")

    # Bob opens the thread (which reads it): alice's row turns to "Seen" live …
    conv = open_dm_via_protocol(bob.page, a)
    go(bob.page, f"/direct/{conv}")
    wait_for_message(bob.page, "lunch tomorrow?")
    expect(receipt(alice.page, b)).to_have_text("Seen")
    screenshot(alice.page, "direct-inbox-seen-phone")
    # … and stays so after a reload (dm.list's `reads`).
    reload_inbox(alice.page)
    expect(receipt(alice.page, b)).to_have_text("Seen")

    # Bob answers: the row shows his message, no receipt.
    send_message(bob.page, "sure, 1pm")
    expect(conversation_row(alice.page, b)).to_contain_text("sure, 1pm")
    expect(receipt(alice.page, b)).to_have_count(0)

    # A newer message of hers while bob is away from the thread: "Sent" again, also
    # after a reload, until he reads it.
    go(bob.page, "/direct")
    expect(bob.page.get_by_role("heading", name="Messages")).to_be_visible()
    sent = call(alice.page, "dm.send", conversation=conv, text="great")["message"]
    expect(receipt(alice.page, b)).to_have_text("Sent")
    reload_inbox(alice.page)
    expect(receipt(alice.page, b)).to_have_text("Sent")
    call(bob.page, "dm.read", conversation=conv, seq=int(sent["seq"]))
    expect(receipt(alice.page, b)).to_have_text("Seen")


def test_group_row_says_seen_by(person: Callable[..., Person]) -> None:
    alice, bob, carol, group = picnic_group(person)
    open_inbox(alice.page)
    expect(receipt(alice.page, "picnic")).to_have_text("Sent")

    go(bob.page, f"/direct/{group}")  # opening the thread reads it
    wait_for_message(bob.page, "bring plates")
    expect(receipt(alice.page, "picnic")).to_have_text("Seen by 1")
    reload_inbox(alice.page)
    expect(receipt(alice.page, "picnic")).to_have_text("Seen by 1")

    go(carol.page, f"/direct/{group}")
    wait_for_message(carol.page, "bring plates")
    expect(receipt(alice.page, "picnic")).to_have_text("Seen by everyone")
    reload_inbox(alice.page)
    expect(receipt(alice.page, "picnic")).to_have_text("Seen by everyone")
    screenshot(alice.page, "direct-inbox-seen-group-desktop")


def test_a_request_read_is_seen_only_once_accepted(person: Callable[..., Person]) -> None:
    alice, stranger = person(DESKTOP), person(PHONE)
    a, s = unique("alice"), unique("stranger")
    sign_up_via_http(alice.page, a)
    sign_up_via_http(stranger.page, s)
    # The stranger does not follow alice: her message lands in the stranger's requests.
    conv = open_dm_via_protocol(alice.page, s)
    sent = call(alice.page, "dm.send", conversation=conv, text="hi, we met at the show")["message"]
    open_inbox(alice.page)
    expect(receipt(alice.page, s)).to_have_text("Sent")

    # Reading a request sends no receipt: still "Sent", live and after a reload.
    go(stranger.page, f"/direct/{conv}")
    wait_for_message(stranger.page, "hi, we met at the show")
    bar = stranger.page.get_by_role("region", name="Message request")
    expect(bar).to_be_visible()
    read = call(stranger.page, "dm.read", conversation=conv, seq=int(sent["seq"]))
    assert int(read["seq"]) == int(sent["seq"])  # read (by the thread already, or now)
    reload_inbox(alice.page)
    expect(receipt(alice.page, s)).to_have_text("Sent")

    # Accepting shares the read position: "Seen" live.
    bar.get_by_role("button", name="Accept").click()
    expect(bar).to_have_count(0)
    expect(receipt(alice.page, s)).to_have_text("Seen")
