"""The post view (/p/:id) in a real browser against a real node: carousel, owner's
edit / comments off / delete with live effects on a second viewer, comment likes and
deletion, replies, and "not found" / "was deleted" states in words."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Person, screenshot
from tests.browser.steps_common import call, follow, make_photo, sign_up_via_http, upload
from tests.browser.steps_feed import (
    add_comment,
    comment,
    delete_post,
    double_tap_like,
    expect_comment,
    expect_like_count,
    expect_no_sideways_scroll,
    open_post,
)
from tests.conftest import unique


def _post(page: Page, images: list[Path], caption: str, alts: list[str]) -> str:
    """A post with these photos and alt texts, made through the protocol."""
    media = [{"id": str(upload(page, img)["id"]), "alt": alt}
             for img, alt in zip(images, alts, strict=True)]
    return call(page, "post.create", media=media, caption=caption, location="Lisbon")["id"]


def test_owner_and_viewer_see_each_others_changes_live(person: Callable[..., Person],
                                                         tmp_path: Path) -> None:
    owner, viewer = person(DESKTOP), person(PHONE)
    name_o, name_v = unique("po"), unique("pv")
    sign_up_via_http(owner.page, name_o)
    sign_up_via_http(viewer.page, name_v)
    follow(viewer.page, name_o)
    photos = [make_photo(tmp_path / f"{i}.jpg", seed=10 + i) for i in range(2)]
    post_id = _post(owner.page, photos, "Two views #pair", ["the first view", "the second view"])
    open_post(owner.page, post_id)
    open_post(viewer.page, post_id)
    page = viewer.page

    expect(page.locator("article.post-view .post-location")).to_have_text("Lisbon")
    expect(page).to_have_title(f"Post by {name_o} · Glint")

    # A carousel: two slides, a "next" button, dots; the keyboard moves it too.
    carousel = page.get_by_role("region", name=f"Photos by {name_o}")
    expect(carousel.get_by_role("group")).to_have_count(2)
    expect(carousel.get_by_role("img", name="the first view")).to_be_visible()
    expect(carousel.get_by_role("button", name="Previous photo")).to_have_count(0)
    carousel.get_by_role("button", name="Next photo").click()
    expect(carousel.get_by_role("button", name="Previous photo")).to_be_visible()
    expect(carousel.get_by_role("button", name="Next photo")).to_have_count(0)
    expect(carousel.locator(".carousel-dot.active")).to_have_count(1)
    carousel.get_by_role("button", name="Previous photo").press("ArrowLeft")
    expect(carousel.get_by_role("button", name="Next photo")).to_be_visible()
    track = carousel.get_by_test_id("post-photos")
    track.focus()
    track.press("ArrowRight")
    expect(carousel.get_by_role("button", name="Previous photo")).to_be_visible()

    # Like with the button; the owner's view counts it live; unlike takes it back.
    page.get_by_role("button", name="Like", exact=True).click()
    expect_like_count(owner.page, 1)
    page.get_by_role("button", name="Unlike").click()
    expect_like_count(owner.page, 0)
    double_tap_like(page)
    expect_like_count(owner.page, 1)

    # Save is private: the button says so, and post.list saved has it.
    page.get_by_role("button", name="Save", exact=True).click()
    unsave = page.get_by_role("button", name="Remove from saved")
    expect(unsave).to_have_attribute("aria-pressed", "true")
    saved = call(page, "post.list", saved=True)
    assert [p["id"] for p in saved["posts"]] == [post_id]

    # Comments: the viewer comments, the owner replies, both see both live; the owner
    # likes the viewer's comment; the viewer deletes their own comment and the thread
    # goes for both.
    add_comment(page, "Lovely pair")
    expect_comment(owner.page, "Lovely pair")
    add_comment(owner.page, "Thanks!", reply_to=name_v)
    expect_comment(page, "Thanks!", reply_under="Lovely pair")
    mine = comment(owner.page, "Lovely pair")
    mine.get_by_role("button", name=f"Like comment by {name_v}").click()
    expect(mine.get_by_text("1 like")).to_be_visible()
    screenshot(owner.page, "post-desktop")
    comment(page, "Lovely pair").get_by_role("button", name=f"Delete comment by {name_v}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(comment(page, "Lovely pair")).to_have_count(0)
    expect(comment(owner.page, "Lovely pair")).to_have_count(0)
    expect(comment(owner.page, "Thanks!")).to_have_count(0)
    expect(owner.page.get_by_test_id("comment-count")).to_have_text("0 comments")

    # @mentions are suggested in the comment box too: Enter picks, the next Enter sends.
    box = page.get_by_label("Add a comment")
    box.press_sequentially(f"@{name_o[:6]}", delay=10)
    expect(page.get_by_role("listbox", name="People").get_by_role("option")
           .filter(has_text=name_o)).to_be_visible()
    box.press("Enter")
    expect(box).to_have_value(f"@{name_o} ")
    box.press_sequentially("see you there")
    box.press("Enter")
    expect_comment(owner.page, "see you there")
    mention = comment(owner.page, "see you there").get_by_role("link", name=f"@{name_o}")
    expect(mention).to_have_attribute("href", f"/u/{name_o}")

    # The viewer's socket drops; what happens meanwhile shows once it is back.
    page.evaluate("window.__glint.conn.ws.close()")
    call(owner.page, "comment.add", post=post_id, text="While you were away")
    expect_comment(page, "While you were away")
    expect(page.locator(".shell")).to_have_attribute("data-conn", "online")
    add_comment(page, "Back again")
    expect_comment(owner.page, "Back again")

    # The owner edits the caption and turns comments off: the viewer sees both live.
    owner.page.get_by_label("Post options").click()
    owner.page.get_by_role("button", name="Edit caption").click()
    owner.page.get_by_label("Caption").fill("Two views, edited #pair")
    owner.page.get_by_role("button", name="Save caption").click()
    expect(page.get_by_test_id("post-caption")).to_contain_text("Two views, edited")
    owner.page.get_by_label("Post options").click()
    owner.page.get_by_role("button", name="Turn off commenting").click()
    expect(page.get_by_test_id("comments-off")).to_have_text(
        "Comments on this post are turned off.")
    expect(page.get_by_label("Add a comment")).to_have_count(0)

    expect_no_sideways_scroll(page)
    screenshot(page, "post-comments-off-phone")

    # The owner deletes the post: the viewer's open post view says so.
    delete_post(owner.page)
    expect(page.get_by_test_id("post-removed")).to_contain_text("This post was deleted")


def test_missing_posts_are_explained(person: Callable[..., Person]) -> None:
    who = person(PHONE)
    sign_up_via_http(who.page, unique("pm"))
    for path in ("/p/123456789", "/p/not-a-post"):
        who.page.evaluate("(to) => window.__glint.navigate(to)", path)
        expect(who.page.get_by_role("alert")).to_contain_text("This post isn\u2019t available")
        expect(who.page.get_by_role("link", name="Back to your feed")).to_be_visible()
