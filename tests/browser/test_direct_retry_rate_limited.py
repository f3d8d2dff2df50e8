"""A message refused with `rate_limited` says so in words, with the wait, and offers Retry
only once `retry_after` has passed; Retry then sends it (once).

The limit is real: this module runs its own node with a low per-connection op rate
(GLINT_OPS_PER_SECOND / GLINT_OPS_BURST, docs/operations.md), and the test spends the
page's tokens through its own connection before sending from the composer.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, DIST, PHONE, LiveNode, Person, node_env, run_node
from tests.browser.steps_common import follow, go, sign_up_via_http
from tests.browser.steps_direct import (
    message,
    open_conversation,
    open_dm_via_protocol,
    submit_message,
    wait_for_message,
)
from tests.conftest import unique

#: One op per 5 s once the burst is spent: retry_after is a few seconds, long enough to
#: see Retry held back, short enough for a test.
OPS_PER_SECOND = 0.2
#: Enough for the app's start-up and the test's set-up on one connection.
OPS_BURST = 60
#: The most ops a drain may take (a burst, plus what refills meanwhile).
DRAIN_MAX = 200
#: Pings every half heartbeat would spend a token at a random moment: push them out.
HEARTBEAT_SECONDS = 600

# Spend the connection's tokens: ping until the node answers rate_limited.
_DRAIN_JS = """async (max) => {
  for (let i = 0; i < max; i++) {
    try {
      await window.__glint.conn.call('ping', {});
    } catch (err) {
      if (err.code === 'rate_limited') return i;
      throw err;
    }
  }
  return -1;
}"""


@pytest.fixture(scope="module")
def live_node(browser_ready: None, services: tuple[str, str],
              browser_data_dir: Path) -> Iterator[LiveNode]:
    """This module's node: the browser conftest's, with a low per-connection op rate."""
    env = node_env(services, GLINT_NODE_NAME="browser-limited",
                   GLINT_NAMESPACE=f"b{uuid.uuid4().hex[:8]}", GLINT_WEB_DIR=str(DIST),
                   GLINT_OPS_PER_SECOND=str(OPS_PER_SECOND), GLINT_OPS_BURST=str(OPS_BURST),
                   GLINT_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS))
    with run_node(env, browser_data_dir, "browser-limited") as node:
        yield node


def spend_op_tokens(page: Page) -> None:
    """Use up the page connection's op tokens, so its next op is refused."""
    spent = page.evaluate(_DRAIN_JS, DRAIN_MAX)
    assert spent >= 0, "the node never answered rate_limited"


def test_rate_limited_message_retries_after_the_wait(person: Callable[..., Person]) -> None:
    alice, bob = person(PHONE), person(DESKTOP)
    a, b = unique("alice"), unique("bob")
    sign_up_via_http(alice.page, a)
    sign_up_via_http(bob.page, b)
    follow(bob.page, a)  # alice's messages land in bob's inbox
    open_conversation(alice.page, b)
    conv = open_dm_via_protocol(bob.page, a)
    go(bob.page, f"/direct/{conv}")
    expect(bob.page.get_by_label("Message", exact=True)).to_be_visible()

    spend_op_tokens(alice.page)
    pending = submit_message(alice.page, "are we still on for 6?")
    # Refused: a clear message with the wait, the text kept, no Retry yet.
    failure = pending.get_by_role("alert")
    expect(failure).to_contain_text("Not sent.")
    expect(failure).to_contain_text(re.compile(r"too often\. Try again in \d+ seconds?\."))
    expect(failure).to_have_attribute("data-retryable", "true")
    expect(pending).to_contain_text("are we still on for 6?")
    retry = failure.get_by_role("button", name="Retry")
    expect(retry).to_have_count(0)
    expect(failure.get_by_role("button", name="Delete")).to_be_visible()
    expect(message(bob.page, "are we still on for 6?")).to_have_count(0)

    # Once the wait is over, Retry shows; it sends the message, once.
    expect(retry).to_be_visible()
    retry.click()
    wait_for_message(alice.page, "are we still on for 6?")
    expect(pending).to_have_count(0)
    wait_for_message(bob.page, "are we still on for 6?")
    expect(message(bob.page, "are we still on for 6?")).to_have_count(1)
    expect(message(alice.page, "are we still on for 6?")).to_have_count(1)
