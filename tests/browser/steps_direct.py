"""Reusable Playwright steps for direct messages (the inbox at /direct and a thread at
/direct/:id), for test_direct.py and the issue's acceptance test.

Every step waits on DOM state (Playwright `expect`), never on time. Set-up that is not
what a test is about (following, blocking, sending) goes through the real protocol from
the page, with steps_common's `call`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Person
from tests.browser.steps_common import call, create_post_via_protocol, follow, sign_up_via_http
from tests.conftest import unique

THREAD_URL = re.compile(r"/direct/\d+$")


# -- set-up through the protocol ------------------------------------------------

def block(page: Page, username: str) -> None:
    """The page's user blocks `username` (block.add through the protocol)."""
    call(page, "block.add", username=username)


def open_dm_via_protocol(page: Page, username: str) -> str:
    """Open (or find) the 1:1 conversation with `username` through the protocol; its id."""
    user = call(page, "user.get", username=username)
    return str(call(page, "dm.open", user=user["id"])["id"])


# -- the inbox --------------------------------------------------------------------

def open_inbox(page: Page) -> None:
    """Go to the inbox through the nav's Direct link."""
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name=re.compile(r"^Direct")).click()
    expect(page).to_have_url(re.compile(r"/direct$"))
    expect(page.get_by_role("heading", name="Messages")).to_be_visible()


def conversation_row(page: Page, title: str) -> Locator:
    """The inbox row (a list item) of the conversation whose title contains `title` (a
    group's name, a display name) or with a member of that username."""
    rows = page.get_by_test_id("conversation")
    return rows.filter(has=page.locator(".dm-row-title", has_text=title)).or_(
        page.locator(f'[data-testid=conversation][data-members~="{title}"]'))


def open_conversation(page: Page, username: str) -> None:
    """From anywhere: open the 1:1 conversation with `username` through "New message"
    (search people, pick them, Chat), and wait for the thread."""
    if not re.search(r"/direct$", page.url):
        open_inbox(page)
    page.get_by_role("button", name="New message").click()
    dialog = page.get_by_role("dialog", name="New message")
    dialog.get_by_label("To").fill(username)
    dialog.get_by_role("button", name=re.compile(re.escape(username))).click()
    dialog.get_by_role("button", name="Chat").click()
    expect(page).to_have_url(THREAD_URL)
    expect(page.get_by_role("heading", level=1).get_by_role("link")).to_have_attribute(
        "href", f"/u/{username}")
    expect(page.get_by_label("Message", exact=True)).to_be_visible()


def open_thread_from_inbox(page: Page, title: str) -> None:
    """In the inbox, click the conversation whose title contains `title`."""
    conversation_row(page, title).get_by_role("link").click()
    expect(page).to_have_url(THREAD_URL)
    expect(page.get_by_label("Message", exact=True)).to_be_visible()


def start_new_group(page: Page, usernames: list[str], name: str) -> None:
    """Create a group with these people and a name through "New message"."""
    if not re.search(r"/direct$", page.url):
        open_inbox(page)
    page.get_by_role("button", name="New message").click()
    dialog = page.get_by_role("dialog", name="New message")
    for username in usernames:
        dialog.get_by_label("To").fill(username)
        dialog.get_by_role("button", name=re.compile(re.escape(username))).first.click()
    dialog.get_by_label("Group name (optional)").fill(name)
    dialog.get_by_role("button", name="Create group").click()
    expect(page).to_have_url(THREAD_URL)
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)


def friends(person: Callable[..., Person]) -> tuple[Person, Person, str, str]:
    """Alice (phone) and Bob (desktop), signed up and following each other (so each
    one's messages reach the other's inbox, and reads are receipts); and their names."""
    alice, bob = person(PHONE), person(DESKTOP)
    a, b = unique("alice"), unique("bob")
    sign_up_via_http(alice.page, a)
    sign_up_via_http(bob.page, b)
    follow(alice.page, b)
    follow(bob.page, a)
    return alice, bob, a, b


