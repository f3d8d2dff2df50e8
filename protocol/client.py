"""The Python client for bots: one WebSocket, calls routed by id, events without gaps.

A `Client` owns one socket at a time. A single reader task routes replies to the
callers waiting on them and puts events into a bounded queue; it never waits for
the application, so a reply is never stuck behind unread events. A durable event
that finds the queue full is dropped unseen, and once the application has read
the queue down, the client moves to a new socket that resumes after the last
event queued. After `hello` a heartbeat keeps the server from closing an idle
socket. When the socket closes unexpectedly the client reconnects with back-off
and says `hello` again with `resume=last_seq`, so the server replays what was
missed and the stream of durable events continues with no gap and no duplicate.

Usage::

    async with connect("ws://127.0.0.1:8081/ws") as client:
        await client.login("alice", "secret")
        await client.call("post.like", post=123, idem="c-42")
        async for event in client.events():
            ...
"""

from __future__ import annotations

import itertools
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import outcome
import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

from protocol import PROTOCOL_VERSION
from protocol.envelope import CodecError, Event, decode_map, encode, request
from protocol.errors import (
    BadRequest,
    Conflict,
    ErrorCode,
    Forbidden,
    GlintError,
    Internal,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
    Unavailable,
    Unsupported,
    error_from_wire,
)
from protocol.names import CloseCode

__all__ = [
    "CallTimeout", "Client", "ClosedRateLimited", "ClosedTooLarge", "ConnectionLost", "Event",
    "SessionClosed", "connect",
]

log = logging.getLogger(__name__)

#: Events buffered for the application. When it is full, an ephemeral event is
#: dropped (worthless late), and so is a durable one and every durable one after
#: it on that socket: the reader must never wait, or replies queued behind would.
EVENT_QUEUE_SIZE = 1024
#: After such an overflow, once the application has read the queue down to this
#: fraction, the client resumes on a new socket (the replay fills the room made).
RESUME_AT_QUEUE_FRACTION = 0.25
#: How long calls in flight on an overflowed socket may take to finish before it
#: is replaced anyway (they then fail with ConnectionLost).
RECYCLE_CALLS_TIMEOUT = 10.0
#: Frames trio-websocket buffers between the socket and our reader.
SOCKET_QUEUE_SIZE = 64
#: The largest message accepted from the server (a larger one closes with 1009).
#: Replies are not bound by the server's frame limit, which is for requests: a
#: full page of dm.history with long emoji messages is ~1.6 MB.
MAX_MESSAGE_SIZE = 16 << 20
#: Reconnect back-off: doubles from the first delay up to the cap, with jitter so
#: that many bots do not return to a restarted node in lock-step.
RECONNECT_FIRST_DELAY = 0.1
RECONNECT_MAX_DELAY = 5.0
RECONNECT_ATTEMPTS = 20
#: After a close for too many refused requests (4029), reconnect no sooner than this.
RATE_LIMITED_CLOSE_DELAY = 5.0
#: What the server adds to a message's size before comparing it with `max_frame`.
FRAME_OVERHEAD = 64
CONNECT_TIMEOUT = 10.0
#: Bounds the closing handshake, so that a dead peer cannot hold up a reconnect.
CLOSE_TIMEOUT = 2.0
#: How long `logout` waits for the server to close the revoked session.
LOGOUT_CLOSE_TIMEOUT = 5.0
#: Nothing received for this many heartbeat intervals means the peer is gone.
DEAD_PEER_INTERVALS = 3
#: A node answers `hello` within this, or gives up attaching it after 30 s and
#: closes. Before hello, nothing heard for this long means the peer is gone.
HELLO_TIMEOUT = CONNECT_TIMEOUT + 30.0
#: Until `hello` tells the interval, ping this often: the server closes a socket
#: silent for two of its intervals before hello too (by default after 50 s), and
#: a bot may well wait that long between a refused login and the next try.
PRE_HELLO_PING_SECONDS = 5.0
PRE_HELLO_CALL_SILENCE = 300.0  # ...and with a call in flight before hello (a login queued)
# An upload of a large photo, processed before the reply, may take a while.
UPLOAD_TIMEOUT = 120.0

