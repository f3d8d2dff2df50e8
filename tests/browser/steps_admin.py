"""Reusable steps for the operator console (/admin) and the bots that poke it.

Playwright steps (sync API) drive the console the way an operator does; `Bot` is a
real protocol client (protocol/client.py) in a thread of its own, so a browser test
can watch what a connected client sees (events, the close code) while the console
acts on it.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import trio
from playwright.sync_api import Locator, Page, expect

from protocol.client import Client, connect
from tests.browser.conftest import LiveNode, node_env, run_node
from tests.conftest import PASSWORD, unique

ROOT = Path(__file__).resolve().parents[2]
CLI_SECONDS = 60.0
BOT_SECONDS = 20.0
NODE_START_SECONDS = 60.0
NODE_STOP_SECONDS = 20.0
#: What Bot.next_event returns once the server closed the socket for good.
CLOSED = "__closed__"


@contextmanager
def extra_node(services: tuple[str, str], namespace: str, name: str,
               data_dir: Path) -> Iterator[LiveNode]:
    """Another `glint serve` process in the same cluster (same Postgres, Redis and
    namespace) as the live node: the console on one node sees and acts on both."""
    with run_node(node_env(services, GLINT_NAMESPACE=namespace, GLINT_NODE_NAME=name),
                  data_dir, name) as node:
        yield node


# -- operators --------------------------------------------------------------

def make_admin(services: tuple[str, str], username: str, data_dir: Path,
               password: str = PASSWORD) -> None:
    """Create an operator account with the real CLI (`glint user create NAME --admin`)
    against the same Postgres and Redis as the live node."""
    env = node_env(services)
    subprocess.run([sys.executable, "-m", "server.cli", "user", "create", username,
                    "--email", f"{username}@example.com", "--password", password, "--admin",
                    "--data-dir", str(data_dir)],
                   env=env, cwd=ROOT, check=True, timeout=CLI_SECONDS, capture_output=True)


def set_admin(services: tuple[str, str], username: str, data_dir: Path, grant: bool) -> None:
    """`glint admin grant|revoke USERNAME` with the real CLI."""
    subprocess.run([sys.executable, "-m", "server.cli", "admin", "grant" if grant else "revoke",
                    username, "--data-dir", str(data_dir)],
                   env=node_env(services), cwd=ROOT, check=True, timeout=CLI_SECONDS,
                   capture_output=True)


def sign_in_new_operator(page: Page, services: tuple[str, str], data_dir: Path) -> str:
    """A new operator account (made with the CLI), signed in on the console in `page`;
    returns its username."""
    name = unique("op")
    make_admin(services, name, data_dir)
    open_console(page)
    console_sign_in(page, name)
    return name


def open_console(page: Page) -> None:
    """Go to /admin (signed out: the operators' sign-in form)."""
    page.goto("/admin")


def console_sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Sign in on the console's own form and wait for the dashboard's first figures."""
    expect(page.get_by_role("heading", name="Glint operators")).to_be_visible()
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect_dashboard(page)


def expect_dashboard(page: Page) -> None:
    """The dashboard is showing live numbers."""
    expect(page.get_by_role("navigation", name="Console")).to_be_visible()
    expect(page.get_by_test_id("kpi-connections")).to_have_text(r_int())


def r_int() -> Any:
    import re
    return re.compile(r"^\d[\d,]*$")


def kpi(page: Page, key: str) -> int:
    """A cluster total from the dashboard (key: connections, online, in, out, errors)."""
    return int(page.get_by_test_id(f"kpi-{key}").inner_text().replace(",", ""))


def wait_kpi(page: Page, key: str, value: int) -> None:
    """Wait until the dashboard's live total shows `value`."""
    expect(page.get_by_test_id(f"kpi-{key}")).to_have_text(f"{value:,}")


def go_to(page: Page, section: str) -> None:
    """Open a console section by its nav link (Dashboard, Sessions, Users, ...)."""
    page.get_by_role("navigation", name="Console").get_by_role("link", name=section).click()
    expect(page.get_by_role("navigation", name="Console").get_by_role("link", name=section)) \
        .to_have_attribute("aria-current", "page")


def confirm(page: Page, button: str, reason: str | None = None) -> None:
    """Answer the confirmation dialog (with a reason if given)."""
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    if reason is not None:
        dialog.get_by_label("Reason").fill(reason)
    dialog.get_by_role("button", name=button, exact=True).click()
    expect(dialog).to_be_hidden()


def user_row(page: Page, username: str) -> Locator:
    return page.locator(f"tr[data-user='{username}']")


def find_user(page: Page, username: str) -> Locator:
    """Search the Users list and return that user's row."""
    go_to(page, "Users")
    page.get_by_label("Username starts with, or user id").fill(username)
    page.get_by_role("search", name="Search users").get_by_role("button", name="Search").click()
    row = user_row(page, username)
    expect(row).to_be_visible()
    return row


def suspend_user(page: Page, username: str, reason: str) -> None:
    """Users → find → Suspend, with a reason; waits for the row to say so."""
    row = find_user(page, username)
    row.get_by_role("button", name=f"Suspend @{username}").click()
    confirm(page, "Suspend", reason)
    expect(row.get_by_test_id("user-status")).to_contain_text("Suspended")
    expect(page.get_by_test_id("users-outcome")).to_contain_text(f"Suspended @{username}")


def unsuspend_user(page: Page, username: str) -> None:
    row = find_user(page, username)
    row.get_by_role("button", name=f"Unsuspend @{username}").click()
    confirm(page, "Unsuspend")
    expect(row.get_by_test_id("user-status")).to_have_text("Active")


def _remove_content(page: Page, kind: str, content_id: int, reason: str) -> None:
    """Posts & comments → find the post or comment (kind) by id → Remove, with a reason."""
    go_to(page, "Posts & comments")
    if kind == "comment":
        page.get_by_role("button", name="Comments", exact=True).click()
    page.get_by_label("Find by").select_option(kind)
    page.get_by_label("Id or username").fill(str(content_id))
    page.get_by_role("search", name=f"Find {kind}s").get_by_role("button", name="Search").click()
    row = page.locator(f"tr[data-id='{content_id}']")
    expect(row).to_be_visible()
    row.get_by_role("button", name=f"Remove {kind} {content_id}").click()
    confirm(page, "Remove", reason)
    expect(row.get_by_test_id("content-state")).to_contain_text("Removed")


def remove_post(page: Page, post_id: int, reason: str) -> None:
    """Posts & comments → find the post by id → Remove, with a reason."""
    _remove_content(page, "post", post_id, reason)


def announce(page: Page, text: str, level: str = "info") -> None:
    """Announcements → compose → Send (confirmed)."""
    go_to(page, "Announcements")
    page.get_by_label("Message to every online user").fill(text)
    page.get_by_role("radio", name=level).check()
    page.get_by_role("button", name="Send announcement").click()
    confirm(page, "Send")
    expect(page.get_by_test_id("announce-outcome")).to_contain_text("Announcement sent")


# -- bots -------------------------------------------------------------------

class Bot:
    """A signed-up protocol client running in its own thread and trio loop.

    `call()` runs an op on it from the test's thread; every event it receives goes
    to a queue (`next_event`), and when the server closes the socket for good the
    queue gets (CLOSED, close_code). No reconnects: a close is final.
    """

    def __init__(self, ws_url: str, username: str, password: str = PASSWORD) -> None:
        self.ws_url = ws_url
        self.username = username
        self.password = password
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.user: dict[str, Any] = {}
        self._started: queue.Queue[BaseException | None] = queue.Queue()
        self._client: Client | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._thread = threading.Thread(target=lambda: trio.run(self._main), daemon=True,
                                        name=f"bot-{username}")

    def start(self) -> Bot:
        """Connect and sign up; returns once the bot has said hello."""
        self._thread.start()
        err = self._started.get(timeout=BOT_SECONDS)
        if err is not None:
            raise err
        return self

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        try:
            async with connect(self.ws_url, reconnect=False, client_name="glint-bot/test") as c:
                self._client = c
                hello = await c.signup(self.username, f"{self.username}@example.com",
                                       self.password)
                self.user = hello["user"]
                self._started.put(None)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump, c)
                    await self._stop.wait()
                    nursery.cancel_scope.cancel()
        except BaseException as exc:  # handed to the test's thread
            self._started.put(exc)

    async def _pump(self, c: Client) -> None:
        async for ev in c.events():
            self.events.put((ev.name, ev.data))
        self.events.put((CLOSED, c.close_code))
        await trio.sleep_forever()

    def call(self, op: str, **args: Any) -> Any:
        """Run one op on the bot's connection (raises the protocol's GlintError)."""
        assert self._client is not None and self._token is not None
        return trio.from_thread.run(partial(self._client.call, op, **args),
                                    trio_token=self._token)

    def upload(self, data: bytes) -> dict[str, Any]:
        """Upload a photo over HTTP with the bot's token; returns the media record."""
        assert self._client is not None and self._token is not None
        return trio.from_thread.run(partial(self._client.upload, data), trio_token=self._token)

    def next_event(self, name: str, timeout: float = BOT_SECONDS) -> Any:
        """The data of the next event called `name` (others are skipped); CLOSED's
        data is the close code."""
        while True:
            got, data = self.events.get(timeout=timeout)
            if got == name:
                return data
            if got == CLOSED:
                raise AssertionError(f"{self.username}: closed ({data}) while waiting for {name}")

    def wait_closed(self, timeout: float = BOT_SECONDS) -> int:
        """The close code, once the server has closed the bot's socket."""
        while True:
            got, data = self.events.get(timeout=timeout)
            if got == CLOSED:
                return int(data)

    def stop(self) -> None:
        """Close the socket (if still open) and end the thread."""
        if self._token is not None and self._stop is not None and self._thread.is_alive():
            stop = self._stop
            try:
                trio.from_thread.run_sync(stop.set, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(BOT_SECONDS)


def kick_session(page: Page, username: str) -> None:
    """Sessions → search → Kick (one session of that user), confirmed. The kicked
    session leaves the list as the outcome shows (it stayed until the next Search)."""
    go_to(page, "Sessions")
    page.get_by_label("Username starts with").fill(username)
    page.get_by_role("search", name="Search sessions").get_by_role("button", name="Search").click()
    row = page.locator(f"tr[data-user='{username}']").first
    expect(row).to_be_visible()
    cells = ("(rows) => rows.map((r) => [...r.querySelectorAll('td')].slice(0, 2)"
             ".map((c) => c.textContent))")
    kicked = row.evaluate(f"(r) => ({cells})([r])[0]")  # [node, conn]
    row.get_by_role("button", name=f"Kick @{username} (", exact=False).click()
    confirm(page, "Kick", "test kick")
    expect(page.get_by_test_id("sessions-outcome")).to_contain_text(f"Kicked @{username}")
    assert kicked not in page.locator(f"tr[data-user='{username}']").evaluate_all(cells)


def report_row(page: Page, target: int) -> Locator:
    """The Reports queue's row for a target (open Reports first)."""
    return page.locator(f"tr[data-target='{target}']")


def resolve_reports(page: Page, kind: str, target: int, action: str = "dismiss") -> None:
    """Reports → Resolve the target's reports with an action (dismiss, remove, suspend)."""
    go_to(page, "Reports")
    row = report_row(page, target)
    expect(row).to_be_visible()
    row.get_by_role("button", name=f"Resolve reports on {kind} {target}").click()
    labels = {"dismiss": "Dismiss (no action)", "remove": "Remove the content",
              "suspend": "Suspend the user behind it"}
    page.get_by_role("dialog").get_by_role("radio", name=labels[action]).check()
    confirm(page, "Resolve")
    expect(row).to_have_count(0)
    expect(page.get_by_test_id("reports-outcome")).to_contain_text(f"Resolved {kind} {target}")


def fits_width(page: Page) -> bool:
    """True when nothing makes the page scroll sideways (wide tables scroll inside
    their own box)."""
    return bool(page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"))


def reconnect(page: Page) -> None:
    """Drop the console's socket and wait until it is back (hello answered again)."""
    page.evaluate("""() => new Promise((resolve) => {
      const off = window.__glint.conn.on('conn.online', () => { off(); resolve(true); });
      window.__glint.conn.ws.close();
    })""")


def remove_comment(page: Page, comment_id: int, reason: str) -> None:
    """Posts & comments → Comments → find by comment id → Remove, with a reason."""
    _remove_content(page, "comment", comment_id, reason)


@contextmanager
def bot_factory(ws_url: str) -> Iterator[Callable[[str], Bot]]:
    """make(prefix) → a signed-up, connected Bot; every one made is stopped on exit."""
    started: list[Bot] = []

    def make(prefix: str) -> Bot:
        bot = Bot(ws_url, unique(prefix))
        started.append(bot)
        return bot.start()

    try:
        yield make
    finally:
        for bot in started:
            bot.stop()
