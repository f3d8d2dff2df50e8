"""Browser tests: a real node process serving the built web app, driven by Playwright
(sync API) in Debian's Chromium.

Needs `chromium` on PATH (or GLINT_CHROMIUM) and a built `client_js/dist` (`make web`).
Without them these tests skip, except under CI=true, where they fail instead.
Screenshots go to $GLINT_ARTIFACTS (default tests/browser/artifacts/, gitignored).
Run in parallel (xdist), they use a database of their own on the shared server: the
console and explore pages list everyone's posts, and other workers' posts keep their
photos in those tests' own directories.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from server.cli import READY_LINE
from tests.conftest import PASSWORD, unique

ROOT = Path(__file__).resolve().parents[2]
#: The built app the node serves: $GLINT_WEB_DIR (a private build, so parallel
#: sessions don't swap assets under each other) or client_js/dist.
DIST = Path(os.environ.get("GLINT_WEB_DIR") or ROOT / "client_js" / "dist")
ARTIFACTS = Path(os.environ.get("GLINT_ARTIFACTS") or Path(__file__).parent / "artifacts")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
NODE_START_SECONDS = 60.0
NODE_STOP_SECONDS = 20.0
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
#: Playwright's default wait for expect()/locators in these tests, in ms.
WAIT_MS = 15_000

__all__ = ["PASSWORD", "unique"]


def _chromium() -> str | None:
    given = os.environ.get("GLINT_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _missing() -> str | None:
    if _chromium() is None:
        return "no Chromium found (apt-get install chromium, or set GLINT_CHROMIUM)"
    if not (DIST / "index.html").is_file():
        return "the web app is not built (run `make web`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="session")
def browser_ready() -> None:
    """Skip (or fail under CI) when Chromium, the build or Playwright is missing."""
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


BROWSER_DATABASE = "glint_browser"


async def _create_database(url: str, name: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
        pass  # made meanwhile by another worker
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def services(services: tuple[str, str]) -> tuple[str, str]:
    """The shared servers; under xdist, with a database of the browser tests' own."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return services
    db, redis = services
    with ThreadPoolExecutor(1) as pool:  # Playwright's own event loop may run here
        pool.submit(asyncio.run, _create_database(db, BROWSER_DATABASE)).result()
    return urlsplit(db)._replace(path=f"/{BROWSER_DATABASE}").geturl(), redis


@dataclass(frozen=True)
class LiveNode:
    http_url: str
    ws_url: str
    #: The node's Redis namespace: a second node given the same one joins its cluster.
    namespace: str = ""


@pytest.fixture(scope="session")
def browser_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir (so one media store) for every node of the session: they share one
    database, so a page may show another module's photos, and those must exist."""
    return tmp_path_factory.mktemp("browser-data")


def node_env(services: tuple[str, str], **extra: str) -> dict[str, str]:
    """The environment of a `glint serve` process on these services (no GLINT_* setting
    of ours leaks in), plus `extra`."""
    db, redis = services
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("GLINT_")}
    env.update({"DATABASE_URL": db, "REDIS_URL": redis, "GLINT_LOG_LEVEL": "warning", **extra})
    return env


@contextmanager
def run_node(env: dict[str, str], data_dir: Path, name: str) -> Iterator[LiveNode]:
    """`glint serve` as a separate process on free ports, until the block ends."""
    cmd = [sys.executable, "-m", "server.cli", "serve", "--port", "0", "--ws-port", "0",
           "--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # keeps the pipe drained for the node's whole life
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        while True:
            line = lines.get(timeout=NODE_START_SECONDS)
            if line is None:
                raise RuntimeError(f"node {name} exited before it was ready")
            if line.startswith(READY_LINE):
                break
        fields = dict(part.split("=", 1) for part in line.split()[2:])
        yield LiveNode(fields["http"], fields["ws"], env.get("GLINT_NAMESPACE", ""))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(NODE_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def live_node(browser_ready: None, services: tuple[str, str],
              browser_data_dir: Path) -> Iterator[LiveNode]:
    """`glint serve` as a separate process, on free ports, with its own namespace."""
    env = node_env(services, GLINT_NODE_NAME="browser", GLINT_NAMESPACE=f"b{uuid.uuid4().hex[:8]}",
                   GLINT_WEB_DIR=str(DIST))
    with run_node(env, browser_data_dir, "browser") as node:
        yield node


@pytest.fixture(scope="session")
def browser(browser_ready: None) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Person:
    """One person's browser context and page, with their console errors."""

    page: object
    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow_console(self, pattern: str) -> None:
        """Accept console errors matching `pattern` (e.g. the browser's own log line for
        an expected 401 response), for this person only."""
        self.allowed.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def person(browser: object, live_node: LiveNode) -> Iterator[Callable[..., Person]]:
    """Factory: person(viewport=PHONE) → a Person in a fresh context. Any console error
    (or uncaught page error) not allowed by the test fails the test at teardown."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    contexts: list[object] = []
    people: list[Person] = []

    def make(viewport: dict[str, int] | None = None) -> Person:
        ctx = browser.new_context(base_url=live_node.http_url,  # type: ignore[attr-defined]
                                  viewport=viewport or DESKTOP)
        ctx.set_default_timeout(WAIT_MS)
        contexts.append(ctx)
        page = ctx.new_page()
        who = Person(page)
        page.on("console", lambda m: m.type == "error" and who.errors.append(
            f"console: {m.text} @ {m.location.get('url', '')}"))
        page.on("pageerror", lambda exc: who.errors.append(f"page error: {exc}"))
        people.append(who)
        return who

    yield make
    for ctx in contexts:
        ctx.close()  # type: ignore[attr-defined]
    bad = [e for who in people for e in who.unexpected_errors()]
    assert not bad, f"console errors: {bad}"


def screenshot(page: object, name: str) -> Path:
    """Save a full-page screenshot as an artifact and check that it is not blank."""
    from PIL import Image, ImageStat

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    with Image.open(path) as img:
        rgb = img.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 16)
        spread = max(ImageStat.Stat(rgb).stddev)
    assert colours is None or len(colours) > 8, f"{path} is (nearly) one colour"
    assert spread > 2.0, f"{path} is blank (stddev {spread:.1f})"
    return path
