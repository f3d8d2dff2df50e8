"""A node: one process's storage, bus, actors, gateway and HTTP under one nursery.

`async with open_node(settings) as node:` starts everything (embedded
PostgreSQL/Redis when no URLs are configured) and yields a typed handle; leaving
the block closes sockets with 1001 and stops everything it started.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from actors.accounts import Accounts
from actors.media import Media
from actors.runtime import ActorStopped, MailboxFull, Registry
from actors.user import Attach, BusMessage, CatchUp, Detach, UserActor, end_session
from config import Settings
from config.limits import MEDIA_GC_INTERVAL_SECONDS
from media.store import LocalStore
from media.workers import MediaWorkers
from protocol.names import CloseCode
from server.connection import Connection
from server.gateway import Gateway, _listen
from server.http import host_only, serve_http
from server.metrics import Metrics
from server.router import Router
from storage import accounts as db_accounts
from storage import bus
from storage.bridge import AsyncioBridge
from storage.embedded import embedded_services
from storage.errors import Unavailable
from storage.store import Storage

log = logging.getLogger(__name__)

ATTACH_SECONDS = 30.0
SHUTDOWN_HOOK_SECONDS = 3.0  # all shutdown hooks together
GC_THRESHOLDS = (50_000, 50, 100)  # DESIGN.md: default thresholds halve fan-out throughput


@dataclass
class Node:
    settings: Settings
    name: str
    storage: Storage
    accounts: Accounts
    metrics: Metrics
    subscriber: bus.Subscriber
    media: Media
    registry: Registry = field(init=False)
    gateway: Gateway = field(init=False)
    nursery: trio.Nursery = field(init=False)
    http_port: int = 0
    ws_port: int = 0
    # Domains hook in here (server/ops/*): bus channels by prefix, attached sockets and
    # socket ends.
    channel_handlers: dict[str, Callable[[bus.Message], None]] = field(default_factory=dict)
    disconnect_hooks: list[Callable[[Connection], None]] = field(default_factory=list)
    connect_hooks: list[Callable[[Connection], None]] = field(default_factory=list)
    # Called when the bus reconnected or dropped messages: what was published meanwhile
    # is lost (e.g. the watchers re-check every watch: actors/watch.py).
    reconnect_hooks: list[Callable[[], None]] = field(default_factory=list)
    # Run (bounded by SHUTDOWN_HOOK_SECONDS) once the sockets are closed, before the
    # node's tasks are cancelled: e.g. presence announces the disconnects it queued.
    shutdown_hooks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def url_host(self) -> str:
        """The bind host as a URL writes it: an IPv6 address in brackets."""
        host = self.settings.host
        return f"[{host}]" if ":" in host and not host.startswith("[") else host

    @property
    def http_url(self) -> str:
        return f"http://{self.url_host}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.url_host}:{self.ws_port}/ws"

    def http_url_for(self, host_header: str) -> str:
        """Where a client that reached us as `host_header` finds the HTTP side."""
        if self.settings.public_http_url:
            return self.settings.public_http_url
        return f"http://{host_only(host_header or '') or self.url_host}:{self.http_port}"

    async def _collect_media(self) -> None:
        while True:
            await trio.sleep(MEDIA_GC_INTERVAL_SECONDS)
            try:
                removed = await self.media.collect()
                if removed:
                    log.info("unattached media collected", extra={"files": removed})
            except Exception:  # a background chore must never take the node down
                log.exception("media clean-up failed; will retry")

    async def _recheck_sessions(self) -> None:
        """Every SESSION_RECHECK_SECONDS, the tokens of every attached connection are
        checked again in one statement, and those no longer live (expired, revoked,
        the user suspended) are closed with 4001: a token expired while its socket stayed
        open kept working, and a revoke whose bus message was lost (Redis down at that
        moment) left the other sockets on that token open."""
        while True:
            await trio.sleep(self.settings.session_recheck_seconds)
            try:
                await self.recheck_sessions()
            except Exception as exc:  # a background chore: the next round tries again
                log.warning("session re-check failed", extra={"error": str(exc)})

    async def recheck_sessions(self) -> int:
        """One round of `_recheck_sessions`; how many connections it closed."""
        held = [(c, c.session.token_hash) for c in self.gateway.connections.values()
                if c.session is not None and c.attached and not c.closing]
        if not held:
            return 0
        live = await db_accounts.live_tokens(self.storage, list({t for _, t in held}))
        closed = 0
        for c, token in held:
            if token not in live and not c.closing:
                end_session(c, "session ended")
                closed += 1
        if closed:
            log.info("sessions ended on re-check", extra={"connections": closed})
        return closed

    def _user_actor(self, key: Any) -> UserActor:
        return UserActor(key, st=self.storage, subscriber=self.subscriber,
                         fanout=self.gateway.fanout,
                         idle_seconds=self.settings.user_actor_idle_seconds)

    async def attach(self, conn: Connection, resume: int | None,
                     reply: Callable[[int, bool], bytes]) -> None:
        """Hand a connection that said hello to its user's actor (spawned on demand)."""
        assert conn.session is not None
        conn.attach_user = conn.session.user_id
        with trio.move_on_after(ATTACH_SECONDS):
            for _ in range(3):
                entry = await self.registry.get_or_spawn(
                    conn.session.user_id, self._user_actor, kind="UserActor")
                try:
                    ok = await entry.ask(lambda ch: Attach(conn, resume, reply, ch))
                except trio.ClosedResourceError:
                    continue  # it stopped as we arrived: spawn a fresh one
                if ok is True:
                    for hook in self.connect_hooks:
                        hook(conn)
                    return
        # The actor may still answer later: close, so no second reply can reach the client.
        conn.close(CloseCode.GOING_AWAY, "could not attach the session; retry")
        raise Unavailable("could not attach the session")

    async def detach(self, conn: Connection) -> None:
        for hook in self.disconnect_hooks:
            hook(conn)
        # By the user the Attach went to: a hello that timed out has no session left,
        # and its Attach, still queued, may add the device after all.
        user_id = conn.session.user_id if conn.session is not None else conn.attach_user
        if user_id is None:
            return
        entry = self.registry.get(user_id)
        if entry is None:
            return
        try:
            entry.tell(Detach(conn))
        except MailboxFull:
            with contextlib.suppress(trio.ClosedResourceError):
                await entry.send.send(Detach(conn))
        except ActorStopped:
            pass

    async def publish_user_event(self, user_id: int, payload: bytes) -> None:
        """An ephemeral event (no seq) to every device of a user, on every node."""
        await bus.publish(self.storage, [(bus.user_channel(self.storage, user_id),
                                          bus.pack_event(None, payload))])

    async def broadcast(self, payload: bytes) -> None:
        await bus.publish(self.storage, [(bus.broadcast_channel(self.storage),
                                          bus.pack_event(None, payload))])

    async def _dispatch_bus(self) -> None:
        prefix = self.storage.key("u", "")
        everyone = bus.broadcast_channel(self.storage)
        async for item in self.subscriber.inbox:
            if isinstance(item, bus.Message):
                if item.channel == everyone:
                    if item.kind == "e":
                        self.gateway.broadcast(item.body)
                    elif item.kind == bus.MULTICAST:
                        self._multicast(item)
                    continue
                if not item.channel.startswith(prefix):
                    for channel_prefix, handler in self.channel_handlers.items():
                        if item.channel.startswith(channel_prefix):
                            handler(item)
                            break
                    continue
                entry = self.registry.get(int(item.channel[len(prefix):]))
                if entry is not None:
                    with contextlib.suppress(MailboxFull, ActorStopped):
                        entry.tell(BusMessage(item))
            else:
                if isinstance(item, bus.Reconnected):
                    self.metrics.bus_reconnects.inc()
                log.info("bus %s: catching up every session", type(item).__name__)
                for hook in self.reconnect_hooks:
                    try:
                        hook()
                    except Exception:  # a hook must not end the bus dispatch
                        log.exception("bus reconnect hook failed")
                for entry in self.registry.entries():
                    with contextlib.suppress(MailboxFull, ActorStopped):
                        entry.tell(CatchUp())

    def _multicast(self, item: bus.Message) -> None:
        """An event for some users: to the actors of those this node holds, as if it had
        come on each one's own channel."""
        found = bus.unpack_multicast(item.body)
        if found is None:
            log.warning("malformed multicast message")
            return
        ids, frame = found
        msg = BusMessage(bus.Message(item.channel, "e", None, frame))  # ephemeral, as one
        for user_id in ids:
            entry = self.registry.get(user_id)
            if entry is not None:
                with contextlib.suppress(MailboxFull, ActorStopped):
                    entry.tell(msg)


