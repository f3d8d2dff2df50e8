"""Bugs found by using the web app as a person would (phone and desktop), each pinned
by a test: the composer's upload errors shown where the person is looking, the post
options menu closing like a menu, dialogs giving focus back, and your own profile's
counts following live what others do.

Self-contained set-up (HTTP sign-up, ops over the page's own connection) so these
tests depend only on conftest."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, ROOT, Person, screenshot
from tests.conftest import PASSWORD, unique

#: How long a live change (an event over the socket) may take to show, in ms.
LIVE_MS = 10_000

_SIGN_UP_JS = """async ([username, password]) => {
  const r = await fetch('/api/auth/signup', {method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({username, password, email: `${username}@example.com`})});
  if (!r.ok) throw new Error(`signup: HTTP ${r.status}`);
  localStorage.setItem('glint.token', (await r.json()).token);
}"""

# Ids go in and come back as decimal strings (JavaScript ids are BigInt).
_CALL_JS = """async ([op, args]) => {
  const conv = (v) => (Array.isArray(v) ? v.map(conv)
    : typeof v === 'string' && /^[0-9]{6,20}$/.test(v) ? BigInt(v) : v);
  const a = {};
  for (const [k, v] of Object.entries(args)) a[k] = conv(v);
  const r = await window.__glint.conn.call(op, a);
  return JSON.stringify(r ?? null, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}"""


def _sign_up(page: Page, username: str) -> None:
    page.goto("/login")
    page.evaluate(_SIGN_UP_JS, [username, PASSWORD])
    page.goto("/")
    expect(page.locator(".shell")).to_have_attribute("data-conn", "online")


def _call(page: Page, op: str, **args: Any) -> Any:
    return json.loads(page.evaluate(_CALL_JS, [op, args]))


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 120, 40)).save(buf, "JPEG")
    return buf.getvalue()


def _post(page: Page, caption: str) -> str:
    """A post of a generated photo, made through HTTP and the protocol; its id."""
    token = page.evaluate("localStorage.getItem('glint.token')")
    resp = page.request.post("/api/media", data=_jpeg(), headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"})
    assert resp.status == 201, resp.text()
    media = str(resp.json()["id"])
    return str(_call(page, "post.create", media=[media], caption=caption)["id"])


def _go(page: Page, path: str) -> None:
    page.evaluate("(p) => window.__glint.navigate(p)", path)


def _expect_toast(page: Page, text: str) -> None:
    """A toast with `text` shows (an earlier toast with the same words may still be up)."""
    expect(page.get_by_role("status").filter(has_text=text).last).to_be_visible()


def _count(page: Page, kind: str) -> Any:
    return page.get_by_test_id(f"{kind}-count")


def test_composer_says_what_went_wrong_next_to_share(person: Callable[..., Person],
                                                     tmp_path: Any) -> None:
    """A photo the browser cannot draw shows words, not a broken image; the server's
    refusal at Share shows beside the button (it used to be at the top of the page,
    scrolled out of sight on a phone)."""
    who = person(PHONE)
    who.allow_console(r"status of 415")  # the browser's own line for the refused upload
    page = who.page
    _sign_up(page, unique("rvc"))
    _go(page, "/new")
    fake = tmp_path / "holiday.heic"
    fake.write_bytes(b"not really a photo" * 40)
    page.get_by_label("Choose photos").set_input_files(str(fake))
    placeholder = page.get_by_test_id("no-preview")
    expect(placeholder).to_have_text(re.compile("No preview in this browser"))
    expect(page.locator(".compose-preview img")).to_have_count(0)

    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(b"\xff\xd8\xff not a jpeg at all" * 40)
    page.get_by_label("Choose photos").set_input_files(str(damaged))
    page.get_by_role("button", name="Edit photo 2").click()
    expect(placeholder).to_have_text(re.compile("can\u2019t be shown"))

    share = page.get_by_role("button", name="Share", exact=True)
    share.click()
    error = page.get_by_test_id("compose-error")
    expect(error).to_have_text(re.compile("file type isn\u2019t supported"))
    expect(error).to_be_in_viewport()
    expect(share).to_be_enabled()
    screenshot(page, "review-compose-error-phone")
    # Removing the photos clears the error with them.
    page.get_by_role("button", name="Remove photo 2").click()
    expect(error).to_have_count(0)


def test_post_options_menu_closes_on_escape_and_outside_click(
        person: Callable[..., Person]) -> None:
    who = person(DESKTOP)
    page = who.page
    name = unique("rvm")
    _sign_up(page, name)
    post = _post(page, "menu check")
    _go(page, f"/p/{post}")
    expect(page.locator("article.post-view")).to_be_visible()
    options = page.get_by_label("Post options")
    edit = page.get_by_role("button", name="Edit caption")

    options.click()
    expect(edit).to_be_visible()
    page.keyboard.press("Escape")
    expect(edit).to_be_hidden()
    expect(options).to_be_focused()

    options.click()
    expect(edit).to_be_visible()
    page.get_by_role("heading", level=1).evaluate("(h) => h.closest('section').click()")
    expect(edit).to_be_hidden()

    # The delete confirmation inside the menu is not closed by its own clicks or Escape.
    options.click()
    page.get_by_role("button", name="Delete post").click()
    dialog = page.get_by_role("dialog", name=re.compile("Delete this post"))
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("article.post-view")).to_be_visible()


def test_dialogs_give_focus_back_to_what_opened_them(person: Callable[..., Person]) -> None:
    """Escape closes a dialog and a keyboard user is back on the button they pressed
    (it used to land on the page's body, at the top)."""
    ann, ben = person(DESKTOP), person(DESKTOP)
    a_name, b_name = unique("rva"), unique("rvb")
    _sign_up(ann.page, a_name)
    _sign_up(ben.page, b_name)
    _call(ben.page, "follow.add", username=a_name)
    page = ann.page
    _go(page, f"/u/{a_name}")
    followers = page.get_by_role("button", name=re.compile(r"followers?$"))
    followers.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Followers")
    expect(dialog.get_by_text(b_name)).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(followers).to_be_focused()

    _go(page, "/direct")
    new = page.get_by_role("button", name="New message")
    new.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="New message")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="New message")).to_have_count(0)
    expect(new).to_be_focused()


