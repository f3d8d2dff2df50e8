"""The operator console (/admin), issue #8's acceptance: live connection count, suspend
closes the bot's socket with 4001, a removed post vanishes live for a watcher, an
announcement reaches the app, a non-operator is turned away; dashboard screenshots."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, LiveNode, Person, screenshot
from tests.browser.steps_admin import (
    Bot,
    announce,
    console_sign_in,
    expect_dashboard,
    go_to,
    kpi,
    make_admin,
    open_console,
    remove_post,
    suspend_user,
    wait_kpi,
)
from tests.browser.test_auth import sign_up
from tests.conftest import unique
from tests.fixtures.images import jpeg

CLOSE_SESSION_ENDED = 4001


@pytest.fixture
def bots(live_node: LiveNode) -> Iterator[Callable[[str], Bot]]:
    """Factory: bots(prefix) → a signed-up, connected Bot; all stopped at teardown."""
    started: list[Bot] = []

    def make(prefix: str) -> Bot:
        bot = Bot(live_node.ws_url, unique(prefix))
        started.append(bot)
        return bot.start()

    yield make
    for bot in started:
        bot.stop()


def test_operator_console_acts_live(person: Callable[..., Person], bots: Callable[[str], Bot],
                                    services: tuple[str, str], tmp_path: Path) -> None:
    admin_name = unique("op")
    make_admin(services, admin_name, tmp_path / "cli")
    op = person(DESKTOP).page
    open_console(op)
    console_sign_in(op, admin_name)
    assert op.evaluate("window.__glint.role.get()") == "operator"

    # A bot connects: the live connection count goes up by one, and it is listed.
    before = kpi(op, "connections")
    target = bots("bot")
    wait_kpi(op, "connections", before + 1)
    go_to(op, "Sessions")
    row = op.locator(f"tr[data-user='{target.username}']")
    expect(row).to_contain_text("glint-bot/test")

    # Suspending its user closes its socket at once, with 4001.
    suspend_user(op, target.username, "spam bot")
    assert target.wait_closed() == CLOSE_SESSION_ENDED
    go_to(op, "Dashboard")
    wait_kpi(op, "connections", before)

    # Removing a post that another client is watching: the watcher gets post.deleted.
    author, watcher = bots("author"), bots("watcher")
    media = author.upload(jpeg(320, 240))
    post = author.call("post.create", media=[media["id"]], caption="to be taken down")
    assert watcher.call("post.watch", post=post["id"])["id"] == post["id"]
    remove_post(op, post["id"], "breaks the rules")
    deleted = watcher.next_event("post.deleted")
    assert deleted["post"] == post["id"]

    # An announcement from the console reaches a person using the app (and bots).
    fan_person = person(PHONE)
    fan = fan_person.page
    sign_up(fan, unique("fan"))
    text = f"Maintenance at 04:00 UTC ({unique('m')})"
    announce(op, text, "warning")
    banner = fan.get_by_test_id("announcement")
    expect(banner).to_contain_text(text)
    assert watcher.next_event("announcement")["text"] == text

    # A non-operator opening /admin is told so (the server answers forbidden).
    fan.goto("/admin")
    expect(fan.get_by_test_id("not-operator")).to_have_text("This account is not an operator.")
    expect(fan.get_by_role("navigation", name="Console")).to_have_count(0)

    # The dashboard, on a desktop and on a phone.
    go_to(op, "Dashboard")
    expect_dashboard(op)
    screenshot(op, "admin-dashboard-desktop")
    op.set_viewport_size(PHONE)
    expect_dashboard(op)
    screenshot(op, "admin-dashboard-phone")
