"""Reusable Playwright steps (sync API) for the likers list: the like count under a post
(feed card or post view) is a button that opens a "Likes" dialog (post.likers).

`scope` is a feed card (steps_feed.post_card) or the page with the post view open.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import asyncpg
from playwright.sync_api import Locator, Page, expect

from tests.conftest import unique

#: The like count's button: "1 like", "36 likes".
LIKES_BUTTON = re.compile(r"^[\d,.\s]+ likes?$")


def open_likers(page: Page, scope: Page | Locator | None = None) -> Locator:
    """Click the like count (in the open post view, or in `scope`) and return the list of
    likers in the dialog that opens."""
    where = scope if scope is not None else page.locator("article.post-view")
    where.get_by_role("button", name=LIKES_BUTTON).click()
    dialog = page.get_by_role("dialog", name="Likes")
    expect(dialog).to_be_visible()
    return dialog.get_by_role("list", name="People who liked this post")


def liker(likers: Locator, username: str) -> Locator:
    """One person's row in the likers list."""
    return likers.locator("li.user-row").filter(
        has=likers.page.get_by_text(username, exact=True))


def close_likers(page: Page) -> None:
    """Close the likers dialog with its Close button."""
    page.get_by_role("dialog", name="Likes").get_by_role("button", name="Close").click()
    expect(page.get_by_role("dialog", name="Likes")).to_have_count(0)


def scroll_to_end(likers: Locator, expected: int) -> None:
    """Scroll the dialog down until `expected` rows are there: each time the end of the
    list comes into view the next page loads (no button pressed)."""
    rows = likers.locator("li.user-row")
    end = likers.page.get_by_role("dialog", name="Likes").locator(".more")
    while (before := rows.count()) < expected:
        end.scroll_into_view_if_needed()
        expect(rows).not_to_have_count(before)
    expect(rows).to_have_count(expected)
    expect(end).to_have_count(0)  # the end: nothing more to load


def seed_likers(database_url: str, post_id: str, n: int) -> list[str]:
    """`n` new users who liked the post earlier than anyone else (a second apart, the
    first of them the latest), straight into Postgres — sign-ups are rate-limited per IP
    and hash passwords, far too slow for a crowd. The post's like_count follows.
    Returns their usernames, latest like first."""
    prefix = unique("lk")
    names = [f"{prefix}_{i}" for i in range(n)]

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction():
                rows = await conn.fetch(
                    """INSERT INTO users (username, email, password_hash)
                       SELECT u, u || '@example.com', 'not-a-hash' FROM unnest($1::text[]) AS u
                       RETURNING id, username""", names)
                ids = {r["username"]: r["id"] for r in rows}
                await conn.executemany(
                    """INSERT INTO likes (post_id, user_id, created_at)
                       VALUES ($1, $2, now() - interval '1 hour' - $3 * interval '1 second')""",
                    [(int(post_id), ids[name], i) for i, name in enumerate(names)])
                await conn.execute("UPDATE posts SET like_count = like_count + $2 WHERE id = $1",
                                   int(post_id), n)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's loop
        pool.submit(asyncio.run, run()).result()
    return names