def test_own_profile_counts_follow_live(person: Callable[..., Person]) -> None:
    """On your own profile, a new follower and an approved request of yours change the
    counts at once (they used to wait for a reload)."""
    ann, ben, cat = person(PHONE), person(DESKTOP), person(DESKTOP)
    a_name, b_name, c_name = unique("rla"), unique("rlb"), unique("rlc")
    for who, name in ((ann, a_name), (ben, b_name), (cat, c_name)):
        _sign_up(who.page, name)
    _go(ann.page, f"/u/{a_name}")
    expect(ann.page.get_by_role("heading", level=1, name=a_name)).to_be_visible()
    expect(_count(ann.page, "followers")).to_have_text("0")

    _call(ben.page, "follow.add", username=a_name)
    expect(_count(ann.page, "followers")).to_have_text("1", timeout=LIVE_MS)

    # Cat is private; Ann asks to follow; Cat approves from her own profile.
    _call(cat.page, "user.update", private=True)
    _call(ann.page, "follow.add", username=c_name)
    _go(cat.page, f"/u/{c_name}")
    requests = cat.page.get_by_role("list", name="Follow requests")
    requests.get_by_role("button", name=f"Confirm {a_name}", exact=True).click()
    expect(_count(cat.page, "followers")).to_have_text("1")
    expect(_count(ann.page, "following")).to_have_text("1", timeout=LIVE_MS)
    expect(_count(ann.page, "followers")).to_have_text("1")
    screenshot(ann.page, "review-profile-live-phone")


