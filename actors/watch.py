"""Live watching of posts on one node: who watches what, and a coalescer for counters.

A connection that watches a post gets that post's live events: `comment.added` and
`comment.deleted` (of the comments it may see, below) and `post.deleted` at once,
`post.updated` coalesced. The events are published on the post's bus channel by
whichever node made the change; this node subscribes to the channel while at least one
of its connections watches the post.

Counters of a hot post change far more often than anyone can read them, so
`post.updated` is merged per post (latest fields win) and flushed by one task at
most every FLUSH_INTERVAL: one frame per post per flush, framed once for all its
watchers. Publishes from concurrent transactions may arrive out of commit order,
so a flush re-reads the counts from Postgres (one query for every pending post):
the last flush after the last change always carries the final counts.

Sight is checked when a watch starts, and again only when a relation change may
take it away (a block, a private account's follow gone, an account turned
private): `sight_lost` then puts a small `v` message on the bus channel of each of
the author's watched posts, naming the viewers concerned (none: anyone). Each node
watching such a post holds its events back, re-reads how those watchers stand to
the author (one query), ends the watches of those who may no longer see it with
`post.deleted`, and lets the held events go on to the rest.

A comment is hidden from whoever blocks its author or is blocked by them (as in
`comment.list`) while its post stays in sight, so `comment.added` and `comment.deleted`
are checked per event: the node holds the post's events, reads how all its watchers of
the post stand to the comment's author (the author found by the comment's id, so a block
made at any time counts), sends the event to those who may see the comment, and lets the
held events go on. The events that came during one check are checked together next (one
query per batch per node), so a hot post's comments do not queue one round trip each.
No other event is checked. Counters wait for a sight re-check; for a comment check at
most one coalescing window.

A `v` message published while Redis is down is lost (and so is a `post.deleted`).
Every node that was cut off reconnects its bus, and then (node.reconnect_hooks, also
on an overflowed inbox) `recheck_all` re-checks every watch here as if a `v` naming
anyone had come for every watched post: in chunks of posts, one query each. Left
open: a node whose own bus stayed up while the writer's publish failed (only the
writer lost Redis, for longer than its publish retries). That is rare, and the writer's
own bus drops too, so it re-checks its own watches; covering the other nodes would
mean the writer keeping the failed `v`s and publishing them again once Redis answers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import msgpack
import trio

from actors import privacy
from actors.errors import Invalid, Missing
from protocol.envelope import CodecError, decode_map, encode, event
from storage import bus, watching
from storage import posts as db
from storage.errors import Unavailable
from storage.relations import Relation
from storage.store import Storage

log = logging.getLogger(__name__)

WATCH_MAX = 50  # posts one connection may watch at once
FLUSH_INTERVAL = 0.25  # seconds between counter flushes: at most 4 per second per post
SIGHT = "v"  # bus message kind on a post channel: re-check some watchers' sight of it
SWEEP_PAIRS = 2000  # (post, viewer) pairs per query when re-checking every watch
SWEEP_RETRY = 5.0  # seconds before a re-check of every watch that failed is tried again
# Seconds between two re-checks of every watch: a node that keeps lagging asks for one per
# lag, and each costs the database a query per SWEEP_PAIRS watches.
SWEEP_MIN_INTERVAL = 5.0
# Events about one comment: sent only to the watchers who may see it (privacy.can_see_comment).
COMMENT_EVENTS = frozenset({"comment.added", "comment.deleted"})

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
        self._viewer: dict[int, int] = {}  # conn id -> the user it is signed in as
        self._held: dict[int, list[bus.Message]] = {}  # posts being checked: their events
        # posts whose watchers' sight is being re-checked (by a `v` and a sweep: a count)
        self._rechecks: dict[int, int] = {}
        self._counters_held: dict[int, float] = {}  # post -> since when a check holds them
        self._nursery: trio.Nursery | None = None
        self._subscribed: set[int] = set()
        self._lock = trio.Lock()  # subscribe/unsubscribe one at a time, in order
        self._pending: dict[int, dict[str, Any]] = {}
        self._flush_wake = trio.Event()
        self._stale: set[int] = set()
        self._stale_wake = trio.Event()
        self._sweep_wake = trio.Event()
        self.sweeps = 0  # re-checks of every watch done (for tests)
        self.flushes = 0  # post.updated frames sent (for tests and metrics)

    def channel(self, post_id: int) -> str:
        return self.st.key("p", post_id)

    def watching(self, conn: Watcher) -> set[int]:
        return set(self._by_conn.get(conn.conn_id, ()))

    # -- watch / unwatch ----------------------------------------------------------------
    async def watch(self, conn: Watcher, post_id: int, check: Callable[[], Awaitable[T]], *,
                    viewer: int) -> T:
        """Register, subscribe, then run `check` (the privacy check and current state).

        Subscribing before reading means nothing committed after the read is missed —
        also no `sight_lost` for a relation change the read did not see: it finds the
        channel and re-checks this watch, which is registered already; if that ends it
        before the check returns, the watch fails as `not_found`. If the check fails
        (or the connection is gone meanwhile) the watch is undone.
        """
        mine = self._by_conn.setdefault(conn.conn_id, set())
        if post_id not in mine and len(mine) >= self.per_connection:
            raise Invalid(f"watching at most {self.per_connection} posts per connection; "
                          "unwatch some first")
        was_watching = post_id in mine
        mine.add(post_id)
        self._viewer[conn.conn_id] = viewer
        self._by_post.setdefault(post_id, {})[conn.conn_id] = conn
        ok = False
        try:
            await self._reconcile(post_id)
            result = await check()
            if post_id not in self._by_conn.get(conn.conn_id, ()):
                raise Missing("no such post")  # sight lost (or deleted) while checking
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
        self._viewer.pop(conn.conn_id, None)
        for post_id in self._by_conn.pop(conn.conn_id, set()):
            watchers = self._by_post.get(post_id)
            if watchers is not None:
                watchers.pop(conn.conn_id, None)
                if not watchers:
                    del self._by_post[post_id]
                    self._pending.pop(post_id, None)
                    self._counters_held.pop(post_id, None)
            self._mark_stale(post_id)

    def _remove(self, conn_id: int, post_id: int) -> None:
        mine = self._by_conn.get(conn_id)
        if mine is not None:
            mine.discard(post_id)
            if not mine:
                del self._by_conn[conn_id]
                self._viewer.pop(conn_id, None)
        watchers = self._by_post.get(post_id)
        if watchers is not None:
            watchers.pop(conn_id, None)
            if not watchers:
                del self._by_post[post_id]
                self._pending.pop(post_id, None)
                self._counters_held.pop(post_id, None)

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
        if msg.kind not in ("e", SIGHT):
            return
        try:
            post_id = int(msg.channel[len(self.prefix):])
        except ValueError:
            return
        watchers = self._by_post.get(post_id)
        if not watchers:
            return
        frame = _frame(msg) if msg.kind != SIGHT else None
        held = self._held.get(post_id)
        if held is not None and (frame is None or frame[0] != "post.updated"
                                 or not isinstance(frame[1], dict)):
            held.append(msg)  # a check is running: in order, after it
            return
        if msg.kind == SIGHT:
            self._on_sight(post_id, watchers, msg.body)
            return
        if frame is None:
            return
        if frame[0] in COMMENT_EVENTS:
            if self._nursery is None:
                log.warning("comment event not sent", extra={"post": post_id})
                return
            self._held[post_id] = [msg]  # it and what follows go through the check, in order
            self._nursery.start_soon(self._screen, post_id)
            return
        self._deliver(post_id, watchers, frame[0], frame[1], msg.body)

    def _deliver(self, post_id: int, watchers: dict[int, Watcher], name: str, data: Any,
                 body: bytes) -> None:
        """An event that is not about a comment, to all the post's watchers here. Counters
        (`post.updated`) are merged into the next flush even while the post's events are
        held: a flush re-reads them, and waits itself for a sight re-check."""
        if name == "post.updated" and isinstance(data, dict):
            self._pending.setdefault(post_id, {}).update(data)
            self._flush_wake.set()
            return
        self.fanout(list(watchers.values()), body)
        if name == "post.deleted":  # nothing more will come: let the watchers go
            for conn_id in list(watchers):
                self._remove(conn_id, post_id)
            self._pending.pop(post_id, None)
            self._counters_held.pop(post_id, None)
            self._mark_stale(post_id)

    # -- comments hidden by a block ---------------------------------------------------------
    async def _screen(self, post_id: int) -> None:
        """Send the post's held events on, comment events only to those who may see the
        comment, a batch at a time: each batch is what came while the previous one was
        checked (up to a `v` message, left to `_release`), and one query covers all its
        comments. One query per comment would cap a hot post at one comment per query's
        round trip, its events (counters too) waiting behind the checks."""
        try:
            while batch := self._held.get(post_id):
                cut = next((i for i, m in enumerate(batch) if m.kind == SIGHT), len(batch))
                if cut == 0:
                    break  # a sight re-check next: _release hands it on, in order
                self._held[post_id] = batch[cut:]
                await self._send_screened(post_id, batch[:cut])
        finally:
            self._release([post_id])

    async def _send_screened(self, post_id: int, batch: Sequence[bus.Message]) -> None:
        """Send a batch of the post's events in order: a comment event to the watchers who
        may see its author and, for a reply, its thread's author (a hidden thread hides
        its replies, as comment.list does). All the watchers in one query, and those who
        came meanwhile in one more. A watcher the database could not say about gets
        nothing: a comment missed live (as on a bus hiccup; comment.list has it) rather
        than a leak."""
        frames = [(m, f) for m in batch if (f := _frame(m)) is not None]
        comments = {c for _, (name, data, _) in frames if name in COMMENT_EVENTS
                    and (c := _comment_id(name, data)) is not None}
        # per comment: {viewer: (may see it, may be told it went)}, judged once per shape
        # of relations
        sees: dict[int, dict[int, tuple[bool, bool]]] = {c: {} for c in comments}
        if comments:
            read: set[int] = set()
            try:
                while unread := self._viewers(post_id) - read:
                    sights = await self.st.read(watching.comment_viewers, comments, unread)
                    read |= unread
                    for c, sight in sights.items():
                        stranger = _may_see(sight.stranger)
                        known = {v: _may_see(rels) for v, rels in sight.known.items()}
                        sees[c].update((v, known.get(v, stranger)) for v in unread)
            except Exception as exc:  # Unavailable, or anything else: not the node's end
                log.warning("comment events not checked; not sent to the watchers unread",
                            extra={"post": post_id, "error": repr(exc)})
        for msg, (name, data, _) in frames:
            watchers = self._by_post.get(post_id)
            if not watchers:
                return
            if name not in COMMENT_EVENTS:
                self._deliver(post_id, watchers, name, data, msg.body)
                continue
            comment = _comment_id(name, data)
            if comment is None:
                log.warning("comment event not sent", extra={"post": post_id, "event": name})
                continue
            may = sees[comment]
            told = 1 if name == "comment.deleted" else 0
            to = [conn for cid, conn in watchers.items()
                  if (v := self._viewer.get(cid)) is not None
                  and may.get(v, (False, False))[told]]
            if to:
                self.fanout(to, msg.body)

    def _viewers(self, post_id: int) -> set[int]:
        """The users who watch the post on this node."""
        return {v for cid in self._by_post.get(post_id, ())
                if (v := self._viewer.get(cid)) is not None}

    # -- losing sight ---------------------------------------------------------------------
    def _on_sight(self, post_id: int, watchers: dict[int, Watcher], body: bytes) -> None:
        """A `sight_lost` message: hold the post's events and re-check the watchers named."""
        try:
            author, named = msgpack.unpackb(body, raw=False)
            author, named = int(author), {int(v) for v in named}
        except (ValueError, TypeError, msgpack.UnpackException):
            log.warning("malformed sight message", extra={"post": post_id})
            return
        viewers = {v for cid in watchers if (v := self._viewer.get(cid)) is not None
                   and v != author and (not named or v in named)}
        if not viewers or self._nursery is None:
            return
        self._held[post_id] = []
        self._rechecking([post_id], 1)
        self._nursery.start_soon(self._recheck, post_id, author, viewers)

    async def _recheck(self, post_id: int, author: int, viewers: set[int]) -> None:
        """End the watches of those who may no longer see the author's posts, then let the
        held events go. If the database cannot say, the watches end: better a watch to
        renew than a leak."""
        blind = viewers
        try:
            rels = await self.st.read(watching.relations_to, viewers, author)
            blind = {v for v in viewers if v not in rels or not privacy.can_see_posts(rels[v])}
        except Exception as exc:  # Unavailable, or anything else: this must not end the node
            log.warning("sight not re-checked; ending those watches", extra={"error": repr(exc)})
        finally:
            self._hide(post_id, blind)
            self._rechecking([post_id], -1)
            self._release([post_id])

    def _hide(self, post_id: int, viewers: Collection[int]) -> None:
        """The post is gone for these users: their watches of it end with `post.deleted`."""
        watchers = self._by_post.get(post_id, {})
        gone = [(cid, conn) for cid, conn in watchers.items() if self._viewer.get(cid) in viewers]
        if not gone:
            return
        for cid, _ in gone:
            self._remove(cid, post_id)
        self._mark_stale(post_id)
        self.fanout([conn for _, conn in gone], encode(event("post.deleted", {"post": post_id})))

    # -- every watch, after the bus was cut off ---------------------------------------------
    def recheck_all(self) -> None:
        """node.reconnect_hooks: `v` messages may have been lost; re-check every watch here
        soon (requests while one runs coalesce into one more)."""
        self._sweep_wake.set()

    async def sweep(self) -> None:
        """Re-check every watch here, a chunk of posts at a time: the chunk's events are held,
        one query reads how each watcher stands to each author, the blind (and the watchers
        of posts deleted meanwhile) get `post.deleted`, then the held events go on. Raises
        if the database cannot say; the watches are kept then (the caller retries)."""
        chunk: dict[int, set[int]] = {}
        size = 0
        for post_id in sorted(self._by_post):
            viewers = self._viewers(post_id)
            if not viewers:
                continue
            if chunk and size + len(viewers) > SWEEP_PAIRS:
                await self._sweep_chunk(chunk)
                chunk, size = {}, 0
            chunk[post_id] = viewers
            size += len(viewers)
        if chunk:
            await self._sweep_chunk(chunk)
        self.sweeps += 1

    async def _sweep_chunk(self, chunk: Mapping[int, set[int]]) -> None:
        mine = [p for p in chunk if p not in self._held]  # a `v` re-check holds the rest
        for post_id in mine:
            self._held[post_id] = []
        self._rechecking(chunk, 1)  # counters wait, also of posts held by a comment check
        try:
            sight = await self.st.read(watching.sight_of, chunk)
            for post_id, viewers in chunk.items():
                rels = sight.get(post_id, {})
                self._hide(post_id, {v for v in viewers
                                     if v not in rels or not privacy.can_see_posts(rels[v])})
        finally:
            self._rechecking(chunk, -1)
            self._release(mine)
            if any(p in self._pending for p in chunk):
                self._flush_wake.set()  # counters of posts a comment check holds

    def _rechecking(self, post_ids: Iterable[int], step: int) -> None:
        """A sight re-check of these posts begins (1) or ends (-1)."""
        for post_id in post_ids:
            left = self._rechecks.get(post_id, 0) + step
            if left > 0:
                self._rechecks[post_id] = left
            else:
                self._rechecks.pop(post_id, None)

    def _release(self, post_ids: Sequence[int]) -> None:
        """Let these posts' held events go on. Every hold ends first, so a failure while
        replaying one post's events cannot leave another's held (and its events piling
        up) for good."""
        released = [(p, self._held.pop(p, [])) for p in post_ids]
        for post_id, held in released:
            try:
                for msg in held:
                    self.on_message(msg)
            except Exception:
                log.exception("held watch events not replayed", extra={"post": post_id})
            if post_id in self._pending:
                self._flush_wake.set()

    async def _sweep_loop(self) -> None:
        while True:
            await self._sweep_wake.wait()
            self._sweep_wake = trio.Event()
            try:
                await self.sweep()
            except Exception as exc:  # Unavailable, or anything else: this must not end the node
                log.warning("watches not re-checked after the bus came back; retrying",
                            extra={"error": repr(exc)})
                self._sweep_wake.set()
                await trio.sleep(SWEEP_RETRY)
            else:
                await trio.sleep(SWEEP_MIN_INTERVAL)  # requests meanwhile: one more sweep

    # -- background -----------------------------------------------------------------------
    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """The flusher, the unsubscriber and the re-checks; runs for the node's lifetime."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._flush_loop)
            nursery.start_soon(self._unsubscribe_loop)
            nursery.start_soon(self._sweep_loop)
            task_status.started()

    async def _flush_loop(self) -> None:
        while True:
            # Woken by new counters or a hold's end; counters held behind a comment check
            # go anyway once their window is over.
            with trio.move_on_at(self._counters_due()):
                await self._flush_wake.wait()
            self._flush_wake = trio.Event()
            if await self.flush():
                await trio.sleep(self.interval)  # the coalescing window

    async def flush(self) -> bool:
        """Send the pending counters of the posts no check holds back; whether any went."""
        pending, self._pending = self._pending, {}
        now = trio.current_time()
        live = []
        for post_id, data in pending.items():
            if not self._by_post.get(post_id):
                self._counters_held.pop(post_id, None)
                continue
            if self._sight_pending(post_id) or self._behind_comments(post_id, now):
                # kept for later: the hold's end wakes the flusher (or _counters_due)
                self._pending[post_id] = {**data, **self._pending.get(post_id, {})}
                continue
            self._counters_held.pop(post_id, None)
            live.append(post_id)
        if not live:
            return False
        try:
            fresh: dict[int, tuple[int, int]] | None = await db.counts(self.st, live)
        except Unavailable as exc:
            log.warning("post counts not re-read; sending the published ones",
                        extra={"error": str(exc)})
            fresh = None
        sent = False
        for post_id in live:
            data = pending[post_id]
            if self._sight_pending(post_id):  # a re-check began meanwhile: after it
                self._pending[post_id] = {**data, **self._pending.get(post_id, {})}
                continue
            if fresh is not None:
                if post_id not in fresh:
                    continue  # deleted meanwhile: post.deleted says so
                data["like_count"], data["comment_count"] = fresh[post_id]
            watchers = self._by_post.get(post_id)
            if watchers:
                self.fanout(list(watchers.values()), encode(event("post.updated", data)))
                self.flushes += 1
                sent = True
        return sent

    def _counters_due(self) -> float:
        """When counters held back by a comment check go anyway (inf: none are)."""
        return min((since + self.interval for post_id, since in self._counters_held.items()
                    if post_id in self._pending), default=math.inf)

    def _behind_comments(self, post_id: int, now: float) -> bool:
        """Counters wait for a comment check under way, so that a comment's event comes
        before the count that includes it; but for one coalescing window at most, or a
        post commented on without a pause would never have its counters sent."""
        if post_id not in self._held:
            self._counters_held.pop(post_id, None)
            return False
        return now - self._counters_held.setdefault(post_id, now) < self.interval

    def _sight_pending(self, post_id: int) -> bool:
        """A re-check of who may still see the post runs or waits: counters wait for it
        (a watcher about to lose sight gets none)."""
        return post_id in self._rechecks or any(m.kind == SIGHT
                                                for m in self._held.get(post_id, ()))

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


def _may_see(rels: Iterable[Relation]) -> tuple[bool, bool]:
    """Whether someone standing so to the authors a comment hangs on may see it, and may
    be told it went (a suspended author's comments go from screens that way)."""
    rels = tuple(rels)
    return (all(privacy.can_see_comment(r) for r in rels),
            all(privacy.told_comment_gone(r) for r in rels))


def _frame(msg: bus.Message) -> tuple[str, Any, dict[str, Any]] | None:
    """An event message's (name, data, frame); None, logged, if it is not one."""
    try:
        frame = decode_map(msg.body)
    except CodecError:
        log.warning("malformed post event", extra={"channel": msg.channel})
        return None
    name = frame.get("ev")
    if not isinstance(name, str):
        log.warning("malformed post event", extra={"channel": msg.channel})
        return None
    return name, frame.get("data"), frame


def _comment_id(name: str, data: Any) -> int | None:
    """The comment a comment event is about: `comment` is its map in `comment.added`, its
    id in `comment.deleted`."""
    if not isinstance(data, dict):
        return None
    value = data.get("comment")
    if name == "comment.added":
        value = value.get("id") if isinstance(value, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def sight_lost(st: Storage, lost: Mapping[int, Collection[int]]) -> None:
    """After a commit that may hide authors' posts: {author: the viewers who may have lost
    sight of them (empty: anyone)}. Every node re-checks those of its watchers of the
    authors' watched posts (found with one PUBSUB CHANNELS). A failure is logged: the
    change itself stands."""
    try:
        watched = await watching.watched_posts_by(st, lost.keys())
        await bus.publish(st, [
            (st.key("p", post_id),
             bus.pack(SIGHT, msgpack.packb([author, sorted(lost[author])])))
            for post_id, author in watched.items()])
    except Unavailable as exc:
        log.warning("watchers not told of a lost sight", extra={"error": str(exc)})