def _default_origins(settings: Settings, http_port: int) -> set[str]:
    if settings.allowed_origins:
        return set(settings.allowed_origins)
    hosts = {settings.host, "localhost", "127.0.0.1"}
    return {f"http://{h}:{http_port}" for h in hosts}


@contextlib.asynccontextmanager
async def open_storage(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Storage]:
    """Embedded services if needed, the asyncio bridge, the pools; migrated."""
    services = embedded_services(settings.data_dir, database_url=settings.database_url,
                                 redis_url=settings.redis_url)
    database_url, redis_url = await trio.to_thread.run_sync(services.__enter__)
    bridge = AsyncioBridge()
    try:
        bridge.start()
        st = Storage(bridge, settings, database_url, redis_url)
        await st.open()
        try:
            if migrate:
                await st.migrate()
            yield st
        finally:
            with trio.CancelScope(shield=True):
                await st.close()
    finally:
        bridge.stop()
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(services.__exit__, None, None, None)


@contextlib.asynccontextmanager
async def open_node(settings: Settings) -> AsyncIterator[Node]:
    name = settings.node_name or f"{socket.gethostname()}-{os.getpid()}"
    gc.set_threshold(*GC_THRESHOLDS)
    async with open_storage(settings) as st:
        metrics = Metrics()
        st.observe = metrics.storage
        subscriber = bus.Subscriber(st)
        await subscriber.start()
        try:
            await subscriber.subscribe(bus.broadcast_channel(st))
            accounts = Accounts(st, settings)
            media = Media(st, settings, LocalStore(settings.data_dir / "media"),
                          MediaWorkers(settings.media_workers))
            accounts.media = media
            media.observe = metrics.media_processed
            node = Node(settings, name, st, accounts, metrics, subscriber, media)
            async with trio.open_nursery() as nursery:
                node.nursery = nursery
                node.registry = Registry(nursery, mailbox_size=settings.mailbox_size)
                metrics.watch_actors(node.registry.counts)
                http_listener = _listen(settings.host, settings.http_port,
                                        reuse_port=settings.reuse_port)
                node.http_port = http_listener.getsockname()[1]
                node.gateway = Gateway(settings, Router(node), on_close=node.detach,
                                       metrics=metrics,
                                       allowed_origins=_default_origins(settings, node.http_port))
                node.ws_port = await nursery.start(node.gateway.serve)
                await nursery.start(serve_http, node, http_listener)
                nursery.start_soon(node._dispatch_bus)
                nursery.start_soon(node._collect_media)
                nursery.start_soon(node._recheck_sessions)
                gc.freeze()  # start-up objects never need scanning again (DESIGN.md)
                log.info("node ready", extra={"http": node.http_url, "ws": node.ws_url})
                try:
                    yield node
                finally:
                    with trio.CancelScope(shield=True):
                        await node.gateway.shutdown()
                        with trio.move_on_after(SHUTDOWN_HOOK_SECONDS):
                            for hook in node.shutdown_hooks:
                                try:
                                    await hook()
                                except Exception:  # the node stops anyway
                                    log.exception("shutdown hook failed")
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await subscriber.stop()