def test_phone_back_bar_on_post_profile_and_hashtag(person: Callable[..., Person]) -> None:
    """On a phone, a post, someone's profile and a hashtag page have a Back button (the
    conversation had one; these had none, and the tab bar has no way back). It goes
    back in the app's history, or to a sensible page when opened directly; desktop,
    with its navigation rail, has none."""
    ann, ben = person(PHONE), person(DESKTOP)
    a_name, b_name = unique("rba"), unique("rbb")
    _sign_up(ann.page, a_name)
    _sign_up(ben.page, b_name)
    post = _post(ben.page, "back bar #rvback")
    page = ann.page
    _go(page, f"/u/{b_name}")
    expect(page.get_by_role("heading", level=1, name=b_name)).to_be_visible()
    expect(page).to_have_title(f"@{b_name} \u00b7 Glint")  # not just "Profile"
    page.get_by_role("list", name=re.compile("posts", re.I)).get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"/p/{post}$"))
    page.get_by_role("link", name="#rvback").click()
    expect(page.get_by_role("heading", level=1, name="#rvback")).to_be_visible()
    expect(page).to_have_title("#rvback \u00b7 Glint")
    screenshot(page, "review-backbar-tag-phone")
    back = page.get_by_role("button", name="Back", exact=True)
    back.click()
    expect(page).to_have_url(re.compile(rf"/p/{post}$"))
    back.click()
    expect(page).to_have_url(re.compile(rf"/u/{b_name}$"))
    back.click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(back).to_have_count(0)  # the feed is a top screen

    page.goto(f"/p/{post}")  # opened directly: Back goes to the feed, not off the site
    expect(page.locator("article.post-view")).to_be_visible()
    back.click()
    expect(page).to_have_title("Home · Glint")

    ben.page.goto(f"/p/{post}")
    expect(ben.page.locator("article.post-view")).to_be_visible()
    expect(ben.page.get_by_role("button", name="Back", exact=True)).to_be_hidden()


def test_report_a_post_and_an_account(person: Callable[..., Person]) -> None:
    """Issue #8's report.create had no way in from the web app: someone else's post
    (its options) and profile (its menu) now have Report, with a reason; a second
    report of the same thing is answered in words, not filed twice."""
    ann, ben = person(PHONE), person(DESKTOP)
    a_name, b_name = unique("rra"), unique("rrb")
    _sign_up(ann.page, a_name)
    _sign_up(ben.page, b_name)
    post = _post(ann.page, "report me")
    page = ben.page
    _go(page, f"/p/{post}")
    expect(page.locator("article.post-view")).to_be_visible()
    for attempt in ("Thanks for letting us know", "You already reported this"):
        page.get_by_role("button", name="Post options").click()
        page.get_by_role("dialog", name="Post options").get_by_role("button", name="Report").click()
        dialog = page.get_by_role("dialog", name="Report this post")
        submit = dialog.get_by_role("button", name="Submit report")
        expect(submit).to_be_disabled()  # a reason first
        dialog.get_by_role("radio", name="It\u2019s spam").check()
        dialog.get_by_label(re.compile("Anything else")).fill("posted ten times today")
        if attempt.startswith("Thanks"):
            screenshot(page, "review-report-desktop")
        submit.click()
        _expect_toast(page, attempt)
        expect(dialog).to_have_count(0)

    _go(page, f"/u/{a_name}")
    page.get_by_role("button", name="More options").click()
    page.get_by_role("dialog", name=a_name).get_by_role("button", name="Report").click()
    dialog = page.get_by_role("dialog", name=f"Report @{a_name}")
    dialog.get_by_role("radio", name="Bullying or harassment").check()
    dialog.get_by_role("button", name="Submit report").click()
    expect(dialog).to_have_count(0)  # closes only once the report is filed
    _expect_toast(page, "Thanks for letting us know")

    # Your own post has its owner's menu, without Report.
    _go(ann.page, f"/p/{post}")
    ann.page.get_by_label("Post options").click()
    expect(ann.page.get_by_role("button", name="Edit caption")).to_be_visible()
    expect(ann.page.get_by_role("button", name="Report")).to_have_count(0)


