"""Reusable Playwright steps (sync API) for the feed, the post view and the composer.

Screens: `/` (home feed), `/p/:id` (post view), `/new` (composer). Set-up through the
protocol (signing up, `call`, `follow`, photos) is in steps_common; `seed_posts` makes
many posts at once. Ids cross the Playwright boundary as decimal strings.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.browser.steps_common import go, upload

#: How long a live change (event over the socket) may take to show, in ms.
LIVE_MS = 10_000
#: The composer's filter names as the radio buttons show them (docs/protocol.md).
FILTER_LABELS = {"normal": "Normal", "clarendon": "Clarendon", "gingham": "Gingham", "moon": "Moon",
                 "lark": "Lark", "reyes": "Reyes", "juno": "Juno", "slumber": "Slumber",
                 "crema": "Crema"}
CROP_LABELS = {"original": "Original", "square": "Square 1:1", "portrait": "Portrait 4:5"}


def seed_posts(page: Page, image: Path, count: int, caption: str = "seed") -> list[str]:
    """Create `count` posts through the protocol (one upload, used by every post);
    returns their ids, oldest first."""
    media = str(upload(page, image)["id"])
    return page.evaluate("""async ([media, count, caption]) => {
      const ids = [];
      for (let i = 0; i < count; i++) {
        const p = await window.__glint.conn.call('post.create',
          {media: [BigInt(media)], caption: `${caption} ${i + 1}`});
        ids.push(p.id.toString());
      }
      return ids;
    }""", [media, count, caption])


def open_composer(page: Page) -> None:
    page.get_by_role("link", name="New post").click()
    expect(page.get_by_role("heading", name="New post")).to_be_visible()


def watch_progress(page: Page) -> None:
    """Start recording the upload progress bar's values (see progress_seen)."""
    page.evaluate("""() => {
      window.__w1progress = [];
      const seen = () => {
        const el = document.querySelector('[data-testid=upload-progress]');
        if (el) window.__w1progress.push(Number(el.value));
      };
      new MutationObserver(seen).observe(document.body,
        {subtree: true, childList: true, attributes: true, attributeFilter: ['value']});
    }""")


def progress_seen(page: Page) -> list[float]:
    """The values the upload progress bar showed since watch_progress."""
    return page.evaluate("window.__w1progress || []")


def create_post(page: Page, images: Path | list[Path], filter: str = "normal", caption: str = "",
                alt: str | None = None, crop: str = "original") -> str:
    """Post photos with the composer (/new): pick the files, crop, filter (for each
    photo), alt text (for the first), caption; Share. Checks that the upload progress bar
    showed, waits for the post view and returns the new post's id."""
    files = images if isinstance(images, list) else [images]
    open_composer(page)
    page.get_by_label("Choose photos").set_input_files([str(f) for f in files])
    expect(page.get_by_role("button", name=re.compile(r"^Edit photo"))).to_have_count(len(files))
    page.get_by_role("radio", name=CROP_LABELS[crop]).check()
    for i in range(len(files)):
        page.get_by_role("button", name=f"Edit photo {i + 1}").click()
        choose_filter(page, filter)
        if alt is not None and i == 0:
            page.get_by_label("Alt text for photo 1").fill(alt)
    caption_box = page.get_by_label("Caption")
    caption_box.fill(caption)
    caption_box.press("Escape")  # close any suggestion list
    watch_progress(page)
    page.get_by_role("button", name="Share", exact=True).click()
    shared = page.locator("article.post-view").or_(page.get_by_test_id("compose-error"))
    expect(shared).to_be_visible(timeout=60_000)
    error = page.get_by_test_id("compose-error")
    assert not error.count(), f"sharing failed: {error.inner_text()}"
    expect(page).to_have_url(re.compile(r"/p/\d+$"))
    assert progress_seen(page), "the upload progress bar never showed"
    return page.url.rsplit("/", 1)[1]


def choose_filter(page: Page, name: str) -> None:
    """Pick a filter for the photo being edited in the composer (its thumbnail)."""
    filters = page.get_by_role("group", name=re.compile(r"^Filter"))
    filters.get_by_text(FILTER_LABELS[name], exact=True).click()
    expect(filters.get_by_role("radio", name=FILTER_LABELS[name])).to_be_checked()


