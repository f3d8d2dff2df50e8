"""Maps protocol ops to domain calls for one connection; replies exactly once per request.

Authorisation lives in the domain layer (actors/); here we only check that a
session exists before ops that need one, apply the per-connection rate limit,
and map errors to codes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from actors import args as A
from actors.accounts import Accounts, Session, public_user
from actors.errors import Invalid, NotAuthenticated, Unsupported
from actors.user import end_session
from config.limits import RATE_LIMITED_BEFORE_CLOSE
from protocol import PROTOCOL_VERSION
from protocol.envelope import Request, encode, reply_error, reply_ok
from protocol.errors import GlintError, RateLimited
from protocol.names import OPS, PRE_HELLO_OPS, CloseCode
from server.connection import Connection
from server.errors import to_protocol
from server.metrics import SERVER_ERRORS
from server.ops import all_ops
from server.ops.admin import UNKNOWN_ADMIN_OP
from storage.bridge import BridgeClosed
from storage.errors import Unavailable

if TYPE_CHECKING:
    from server.node import Node

log = logging.getLogger(__name__)

SERVER_VERSION = "glint/0.1.0"
# A handler that wrote its own reply (hello, auth.logout). It must not raise once it
# has: the router would answer the same id a second time.
REPLIED = object()

Op = Callable[[Connection, dict[str, Any], int], Awaitable[Any]]


class Router:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.accounts: Accounts = node.accounts
        # Connections whose logout is under way: its reply must come before any 4001, so
        # hello's background re-check leaves them to the logout.
        self._logging_out: set[int] = set()
        self.ops: dict[str, Op] = {
            "ping": self.ping,
            "hello": self.hello,
            "auth.signup": self.signup,
            "auth.login": self.login,
            "auth.logout": self.logout,
            "auth.password": self.password,
            "user.get": self.user_get,
            "user.update": self.user_update,
        }
        for op, handler in all_ops(node).items():
            if op in self.ops:
                raise RuntimeError(f"op {op} registered twice")
            self.ops[op] = handler

    async def __call__(self, conn: Connection, req: Request) -> None:
        started = time.perf_counter()
        rid, op = req.id, req.op
        try:
            wait = conn.bucket.take()
            if wait:
                conn.limited += 1
                if conn.limited >= RATE_LIMITED_BEFORE_CLOSE:
                    conn.close(CloseCode.RATE_LIMITED, "rate limit exceeded")
                raise RateLimited("too many requests", retry_after=round(wait, 3))
            conn.limited = 0
            handler = self.ops.get(op)
            if handler is None and op.startswith("admin."):
                handler = self.ops.get(UNKNOWN_ADMIN_OP)  # forbidden, or unsupported to admins
            known = handler is not None or op in OPS or op.startswith("admin.")
            if not known:
                raise Invalid(f"unknown op `{op}`")
            if conn.session is None and op not in PRE_HELLO_OPS:
                raise NotAuthenticated("say `hello` first")
            if handler is None:
                raise Unsupported(f"`{op}` is not available on this server yet")
            data = await handler(conn, req.args, req.id)
            outcome = "ok"
            if data is not REPLIED:
                conn.send(encode(reply_ok(rid, data)))
        except trio.Cancelled:
            raise
        except Exception as exc:
            err: GlintError = to_protocol(exc)
            outcome = err.code.value
            conn.send(encode(reply_error(rid, err.to_wire())))
        seconds = time.perf_counter() - started
        self.node.metrics.op(op if op in self.ops else "other", outcome, seconds)
        if outcome in SERVER_ERRORS or log.isEnabledFor(logging.DEBUG):
            log.log(logging.WARNING if outcome in SERVER_ERRORS else logging.DEBUG, "op",
                    extra={"conn": conn.conn_id, "op": op[:60], "outcome": outcome,
                           "user": conn.session.user_id if conn.session else None,
                           "ms": round(seconds * 1000, 3)})

    # -- ops ------------------------------------------------------------------------
    async def ping(self, conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return {"t": int(time.time() * 1000)}

    async def signup(self, conn: Connection, args: dict[str, Any], rid: int) -> Any:
        issued = await self.accounts.signup(args, ip=_ip(conn), client="ws")
        return {"token": issued.token, "user": public_user(issued.user, me=True),
                "expires_at": issued.expires_ms}

    async def login(self, conn: Connection, args: dict[str, Any], rid: int) -> Any:
        issued = await self.accounts.login(args, ip=_ip(conn), client="ws")
        return {"token": issued.token, "user": public_user(issued.user, me=True),
                "expires_at": issued.expires_ms}

    async def hello(self, conn: Connection, args: dict[str, Any], rid: int) -> Any:
        A.only(args, {"proto", "token", "resume", "client"})
        proto = A.integer(args, "proto", required=False)
        if proto is not None and proto != PROTOCOL_VERSION:
            raise Invalid(f"this server speaks protocol {PROTOCOL_VERSION}")
        resume = A.integer(args, "resume", required=False)
        client = A.text(args, "client", max_len=100, required=False)
        if conn.session is not None:
            raise Invalid("`hello` was already said on this connection")
        session, user = await self.accounts.authenticate(args.get("token"))
        base = {
            "user": public_user(user, me=True),
            "heartbeat_ms": int(self.node.settings.heartbeat_seconds * 1000),
            "server": SERVER_VERSION,
            "proto": PROTOCOL_VERSION,
            "node": self.node.name,
            "http_url": self.node.http_url_for(conn.host),
            "max_frame": self.node.settings.max_frame_bytes,
        }

        def reply(seq: int, resync: bool) -> bytes:
            return encode(reply_ok(rid, {**base, "seq": seq, "resync": resync}))

        conn.session = session
        conn.token_hash = session.token_hash
        conn.client = client or ""
        try:
            await self.node.attach(conn, resume, reply)
        except BaseException:
            conn.session = None
            raise
        conn.attached = True  # broadcasts reach it only after its hello reply
        # Attached, so a revoke published from now on reaches it; one that committed
        # since the token was checked above would be missed: check once more, beside
        # the connection's next requests rather than before them (a client's first
        # call after hello waited for this round trip; a revoke that lands in this
        # window closes the connection a moment later, as if it had come then).
        conn.nursery.start_soon(self._recheck, conn, session)
        return REPLIED

    async def _recheck(self, conn: Connection, session: Session) -> None:
        try:
            live = await self.accounts.still_live(session)
        except (Unavailable, BridgeClosed) as exc:  # the bus still closes later revokes
            log.warning("session not re-checked after hello", extra={
                "conn": conn.conn_id, "error": str(exc)})
            return
        except Exception:  # any other database error: the connection's task, not the node's
            log.exception("session not re-checked after hello", extra={"conn": conn.conn_id})
            return
        if not live and not conn.closing and conn.conn_id not in self._logging_out:
            end_session(conn, "session ended")

    async def logout(self, conn: Connection, args: dict[str, Any], rid: int) -> Any:
        A.only(args, set())
        session = _session(conn)
        self._logging_out.add(conn.conn_id)
        try:
            user_id = await self.accounts.revoke(session.token_hash)
            # Reply first, so the 4001 that follows never overtakes it.
            conn.send(encode(reply_ok(rid, {})))
        finally:
            self._logging_out.discard(conn.conn_id)
        try:
            if user_id is not None:
                await self.accounts.close_sessions(user_id, session.token_hash)
        except Exception:  # e.g. BridgeClosed at shutdown; the re-check closes the others
            log.exception("logout not told to the other connections", extra={
                "conn": conn.conn_id})
        finally:
            # Its own token is revoked: this connection closes whatever the bus does.
            if not conn.closing:
                end_session(conn, "logged out")
        return REPLIED

    async def password(self, conn: Connection, args: dict[str, Any], rid: int) -> Any:
        done = await self.accounts.change_password(_session(conn), args)
        return {"changed": True, "sessions_closed": done.sessions_closed}

    async def user_get(self, conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await self.accounts.get_user(_session(conn), args)

    async def user_update(self, conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await self.accounts.update_user(_session(conn), args)


def _session(conn: Connection) -> Session:
    if conn.session is None:
        raise NotAuthenticated("say `hello` first")
    return conn.session


def _ip(conn: Connection) -> str:
    return conn.ip