def picnic_group(person: Callable[..., Person]) -> tuple[Person, Person, Person, str]:
    """Alice, Bob and Carol (desktop), signed up, Bob and Carol following Alice (so the
    group is in their inboxes), and the group "picnic" Alice started with them and wrote
    "bring plates" in, its thread open on Alice's page. Returns them and the group id."""
    alice, bob, carol = person(DESKTOP), person(DESKTOP), person(DESKTOP)
    a, b, c = unique("alice"), unique("bob"), unique("carol")
    for who, name in ((alice, a), (bob, b), (carol, c)):
        sign_up_via_http(who.page, name)
    follow(bob.page, a)
    follow(carol.page, a)
    start_new_group(alice.page, [b, c], "picnic")
    send_message(alice.page, "bring plates")
    return alice, bob, carol, alice.page.url.rsplit("/", 1)[1]


def expect_direct_badge(page: Page, count: int) -> None:
    """The nav's Direct badge shows `count` unread conversations (hidden for 0)."""
    badge = page.get_by_role("navigation", name="Main").get_by_test_id("badge-direct")
    if count == 0:
        expect(badge).to_have_count(0)
    else:
        expect(badge).to_have_text(str(count))


# -- a thread -----------------------------------------------------------------------

def messages(page: Page) -> Locator:
    """Every confirmed message bubble in the open thread, oldest first."""
    return page.get_by_test_id("message")


def message(page: Page, text: str) -> Locator:
    """The confirmed bubble(s) whose text contains `text`."""
    return messages(page).filter(has=page.locator(".dm-bubble", has_text=text))


def submit_message(page: Page, text: str) -> Locator:
    """Type `text` in the open thread and press Enter, without waiting for the server;
    returns the pending bubble (a send that fails stays there, with its alert)."""
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")
    return page.get_by_test_id("pending-message")


def send_message(page: Page, text: str) -> None:
    """Type `text` in the open thread, press Enter, and wait until the server confirmed it
    (the pending bubble became a message)."""
    submit_message(page, text)
    expect(page.get_by_label("Message", exact=True)).to_have_value("")
    wait_for_message(page, text)
    expect(page.get_by_test_id("pending-message")).to_have_count(0)


def wait_for_message(page: Page, text: str) -> Locator:
    """Wait until a bubble with `text` shows in the open thread; returns it."""
    found = message(page, text).last
    expect(found).to_be_visible()
    return found


def start_typing(page: Page, text: str = "typing") -> None:
    """Type (without sending) in the open thread, key by key, so dm.typing goes out."""
    box = page.get_by_label("Message", exact=True)
    box.click()
    box.press_sequentially(text)


def wait_for_typing(page: Page) -> Locator:
    """Wait for the "… is typing" indicator in the open thread."""
    indicator = page.get_by_test_id("typing")
    expect(indicator).to_be_visible()
    expect(indicator).to_contain_text("typing")
    return indicator


def wait_for_no_typing(page: Page) -> None:
    expect(page.get_by_test_id("typing")).to_have_count(0)


def wait_for_seen(page: Page, text: str = "Seen") -> None:
    """Wait for the read receipt under my last message ("Seen", "Seen by 2", …)."""
    expect(page.get_by_test_id("seen")).to_contain_text(text)


def reload_thread(page: Page) -> None:
    """Reload the open thread's page (a fresh tab state: nothing kept from live events)
    and wait until its history is shown again."""
    url = page.url
    page.reload()
    expect(page).to_have_url(url)
    expect(page.get_by_label("Message", exact=True)).to_be_visible()
    expect(messages(page).first).to_be_visible()


def send_photo(page: Page, path: Path) -> None:
    """Send a photo in the open thread and wait until the server confirmed it."""
    before = page.get_by_test_id("dm-photo").count()
    page.get_by_test_id("photo-input").set_input_files(str(path))
    expect(page.get_by_test_id("dm-photo")).to_have_count(before + 1)
    expect(page.get_by_test_id("pending-message")).to_have_count(0)


def wait_for_photo(page: Page, count: int = 1) -> Locator:
    """Wait until `count` photo messages show, the last one's image loaded; returns it."""
    photos = page.get_by_test_id("dm-photo")
    expect(photos).to_have_count(count)
    img = photos.last.locator("img")
    expect(img).to_be_visible()
    page.wait_for_function("(el) => el.complete && el.naturalWidth > 0", arg=img.element_handle())
    return photos.last


