"""The composer (/new) in a real browser against a real node: several photos, crop
to a square in the browser, a filter per photo applied by the server, alt text,
#hashtag and @mention suggestions by keyboard, drag and drop, and errors in words."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import call, make_photo, sign_up_via_http
from tests.browser.steps_feed import (
    choose_filter,
    create_post,
    expect_no_sideways_scroll,
    open_composer,
    seed_posts,
)
from tests.conftest import unique


def test_two_square_photos_with_filters_alt_text_and_suggested_caption(
        person: Callable[..., Person], tmp_path: Path) -> None:
    friend, me = person(DESKTOP), person(DESKTOP)
    friend_name = unique("cf")
    sign_up_via_http(friend.page, friend_name)
    tag = unique("dusk")
    seed_posts(friend.page, make_photo(tmp_path / "f.jpg", seed=3), 1, caption=f"#{tag}")
    sign_up_via_http(me.page, unique("cm"))
    page = me.page
    photos = [make_photo(tmp_path / "wide.jpg", size=(1600, 900), seed=4),
              make_photo(tmp_path / "tall.jpg", size=(900, 1400), seed=5)]

    open_composer(page)
    page.get_by_label("Choose photos").set_input_files([str(p) for p in photos])
    expect(page.get_by_role("button", name=re.compile(r"^Edit photo"))).to_have_count(2)
    page.get_by_role("radio", name="Square 1:1").check()
    preview = page.locator(".compose-preview")
    expect(preview).to_have_attribute("data-crop", "square")
    box = preview.bounding_box()
    assert box and abs(box["width"] - box["height"]) < 2, box
    choose_filter(page, "moon")
    page.get_by_label("Alt text for photo 1").fill("A wide field at dusk")
    page.get_by_role("button", name="Edit photo 2").click()
    choose_filter(page, "juno")
    expect(page.get_by_role("group", name="Filter for photo 2")).to_be_visible()

    # #hashtag and @mention suggestions, picked with the keyboard.
    caption = page.get_by_label("Caption")
    caption.press_sequentially(f"Dusk #{tag[:6]}", delay=10)
    listbox = page.get_by_role("listbox", name="Hashtags")
    option = listbox.get_by_role("option").filter(has_text=tag)
    expect(option).to_be_visible()
    expect(caption).to_have_attribute("aria-expanded", "true")
    active = caption.get_attribute("aria-activedescendant")
    assert active and page.locator(f"#{active}").get_attribute("aria-selected") == "true"
    caption.press("Enter")
    expect(caption).to_have_value(f"Dusk #{tag} ")
    caption.press_sequentially(f"with @{friend_name[:5]}", delay=10)
    people = page.get_by_role("listbox", name="People")
    expect(people.get_by_role("option").filter(has_text=friend_name)).to_be_visible()
    caption.press("ArrowDown")
    caption.press("ArrowUp")
    caption.press("Tab")
    expect(caption).to_have_value(f"Dusk #{tag} with @{friend_name} ")
    expect(caption).to_have_attribute("aria-expanded", "false")
    page.get_by_label("Location").fill("Alentejo")
    screenshot(page, "compose-desktop")

    page.get_by_role("button", name="Share", exact=True).click()
    expect(page).to_have_url(re.compile(r"/p/\d+$"), timeout=60_000)
    post = call(page, "post.get", post=page.url.rsplit("/", 1)[1])
    assert [m["filter"] for m in post["media"]] == ["moon", "juno"]
    assert all(m["width"] == m["height"] for m in post["media"]), post["media"]
    assert [m["alt"] for m in post["media"]] == ["A wide field at dusk", ""]
    assert post["tags"] == [tag]
    assert [m["username"] for m in post["mentions"]] == [friend_name]
    assert post["location"] == "Alentejo"
    expect(page.get_by_role("img", name="A wide field at dusk")).to_be_visible()


def test_drop_portrait_crop_and_errors_in_words(person: Callable[..., Person],
                                                tmp_path: Path) -> None:
    who = person(PHONE)
    who.allow_console(r"status of 415")  # the browser's own line for the refused upload
    page = who.page
    sign_up_via_http(page, unique("cd"))
    open_composer(page)
    screenshot(page, "compose-empty-phone")

    # Drag and drop a photo onto the composer.
    data = base64.b64encode(make_photo(tmp_path / "d.jpg", size=(1000, 1000), seed=6)
                            .read_bytes()).decode()
    transfer = page.evaluate_handle("""(b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'dropped.jpg', {type: 'image/jpeg'}));
      return dt;
    }""", data)
    zone = page.get_by_test_id("drop-zone")
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    expect(page.get_by_role("button", name="Edit photo 1")).to_be_visible()

    # A file that is not a picture although it says so: the server's refusal in words.
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"this is not a picture at all" * 10)
    page.get_by_label("Choose photos").set_input_files([str(fake)])
    expect(page.get_by_role("button", name="Edit photo 2")).to_be_visible()
    page.get_by_role("button", name="Share", exact=True).click()
    expect(page.get_by_test_id("compose-error")).to_have_text(
        "That file type isn\u2019t supported. Please choose a JPEG, PNG, WebP, GIF or HEIC photo.")
    expect(page.get_by_role("button", name="Share", exact=True)).to_be_enabled()

    # More than ten photos: the rest are left out, and that is said.
    many = [make_photo(tmp_path / f"m{i}.jpg", size=(200, 200), seed=20 + i) for i in range(10)]
    page.get_by_label("Choose photos").set_input_files([str(p) for p in many])
    expect(page.get_by_role("status").filter(has_text="up to 10 photos")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"^Edit photo"))).to_have_count(10)
    for n in range(10, 2, -1):  # keep the dropped photo only
        page.get_by_role("button", name=f"Remove photo {n}").click()
    page.get_by_role("button", name="Remove photo 2").click()
    expect(page.get_by_role("button", name=re.compile(r"^Edit photo"))).to_have_count(1)
    expect_no_sideways_scroll(page)
    screenshot(page, "compose-phone")

    # Portrait crop: the server gets a 4:5 picture.
    page.get_by_role("radio", name="Portrait 4:5").check()
    page.get_by_role("button", name="Share", exact=True).click()
    expect(page).to_have_url(re.compile(r"/p/\d+$"), timeout=60_000)
    post = call(page, "post.get", post=page.url.rsplit("/", 1)[1])
    m = post["media"][0]
    assert abs(m["width"] / m["height"] - 0.8) < 0.01, m


def test_create_post_step_for_the_acceptance_test(person: Callable[..., Person],
                                                  tmp_path: Path) -> None:
    who = person(PHONE)
    sign_up_via_http(who.page, unique("cs"))
    post_id = create_post(who.page, make_photo(tmp_path / "s.jpg", seed=7), filter="lark",
                          caption="Morning #light", alt="Morning light")
    assert call(who.page, "post.get", post=post_id)["media"][0]["filter"] == "lark"
