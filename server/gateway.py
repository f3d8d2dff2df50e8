"""The realtime gateway: WebSocket over raw non-blocking sockets, driving wsproto.

trio-websocket's send path costs three scheduling points per delivery; fan-out
here frames a message once and writes it to every socket without one (see
DESIGN.md). One task per connection reads; writes happen inline, and only a
socket whose kernel buffer is full gets a drain task.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import trio
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    TextMessage,
)
from wsproto.events import (
    Request as Upgrade,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from config import Settings
from config.limits import GARBAGE_FRAMES_BEFORE_CLOSE, HANDSHAKE_SECONDS, SHUTDOWN_GRACE_SECONDS
from protocol.envelope import (
    CodecError,
    Request,
    decode_map,
    encode,
    parse_request,
    reply_error,
    request_id_of,
)
from protocol.errors import BadRequest, Unsupported
from protocol.names import CloseCode
from server.connection import Connection
from server.proxies import client_ip
from server.wsframe import binary_frame

log = logging.getLogger(__name__)

WS_PATH = "/ws"
READ_CHUNK = 65536
EVENTS_PER_READ = 1024  # frames in one read past this: a flood, closed with 1008
FRAGMENT_OVERHEAD = 64  # bytes charged per fragment against max_frame_bytes
LISTEN_BACKLOG = 2048

Handler = Callable[[Connection, Request], Awaitable[None]]


def _listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:  # only `--workers` children share a port; others fail loudly
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


class Gateway:
    """Accepts sockets, speaks WebSocket, hands decoded requests to `handler`."""

    def __init__(self, settings: Settings, handler: Handler, *, allowed_origins: set[str],
                 on_close: Callable[[Connection], Awaitable[None]], metrics: Any) -> None:
        self.settings = settings
        self.handler = handler
        self.on_close = on_close
        self.allowed_origins = allowed_origins
        self.metrics = metrics
        self.connections: dict[int, Connection] = {}
        self.port = 0
        self._accepting = True
        self._all_closed: trio.Event | None = None

    # -- serving ----------------------------------------------------------------
    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        listener = _listen(self.settings.host, self.settings.ws_port,
                           reuse_port=self.settings.reuse_port)
        self.port = listener.getsockname()[1]
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._sweep_heartbeats)
                task_status.started(self.port)
                while self._accepting:
                    await trio.lowlevel.wait_readable(listener)
                    try:
                        sock, addr = listener.accept()
                    except BlockingIOError:
                        continue
                    except OSError as exc:
                        if exc.errno in (errno.EMFILE, errno.ENFILE):
                            log.error("out of file descriptors; pausing accept")
                            await trio.sleep(0.1)
                        continue
                    sock.setblocking(False)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    nursery.start_soon(self._run_connection, sock, f"{addr[0]}:{addr[1]}")
        finally:
            trio.lowlevel.notify_closing(listener)
            listener.close()

    async def shutdown(self) -> None:
        """Stop accepting, close every socket with 1001, wait briefly for them to go."""
        self._accepting = False
        for conn in list(self.connections.values()):
            conn.close(CloseCode.GOING_AWAY, "server shutting down")
        if self.connections:
            self._all_closed = trio.Event()
            with trio.move_on_after(SHUTDOWN_GRACE_SECONDS):
                await self._all_closed.wait()

    async def _sweep_heartbeats(self) -> None:
        interval = self.settings.heartbeat_seconds
        while True:
            await trio.sleep(interval / 2)
            cutoff = trio.current_time() - 2 * interval
            for conn in list(self.connections.values()):
                if conn.open and conn.last_recv < cutoff:
                    conn.close(CloseCode.POLICY, "no heartbeat")

    # -- fan-out --------------------------------------------------------------------
    def fanout(self, devices: Iterable[Any], payload: bytes) -> None:
        """Frame once, write to each device without a scheduling point."""
        frame = binary_frame(payload)
        n = 0
        for dev in devices:
            dev.send_frame(frame)
            n += 1
        self.metrics.delivered(n)

    def broadcast(self, payload: bytes) -> int:
        """To every authenticated connection on this node (announcements)."""
        frame = binary_frame(payload)
        n = 0
        for conn in self.connections.values():
            if conn.attached:
                conn.send_frame(frame)
                n += 1
        self.metrics.delivered(n)
        return n

    # -- one connection ---------------------------------------------------------------
    async def _run_connection(self, sock: socket.socket, addr: str) -> None:
        """One connection's whole life. Whatever it raises stays here: an error of one
        connection (a library's unexpected exception on hostile input, a database
        error in one of its tasks) must never reach `serve`'s nursery, which would end
        every other connection and the node with it. Its socket is closed either way."""
        try:
            await self._connection(sock, addr)
        except Exception:
            log.exception("connection failed", extra={"addr": addr})

    async def _connection(self, sock: socket.socket, addr: str) -> None:
        async with trio.open_nursery() as nursery:
            conn = Connection(
                sock, addr, nursery=nursery, queue_limit=self.settings.outbound_queue_bytes,
                ops_per_second=self.settings.ops_per_second, ops_burst=self.settings.ops_burst)
            conn.on_overflow = self.metrics.overflow
            self.connections[conn.conn_id] = conn
            self.metrics.connection_opened()
            try:
                with trio.CancelScope() as scope:
                    conn.scope = scope
                    with trio.move_on_after(HANDSHAKE_SECONDS) as hs:
                        upgraded = await self._handshake(conn)
                    if upgraded and not hs.cancelled_caught:
                        await self._read_loop(conn)
            finally:
                del self.connections[conn.conn_id]
                self.metrics.connection_closed()
                with trio.CancelScope(shield=True):
                    with trio.move_on_after(SHUTDOWN_GRACE_SECONDS):
                        await self.on_close(conn)
                    # Let a pending close frame (or a last reply) reach the peer.
                    if conn.draining and conn.flushed is not None and conn.closing:
                        with trio.move_on_after(1.0):
                            await conn.flushed.wait()
                    conn.dead = True
                    nursery.cancel_scope.cancel()
                    trio.lowlevel.notify_closing(sock)
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                if not self.connections and self._all_closed is not None:
                    self._all_closed.set()

    async def _recv(self, conn: Connection) -> bytes:
        while True:
            await trio.lowlevel.wait_readable(conn.sock)
            try:
                return conn.sock.recv(READ_CHUNK)
            except BlockingIOError:
                continue
            except OSError:
                return b""

    async def _handshake(self, conn: Connection) -> bool:
        while True:
            data = await self._recv(conn)
            if not data:
                return False
            try:
                conn.ws.receive_data(data)
                for ev in conn.ws.events():
                    if isinstance(ev, Upgrade):
                        return self._accept(conn, ev)
            except RemoteProtocolError as exc:
                conn._write(conn.ws.send(exc.event_hint) if exc.event_hint else b"")
                return False
            except UnicodeError:  # a Host header that is not IDNA (wsproto decodes it)
                with contextlib.suppress(LocalProtocolError):
                    conn._write(conn.ws.send(RejectConnection(status_code=400)))
                return False

    def _accept(self, conn: Connection, req: Upgrade) -> bool:
        path = req.target.split("?", 1)[0]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in req.extra_headers}
        origin = headers.get("origin")
        if path != WS_PATH:
            conn._write(conn.ws.send(RejectConnection(status_code=404)))
            return False
        if origin is not None and origin not in self.allowed_origins and \
                "*" not in self.allowed_origins:
            log.info("websocket origin refused", extra={"origin": origin})
            conn._write(conn.ws.send(RejectConnection(status_code=403)))
            return False
        conn.host = req.host
        forwarded = [v.decode("latin-1") for k, v in req.extra_headers
                     if k.lower() == b"x-forwarded-for"]
        conn.ip = client_ip(conn.ip, forwarded, self.settings.trusted_proxies)
        conn._write(conn.ws.send(AcceptConnection()))
        conn.last_recv = trio.current_time()
        return True

    async def _read_loop(self, conn: Connection) -> None:
        limit = self.settings.max_frame_bytes
        parts: list[bytes] = []
        size = 0
        text = False
        while True:
            data = await self._recv(conn)
            if not data:
                return
            conn.last_recv = trio.current_time()
            events: list[Any] = []
            try:
                conn.ws.receive_data(data)
                # Parsed lazily and cut at EVENTS_PER_READ: a read of 64 KiB of empty
                # frames was ~11,000 events and ~130 ms of parsing with no checkpoint.
                for ev in conn.ws.events():
                    events.append(ev)
                    if len(events) > EVENTS_PER_READ:
                        break
            except RemoteProtocolError:
                conn.close(CloseCode.POLICY, "websocket protocol error")
                continue
            if len(events) > EVENTS_PER_READ:
                self.metrics.frame_error("flood")
                conn.close(CloseCode.POLICY, "too many frames at once")
                return
            for ev in events:
                if isinstance(ev, CloseConnection):
                    if conn.ws.state is ConnectionState.OPEN:
                        # Not the peer's close: wsproto's word for a frame it could not
                        # parse (unmasked, reserved bits, bad opcode, bad UTF-8 text).
                        conn.close(CloseCode.POLICY, "websocket protocol error")
                        return
                    if not conn.closing:
                        with contextlib.suppress(LocalProtocolError):
                            conn._write(conn.ws.send(ev.response()))
                        conn.closing = True
                    return
                if isinstance(ev, Ping):
                    with contextlib.suppress(LocalProtocolError):
                        conn._write(conn.ws.send(ev.response()))
                    continue
                if not isinstance(ev, BytesMessage | TextMessage) or conn.closing:
                    continue
                text = isinstance(ev, TextMessage)
                chunk = ev.data.encode("utf-8") if isinstance(ev.data, str) else ev.data
                # Each fragment costs its bookkeeping too: empty ones grew `parts` with
                # `size` staying 0, without bound. Charged when a frame ends: a frame
                # that arrives over several reads is one fragment (charged per read, a
                # large request just under the limit was closed with 1009).
                size += len(chunk) + (FRAGMENT_OVERHEAD if ev.frame_finished else 0)
                if size > limit:
                    self.metrics.frame_error("too_large")
                    conn.close(CloseCode.TOO_LARGE, f"frames are limited to {limit} bytes")
                    parts, size = [], 0
                    continue
                parts.append(chunk)
                if not ev.message_finished:
                    continue
                frame = b"".join(parts)
                parts, size = [], 0
                await self._on_frame(conn, frame, text)

    async def _on_frame(self, conn: Connection, frame: bytes, text: bool) -> None:
        if text:
            self._garbage(conn, None, Unsupported("text frames are not supported; send binary "
                                                  "frames holding one msgpack map"),
                          CloseCode.UNSUPPORTED_DATA)
            return
        try:
            obj = decode_map(frame)
        except CodecError as exc:
            self._garbage(conn, None, BadRequest(str(exc)), CloseCode.POLICY)
            return
        try:
            req = parse_request(obj)
        except BadRequest as exc:
            self._garbage(conn, request_id_of(obj), exc, CloseCode.POLICY)
            return
        await self.handler(conn, req)

    def _garbage(self, conn: Connection, rid: int | None, err: Any, code: CloseCode) -> None:
        self.metrics.frame_error(err.code.value)
        conn.garbage += 1
        conn.send(encode(reply_error(rid, err.to_wire())))
        if conn.garbage >= GARBAGE_FRAMES_BEFORE_CLOSE:
            conn.close(code, "too many malformed frames")