#: An HTTP error without a Glint error map (a proxy's page: 413, 502, ...), by status.
_HTTP_ERRORS: dict[int, type[GlintError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 408: Unavailable,
    409: Conflict, 413: TooLarge, 415: Unsupported, 429: RateLimited, 500: Internal,
    501: Unsupported, 502: Unavailable, 503: Unavailable, 504: Unavailable,
}

_TRANSPORT_ERRORS = (HandshakeError, ConnectionClosed, OSError, trio.BrokenResourceError)


class ConnectionLost(Unavailable):
    """The socket died (or the client was closed) before the reply arrived."""


class CallTimeout(Unavailable, trio.TooSlowError):
    """No reply within the call's `timeout`; the request may or may not have taken effect."""


class ClosedRateLimited(ConnectionLost, RateLimited):
    """The server closed the socket with 4029 (too many requests refused in a row)
    before the reply; `retry_after` is how long the client waits to reconnect."""

    code = ErrorCode.RATE_LIMITED


class ClosedTooLarge(ConnectionLost, TooLarge):
    """The socket was closed with 1009 (a message over a size limit) before the reply;
    sending the same request again would fail the same way."""

    code = ErrorCode.TOO_LARGE


class SessionClosed(Unauthorized):
    """The server ended the session (close 4001: logged out or token revoked).

    Reconnecting with the same token would fail, so the client does not try.
    """


@dataclass(eq=False)
class _Waiter:
    """A caller waiting for one reply; `on_reply` runs in the reader, in frame order."""

    on_reply: Callable[[dict[str, Any]], None] | None = None
    done: trio.Event = field(default_factory=trio.Event)
    result: outcome.Outcome[Any] | None = None

    def resolve(self, result: outcome.Outcome[Any]) -> None:
        if self.result is None:
            self.result = result
            self.done.set()


@dataclass(eq=False)
class _Connection:
    """State that lives and dies with one socket."""

    ws: WebSocketConnection
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    pending: dict[int, _Waiter] = field(default_factory=dict)
    hello_done: trio.Event = field(default_factory=trio.Event)
    heartbeat_s: float = 0.0
    last_rx: float = field(default_factory=trio.current_time)
    # A durable event found the queue full: every later one is dropped too (no gap),
    # and the socket is replaced once the application has caught up (`drained`).
    overflowed: bool = False
    drained: trio.Event = field(default_factory=trio.Event)
    recycling: bool = False  # being replaced: new calls wait for the next socket
    idle: trio.Event = field(default_factory=trio.Event)  # set when recycling and no call left

    async def send(self, frame: bytes) -> None:
        try:
            await self.ws.send_message(frame)
        except _TRANSPORT_ERRORS as exc:
            reason = self.ws.closed
            if reason is not None and reason.code == CloseCode.UNAUTHORIZED:
                raise SessionClosed(reason.reason or "session closed by the server") from exc
            raise ConnectionLost("connection lost while sending") from exc

    def fail_pending(self, exc: GlintError) -> None:
        for waiter in self.pending.values():
            waiter.resolve(outcome.Error(exc))
        self.pending.clear()

    def forget(self, rid: int) -> None:
        self.pending.pop(rid, None)
        if self.recycling and not self.pending:
            self.idle.set()


class Client:
    """A Glint session over one WebSocket (re-opened transparently after drops).

    Attributes:
        token: the session token, once signed up, logged in or given to `hello`.
        user: the user map from the last `hello` reply.
        last_seq: the highest durable event seq put into the event queue (already
            set when `events()` yields that event); the client's own resumes use it.
        processed_seq: the position you have reached: every durable event up to it
            has been handed to you by `events()` or `next_event()` (or skipped by
            `next_event(name)`). Persist this one and pass it as `resume` after a
            restart: events still queued when the process ended come again.
        hello_data: the last `hello` reply.
        close_code: the close code once the client is closed for good, else None.

    Read `events()` if the server sends you durable events. When the queue is
    full, durable events are dropped without moving `last_seq`, and once you
    have read the queue down the client resumes on a new socket, so you still
    get every one, in order; calls are answered meanwhile.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        client_name: str = "glint-py/0.1",
        reconnect: bool = True,
        max_message_size: int = MAX_MESSAGE_SIZE,
    ) -> None:
        self.url = url
        self.token = token
        self.user: dict[str, Any] | None = None
        self.last_seq: int | None = None
        self.processed_seq: int | None = None
        self.hello_data: dict[str, Any] | None = None
        self.close_code: int | None = None
        self.dropped_events = 0
        self._client_name = client_name
        self._reconnect = reconnect
        self._max_message_size = max_message_size
        self._ids = itertools.count(1)
        self._conn: _Connection | None = None
        self._ready = trio.Event()  # set when _conn may carry calls, or when closed
        self._closed = trio.Event()
        self._closing = False
        self._final_error: GlintError | None = None
        self._said_hello = False
        self._last_code: int | None = None
        self._retry_after = 0.0
        self._event_send, self._event_recv = trio.open_memory_channel[Event](EVENT_QUEUE_SIZE)
        self._events = _EventStream(self)
        # Per queued event, in queue order: processed_seq once it has been handed out.
        self._marks: deque[int | None] = deque()

    # -- public API ---------------------------------------------------------

    # A typed CallTimeout, which trio.fail_after around the call could not give.
    async def call(
        self, op: str, /, *, timeout: float | None = None, **args: Any  # noqa: ASYNC109
    ) -> Any:
        """Send one request and return the reply's `data`.

        Raises the `GlintError` subclass for the reply's error code, or
        `ConnectionLost` if the socket dies first. While reconnecting, a call
        waits for the new session instead of failing. With `timeout` (seconds,
        the wait for a reconnect included), `CallTimeout` if no reply came by then.
        """
        if timeout is None:
            conn = await self._wait_ready()
            return await self._call_on(conn, op, args)
        with trio.move_on_after(timeout):
            conn = await self._wait_ready()
            return await self._call_on(conn, op, args)
        raise CallTimeout(f"no reply to `{op}` within {timeout:g} s; "
                          "it may or may not have taken effect")

    async def signup(
        self, username: str, email: str, password: str, **extra: Any
    ) -> dict[str, Any]:
        """Create an account, keep its token, and say hello; returns the hello reply."""
        data = await self.call(
            "auth.signup", username=username, email=email, password=password, **extra
        )
        self.token = data["token"]
        return await self.hello(data["token"])

    async def login(self, username: str, password: str) -> dict[str, Any]:
        """Log in (username or email), keep the token, and say hello."""
        data = await self.call("auth.login", username=username, password=password)
        self.token = data["token"]
        return await self.hello(data["token"])

    async def hello(self, token: str | None = None, resume: int | None = None) -> dict[str, Any]:
        """Authenticate this socket; with `resume`, missed durable events follow."""
        token = token or self.token
        if not token:
            raise Unauthorized("hello needs a token: sign up or log in first")
        conn = await self._wait_ready()
        return await self._hello_on(conn, token, resume, explicit=True)

    async def upload(self, source: str | Path | bytes, *, kind: str = "photo",
                     filter: str | None = None, **adjust: float) -> dict[str, Any]:
        """Upload a photo over HTTP (`POST /api/media` at the node's `http_url`).

        `filter` names a filter to apply on upload; `adjust` takes brightness,
        contrast, saturation and warmth from -1 to 1. Returns the media record.
        """
        base = (self.hello_data or {}).get("http_url")
        if not base or not self.token:
            raise Unauthorized("say hello before uploading")
        data = source if isinstance(source, bytes) else await trio.Path(source).read_bytes()
        params = {"kind": kind, **({"filter": filter} if filter else {}),
                  **{k: str(v) for k, v in adjust.items()}}
        async with httpx.AsyncClient(timeout=UPLOAD_TIMEOUT) as http:
            try:
                r = await http.post(f"{base}/api/media", content=data, params=params,
                                    headers={"Authorization": f"Bearer {self.token}",
                                             "Content-Type": "application/octet-stream"})
            except httpx.HTTPError as exc:
                raise ConnectionLost(f"upload failed: {exc}") from exc
        try:
            body = r.json()
        except ValueError:
            body = {}
        if r.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            raise error_from_wire(error) if isinstance(error, dict) else _http_error(r)
        if not isinstance(body, dict) or "id" not in body:
            # not our reply (a proxy's page, say): the upload may not have been stored
            raise Internal(f"upload: unexpected {r.status_code} reply "
                           f"({r.headers.get('content-type', 'no content type')})")
        return body

    async def logout(self) -> None:
        """Revoke the token; returns once the server has closed the session."""
        try:
            await self.call("auth.logout")
        except SessionClosed:
            pass  # the close overtook the reply: that is what we asked for
        self.token = None
        with trio.move_on_after(LOGOUT_CLOSE_TIMEOUT):
            await self._closed.wait()
        if not self._closed.is_set():
            await self.aclose()

    def events(self) -> _EventStream:
        """All events in arrival order; ends when the client is closed for good.

        There is one queue: concurrent readers share the events, each gets some.
        """
        return self._events

    async def next_event(self, name: str | None = None) -> Event:
        """The next event (of that name: events of other names are discarded)."""
        async for event in self._events:
            if name is None or event.name == name:
                return event
        raise self._error_after_close()

    async def aclose(self) -> None:
        """Close for good with 1000; in-flight calls fail with ConnectionLost."""
        if self._closed.is_set():
            return
        self._closing = True
        conn = self._conn
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
            if conn is not None:
                await conn.ws.aclose(CloseCode.NORMAL)
        self._finish(CloseCode.NORMAL, ConnectionLost("client closed"))

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- calls --------------------------------------------------------------

    async def _wait_ready(self) -> _Connection:
        while True:
            if self._closed.is_set():
                raise self._error_after_close()
            if self._ready.is_set() and self._conn is not None:
                return self._conn
            await self._ready.wait()

    async def _call_on(
        self,
        conn: _Connection,
        op: str,
        args: dict[str, Any],
        on_reply: Callable[[dict[str, Any]], None] | None = None,
    ) -> Any:
        rid = next(self._ids)
        frame = encode(request(op, rid, args))
        limit = (self.hello_data or {}).get("max_frame")
        if isinstance(limit, int) and len(frame) + FRAME_OVERHEAD > limit:
            raise TooLarge(f"`{op}` is {len(frame)} bytes; the server takes at most {limit}")
        waiter = _Waiter(on_reply)
        conn.pending[rid] = waiter
        try:
            await conn.send(frame)
            await waiter.done.wait()
        finally:
            conn.forget(rid)
        assert waiter.result is not None
        return waiter.result.unwrap()

    async def _hello_on(
        self, conn: _Connection, token: str, resume: int | None, *, explicit: bool = False
    ) -> dict[str, Any]:
        args = {"proto": PROTOCOL_VERSION, "token": token, "resume": resume,
                "client": self._client_name}

        def on_reply(data: dict[str, Any]) -> None:
            # Runs in the reader before the next frame, so the replay that follows
            # the reply is filtered against the right last_seq.
            self.token = token
            self.hello_data = data
            self.user = data.get("user")
            self._said_hello = True
            seq = data.get("seq")
            if isinstance(seq, int) and (resume is None or data.get("resync")):
                self._moved_to(seq)
            elif explicit and resume is not None:
                self._moved_to(resume)  # the caller asked for everything after it
            beat = data.get("heartbeat_ms")
            if isinstance(beat, int | float) and beat > 0:
                conn.heartbeat_s = beat / 1000
            conn.hello_done.set()

        return await self._call_on(conn, "hello", args, on_reply)

    # -- the socket ---------------------------------------------------------

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the socket: connect, serve it, and reconnect after unexpected closes."""
        started = False
        attempt = 0
        while not self._closed.is_set():
            conn: _Connection | None = None
            try:
                async with open_websocket_url(
                    self.url,
                    message_queue_size=SOCKET_QUEUE_SIZE,
                    max_message_size=self._max_message_size,
                    connect_timeout=CONNECT_TIMEOUT,
                    disconnect_timeout=CLOSE_TIMEOUT,
                ) as ws:
                    conn = _Connection(ws)

                    def ready() -> None:
                        nonlocal started, attempt
                        attempt = 0
                        if not started:
                            started = True
                            task_status.started()

                    await self._serve(conn, ready)
            except _TRANSPORT_ERRORS as exc:
                if not started:
                    raise ConnectionLost(f"cannot connect to {self.url}: {exc!r}") from exc
                log.debug("glint client: transport error %r", exc)
            self._connection_ended(conn)
            if self._closed.is_set():
                return
            if conn is not None and conn.recycling:
                continue  # our own doing, after an overflow: resume at once
            attempt += 1
            if attempt > RECONNECT_ATTEMPTS:
                self._finish(self._last_code or CloseCode.GOING_AWAY,
                             ConnectionLost(f"gave up after {RECONNECT_ATTEMPTS} reconnects"))
                return
            delay = min(RECONNECT_MAX_DELAY, RECONNECT_FIRST_DELAY * 2 ** (attempt - 1))
            delay = max(delay * random.uniform(0.5, 1.0), self._retry_after)
            self._retry_after = 0.0
            await trio.sleep(delay)

    async def _serve(self, conn: _Connection, ready: Callable[[], None]) -> None:
        """Run one socket until it closes, resuming the session first if we had one."""
        async with trio.open_nursery() as nursery:
            conn.scope = nursery.cancel_scope
            if self._closed.is_set():  # closed while we were connecting
                nursery.cancel_scope.cancel()
                return
            self._conn = conn  # not yet _ready: calls wait for the resume
            nursery.start_soon(self._read, conn)
            nursery.start_soon(self._heartbeat, conn)
            nursery.start_soon(self._recycle_when_drained, conn)
            if self._said_hello and self.token:
                try:
                    with trio.fail_after(HELLO_TIMEOUT):  # a half-open path answers nothing
                        await self._hello_on(conn, self.token, self.last_seq)
                except ConnectionLost:
                    return
                except trio.TooSlowError:
                    log.info("glint client: no answer to the resume hello, reconnecting")
                    nursery.cancel_scope.cancel()
                    return
                except Unauthorized as exc:  # token revoked while we were away
                    self._finish(CloseCode.UNAUTHORIZED, SessionClosed(exc.message))
                    nursery.cancel_scope.cancel()
                    return
                except GlintError as exc:  # e.g. unavailable: try another socket later
                    log.info("glint client: resume refused: %r", exc)
                    self._retry_after = exc.retry_after or 0.0
                    nursery.cancel_scope.cancel()
                    return
            if not conn.recycling:
                self._ready.set()
            ready()

    def _connection_ended(self, conn: _Connection | None) -> None:
        """Fail what was in flight on a dead socket and decide whether to go on."""
        if self._conn is conn:
            self._conn = None
        if self._ready.is_set() and not self._closed.is_set():
            self._ready = trio.Event()
        if conn is None:
            return
        reason = conn.ws.closed
        code = reason.code if reason is not None else 1006
        self._last_code = code
        lost = _close_error(code)
        if code == CloseCode.RATE_LIMITED:
            self._retry_after = max(self._retry_after, RATE_LIMITED_CLOSE_DELAY)
        if self._closing:
            self._finish(CloseCode.NORMAL, ConnectionLost("client closed"))
        elif conn.recycling:
            if not self._reconnect:  # as if the server had found us too slow
                self._finish(CloseCode.TOO_SLOW,
                             ConnectionLost("event queue overflowed; resume to catch up"))
        elif code == CloseCode.UNAUTHORIZED:
            self._finish(code, SessionClosed(reason.reason if reason and reason.reason
                                             else "session closed by the server"))
        elif not (self._reconnect and self._said_hello):
            self._finish(code, lost)
        else:
            log.info("glint client: connection closed (%s), reconnecting", code)
        conn.fail_pending(self._final_error or lost)

    async def _read(self, conn: _Connection) -> None:
        """The only reader of the socket; when it ends, the connection ends."""
        try:
            while True:
                raw = await conn.ws.get_message()
                conn.last_rx = trio.current_time()
                if not isinstance(raw, bytes):
                    log.warning("glint client: ignoring a text frame")
                    continue
                try:
                    msg = decode_map(raw)
                except CodecError as exc:
                    log.warning("glint client: ignoring a bad frame: %s", exc)
                    continue
                if "re" in msg:
                    self._route_reply(conn, msg)
                elif isinstance(msg.get("ev"), str):
                    self._deliver(conn, msg)
        except (ConnectionClosed, trio.ClosedResourceError):
            pass  # the socket closed, or the client was closed for good
        finally:
            conn.scope.cancel()

    def _route_reply(self, conn: _Connection, msg: dict[str, Any]) -> None:
        rid = msg.get("re")
        waiter = conn.pending.pop(rid, None) if isinstance(rid, int) else None
        if waiter is None:
            if rid is None and not msg.get("ok"):
                log.warning("glint client: server could not parse a frame: %r", msg.get("error"))
            return  # a heartbeat ping's reply, or a call that was cancelled
        if msg.get("ok"):
            data = msg.get("data")
            data = {} if data is None else data
            if waiter.on_reply is not None:
                if not isinstance(data, dict):
                    waiter.resolve(outcome.Error(Internal("reply data is not a map")))
                    return
                waiter.on_reply(data)
            waiter.resolve(outcome.Value(data))
        else:
            waiter.resolve(outcome.Error(error_from_wire(msg.get("error"))))

    def _deliver(self, conn: _Connection, msg: dict[str, Any]) -> None:
        """Queue an event without waiting: the reader must go on to the replies."""
        data = msg.get("data")
        seq = msg.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            seq = None
        event = Event(msg["ev"], data if isinstance(data, dict) else {}, seq)
        if seq is None:
            if not self._queue(event, self.last_seq):
                self.dropped_events += 1
            return
        if self.last_seq is not None and seq <= self.last_seq:
            return  # a duplicate, e.g. replayed after a resume that overlapped
        if conn.overflowed or not self._queue(event, seq):
            # Dropped without moving last_seq (so are the ones after it, or there
            # would be a gap): the next socket resumes from here.
            if not conn.overflowed:
                conn.overflowed = True
                log.info("glint client: event queue full at seq %s; resuming once read", seq)
            return
        self.last_seq = seq  # before the receiver runs: `send_nowait` only schedules it

    def _queue(self, event: Event, mark: int | None) -> bool:
        """Queue an event; `mark` is what processed_seq becomes once it is handed out."""
        try:
            self._event_send.send_nowait(event)
        except trio.WouldBlock:
            return False
        self._marks.append(mark)
        return True

    def _moved_to(self, seq: int) -> None:
        """last_seq set by a hello (fresh, resync or an explicit resume), not by an
        event: processed_seq follows once what is queued before it has been read."""
        self.last_seq = seq
        if self._marks:
            self._marks[-1] = seq
        else:
            self.processed_seq = seq

    def _handed_out(self) -> None:
        mark = self._marks.popleft() if self._marks else None
        if mark is not None:
            self.processed_seq = mark
        self._check_drained()

    def _check_drained(self) -> None:
        """After an overflow, note when the application has read the queue down."""
        conn = self._conn
        if conn is None or not conn.overflowed or conn.drained.is_set():
            return
        stats = self._event_send.statistics()
        if stats.current_buffer_used <= stats.max_buffer_size * RESUME_AT_QUEUE_FRACTION:
            conn.drained.set()

    async def _recycle_when_drained(self, conn: _Connection) -> None:
        """Replace an overflowed socket once the application has caught up; the new
        one resumes from last_seq, so the dropped durable events come again."""
        await conn.drained.wait()
        conn.recycling = True
        if self._conn is conn and self._ready.is_set() and not self._closed.is_set():
            self._ready = trio.Event()  # new calls wait for the next socket
        if conn.pending:  # calls in flight get their replies on this one
            with trio.move_on_after(RECYCLE_CALLS_TIMEOUT):
                await conn.idle.wait()
        log.info("glint client: resuming on a new socket after an event queue overflow")
        conn.scope.cancel()

    async def _heartbeat(self, conn: _Connection) -> None:
        """Ping every half interval (before hello, every PRE_HELLO_PING_SECONDS);
        give up on a peer that has gone silent."""
        while not conn.hello_done.is_set():
            with trio.move_on_after(PRE_HELLO_PING_SECONDS):
                await conn.hello_done.wait()
            if conn.hello_done.is_set():
                break
            silent = trio.current_time() - conn.last_rx
            # A call in flight (a login) may be answered late: the server reads nothing
            # else of this socket meanwhile, pings included (logins queue for argon2).
            limit = PRE_HELLO_CALL_SILENCE if conn.pending else HELLO_TIMEOUT
            if silent > limit:  # e.g. a login sent into a dead path
                log.info("glint client: nothing heard for %.1fs before hello", silent)
                conn.scope.cancel()
                return
            if not await self._ping(conn):
                return
        if conn.heartbeat_s <= 0:
            return
        while True:
            await trio.sleep(conn.heartbeat_s / 2)
            silent = trio.current_time() - conn.last_rx
            if silent > DEAD_PEER_INTERVALS * conn.heartbeat_s:
                log.info("glint client: nothing heard for %.1fs, reconnecting", silent)
                conn.scope.cancel()
                return
            if not await self._ping(conn):
                return

    async def _ping(self, conn: _Connection) -> bool:
        try:
            await conn.send(encode(request("ping", next(self._ids))))
        except ConnectionLost:
            return False  # the reader sees the close too
        return True

    # -- closing ------------------------------------------------------------

    def _finish(self, code: int, error: GlintError) -> None:
        """Closed for good: wake every waiter and end the event stream."""
        if self._closed.is_set():
            return
        self.close_code = int(code)
        self._final_error = error
        self._event_send.close()
        if self._conn is not None:
            self._conn.fail_pending(error)
        self._closed.set()
        self._ready.set()

    def _error_after_close(self) -> GlintError:
        return self._final_error or ConnectionLost("client closed")


def _http_error(r: httpx.Response) -> GlintError:
    """An HTTP error whose body is not ours: typed by its status."""
    status = r.status_code
    cls = _HTTP_ERRORS.get(status) or (BadRequest if status < 500 else Internal)
    try:
        retry: float | None = float(r.headers["Retry-After"])
    except (KeyError, ValueError):  # absent, or an HTTP date
        retry = None
    return cls(f"HTTP {status} {r.reason_phrase} from {r.url} (not a Glint reply)",
               retry_after=retry)


def _close_error(code: int) -> ConnectionLost:
    """What calls in flight on a socket closed with `code` fail with."""
    if code == CloseCode.RATE_LIMITED:
        return ClosedRateLimited(f"connection closed ({code}): too many requests refused",
                                 retry_after=RATE_LIMITED_CLOSE_DELAY)
    if code == CloseCode.TOO_LARGE:
        return ClosedTooLarge(f"connection closed ({code}): a message over the size limit")
    return ConnectionLost(f"connection closed ({code})")


class _EventStream:
    """What `events()` returns: the event queue, as its reader sees it.

    An async iterator, with `receive` and `receive_nowait` like a trio channel.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    async def receive(self) -> Event:
        self._client._check_drained()  # an overflow may have found the queue empty
        event = await self._client._event_recv.receive()
        self._client._handed_out()
        return event

    def receive_nowait(self) -> Event:
        event = self._client._event_recv.receive_nowait()
        self._client._handed_out()
        return event

    def __aiter__(self) -> _EventStream:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    # What bots used of the trio channel `events()` returned before: passed through.
    def statistics(self) -> Any:
        return self._client._event_recv.statistics()

    def clone(self) -> _EventStream:
        return _EventStream(self._client)

    async def aclose(self) -> None:
        """A reader done with the queue (the client still owns it: nothing closes)."""
        await trio.lowlevel.checkpoint()

    async def __aenter__(self) -> _EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@asynccontextmanager
async def connect(
    url: str,
    *,
    token: str | None = None,
    resume: int | None = None,
    client_name: str = "glint-py/0.1",
    reconnect: bool = True,
    max_message_size: int = MAX_MESSAGE_SIZE,
) -> AsyncIterator[Client]:
    """Open a client on `url`; with `token`, it has said hello when this yields.

    Raises ConnectionLost if the first connection cannot be made. Leaving the
    block closes the socket with 1000.
    """
    client = Client(
        url, token=token, client_name=client_name, reconnect=reconnect,
        max_message_size=max_message_size,
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(client._run)
            try:
                if token is not None:
                    await client.hello(token, resume)
                yield client
            finally:
                await client.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        _reraise_single(group)


def _reraise_single(group: BaseExceptionGroup[BaseException]) -> NoReturn:
    """Let callers catch `Conflict`, not an exception group around it."""
    errors = [e for e in group.exceptions if not isinstance(e, trio.Cancelled)]
    if len(errors) != 1:
        raise group
    exc = errors[0]
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, context