def test_report_a_comment_and_a_message(person: Callable[..., Person]) -> None:
    """Report is also on someone else's comment and on someone else's direct message."""
    ann, ben = person(PHONE), person(DESKTOP)
    a_name, b_name = unique("rca"), unique("rcb")
    _sign_up(ann.page, a_name)
    _sign_up(ben.page, b_name)
    post = _post(ann.page, "comment here")
    _call(ben.page, "comment.add", post=post, text="buy followers at example.com")
    ann_id = _call(ben.page, "user.get", username=a_name)["id"]
    conv = _call(ben.page, "dm.open", user=ann_id)["id"]
    _call(ben.page, "dm.send", conversation=conv, text="win a prize, click here")
    _call(ann.page, "comment.add", post=post, text="my own words")

    page = ann.page
    _go(page, f"/p/{post}")
    page.get_by_role("button", name=f"Report comment by {b_name}").click()
    dialog = page.get_by_role("dialog", name="Report this comment")
    dialog.get_by_role("radio", name="Scam or fraud").check()
    dialog.get_by_role("button", name="Submit report").click()
    expect(dialog).to_have_count(0)
    _expect_toast(page, "Thanks for letting us know")
    expect(page.get_by_text("my own words")).to_be_visible()
    own = page.get_by_role("button", name=re.compile(f"^Report comment by {a_name}"))
    expect(own).to_have_count(0)  # not on your own comment

    _go(page, f"/direct/{conv}")
    bubble = page.locator(".dm-msg").filter(has_text="win a prize")
    bubble.hover()
    bubble.get_by_role("button", name="Message options").click()
    page.get_by_role("menuitem", name="Report").click()
    dialog = page.get_by_role("dialog", name="Report this message")
    dialog.get_by_role("radio", name="It\u2019s spam").check()
    dialog.get_by_role("button", name="Submit report").click()
    expect(dialog).to_have_count(0)
    _expect_toast(page, "Thanks for letting us know")


def test_feed_card_options_report_and_go_to_post(person: Callable[..., Person]) -> None:
    """Someone else's card in the feed has ••• (Report, Go to post, the author);
    your own card has none."""
    ann, ben = person(DESKTOP), person(PHONE)
    a_name, b_name = unique("rfa"), unique("rfb")
    _sign_up(ann.page, a_name)
    _sign_up(ben.page, b_name)
    _call(ben.page, "follow.add", username=a_name)
    theirs = _post(ann.page, "from ann")
    mine = _post(ben.page, "from ben")
    page = ben.page
    page.reload()
    card = page.locator(f'article.post-card[data-post-id="{theirs}"]')
    own = page.locator(f'article.post-card[data-post-id="{mine}"]')
    expect(card).to_be_visible()
    expect(own).to_be_visible()
    expect(own.get_by_role("button", name="Post options")).to_have_count(0)
    # A photo posted without alt text still says what it is (it was alt="", i.e. nothing).
    expect(card.get_by_test_id("post-photos").locator("img")).to_have_attribute(
        "alt", f"Photo by {a_name}")
    card.get_by_role("button", name="Post options").click()
    sheet = page.get_by_role("dialog", name="Post options")
    expect(sheet.get_by_role("link", name=f"Go to @{a_name}")).to_be_visible()
    sheet.get_by_role("link", name="Go to post").click()
    expect(page).to_have_url(re.compile(rf"/p/{theirs}$"))
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.get_by_role("button", name="Post options").click()
    page.get_by_role("dialog", name="Post options").get_by_role("button", name="Report").click()
    report = page.get_by_role("dialog", name="Report this post")
    report.get_by_role("radio", name="False information").check()
    report.get_by_role("button", name="Submit report").click()
    expect(report).to_have_count(0)
    _expect_toast(page, "Thanks for letting us know")


def _make_operator(services: tuple[str, str], username: str, data_dir: Any) -> None:
    """An operator account, made with the real CLI (`glint user create NAME --admin`)."""
    db, redis = services
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("GLINT_")}
    env.update({"DATABASE_URL": db, "REDIS_URL": redis, "GLINT_LOG_LEVEL": "warning"})
    subprocess.run([sys.executable, "-m", "server.cli", "user", "create", username,
                    "--email", f"{username}@example.com", "--password", PASSWORD, "--admin",
                    "--data-dir", str(data_dir)],
                   env=env, cwd=ROOT, check=True, timeout=60, capture_output=True)


