"""The README's screenshots of the feed, made with real photos and a few people.

Not part of the suite (the file name doesn't match test_*.py); run it on purpose:
`make screenshots`, i.e. `pytest tests/browser/shots_readme.py`. It needs ../shared's
sample photos and writes docs/screenshots/feed-desktop.png and feed-phone.png.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import steps_common as common
from tests.browser.conftest import DESKTOP, PHONE, Person

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT.parent / "shared" / "data" / "photos"
OUT = ROOT / "docs" / "screenshots"

#: username, display name, bio, avatar photo, posts as (photo, filter, caption).
PEOPLE = [
    ("leo.ferri", "Leo Ferri", "Walks, leaves, old cameras.", "DSCN0010.jpg",
     [("jolla.jpg", "clarendon", "Autumn, backlit. #autumn #macro"),
      ("DSCN0012.jpg", "lark", "Sunday market colours #streetphotography")]),
    ("ines.k", "Inês K.", "Phone photos only.", "iphone_hdr_YES.jpg",
     [("HMD_Nokia_8.3_5G.jpg", "juno", "First light on the ridge ☀️ #hiking"),
      ("iphone_hdr_YES.jpg", "normal", "Back home #weekend")]),
]
VIEWER = ("maya", "Maya")


@pytest.mark.skipif(not PHOTOS.is_dir(), reason="needs ../shared/data/photos")
def test_readme_feed_screenshots(person: Callable[..., Person], tmp_path: Path) -> None:
    viewer = person(DESKTOP)
    common.sign_up_via_http(viewer.page, VIEWER[0])
    common.call(viewer.page, "user.update", display_name=VIEWER[1])
    posts: list[str] = []
    for username, name, bio, avatar, their_posts in PEOPLE:
        who = person(DESKTOP)
        common.sign_up_via_http(who.page, username)
        pic = common.upload(who.page, PHOTOS / avatar, kind="avatar")
        common.call(who.page, "user.update", avatar=str(pic["id"]), display_name=name, bio=bio)
        for photo, filter, caption in their_posts:
            posts.append(common.create_post_via_protocol(who.page, caption, PHOTOS / photo,
                                                         filter=filter))
        common.follow(viewer.page, username)
    for post in posts[1:]:
        common.call(viewer.page, "post.like", post=post)
    common.call(viewer.page, "comment.add", post=posts[-1], text="Welcome back!")

    page = viewer.page
    OUT.mkdir(parents=True, exist_ok=True)
    for size, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page.set_viewport_size(size)
        page.goto("/")
        cards = page.locator("article.post-card")
        expect(cards.first).to_be_visible()
        page.wait_for_function("""() => [...document.querySelectorAll('article.post-card img')]
            .slice(0, 2).every((img) => img.complete && img.naturalWidth > 0)""")
        shot = tmp_path / f"feed-{label}.png"
        page.screenshot(path=str(shot))
        shutil.copy(shot, OUT / f"feed-{label}.png")
