"""Presence and typing: who is online, who sees it, and typing indicators in DMs.

A node tells `Presence` when a connection is attached (`connected`) and when it
ends (`disconnected`); both only queue a change, so the gateway never waits on
Redis. One task applies the queued changes in batches (one crossing per batch)
and announces the users who came online (first device) or went offline (last
device gone) with an ephemeral `presence` event to the people they share a
current conversation with, as far as actors/privacy.py `can_see_presence`
allows. Another task refreshes the device keys of this node's connections every
heartbeat interval, and now and then users.last_active_at: in chunks of
REFRESH_CHUNK devices spread over the interval, so one large pipeline never
holds the storage loop (6,000 commands in one took 100-150 ms).

A node that dies cannot announce its users. So each instance renews a liveness
mark with its refresh, and every node, about once per heartbeat (jittered), looks
for instances whose mark expired while their device index remains; one node
claims each, removes its devices PRESENCE_SWEEP_CHUNK per crossing, and announces
`presence` offline for the users left with no live device, as a disconnect would.
A live node that finds its own mark gone (taken for dead, or Redis lost it)
connects all its devices again.

Typing indicators (`dm.typing`) go to the other current members of a
conversation, at most one per TYPING_THROTTLE_SECONDS per user and conversation;
receivers drop one that is not renewed within `expires_in_ms`.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import islice
from typing import Any, Protocol

import trio

from actors import args as A
from actors import privacy
from actors.accounts import Session
from actors.errors import Invalid
from config.limits import (
    PRESENCE_ACTIVE_WRITE_SECONDS,
    PRESENCE_CLAIM_HEARTBEATS,
    PRESENCE_GET_MAX,
    PRESENCE_QUEUE_SIZE,
    PRESENCE_SWEEP_CHUNK,
    PRESENCE_SWEEP_JITTER,
    PRESENCE_TTL_HEARTBEATS,
    TYPING_EXPIRES_MS,
    TYPING_THROTTLE_SECONDS,
)
from protocol.envelope import encode, event
from storage import bus
from storage import presence as db
from storage.errors import Unavailable
from storage.store import Storage

log = logging.getLogger(__name__)

BATCH_MAX = 500  # changes applied in one crossing
REFRESH_CHUNK = 200  # devices renewed in one crossing (3 Redis commands each)


async def status_hidden(st: Storage, before: Sequence[db.PresenceLink]) -> None:
    """A new block between two users: tell each viewer that the target's activity status
    is no longer theirs to see, with a `presence` event with `online` and
    `last_active_at` nil, as `presence.get` answers it, so an "Active now" shown from
    before goes away. Only to a viewer who could see it before the block (`before`: the
    two links, read in the block's transaction before it was written, the follows it
    cuts included, storage/presence.py `links_between`): to anyone else the event would
    itself reveal the block. Best effort: if lost, the stale status stays until the
    next `presence.get`."""
    try:
        await _publish_nil(st, [link for link in before if privacy.can_see_presence(link)])
    except Unavailable as exc:
        log.warning("presence not hidden", extra={"error": str(exc)})


async def suspension_hidden(st: Storage, user_id: int) -> None:
    """A user was suspended: their conversation peers who could see their status until
    then get a `presence` event with nil for them. The disconnects the suspension causes
    come after it committed, when no one may see the user any more: no "offline" goes
    out for them, and "Active now" stayed. Best effort, as `status_hidden`."""
    try:
        links = await db.audience(st, user_id)  # peer -> user
        await _publish_nil(st, [link for link in links if privacy.can_see_presence(
            replace(link, target_suspended=False))])
    except Unavailable as exc:
        log.warning("suspension not announced", extra={"error": str(exc)})


async def _publish_nil(st: Storage, links: Sequence[db.PresenceLink]) -> None:
    """To each link's viewer, a `presence` event with nil for its target."""
    items = [(bus.user_channel(st, link.viewer_id), bus.pack_event(None, encode(event(
        "presence", {"user": link.target_id, "online": None, "last_active_at": None}))))
        for link in links]
    if items:
        await bus.publish(st, items)


def _status_item(st: Storage, viewer_id: int, status: db.Status) -> tuple[str, bytes]:
    """A `presence` event with `status` for the viewer's devices, as a bus item."""
    return (bus.user_channel(st, viewer_id), bus.pack_event(None, encode(event("presence", {
        "user": status.user_id, "online": status.online,
        "last_active_at": status.last_active_ms}))))


class Device(Protocol):
    """A connection as presence sees it."""

    conn_id: int
    session: Session | None

    @property
    def open(self) -> bool: ...


