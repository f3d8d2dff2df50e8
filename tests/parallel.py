"""Running the suite in parallel (pytest-xdist, `make test` runs `pytest -n 2`).

- The controlling process starts the embedded servers once, before its workers start,
  and hands them their addresses through DATABASE_URL / REDIS_URL: every worker shares
  the same two servers, as the nodes of one service do (tests are already apart by
  their own users and Redis namespaces).
- A test module runs on one worker, so its module fixtures start once; the browser
  tests all run on one worker, in order (tests/browser/conftest.py gives them a
  database of their own).
- A test marked `alone` reads or counts something site-wide (the newest posts of the
  whole service, every audit row): it runs while no other test runs. Each test holds
  a shared lock on a file for its duration, an `alone` test an exclusive one; a
  turnstile lock taken first keeps new tests from starving a waiting `alone` one.

Run in one process (plain `pytest`), none of this does anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.embedded import embedded_services

LOCK_ENV = "GLINT_TEST_LOCK_DIR"
_CONTROLLER = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "alone: reads site-wide state, so runs while no other test runs")
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return  # a worker (it inherits what follows), or a run in one process
    shared = Path(_CONTROLLER.enter_context(tempfile.TemporaryDirectory(prefix="glint-")))
    os.environ[LOCK_ENV] = str(shared)
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        return
    db, redis = _CONTROLLER.enter_context(embedded_services(
        shared / "services", database_url=os.environ.get("DATABASE_URL"),
        redis_url=os.environ.get("REDIS_URL")))
    os.environ.update(DATABASE_URL=db, REDIS_URL=redis)


def pytest_unconfigure(config: pytest.Config) -> None:
    _CONTROLLER.close()


def _scope(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return "browser" if path.startswith("tests/browser/") else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Whole modules, and the browser tests as one, go to a worker (a scheduler of our
    own: `--dist loadgroup` marks stopped working with pytest 9.2, pytest-xdist#1386)."""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndBrowser(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    return ModulesAndBrowser(config, log)


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, mode)  # released when the file closes
        yield


@pytest.fixture(autouse=True)
def _one_at_a_time_if_alone(request: pytest.FixtureRequest) -> Iterator[None]:
    shared = os.environ.get(LOCK_ENV)
    if not shared or not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    turnstile, tests = Path(shared) / "turnstile", Path(shared) / "tests"
    mode = fcntl.LOCK_EX if request.node.get_closest_marker("alone") else fcntl.LOCK_SH
    with contextlib.ExitStack() as held:
        with _flock(turnstile, fcntl.LOCK_EX):
            held.enter_context(_flock(tests, mode))
        yield

