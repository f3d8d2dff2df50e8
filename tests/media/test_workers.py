"""The worker limiter around the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from config import limits
from media import pipeline
from media.errors import Unsupported
from media.workers import MediaWorkers
from tests.media.conftest import Writer, encode, scene


def test_defaults_come_from_config() -> None:
    w = MediaWorkers()
    assert w.limiter.total_tokens == limits.MEDIA_WORKERS
    assert w.max_pixels == limits.MEDIA_MAX_PIXELS
    with pytest.raises(ValueError):
        MediaWorkers(0)


async def test_process_and_render_in_threads(write: Writer) -> None:
    workers = MediaWorkers(2)
    got = await workers.process(write("a.jpg", encode(scene(), "JPEG")), filter="lark")
    assert got.source_format == "jpeg" and got.width == 600
    again = await workers.render(got.master, filter="lark", source_format="jpeg")
    assert again == got


async def test_errors_reach_the_caller(write: Writer) -> None:
    with pytest.raises(Unsupported):
        await MediaWorkers(1).process(write("a.txt", b"hello"))


async def test_max_pixels_can_be_overridden(write: Writer) -> None:
    from media.errors import TooLarge
    workers = MediaWorkers(1, max_pixels=1000)
    with pytest.raises(TooLarge):
        await workers.process(write("a.png", encode(scene(), "PNG")))
    await workers.process(write("a.png", encode(scene(), "PNG")), max_pixels=10**6)


async def test_at_most_n_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    workers = MediaWorkers(2)
    seen: list[int] = []
    threads: set[str] = set()

    def fake_process(path: Path, **kw: Any) -> str:
        import threading
        threads.add(threading.current_thread().name)
        seen.append(trio.from_thread.run_sync(lambda: workers.limiter.borrowed_tokens))
        return f"{path}:{kw['max_pixels']}"

    monkeypatch.setattr(pipeline, "process", fake_process)
    results: list[object] = []

    async def one(i: int) -> None:
        results.append(await workers.process(Path(f"p{i}")))

    async with trio.open_nursery() as nursery:
        for i in range(6):
            nursery.start_soon(one, i)
    assert sorted(results) == sorted(f"p{i}:{limits.MEDIA_MAX_PIXELS}" for i in range(6))
    assert seen and max(seen) <= 2 and min(seen) >= 1
    assert "MainThread" not in threads
    assert workers.statistics().borrowed_tokens == 0
