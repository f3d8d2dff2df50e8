"""Direct messages in the browser: two people (two contexts) on a real node.

A starts a conversation from the inbox; B sees it arrive live (unread, on top, nav
badge); typing indicator, read receipt, a photo, a reconnect that loses and repeats
nothing; message requests from a non-follower; a block explained in words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import (
    back_online,
    create_post_via_protocol,
    follow,
    make_photo,
    sign_up,
)
from tests.browser.steps_direct import (
    block,
    conversation_row,
    edit_message,
    expect_direct_badge,
    friends,
    leave_group,
    message,
    message_texts,
    open_conversation,
    open_details,
    open_inbox,
    open_thread_from_inbox,
    react_by_double_click,
    rename_group,
    send_many_via_protocol,
    send_message,
    send_photo,
    send_via_protocol,
    share_new_post_via_protocol,
    share_post,
    start_new_group,
    start_typing,
    submit_message,
    unsend_message,
    wait_for_message,
    wait_for_no_typing,
    wait_for_photo,
    wait_for_seen,
    wait_for_system_message,
    wait_for_typing,
)
from tests.conftest import unique


def test_conversation_live_typing_seen_photo_and_reconnect(
        person: Callable[..., Person], tmp_path: Path) -> None:
    alice, bob, carol = person(DESKTOP), person(PHONE), person(DESKTOP)
    a, b, c = unique("alice"), unique("bob"), unique("carol")
    for who, name in ((alice, a), (bob, b), (carol, c)):
        sign_up(who.page, name)
    follow(alice.page, b)
    follow(bob.page, a)
    follow(carol.page, b)
    follow(bob.page, c)
    # Bob already talks to carol: that conversation is on top of his inbox.
    send_via_protocol(bob.page, c, "earlier with carol")
    open_inbox(bob.page)
    expect(bob.page.get_by_test_id("conversation").first).to_contain_text(c)
    expect_direct_badge(bob.page, 0)

    # Alice starts the conversation from her inbox and says hello.
    open_conversation(alice.page, b)
    send_message(alice.page, "hello")
    expect(message(alice.page, "hello")).to_have_count(1)  # the pending bubble became it

    # Bob sees it live: on top, unread, and the nav badge.
    top = bob.page.get_by_test_id("conversation").first
    expect(top).to_contain_text(a)
    expect(top).to_contain_text("hello")
    expect(top.get_by_test_id("unread-dot")).to_be_visible()
    expect_direct_badge(bob.page, 1)
    bob.page.reload()  # the badge and the list are right from startup too
    expect_direct_badge(bob.page, 1)
    expect(bob.page.get_by_test_id("conversation").first.get_by_test_id("unread-dot")).to_be_visible()
    open_thread_from_inbox(bob.page, a)
    wait_for_message(bob.page, "hello")
    expect_direct_badge(bob.page, 0)  # read on opening
    expect(bob.page.get_by_test_id("activity")).to_contain_text("Active now")

    # Bob types: alice sees the indicator; his message replaces it.
    start_typing(bob.page, "hi al")
    wait_for_typing(alice.page)
    expect(alice.page.get_by_test_id("typing")).to_contain_text(b)
    bob.page.get_by_label("Message", exact=True).fill("")  # cleared: stopped typing
    wait_for_no_typing(alice.page)
    start_typing(bob.page, "hi")
    wait_for_typing(alice.page)
    bob.page.get_by_label("Message", exact=True).fill("")
    send_message(bob.page, "hi alice")
    wait_for_message(alice.page, "hi alice")
    wait_for_no_typing(alice.page)
    # Alice's open thread reads it: bob sees "Seen" under his message.
    wait_for_seen(bob.page)
    # ... and alice sees bob read hers (his reply moved his read position).
    send_message(alice.page, "how are you?")
    wait_for_message(bob.page, "how are you?")
    wait_for_seen(alice.page)

    # A photo message renders for both.
    send_photo(alice.page, make_photo(tmp_path / "dm-photo.jpg", size=(480, 360)))
    wait_for_photo(alice.page)
    wait_for_photo(bob.page)

    # Reconnect: alice is offline while bob sends three messages.
    page = alice.page
    alice.allow_console(r"ERR_FAILED|Failed to fetch")
    page.route("**/api/info", lambda route: route.abort())
    page.evaluate("window.__glint.conn.ws.close()")
    banner = page.get_by_test_id("offline-banner")
    expect(banner).to_be_visible()
    for n in (1, 2, 3):
        send_message(bob.page, f"while away {n}")
    # Alice writes while offline: a pending bubble, sent once she is back.
    expect(submit_message(page, "written offline")).to_contain_text("written offline")
    back_online(page)
    wait_for_message(page, "while away 3")
    wait_for_message(page, "written offline")
    expect(page.get_by_test_id("pending-message")).to_have_count(0)
    wait_for_message(bob.page, "written offline")
    expect(message(bob.page, "written offline")).to_have_count(1)
    expect(message(page, "written offline")).to_have_count(1)
    wait_for_seen(page)  # bob's open thread read it
    texts = message_texts(page)
    away = [t for t in texts if t.startswith("while away")]
    assert away == ["while away 1", "while away 2", "while away 3"], texts
    assert texts.count("hello") == 1 and texts.count("hi alice") == 1, texts

    screenshot(bob.page, "conversation-phone")
    screenshot(alice.page, "conversation-desktop")


def test_request_from_a_stranger_and_accept(person: Callable[..., Person]) -> None:
    alice, stranger = person(PHONE), person(DESKTOP)
    a, s = unique("alice"), unique("stranger")
    sign_up(alice.page, a)
    sign_up(stranger.page, s)
    open_inbox(alice.page)

    # Alice does not follow the stranger: the message lands in her requests.
    open_conversation(stranger.page, a)
    send_message(stranger.page, "hey, love your photos")
    requests = alice.page.get_by_role("tab", name="Requests")
    expect(requests).to_contain_text("(1)")
    expect(alice.page.get_by_test_id("conversation")).to_have_count(0)  # not in Primary
    requests.click()
    row = conversation_row(alice.page, s)
    expect(row).to_contain_text("hey, love your photos")
    screenshot(alice.page, "direct-requests-phone")
    row.get_by_role("button", name=f"Accept message request from {s}").click()
    expect(requests).not_to_contain_text("(1)")
    alice.page.get_by_role("tab", name="Primary").click()
    expect(conversation_row(alice.page, s)).to_be_visible()
    open_thread_from_inbox(alice.page, s)
    wait_for_message(alice.page, "hey, love your photos")

    # Presence: live in the header; the stranger closing their tab goes offline.
    activity = alice.page.get_by_test_id("activity")
    expect(activity).to_have_text("Active now")
    expect(activity.get_by_test_id("presence-dot")).to_be_visible()
    stranger.page.close()
    expect(activity).to_have_text("Active just now")
    expect(activity.get_by_test_id("presence-dot")).to_have_count(0)


def test_blocked_send_is_explained(person: Callable[..., Person]) -> None:
    alice, bob = person(DESKTOP), person(DESKTOP)
    a, b = unique("alice"), unique("bob")
    sign_up(alice.page, a)
    sign_up(bob.page, b)
    follow(alice.page, b)
    open_conversation(bob.page, a)
    send_message(bob.page, "first")
    block(alice.page, b)
    # The blocked side is told what a vanished account would tell them, nothing more.
    failed = submit_message(bob.page, "are you there?")
    expect(failed.get_by_role("alert")).to_contain_text("isn\u2019t available any more")
    expect(message(bob.page, "are you there?")).to_have_count(0)
    # The blocker, who knows, is told how to message them again.
    open_inbox(alice.page)
    open_thread_from_inbox(alice.page, b)
    wait_for_message(alice.page, "first")
    refused = submit_message(alice.page, "sorry, wrong button")
    expect(refused.get_by_role("alert")).to_contain_text(
        "You blocked this account. To message it, unblock it under Settings and activity"
        " \u2192 Blocked accounts.")
    expect(message(alice.page, "sorry, wrong button")).to_have_count(0)


def test_group_rename_reactions_edit_unsend_and_leave(person: Callable[..., Person]) -> None:
    alice, bob, carol = person(DESKTOP), person(PHONE), person(DESKTOP)
    a, b, c = unique("alice"), unique("bob"), unique("carol")
    for who, name in ((alice, a), (bob, b), (carol, c)):
        sign_up(who.page, name)
    follow(bob.page, a)
    follow(carol.page, a)
    open_inbox(bob.page)
    start_new_group(alice.page, [b, c], "road trip")
    wait_for_system_message(alice.page, "created the group “road trip”")

    # The group shows up in bob's inbox at once (its "created" message) and live.
    expect(conversation_row(bob.page, "road trip")).to_be_visible()
    open_thread_from_inbox(bob.page, "road trip")
    wait_for_system_message(bob.page, "created the group")
    send_message(alice.page, "who drives?")
    wait_for_message(bob.page, "who drives?")
    expect(message(bob.page, "who drives?")).to_contain_text(a)  # sender named in groups
    wait_for_seen(alice.page, "Seen by 1")  # bob's open thread read it; carol has not

    # Reactions: bob double-clicks, alice sees the heart under her bubble.
    react_by_double_click(bob.page, "who drives?")
    expect(message(alice.page, "who drives?").get_by_test_id("reactions")).to_contain_text("❤️")
    # Edit and unsend reach bob live.
    edit_message(alice.page, "who drives?", "who drives? me!")
    wait_for_message(bob.page, "who drives? me!")
    expect(message(bob.page, "who drives? me!")).to_contain_text("Edited")
    unsend_message(alice.page, "who drives? me!")
    expect(message(bob.page, "who drives? me!")).to_have_count(0)
    expect(bob.page.get_by_test_id("message").filter(has_text="Message unsent")).to_have_count(1)

    # Renaming and leaving are centred system lines for everyone.
    rename_group(alice.page, "summer trip")
    wait_for_system_message(bob.page, "named the group “summer trip”")
    expect(bob.page.get_by_role("heading", level=1)).to_contain_text("summer trip")
    open_inbox(carol.page)
    open_thread_from_inbox(carol.page, "summer trip")
    leave_group(carol.page)
    expect(conversation_row(carol.page, "summer trip")).to_have_count(0)
    wait_for_system_message(bob.page, "left the group")
    screenshot(bob.page, "conversation-group-phone")

    # The admin removes bob: his open thread says so, and the group leaves his inbox.
    open_details(alice.page).get_by_role("button", name=f"Remove {b}").click()
    expect(bob.page.get_by_role("heading", name="Conversation not found")).to_be_visible()
    toast = bob.page.get_by_role("status").filter(has_text="removed from this group")
    expect(toast).to_be_visible()
    open_inbox(bob.page)
    expect(conversation_row(bob.page, "summer trip")).to_have_count(0)
    wait_for_system_message(alice.page, f"removed {b}")


def test_history_scrolls_up_and_shared_post(person: Callable[..., Person], tmp_path: Path) -> None:
    alice, bob = person(DESKTOP), person(PHONE)
    a, b = unique("alice"), unique("bob")
    sign_up(alice.page, a)
    sign_up(bob.page, b)
    follow(bob.page, a)
    texts = [f"line {n:02d}" for n in range(1, 46)]
    send_many_via_protocol(alice.page, b, texts)
    send_via_protocol(alice.page, b, "details at https://example.com/trip?day=2.")
    photo = make_photo(tmp_path / "dm-photo.jpg", size=(480, 360))
    post_id = share_new_post_via_protocol(alice.page, b, photo, "sunset #beach")

    open_inbox(bob.page)
    expect(conversation_row(bob.page, a)).to_contain_text("Shared a post")
    open_thread_from_inbox(bob.page, a)
    card = bob.page.get_by_role("link", name=f"Post by {a}: sunset #beach")
    expect(card).to_be_visible()
    assert card.get_attribute("href") == f"/p/{post_id}"
    expect(message(bob.page, "line 45")).to_be_visible()
    link = message(bob.page, "details at").get_by_role("link", name="https://example.com/trip?day=2")
    expect(link).to_have_attribute("href", "https://example.com/trip?day=2")  # not the "."
    expect(link).to_have_attribute("target", "_blank")
    expect(message(bob.page, "line 01")).to_have_count(0)  # older pages not loaded yet

    # Scrolling up (the wheel, as a person does) loads the earlier pages, each message
    # once, in order.
    bob.page.locator(".dm-scroller").hover()
    for _ in range(5):
        if message(bob.page, "line 01").count():
            break
        loaded = bob.page.get_by_test_id("message").count()
        bob.page.mouse.wheel(0, -20_000)
        bob.page.wait_for_function(
            "(n) => document.querySelectorAll('[data-testid=message]').length > n", arg=loaded)
    expect(message(bob.page, "line 01")).to_have_count(1)
    shown = [t for t in message_texts(bob.page) if t.startswith("line ")]
    assert shown == texts


def test_share_a_post_from_the_post_view(person: Callable[..., Person], tmp_path: Path) -> None:
    alice, bob = person(DESKTOP), person(PHONE)
    a, b = unique("alice"), unique("bob")
    sign_up(alice.page, a)
    sign_up(bob.page, b)
    follow(bob.page, a)
    follow(alice.page, b)
    open_inbox(bob.page)
    post_id = create_post_via_protocol(alice.page, "look at this #view",
                                       make_photo(tmp_path / "dm-photo.jpg", size=(480, 360)))
    alice.page.goto(f"/p/{post_id}")
    share_post(alice.page, [b], "for you")

    row = conversation_row(bob.page, a)
    expect(row).to_contain_text("for you")
    expect_direct_badge(bob.page, 1)
    bob.page.reload()  # the badge and the list are right from startup too
    expect_direct_badge(bob.page, 1)
    expect(bob.page.get_by_test_id("conversation").first.get_by_test_id("unread-dot")).to_be_visible()
    open_thread_from_inbox(bob.page, a)
    card = bob.page.get_by_role("link", name=f"Post by {a}: look at this #view")
    expect(card).to_have_attribute("href", f"/p/{post_id}")
    wait_for_message(bob.page, "for you")
    card.click()
    expect(bob.page).to_have_url(re.compile(rf"/p/{post_id}$"))


def test_a_refused_reaction_says_why(person: Callable[..., Person]) -> None:
    """Reacting after the other person blocked you: the message is no longer there for
    you, and the toast says so in words (dm.react had no wording of its own)."""
    alice, bob, a, b = friends(person)
    send_via_protocol(bob.page, a, "react to me")
    open_conversation(alice.page, b)
    wait_for_message(alice.page, "react to me")
    block(bob.page, a)
    react_by_double_click(alice.page, "react to me")
    toast = alice.page.get_by_role("alert").filter(
        has_text="That message isn\u2019t available any more.")
    expect(toast.last).to_be_visible()
