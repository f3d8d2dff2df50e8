"""Playwright steps (sync API) shared by every area's steps and tests: signing up, calling
an op from the page, following, making and uploading a photo, posting through the protocol.

Set-up that is not what a test is about goes through the real protocol from the page
(`window.__glint.conn.call(...)`). Ids cross the Playwright boundary as decimal strings
(JavaScript ids are BigInt, which Python cannot receive exactly).
"""

from __future__ import annotations

import json
import random
from io import BytesIO
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageOps
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD

#: Argument keys whose digit strings `call` sends as BigInt ids (at any depth: a list under
#: `media`, or `{id, alt}` objects in it).
ID_KEYS = ("id", "post", "comment", "user", "users", "reply_to", "conversation", "message",
           "media", "avatar", "target")
#: The size of the photo create_post_via_protocol makes when not given one.
GENERATED_PHOTO_SIZE = (480, 480)
#: How long back_online tries to press "Retry now" (ms) before it looks whether the
#: client's own back-off already reconnected.
RETRY_CLICK_MS = 5000

# JS run in the page: call an op, turning id strings into BigInt and ids in the answer
# back into strings.
_CALL_JS = """async ([op, args, idKeys]) => {
  const conv = (v, isId) => {
    if (Array.isArray(v)) return v.map((x) => conv(x, isId));
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => [k, conv(x, idKeys.includes(k))]));
    }
    return isId && typeof v === 'string' && /^[0-9]{1,20}$/.test(v) ? BigInt(v) : v;
  };
  const r = await window.__glint.conn.call(op, conv(args, false));
  return JSON.stringify(r ?? null, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}"""


# -- accounts -------------------------------------------------------------------------

def expect_home(page: Page) -> None:
    """Signed in: the home feed with the main navigation, connected."""
    expect(page).to_have_title("Home · Glint")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.locator(".shell")).to_have_attribute("data-conn", "online")


def sign_up(page: Page, username: str) -> None:
    """Sign up through the app's own sign-up screen and land on the home feed."""
    page.goto("/")
    expect(page.get_by_role("heading", name="Glint")).to_be_visible()
    page.get_by_role("link", name="Sign up").click()
    expect(page).to_have_title("Sign up · Glint")
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect_home(page)


def sign_up_via_http(page: Page, username: str, password: str = PASSWORD) -> None:
    """Create an account over HTTP (/api/auth/signup) and open the app signed in
    (quicker than the sign-up screen, for tests about something else)."""
    page.goto("/login")
    token = page.evaluate("""async ([username, password]) => {
      const r = await fetch('/api/auth/signup', {method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({username, password, email: `${username}@example.com`})});
      if (!r.ok) throw new Error(`signup: HTTP ${r.status}`);
      const {token} = await r.json();
      localStorage.setItem('glint.token', token);
      return token;
    }""", [username, password])
    assert token
    page.goto("/")
    expect(page.locator(".shell")).to_have_attribute("data-conn", "online")


def log_out(page: Page) -> None:
    """Log out from Settings (on a phone the own profile's "Settings and activity"
    menu has it too, and the desktop rail its own button) and land on the login screen."""
    page.evaluate("window.__glint.navigate('/settings')")
    expect(page).to_have_title("Edit profile · Glint")
    page.locator(".settings-account").get_by_role("button", name="Log out").click()
    expect(page).to_have_title("Log in · Glint")


# -- the protocol from the page ---------------------------------------------------------

def back_online(page: Page) -> None:
    """Let the connection through again (after `page.route("**/api/info", ...abort)`),
    press "Retry now", and wait until the shell is online. The client's own back-off can
    reconnect between the two (the banner, and its button, are then gone): that is as
    good, and the click is not insisted on."""
    banner = page.get_by_test_id("offline-banner")
    page.unroute("**/api/info")
    try:
        banner.get_by_role("button", name="Retry now").click(timeout=RETRY_CLICK_MS)
    except PlaywrightError:
        if banner.is_visible():
            raise
    expect(page.locator(".shell")).to_have_attribute("data-conn", "online")
    expect(banner).to_be_hidden()


def call(page: Page, op: str, **args: Any) -> Any:
    """Call an op over the page's own connection. Ids go in as decimal strings (under the
    keys in ID_KEYS) and come back as strings."""
    return json.loads(page.evaluate(_CALL_JS, [op, args, list(ID_KEYS)]))


def follow(page: Page, username: str) -> None:
    """The page's user follows `username` (follow.add through the protocol)."""
    call(page, "follow.add", username=username)


def go(page: Page, path: str) -> None:
    """Navigate inside the app without reloading (keeps the tab's connection)."""
    page.evaluate("(p) => window.__glint.navigate(p)", path)


# -- photos and posts -------------------------------------------------------------------

def photo_jpeg(size: tuple[int, int] = (1200, 900), seed: int = 0) -> bytes:
    """A colourful test photo (gradient and shapes) as JPEG bytes; `seed` varies it."""
    rnd = random.Random(seed)
    w, h = size
    c1 = [rnd.randrange(40, 255) for _ in range(3)]
    c2 = [rnd.randrange(0, 200) for _ in range(3)]
    gradient = Image.linear_gradient("L").resize(size)
    img = ImageOps.colorize(gradient, tuple(c1), tuple(c2))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rnd.randrange(w), rnd.randrange(h)
        r = rnd.randrange(min(w, h) // 12, min(w, h) // 4)
        draw.ellipse((x0 - r, y0 - r, x0 + r, y0 + r),
                     fill=tuple(rnd.randrange(256) for _ in range(3)))
    buf = BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_photo(path: Path, size: tuple[int, int] = (1200, 900), seed: int = 0) -> Path:
    """A colourful test photo (see photo_jpeg) written as a JPEG at `path`."""
    path.write_bytes(photo_jpeg(size, seed))
    return path


def upload(page: Page, image: Path | bytes, **query: str) -> dict[str, Any]:
    """Upload a photo over HTTP as the page's user; the media record (ids as int)."""
    token = page.evaluate("localStorage.getItem('glint.token')")
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    data = image if isinstance(image, bytes) else image.read_bytes()
    resp = page.request.post(f"/api/media{'?' + qs if qs else ''}", data=data,
                             headers={"Authorization": f"Bearer {token}",
                                      "Content-Type": "application/octet-stream"})
    assert resp.status == 201, resp.text()
    return resp.json()


def create_post_via_protocol(page: Page, caption: str, photo: Path | None = None, *,
                             seed: int = 0, **query: str) -> str:
    """Post `photo` (or a generated one, varied by `seed`) with `caption` as the page's
    user, through HTTP and the protocol (no UI); `query` goes with the upload (e.g.
    filter=lark). Returns the post id (a decimal string)."""
    data = photo.read_bytes() if photo is not None else photo_jpeg(GENERATED_PHOTO_SIZE, seed)
    media = upload(page, data, **query)
    return str(call(page, "post.create", media=[str(media["id"])], caption=caption)["id"])
