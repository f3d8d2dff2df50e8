"""Run the CPU-bound pipeline off the event loop, a bounded number at a time.

Pillow releases the GIL while it decodes, resizes and encodes, so a few worker
threads use a few cores; the limiter keeps uploads from taking them all. A
cancelled caller still waits for its thread (``abandon_on_cancel=False``): the
work is short and nothing is left running behind the node's back.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import trio

from config import limits
from media import pipeline
from media.pipeline import Processed


class MediaWorkers:
    def __init__(self, n: int = limits.MEDIA_WORKERS, *,
                 max_pixels: int = limits.MEDIA_MAX_PIXELS) -> None:
        if n < 1:
            raise ValueError("need at least one media worker")
        self.limiter = trio.CapacityLimiter(n)
        self.max_pixels = max_pixels
        pipeline.refuse_bomb_warnings()

    async def process(self, path: Path, **kw: Any) -> Processed:
        """``pipeline.process`` in a worker thread; ``max_pixels`` defaults to ours."""
        kw.setdefault("max_pixels", self.max_pixels)
        return await self._run(functools.partial(pipeline.process, path, **kw))

    async def render(self, master: bytes, **kw: Any) -> Processed:
        """``pipeline.render`` in a worker thread."""
        return await self._run(functools.partial(pipeline.render, master, **kw))

    async def _run(self, fn: functools.partial[Processed]) -> Processed:
        return await trio.to_thread.run_sync(fn, limiter=self.limiter, abandon_on_cancel=False)

    def statistics(self) -> trio.CapacityLimiterStatistics:
        """Busy and waiting counts, for metrics."""
        return self.limiter.statistics()