def expect_no_sideways_scroll(page: Page) -> None:
    """The page is no wider than the window (nothing sticks out at 375 px)."""
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page is {wide}px wider than the window"


def post_card(page: Page, post_id: str) -> Locator:
    """A post's card in the feed."""
    return page.locator(f'article.post-card[data-post-id="{post_id}"]')


def go_home(page: Page) -> None:
    """The home feed, through the navigation (no page load)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Home").click()
    expect(page).to_have_title("Home · Glint")


def wait_for_new_posts_pill(page: Page) -> Locator:
    """The live "N new posts" pill (from the feed.post event)."""
    pill = page.get_by_test_id("new-posts-pill")
    expect(pill).to_be_visible(timeout=LIVE_MS)
    return pill


def wait_for_post_in_feed(page: Page, post_id: str, click_pill: bool = True) -> Locator:
    """Wait until the post shows in the home feed (clicking the "new posts" pill when
    it appears first), without reloading; returns the card."""
    card = post_card(page, post_id)
    if click_pill:
        # Whichever comes first: the card (the feed loaded after the post) or the pill
        # (the post arrived live). Checking the card once before the feed had loaded
        # then waited for a pill that never came.
        pill = page.get_by_test_id("new-posts-pill")
        expect(card.or_(pill).first).to_be_visible(timeout=LIVE_MS)
        if not card.is_visible():
            pill.click()
    expect(card).to_be_visible(timeout=LIVE_MS)
    return card


def double_tap_like(page: Page, post_id: str | None = None, expect_count: int | None = 1) -> None:
    """Double-tap a post's photos (its feed card, or the open post view when post_id is
    None): the heart animation shows and the like button turns on."""
    scope = post_card(page, post_id) if post_id else page.locator("article.post-view")
    scope.get_by_test_id("post-photos").dblclick()
    expect(scope.get_by_test_id("heart-burst")).to_be_visible()
    expect(scope.get_by_role("button", name="Unlike")).to_have_attribute("aria-pressed", "true")
    if expect_count is not None:
        expect_like_count(scope, expect_count)


def expect_like_count(scope: Page | Locator, n: int, timeout: int = LIVE_MS) -> None:
    """The like count under the photos (feed card or post view) reads n."""
    expect(scope.get_by_test_id("like-count").first).to_have_text(
        f"{n} like" if n == 1 else f"{n} likes", timeout=timeout)


def open_post(page: Page, post_id: str) -> None:
    """The post view, via a link when the card is on screen, else by address."""
    card = post_card(page, post_id)
    if card.count():
        card.locator(".post-time").click()
    else:
        go(page, f"/p/{post_id}")
    expect(page.locator("article.post-view")).to_be_visible()


def comment(page: Page, text: str) -> Locator:
    """The comment with exactly this text in the open post view."""
    return page.locator("article.comment").filter(
        has=page.locator(".comment-text", has_text=text))


def add_comment(page: Page, text: str, reply_to: str | None = None) -> None:
    """Comment in the open post view; with reply_to (a username), reply to that
    person's first comment. Waits until it shows."""
    if reply_to:
        page.get_by_role("button", name=f"Reply to {reply_to}").first.click()
        expect(page.get_by_text(f"Replying to @{reply_to}")).to_be_visible()
    box = page.get_by_label("Add a comment")
    if reply_to:
        box.press("End")
        box.press_sequentially(text)
    else:
        box.fill(text)
    page.get_by_role("button", name="Post", exact=True).click()
    expect(comment(page, text)).to_be_visible()
    expect(box).to_have_value("")


def expect_comment(page: Page, text: str, reply_under: str | None = None,
                   timeout: int = LIVE_MS) -> None:
    """A comment shows (live) in the open post view; with reply_under, as a reply in
    the thread of the comment containing that text."""
    if reply_under:
        thread = page.locator("li.comment-thread").filter(
            has=page.locator("article.comment .comment-text", has_text=reply_under))
        expect(thread.locator(".comment-replies").get_by_text(text)).to_be_visible(timeout=timeout)
    else:
        expect(comment(page, text)).to_be_visible(timeout=timeout)


def delete_post(page: Page) -> None:
    """Delete the open post (own) from its options menu, confirming; lands on the feed."""
    page.get_by_label("Post options").click()
    page.get_by_role("button", name="Delete post").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page).to_have_title("Home · Glint")