def test_admin_section_bar_keeps_the_current_section_in_sight(
        person: Callable[..., Person], services: tuple[str, str], browser_data_dir: Any) -> None:
    """On a phone the console's section bar scrolls sideways; opening a section far to
    the right (a link to #announce) used to leave its tab off screen."""
    name = unique("rop")
    _make_operator(services, name, browser_data_dir)
    who = person(PHONE)
    page = who.page
    page.goto("/login")
    page.evaluate("""async ([username, password]) => {
      const r = await fetch('/api/auth/login', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({username, password})});
      if (!r.ok) throw new Error(`login: HTTP ${r.status}`);
      localStorage.setItem('glint.token', (await r.json()).token);
    }""", [name, PASSWORD])
    page.goto("/admin#announce")
    nav = page.get_by_role("navigation", name="Console")
    current = nav.get_by_role("link", name="Announcements")
    expect(current).to_have_attribute("aria-current", "page")
    expect(current).to_be_in_viewport(ratio=1)
    nav.get_by_role("link", name="Dashboard").click()
    expect(nav.get_by_role("link", name="Dashboard")).to_be_in_viewport(ratio=1)
    screenshot(page, "review-admin-nav-phone")


def test_long_names_website_and_hashtag_never_widen_a_phone_page(
        person: Callable[..., Person]) -> None:
    """A 30-character username, a long name and a long website on a profile at 375 px
    (the website used to push the page 83 px wider than the phone)."""
    who = person(PHONE)
    page = who.page
    name = ("averyveryverylongusername" + unique("x"))[:30]
    _sign_up(page, name)
    _call(page, "user.update", display_name="Bartholomew Maximilian Featherstonehaugh-Wolfe",
          website="https://example.com/a/very/long/path/that/keeps/going/and/going")
    _go(page, f"/u/{name}")
    expect(page.get_by_role("link", name=re.compile(r"example\.com.a.very.long"))).to_be_visible()
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the profile is {wide}px wider than the phone"

    # A long trending hashtag on Explore is cut short (it pushed the page 151 px wider).
    tag = "averyveryveryverylonghashtagwithoutanybreaks" + unique("t")[-8:]
    for i in range(5):  # enough posts to be among the ten trending tags
        _post(page, f"#{tag} {i}")
    _go(page, "/explore")
    chip = page.get_by_role("navigation", name="Trending").get_by_role(
        "link", name=re.compile(f"^#{tag}"))
    expect(chip).to_be_visible()
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"Explore is {wide}px wider than the phone"


def test_a_long_comment_is_cut_short_in_notifications(person: Callable[..., Person]) -> None:
    """Notifications quote a comment in a row; a long one (up to 200 characters from the
    server) made rows of eight lines on a phone. It is cut with … now."""
    ann, ben = person(PHONE), person(DESKTOP)
    a_name, b_name = unique("rna"), unique("rnb")
    _sign_up(ann.page, a_name)
    _sign_up(ben.page, b_name)
    post = _post(ann.page, "long comments")
    words = "a rather long comment that goes on " * 5
    _call(ben.page, "comment.add", post=post, text=words.strip())
    _go(ann.page, "/notifications")
    row = ann.page.get_by_role("list", name="Notifications").get_by_role("listitem").filter(
        has_text=f"{b_name} commented on your post")
    expect(row).to_contain_text("a rather long comment that goes on")
    expect(row).to_contain_text("\u2026")
    expect(row).not_to_contain_text(words.strip())


def test_a_photo_that_cannot_be_sent_shows_no_broken_image(person: Callable[..., Person],
                                                            tmp_path: Any) -> None:
    """A damaged file chosen in a conversation: the pending bubble showed the browser's
    broken-image icon; now a 'Photo' placeholder, with the refusal in words."""
    ann, ben = person(PHONE), person(DESKTOP)
    ann.allow_console(r"status of 400")  # the browser's own line for the refused upload
    a_name, b_name = unique("rda"), unique("rdb")
    _sign_up(ann.page, a_name)
    _sign_up(ben.page, b_name)
    ben_id = _call(ann.page, "user.get", username=b_name)["id"]
    conv = _call(ann.page, "dm.open", user=ben_id)["id"]
    page = ann.page
    _go(page, f"/direct/{conv}")
    expect(page.get_by_label("Message", exact=True)).to_be_visible()
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(b"\xff\xd8\xff not a jpeg at all" * 40)
    page.get_by_test_id("photo-input").set_input_files(str(damaged))
    pending = page.get_by_test_id("pending-message")
    expect(pending.get_by_role("alert")).to_contain_text("That photo couldn\u2019t be read")
    expect(pending.locator(".dm-photo-nopreview")).to_have_text("Photo")
    expect(pending.locator("img")).to_have_count(0)
