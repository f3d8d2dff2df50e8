"""One WebSocket connection: a wsproto state machine over a non-blocking socket.

Writes never wait: `send_frame` writes straight into the kernel buffer and only
what does not fit goes to this connection's own bounded queue, drained by a
short-lived task. A consumer whose queue passes the limit is closed with 4008
(it resumes to catch up) — a slow client never slows the node or anyone else.
"""

from __future__ import annotations

import itertools
import socket
from collections import deque
from typing import TYPE_CHECKING

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import CloseConnection
from wsproto.utilities import LocalProtocolError

from config.limits import CLOSE_FLUSH_SECONDS
from protocol.names import CloseCode
from server.throttle import TokenBucket
from server.wsframe import binary_frame

if TYPE_CHECKING:
    from actors.accounts import Session

_ids = itertools.count(1)


class Connection:
    """Also the `Device` the actors deliver to (conn_id, token_hash, open, send, close)."""

    __slots__ = (
        "addr",
        "attach_user",
        "attached",
        "bucket",
        "client",
        "close_code",
        "close_reason",
        "closing",
        "conn_id",
        "dead",
        "draining",
        "flushed",
        "garbage",
        "head_partial",
        "host",
        "ip",
        "last_recv",
        "limited",
        "nursery",
        "on_overflow",
        "queue",
        "queue_limit",
        "queued",
        "scope",
        "session",
        "sock",
        "token_hash",
        "ws",
    )

    def __init__(self, sock: socket.socket, addr: str, *, nursery: trio.Nursery,
                 queue_limit: int, ops_per_second: float, ops_burst: int) -> None:
        self.sock = sock
        self.addr = addr
        self.ip = addr.rsplit(":", 1)[0]  # the client's address (see server/proxies.py)
        self.conn_id = next(_ids)
        self.ws = WSConnection(ConnectionType.SERVER)
        self.nursery = nursery
        self.queue: deque[bytes | memoryview] = deque()
        self.queued = 0
        self.queue_limit = queue_limit
        self.head_partial = False
        self.draining = False
        self.flushed: trio.Event | None = None  # set when a drain task has emptied the queue
        self.closing = False
        self.dead = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.session: Session | None = None
        self.attach_user: int | None = None  # whose actor an Attach was sent to (detach)
        self.attached = False  # hello done: its user actor delivers to it
        self.host = ""  # the Host the client reached us by (to advertise http_url)
        self.client = ""  # what `hello` said the client is (for operators' session list)
        self.token_hash = b""
        self.last_recv = trio.current_time()
        self.garbage = 0
        self.limited = 0
        self.bucket = TokenBucket(ops_per_second, ops_burst)
        self.scope: trio.CancelScope | None = None
        self.on_overflow = _noop

    @property
    def open(self) -> bool:
        return not (self.closing or self.dead)

    # -- writing ----------------------------------------------------------------
    def send(self, payload: bytes) -> None:
        """Send one encoded msgpack map as a binary message."""
        if self.open:
            self._write(binary_frame(payload))

    def send_frame(self, frame: bytes) -> None:
        """Send an already framed message (the fan-out path frames once for all)."""
        if self.open:
            self._write(frame)

    def _write(self, data: bytes) -> None:
        if self.dead or not data:
            return
        if self.queue:
            if self.queued + len(data) > self.queue_limit:
                self._overflow()
                return
            self.queue.append(data)
            self.queued += len(data)
            return
        try:
            n = self.sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError:
            self._die()
            return
        if n < len(data):
            rest = memoryview(data)[n:]
            self.queue.append(rest)
            self.queued += len(rest)
            self.head_partial = n > 0
            if not self.draining:
                self.draining = True
                self.flushed = trio.Event()
                self.nursery.start_soon(self._drain)

    async def _drain(self) -> None:
        try:
            while self.queue and not self.dead:
                await trio.lowlevel.wait_writable(self.sock)
                if not self.queue or self.dead:  # an overflow emptied it meanwhile
                    break
                data = self.queue[0]
                try:
                    n = self.sock.send(data)
                except BlockingIOError:
                    continue
                except OSError:
                    self._die()
                    return
                self.queued -= n
                if n == len(data):
                    self.queue.popleft()
                    self.head_partial = False
                else:
                    self.queue[0] = memoryview(data)[n:]
                    self.head_partial = True
        except (trio.ClosedResourceError, OSError):
            self._die()
        finally:
            self.draining = False
            if self.flushed is not None:
                self.flushed.set()

    def _overflow(self) -> None:
        # Keep only the unsent rest of a frame already started (the stream must stay
        # well-formed), then say why we close.
        head = self.queue[0] if self.head_partial and self.queue else None
        self.queue.clear()
        self.queued = 0
        if head is not None:
            self.queue.append(head)
            self.queued = len(head)
        self.on_overflow(self)
        self.close(CloseCode.TOO_SLOW, "outbound queue overflow; resume to catch up")

    # -- closing ------------------------------------------------------------------
    def close(self, code: int, reason: str = "") -> None:
        """Send a close frame and give the peer CLOSE_FLUSH_SECONDS to answer."""
        if self.closing or self.dead:
            return
        self.closing = True
        self.close_code = code
        self.close_reason = reason
        try:
            data = self.ws.send(CloseConnection(code=code, reason=reason[:120]))
        except LocalProtocolError:
            data = b""
        self._write(data)
        if self.scope is not None:
            self.scope.deadline = min(self.scope.deadline,
                                      trio.current_time() + CLOSE_FLUSH_SECONDS)

    def _die(self) -> None:
        self.dead = True
        self.queue.clear()
        self.queued = 0
        if self.scope is not None:
            self.scope.cancel()


def _noop(_: Connection) -> None:
    pass