def send_via_protocol(page: Page, username: str, text: str) -> None:
    """Open the 1:1 conversation with `username` and send `text`, through the protocol
    (set-up for a test about something else)."""
    send_many_via_protocol(page, username, [text])


def message_texts(page: Page) -> list[str]:
    """The texts of the open thread's confirmed text bubbles, in display order."""
    return page.get_by_test_id("message").locator(".dm-bubble").all_inner_texts()


def send_many_via_protocol(page: Page, username: str, texts: list[str]) -> None:
    """Send several messages to `username` in order, through the protocol."""
    conversation = open_dm_via_protocol(page, username)
    for text in texts:
        call(page, "dm.send", conversation=conversation, text=text)


def share_post(page: Page, usernames: list[str], text: str = "") -> None:
    """On a screen showing a post's "Share post" button (post view, feed card), share it
    with these people (and an optional message), and wait for the confirmation."""
    page.get_by_role("button", name="Share post").first.click()
    dialog = page.get_by_role("dialog", name="Share")
    for username in usernames:
        dialog.get_by_label("Send to").fill(username)
        dialog.get_by_role("button", name=re.compile(re.escape(username))).first.click()
    if text:
        dialog.get_by_label("Message (optional)").fill(text)
    dialog.get_by_role("button", name=re.compile(r"^Send")).click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("status").filter(has_text="Sent")).to_be_visible()


def share_new_post_via_protocol(page: Page, username: str, photo: Path, caption: str) -> str:
    """Post `photo` with `caption` and share it with `username` in a DM, through the
    protocol; returns the post id (a decimal string)."""
    post = create_post_via_protocol(page, caption, photo)
    call(page, "dm.send", conversation=open_dm_via_protocol(page, username), post=post)
    return post


def react_by_double_click(page: Page, text: str) -> None:
    """Double-click the bubble with `text` (a ❤️ reaction, or removing mine)."""
    message(page, text).last.locator(".dm-bubble").dblclick()


def message_menu(page: Page, text: str) -> Locator:
    """Open the options menu of the bubble with `text`; returns the menu."""
    message(page, text).last.get_by_role("button", name="Message options").click()
    menu = page.get_by_role("menu", name="Message options")
    expect(menu).to_be_visible()
    return menu


def edit_message(page: Page, text: str, new_text: str) -> None:
    """Edit my message `text` to `new_text` (options menu → Edit, Enter saves)."""
    message_menu(page, text).get_by_role("menuitem", name="Edit").click()
    box = page.get_by_label("Message", exact=True)
    expect(box).to_have_value(text)
    box.fill(new_text)
    box.press("Enter")
    wait_for_message(page, new_text)


def unsend_message(page: Page, text: str) -> None:
    """Unsend my message `text` (options menu → Unsend)."""
    message_menu(page, text).get_by_role("menuitem", name="Unsend").click()
    expect(message(page, text)).to_have_count(0)


def open_details(page: Page) -> Locator:
    """Open the thread's details panel; returns it."""
    page.get_by_role("button", name="Conversation details").click()
    panel = page.get_by_role("complementary", name="Details")
    expect(panel).to_be_visible()
    return panel


def rename_group(page: Page, title: str) -> None:
    """Rename the open group through its details panel."""
    panel = open_details(page)
    panel.get_by_label("Group name").fill(title)
    panel.get_by_role("button", name="Save name").click()
    page.get_by_role("button", name="Close details").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)


def leave_group(page: Page) -> None:
    """Leave the open group (details → Leave group → Leave); back in the inbox."""
    panel = open_details(page)
    panel.get_by_role("button", name="Leave group").click()
    panel.get_by_role("button", name="Leave", exact=True).click()
    expect(page).to_have_url(re.compile(r"/direct$"))


def wait_for_system_message(page: Page, text: str) -> Locator:
    """Wait for a centred system line (a group change) containing `text`."""
    line = page.get_by_test_id("system-message").filter(has_text=text)
    expect(line).to_be_visible()
    return line
