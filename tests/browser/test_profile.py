"""Profiles in the browser: search (prefix, case and accents) → profile → follow, with
the follower count on the server; a private account's request approved live; edit
profile (bio, avatar upload) persisting; phone and desktop screenshots."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import call, create_post_via_protocol, sign_up
from tests.browser.steps_people import (
    approve_request,
    edit_profile,
    follow_on_profile,
    follower_count,
    grid_links,
    open_profile,
    search_and_open_profile,
    set_private,
    unfollow,
    upload_avatar,
)
from tests.conftest import unique


def test_search_by_accentless_prefix_then_follow_and_unfollow(
        person: Callable[..., Person]) -> None:
    alice, zoe = person(DESKTOP), person(PHONE)
    a_name, z_name = unique("ann"), unique("zed")
    sign_up(alice.page, a_name)
    sign_up(zoe.page, z_name)
    call(zoe.page, "user.update", display_name=f"Zoë {z_name[-4:].upper()}")
    create_post_via_protocol(zoe.page, "first light #morning")

    page = alice.page
    # "zoe" (no accent, lower case) finds the display name "Zoë …".
    search_and_open_profile(page, "zoe " + z_name[-4:], z_name)
    expect(page.get_by_text(re.compile("^Zoë "))).to_be_visible()
    expect(grid_links(page, f"Posts by {z_name}")).to_have_count(1)
    assert follower_count(page) == 0
    assert follow_on_profile(page, z_name) == "Following"
    expect(page.get_by_test_id("followers-count")).to_have_text("1")
    # The count is the server's: still 1 after a reload.
    page.reload()
    expect(page.get_by_role("button", name="Following", exact=True)).to_be_visible()
    assert follower_count(page) == 1
    # The followers list (follow.list) in a dialog; Escape closes it.
    page.get_by_role("button", name="1 follower").click()
    followers = page.get_by_role("dialog", name="Followers")
    expect(followers.get_by_role("link", name=a_name)).to_be_visible()
    page.keyboard.press("Escape")
    expect(followers).to_have_count(0)
    # Message opens the 1:1 conversation.
    page.get_by_role("button", name="Message").click()
    expect(page).to_have_url(re.compile(r"/direct/\d+$"))
    page.go_back()
    expect(page.get_by_role("button", name="Following", exact=True)).to_be_visible()
    # In search results the followed account is marked.
    page.go_back()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    page.get_by_label("Search people and hashtags").fill(z_name.upper())
    expect(page.get_by_role("list", name="People").get_by_role("link").first).to_contain_text(
        "Following")
    open_profile(page, z_name)
    unfollow(page, z_name)
    page.reload()
    expect(page.get_by_role("button", name="Follow", exact=True)).to_be_visible()
    assert follower_count(page) == 0

    # Mute, then block from the menu: alice stays on the page, which says she blocked
    # zoe (and offers Unblock) instead of showing her profile; so does opening it again.
    page.get_by_role("button", name="More options").click()
    page.get_by_role("dialog", name=z_name).get_by_role("button", name="Mute").click()
    expect(page.get_by_role("status").filter(has_text=f"Muted {z_name}")).to_be_visible()
    page.get_by_role("button", name="More options").click()
    page.get_by_role("dialog", name=z_name).get_by_role("button", name="Block").click()
    page.get_by_role("dialog", name=f"Block {z_name}?").get_by_role("button", name="Block").click()
    blocked = page.get_by_test_id("blocked-profile")
    expect(blocked).to_contain_text(f"You blocked {z_name}.")
    expect(page).to_have_title(f"@{z_name} · Glint")
    page.evaluate("(p) => window.__glint.navigate(p)", "/")
    page.evaluate("(p) => window.__glint.navigate(p)", f"/u/{z_name}")
    expect(blocked.get_by_role("button", name="Unblock")).to_be_visible()
    expect(page.get_by_role("button", name="Follow", exact=True)).to_have_count(0)


def test_private_account_request_is_approved_live(person: Callable[..., Person]) -> None:
    asker, owner = person(PHONE), person(DESKTOP)
    a_name, o_name = unique("ask"), unique("own")
    sign_up(asker.page, a_name)
    sign_up(owner.page, o_name)
    create_post_via_protocol(owner.page, "only for friends")
    set_private(owner.page, True)
    open_profile(owner.page, o_name)  # the owner waits on their own profile

    page = asker.page
    open_profile(page, o_name)
    expect(page.get_by_role("heading", name="This account is private")).to_be_visible()
    expect(page.get_by_role("list", name=f"Posts by {o_name}")).to_have_count(0)
    assert follow_on_profile(page, o_name) == "Requested"
    screenshot(page, "profile-private-phone")

    # The request shows up live on the owner's profile (follow.request event).
    approve_request(owner.page, a_name)
    # The asker's page opens the grid live (follow_accepted notification).
    expect(page.get_by_role("button", name="Following", exact=True)).to_be_visible()
    expect(grid_links(page, f"Posts by {o_name}")).to_have_count(1)
    expect(page.get_by_test_id("followers-count")).to_have_text("1")


def test_edit_profile_and_avatar_persist(person: Callable[..., Person],
                                         tmp_path: Path) -> None:
    who = person(PHONE)
    page = who.page
    name = unique("edit")
    sign_up(page, name)
    posts = [create_post_via_protocol(page, f"photo {i} #edits", seed=40 * i) for i in range(4)]
    call(page, "post.save", post=posts[1])
    image = tmp_path / "avatar.png"
    Image.radial_gradient("L").convert("RGB").resize((400, 400)).save(image)

    edit_profile(page, bio="Light chaser.\nLisbon", display_name="Edit Person")
    upload_avatar(page, str(image))
    page.reload()
    expect(page.get_by_label("Bio")).to_have_value("Light chaser.\nLisbon")

    open_profile(page, name)
    expect(page.get_by_test_id("profile-bio")).to_have_text("Light chaser.\nLisbon")
    expect(page.locator(".profile-header img.avatar")).to_be_visible()
    expect(grid_links(page, f"Posts by {name}")).to_have_count(4)
    expect(page.get_by_test_id("posts-count")).to_have_text("4")
    page.reload()
    expect(page.get_by_text("Edit Person")).to_be_visible()
    expect(page.locator(".profile-header img.avatar")).to_be_visible()
    page.wait_for_function(
        "[...document.querySelectorAll('.grid img')].every((i) => i.complete && i.naturalWidth)")
    screenshot(page, "profile-phone")
    page.set_viewport_size(DESKTOP)
    screenshot(page, "profile-desktop")
    # Your own saved posts are a tab of your profile.
    page.get_by_role("tab", name="Saved").click()
    saved = grid_links(page, "Saved posts")
    expect(saved).to_have_count(1)
    expect(saved.first).to_have_attribute("href", f"/p/{posts[1]}")
    # A bad website is explained, and nothing changes.
    page.get_by_role("link", name="Edit profile").click()
    # A file that is not a photo is refused in words (the browser logs the refusal).
    who.allow_console(r"status of 4\d\d .*/api/media")
    text = tmp_path / "notes.txt"
    text.write_text("not a photo at all")
    page.get_by_test_id("avatar-input").set_input_files(str(text))
    expect(page.get_by_role("alert")).to_contain_text("file type isn")
    page.get_by_label("Website").fill("not a website")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").filter(has_text="web address")).to_be_visible()


def test_unknown_profile_is_explained(person: Callable[..., Person]) -> None:
    page = person(DESKTOP).page
    sign_up(page, unique("nf"))
    open_path = f"/u/{unique('nobody')}"
    page.evaluate("(p) => window.__glint.navigate(p)", open_path)
    gone = page.get_by_role("heading", name=re.compile(r"^Sorry, this page isn.t available"))
    expect(gone).to_be_visible()


def test_own_follower_count_is_live_and_exact(person: Callable[..., Person]) -> None:
    """New followers show at once on your own profile, read from the server: an unfollow
    (which sends no event) is not counted over by the next follow."""
    zoe, ann, bob, cat = (person(PHONE), person(DESKTOP), person(DESKTOP), person(DESKTOP))
    z_name = unique("zed")
    sign_up(zoe.page, z_name)
    for p, prefix in ((ann, "ann"), (bob, "bob"), (cat, "cat")):
        sign_up(p.page, unique(prefix))
    open_profile(zoe.page, z_name)
    count = zoe.page.get_by_test_id("followers-count")
    expect(count).to_have_text("0")
    call(ann.page, "follow.add", username=z_name)
    expect(count).to_have_text("1")
    call(bob.page, "follow.add", username=z_name)
    expect(count).to_have_text("2")
    call(ann.page, "follow.remove", username=z_name)  # no event: the count waits
    call(cat.page, "follow.add", username=z_name)
    expect(count).to_have_text("2")
    zoe.page.reload()
    expect(count).to_have_text("2")
