"""Live watching of posts on one node: who watches what, and a coalescer for counters.

A connection that watches a post gets that post's live events: `comment.added`,
`comment.deleted` and `post.deleted` at once, `post.updated` coalesced. The
events are published on the post's bus channel by whichever node made the
change; this node subscribes to the channel while at least one of its
connections watches the post.

Counters of a hot post change far more often than anyone can read them, so
`post.updated` is merged per post (latest fields win) and flushed by one task at
most every FLUSH_INTERVAL: one frame per post per flush, framed once for all its
watchers. Publishes from concurrent transactions may arrive out of commit order,
so a flush re-reads the counts from Postgres (one query for every pending post):
the last flush after the last change always carries the final counts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar

import trio

from actors.errors import Invalid
from protocol.envelope import CodecError, decode_map, encode, event
from storage import bus
from storage import posts as db
from storage.errors import Unavailable
from storage.store import Storage

log = logging.getLogger(__name__)

WATCH_MAX = 50  # posts one connection may watch at once
FLUSH_INTERVAL = 0.25  # seconds between counter flushes: at most 4 per second per post

T = TypeVar("T")


class Watcher(Protocol):
    """A connection as the registry sees it."""

    conn_id: int

    @property
    def open(self) -> bool: ...


Fanout = Callable[[Iterable[Any], bytes], None]


class Watchers:
    """The node's registry of watched posts, its bus handler and its flusher."""

    def __init__(self, st: Storage, subscriber: bus.Subscriber, fanout: Fanout, *,
                 per_connection: int = WATCH_MAX, interval: float = FLUSH_INTERVAL) -> None:
        self.st = st
        self.subscriber = subscriber
        self.fanout = fanout
        self.per_connection = per_connection
        self.interval = interval
        self.prefix = st.key("p", "")
        self._by_post: dict[int, dict[int, Watcher]] = {}
        self._by_conn: dict[int, set[int]] = {}
        self._subscribed: set[int] = set()
        self._lock = trio.Lock()  # subscribe/unsubscribe one at a time, in order
        self._pending: dict[int, dict[str, Any]] = {}
        self._flush_wake = trio.Event()
        self._stale: set[int] = set()
        self._stale_wake = trio.Event()
        self.flushes = 0  # post.updated frames sent (for tests and metrics)

    def channel(self, post_id: int) -> str:
        return self.st.key("p", post_id)

    def watching(self, conn: Watcher) -> set[int]:
        return set(self._by_conn.get(conn.conn_id, ()))

    # -- watch / unwatch ----------------------------------------------------------------
    async def watch(self, conn: Watcher, post_id: int, check: Callable[[], Awaitable[T]]) -> T:
        """Register, subscribe, then run `check` (the privacy check and current state).

        Subscribing before reading means nothing committed after the read is missed.
        If the check fails (or the connection is gone meanwhile) the watch is undone.
        """
        mine = self._by_conn.setdefault(conn.conn_id, set())
        if post_id not in mine and len(mine) >= self.per_connection:
            raise Invalid(f"watching at most {self.per_connection} posts per connection; "
                          "unwatch some first")
        was_watching = post_id in mine
        mine.add(post_id)
        self._by_post.setdefault(post_id, {})[conn.conn_id] = conn
        ok = False
        try:
            await self._reconcile(post_id)
            result = await check()
            ok = conn.open
            return result
        finally:
            if not ok and not was_watching:
                self._remove(conn.conn_id, post_id)
                self._mark_stale(post_id)

    def unwatch(self, conn: Watcher, post_id: int) -> bool:
        """Stop watching; True if it was watched. Unsubscribing happens in the background."""
        if post_id not in self._by_conn.get(conn.conn_id, ()):
            return False
        self._remove(conn.conn_id, post_id)
        self._mark_stale(post_id)
        return True

    def drop(self, conn: Watcher) -> None:
        """A connection ended (node.disconnect_hooks): forget all its watches."""
        for post_id in self._by_conn.pop(conn.conn_id, set()):
            watchers = self._by_post.get(post_id)
            if watchers is not None:
                watchers.pop(conn.conn_id, None)
                if not watchers:
                    del self._by_post[post_id]
                    self._pending.pop(post_id, None)
            self._mark_stale(post_id)

    def _remove(self, conn_id: int, post_id: int) -> None:
        mine = self._by_conn.get(conn_id)
        if mine is not None:
            mine.discard(post_id)
            if not mine:
                del self._by_conn[conn_id]
        watchers = self._by_post.get(post_id)
        if watchers is not None:
            watchers.pop(conn_id, None)
            if not watchers:
                del self._by_post[post_id]
                self._pending.pop(post_id, None)

    def _mark_stale(self, post_id: int) -> None:
        if post_id not in self._by_post:
            self._stale.add(post_id)
            self._stale_wake.set()

    async def _reconcile(self, post_id: int) -> None:
        """Make the subscription match whether anyone here still watches the post."""
        async with self._lock:
            want = bool(self._by_post.get(post_id))
            if want and post_id not in self._subscribed:
                await self.subscriber.subscribe(self.channel(post_id))
                self._subscribed.add(post_id)
            elif not want and post_id in self._subscribed:
                self._subscribed.discard(post_id)
                await self.subscriber.unsubscribe(self.channel(post_id))

    # -- the bus side ---------------------------------------------------------------------
    def on_message(self, msg: bus.Message) -> None:
        """node.channel_handlers entry for `p:<post id>` channels (runs in the dispatcher)."""
        if msg.kind != "e":
            return
        try:
            post_id = int(msg.channel[len(self.prefix):])
        except ValueError:
            return
        watchers = self._by_post.get(post_id)
        if not watchers:
            return
        try:
            frame = decode_map(msg.body)
        except CodecError:
            log.warning("malformed post event", extra={"channel": msg.channel})
            return
        name, data = frame.get("ev"), frame.get("data")
        if name == "post.updated" and isinstance(data, dict):
            self._pending.setdefault(post_id, {}).update(data)
            self._flush_wake.set()
            return
        self.fanout(list(watchers.values()), msg.body)
        if name == "post.deleted":  # nothing more will come: let the watchers go
            for conn_id in list(watchers):
                self._remove(conn_id, post_id)
            self._pending.pop(post_id, None)
            self._mark_stale(post_id)

    # -- background -----------------------------------------------------------------------
    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """The flusher and the unsubscriber; runs for the node's lifetime."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._flush_loop)
            nursery.start_soon(self._unsubscribe_loop)
            task_status.started()

    async def _flush_loop(self) -> None:
        while True:
            await self._flush_wake.wait()
            self._flush_wake = trio.Event()
            await self.flush()
            await trio.sleep(self.interval)  # the coalescing window

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        live = [p for p in pending if self._by_post.get(p)]
        if not live:
            return
        try:
            fresh: dict[int, tuple[int, int]] | None = await db.counts(self.st, live)
        except Unavailable as exc:
            log.warning("post counts not re-read; sending the published ones",
                        extra={"error": str(exc)})
            fresh = None
        for post_id in live:
            data = pending[post_id]
            if fresh is not None:
                if post_id not in fresh:
                    continue  # deleted meanwhile: post.deleted says so
                data["like_count"], data["comment_count"] = fresh[post_id]
            watchers = self._by_post.get(post_id)
            if watchers:
                self.fanout(list(watchers.values()), encode(event("post.updated", data)))
                self.flushes += 1

    async def _unsubscribe_loop(self) -> None:
        while True:
            await self._stale_wake.wait()
            self._stale_wake = trio.Event()
            stale, self._stale = self._stale, set()
            for post_id in stale:
                try:
                    await self._reconcile(post_id)
                except Exception as exc:  # the bus is down: it resubscribes what is wanted
                    log.warning("unsubscribe failed", extra={"error": repr(exc)})