class Presence:
    """This node's online devices, their refresher, presence.get and dm.typing."""

    def __init__(self, st: Storage, *, instance: str, heartbeat_seconds: float,
                 active_write_seconds: float = PRESENCE_ACTIVE_WRITE_SECONDS,
                 queue_size: int = PRESENCE_QUEUE_SIZE) -> None:
        self.st = st
        self.instance = instance  # unique per node process: device ids never collide
        self.interval = heartbeat_seconds
        self.ttl_ms = max(1, int(heartbeat_seconds * PRESENCE_TTL_HEARTBEATS * 1000))
        self.active_write_seconds = active_write_seconds
        self._devices: dict[int, tuple[int, str]] = {}  # conn_id -> (user id, device id)
        # Changes not yet taken by the apply task, one per device, in order. Never
        # dropped (a dropped connect left its device out of Redis, a dropped disconnect
        # left it indexed and unannounced): each device has one connect and one
        # disconnect, and a disconnect cancels its connect still waiting here, so this
        # holds at most one change per connection of the node, open or just closed.
        self._pending: dict[str, db.Change] = {}
        # Devices whose waiting change is their first connect (never applied): a
        # disconnect cancels it. A connect queued again for a device already applied
        # (the mark was found gone) is not cancelled but turned into its disconnect.
        self._fresh: set[str] = set()
        self._applying: set[str] = set()  # devices of the batch being applied
        self._wake = trio.Event()
        self.queue_size = queue_size  # more waiting than this is logged
        self._crowded = False
        self.claim_ms = max(1, int(heartbeat_seconds * PRESENCE_CLAIM_HEARTBEATS * 1000))
        self.refreshes = 0  # completed refresh rounds (for tests and metrics)
        self.swept = 0  # devices of dead instances this node removed
        self.queued = 0  # changes queued
        self.applied = 0  # changes applied (or given up on, or cancelled)
        self._progress = trio.Event()  # set (and renewed) whenever the above change
        self._marked = False  # the liveness mark was renewed once

    # -- node hooks (sync: they only queue) --------------------------------------------------
    def connected(self, conn: Device) -> None:
        """node.connect_hooks: a connection said hello and is attached."""
        if conn.session is None or not conn.open:
            return  # it ended while attaching; its disconnect has already passed
        device = f"{self.instance}:{conn.conn_id}"
        self._devices[conn.conn_id] = (conn.session.user_id, device)
        self._fresh.add(device)
        self._queue(db.Change(conn.session.user_id, device, True))
        self._poke()

    def disconnected(self, conn: Device) -> None:
        """node.disconnect_hooks: a connection ended."""
        found = self._devices.pop(conn.conn_id, None)
        if found is None:
            return
        waiting = self._pending.get(found[1])
        if waiting is not None and waiting.online and found[1] in self._fresh:
            # Its connect was never applied: nothing to undo, nothing to announce.
            del self._pending[found[1]]
            self._fresh.discard(found[1])
            self.applied += 1
        elif waiting is not None and waiting.online:
            # A connect again of a device applied before (still indexed, its key maybe
            # alive): its disconnect takes that place, so it is undone and announced.
            self._pending[found[1]] = db.Change(found[0], found[1], False)
        else:
            self._queue(db.Change(found[0], found[1], False))
        self._poke()

    def _queue(self, change: db.Change) -> None:
        """Put a change in line for the apply task (a connect already waiting for its
        device stands)."""
        if change.device in self._pending:
            return
        self._pending[change.device] = change
        self.queued += 1
        self._wake.set()
        crowded = len(self._pending) > self.queue_size
        if crowded and not self._crowded:
            log.warning("presence changes pile up", extra={"waiting": len(self._pending)})
        self._crowded = crowded

    def _poke(self) -> None:
        self._progress.set()
        self._progress = trio.Event()

    def devices_of(self, user_id: int) -> int:
        """How many of the user's connections this node holds."""
        return sum(1 for uid, _ in self._devices.values() if uid == user_id)

    @property
    def idle(self) -> bool:
        """Every queued change is applied and announced."""
        return self.applied >= self.queued

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait (without polling) until `predicate()` holds; it is re-checked whenever a
        device comes or goes or a batch of changes is applied."""
        while not predicate():
            await self._progress.wait()

    async def drain(self) -> None:
        """node.shutdown_hooks: apply and announce the queued changes (the disconnects of
        the sockets the shutdown closed) before the tasks stop."""
        await self.wait_until(lambda: self.idle)

    # -- background tasks ----------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # The mark first: devices are never indexed under an instance that looks dead.
        await self.mark_alive()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._apply_loop)
                nursery.start_soon(self._refresh_loop)
                nursery.start_soon(self._sweep_loop)
                task_status.started()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                try:
                    await db.forget_instance(self.st, self.instance)
                except Exception:  # shutting down: the mark expires anyway
                    log.warning("presence mark not dropped")

    async def _apply_loop(self) -> None:
        while True:
            while not self._pending:
                self._wake = trio.Event()
                await self._wake.wait()
            batch = [self._pending.pop(d) for d in list(islice(self._pending, BATCH_MAX))]
            self._fresh.difference_update(c.device for c in batch)
            self._applying = {c.device for c in batch}
            try:
                transitions = await db.apply_changes(self.st, batch, self.ttl_ms)
                await self._announce(transitions)
            except Unavailable as exc:
                log.warning("presence changes not applied", extra={"error": str(exc),
                                                                    "changes": len(batch)})
            except Exception:  # a background chore must never take the node down
                log.exception("presence changes failed")
            self._applying = set()
            self.applied += len(batch)
            self._poke()

    async def _announce(self, transitions: list[db.Transition]) -> None:
        items = []
        for t in transitions:
            frame = bus.pack_event(None, encode(event("presence", {
                "user": t.user_id, "online": t.online, "last_active_at": t.at_ms})))
            items.extend((bus.user_channel(self.st, link.viewer_id), frame)
                         for link in t.audience if privacy.can_see_presence(link))
        if items:
            await bus.publish(self.st, items)

    async def mark_alive(self) -> None:
        """Renew this instance's liveness mark (the refresh loop does, every round); if it
        was gone after a first renewal, the instance was taken for dead (or Redis lost it):
        connect every device again, which announces its users who went offline meanwhile."""
        try:
            existed = await db.mark_alive(self.st, self.instance, self.ttl_ms)
        except Unavailable as exc:
            log.warning("presence mark not renewed", extra={"error": str(exc)})
            return
        except Exception:
            log.exception("presence mark not renewed")
            return
        if not existed and self._marked:
            log.warning("presence mark was gone; connecting devices again",
                        extra={"devices": len(self._devices)})
            for user_id, device in list(self._devices.values()):
                self._queue(db.Change(user_id, device, True))
            self._poke()
        self._marked = True

    async def _refresh_loop(self) -> None:
        last_touch = trio.current_time()
        while True:
            started = trio.current_time()
            await self.mark_alive()
            touch = started - last_touch >= self.active_write_seconds
            if touch:
                last_touch = started
            chunks = self._chunks()
            # One chunk per slot of the interval: each device is renewed once per
            # interval (its key lives PRESENCE_TTL_HEARTBEATS intervals). A chunk's
            # connections are looked up again at its turn: those gone since are skipped.
            slot = self.interval / max(1, len(chunks))
            for i, chunk in enumerate(chunks):
                await trio.sleep_until(started + i * slot)
                await self._refresh_chunk(chunk, touch)
            self.refreshes += 1
            await trio.sleep_until(started + self.interval)

    def _chunks(self) -> list[list[int]]:
        """This round's connections (ids), REFRESH_CHUNK per chunk."""
        conns = list(self._devices)
        return [conns[i:i + REFRESH_CHUNK] for i in range(0, len(conns), REFRESH_CHUNK)]

    async def _refresh_chunk(self, conns: list[int], touch_active: bool) -> None:
        """Renew the devices of those of `conns` still attached (the others disconnected
        after the round began: their keys are gone and stay gone). If this instance's
        mark is found missing (Redis lost its data), connect every device again now,
        rather than at the next round; a device the index does not list, with no change
        of its own under way (its connect failed), is connected again."""
        devices = [d for c in conns if (d := self._devices.get(c)) is not None]
        # A change waiting or being applied may land after the refresh: not missing.
        busy = {d for _, d in devices if d in self._pending or d in self._applying}
        try:
            done = await db.refresh(self.st, devices, self.ttl_ms, touch_active)
        except Unavailable as exc:
            log.warning("presence refresh failed", extra={"error": str(exc)})
            return
        except Exception:
            log.exception("presence refresh failed")
            return
        if done.mark_missing:
            await self.mark_alive()
        for user_id, device in done.missing:
            conn_id = int(device.rpartition(":")[2])
            if device not in busy and self._devices.get(conn_id) == (user_id, device):
                self._queue(db.Change(user_id, device, True))
        if done.missing:
            self._poke()

    async def _sweep_loop(self) -> None:
        while True:
            await trio.sleep(self.interval * random.uniform(1 - PRESENCE_SWEEP_JITTER,
                                                            1 + PRESENCE_SWEEP_JITTER))
            try:
                await self.sweep()
            except Unavailable as exc:
                log.warning("presence sweep failed", extra={"error": str(exc)})
            except Exception:
                log.exception("presence sweep failed")

    async def sweep(self) -> None:
        """Take over the devices of node instances that died (whichever this node claims):
        remove them, chunk by chunk, and announce the users left with no live device."""
        for dead in await db.dead_instances(self.st):
            if dead.instance == self.instance or not await db.claim(
                    self.st, dead.instance, self.instance, self.claim_ms):
                continue
            log.info("sweeping a dead node instance", extra={"instance": dead.instance})
            announced: set[int] = set()
            try:
                while True:
                    swept = await db.sweep_chunk(self.st, dead, self.instance, self.claim_ms,
                                                 PRESENCE_SWEEP_CHUNK, announced)
                    self.swept += swept.removed
                    await self._announce(swept.offline)
                    if swept.done:
                        break
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(2), \
                        contextlib.suppress(Exception):  # else the claim lapses by itself
                    await db.release(self.st, dead.instance, self.instance)

    async def refresh(self, *, touch_active: bool = False) -> None:
        """Renew the device keys of every attached connection on this node now (chunk
        after chunk, without spreading them out)."""
        for chunk in self._chunks():
            await self._refresh_chunk(chunk, touch_active)
        self.refreshes += 1

    # -- ops ---------------------------------------------------------------------------------------
    async def activity_hidden(self, user_id: int, hidden: bool) -> None:
        """`hide_activity` changed (Accounts.on_activity_hidden): the user's conversation
        peers and the user learn at once. Turned on: each peer who could see the user's
        status gets nil for the user, and the user nil for each peer whose status they
        could see (hiding yours hides theirs from you). Turned off: each side gets the
        other's status where it may now see it."""
        try:
            links = await db.audience(self.st, user_id)  # peer -> user
            peers = sorted({link.viewer_id for link in links})
            if not peers:
                return
            seen = await db.statuses(self.st, user_id, [user_id, *peers])  # user -> each
            if hidden:
                # Only who could see a status before it was hidden is told: to a blocked
                # co-member, or a peer who hides their own, a nil would only say that the
                # user was active just now.
                await _publish_nil(self.st, [
                    link for link in [replace(link, target_hides=False) for link in links]
                    + [replace(link, viewer_hides=False) for link, _ in seen[1:]]
                    if privacy.can_see_presence(link)])
                return
            me = seen[0][1]
            items = [_status_item(self.st, link.viewer_id, me) for link in links
                     if privacy.can_see_presence(link)]
            items += [_status_item(self.st, user_id, status) for link, status in seen[1:]
                      if privacy.can_see_presence(link)]
            if items:
                await bus.publish(self.st, items)
        except Unavailable as exc:  # a hint: presence.get stays right
            log.warning("activity change not announced", extra={"error": str(exc)})

    async def get(self, session: Session, raw: dict[str, Any]) -> dict[str, Any]:
        """presence.get {users: [ids]} -> {items: [{user, online, last_active_at}]}, in order.

        Whom the caller may not see (actors/privacy.py can_see_presence), or who does
        not exist, comes back with `online` and `last_active_at` nil.
        """
        A.only(raw, {"users"})
        users = raw.get("users")
        if not isinstance(users, list):
            raise Invalid("`users` must be a list of user ids")
        if len(users) > PRESENCE_GET_MAX:
            raise Invalid(f"at most {PRESENCE_GET_MAX} users at once")
        for u in users:
            if not isinstance(u, int) or isinstance(u, bool) or not 0 < u < 1 << 63:
                raise Invalid("`users` must be a list of user ids")
        ids = list(dict.fromkeys(users))
        if not ids:
            return {"items": []}
        items = []
        for link, status in await db.statuses(self.st, session.user_id, ids):
            if privacy.can_see_presence(link):
                items.append({"user": status.user_id, "online": status.online,
                              "last_active_at": status.last_active_ms})
            else:
                items.append({"user": status.user_id, "online": None, "last_active_at": None})
        return {"items": items}

    async def typing(self, session: Session, raw: dict[str, Any]) -> dict[str, Any]:
        """dm.typing {conversation, typing?=true} -> {sent, expires_in_ms}.

        `sent` is false when a start was throttled (the indicator is still showing), or
        a stop found nothing showing."""
        A.only(raw, {"conversation", "typing"})
        conversation = A.integer(raw, "conversation", minimum=1)
        on = A.flag(raw, "typing", required=False)
        on = True if on is None else on
        assert conversation is not None
        expires = TYPING_EXPIRES_MS if on else 0
        frame = encode(event("dm.typing", {
            "conversation": conversation, "user": session.user_id, "typing": on,
            "expires_in_ms": expires}))
        # In a 1:1 the dm.send rule decides (a block either way: nothing goes out, and
        # the answer reveals no more than dm.send's would).
        sent = await db.typing(self.st, session.user_id, conversation, on,
                               int(TYPING_THROTTLE_SECONDS * 1000), frame,
                               privacy.require_dm_peer)
        privacy.require_conversation_member(sent is not None)
        return {"sent": bool(sent), "expires_in_ms": expires}
