"""HTTP on quart-trio/hypercorn: auth, info, health, metrics and the static web app."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import secrets
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.config import Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app
from quart import Response, g, request, send_from_directory
from quart.wrappers.request import Body
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestTimeout
from werkzeug.security import safe_join

from actors.accounts import Session, public_user
from actors.errors import NotAuthenticated
from actors.media import UPLOAD_TMP_PREFIX, parse_options
from config import limits as L
from media.store import valid_key
from protocol import PROTOCOL_VERSION
from protocol.errors import (
    BadRequest,
    GlintError,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
    Unsupported,
)
from server.errors import to_protocol
from server.gateway import LISTEN_BACKLOG, WS_PATH
from server.proxies import client_ip

if TYPE_CHECKING:
    from server.node import Node

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 64 * 1024
# JSON bodies must say so: the types a cross-site page may POST without a CORS preflight
# (text/plain, forms) are refused, so no page can sign up or log in from its visitors.
JSON_MIMETYPE = "application/json"
MULTIPART_SLACK_BYTES = 64 * 1024  # a multipart upload's boundaries and part headers
UPLOAD_BUSY_RETRY_SECONDS = 1.0  # Retry-After of an upload refused for too many in flight
# Methods no route takes at a path land on the catch-alls, which answer 404 or 405.
OTHER_METHODS = ["POST", "PUT", "PATCH", "DELETE"]
ROUTED_METHODS = ("GET", *OTHER_METHODS)
MEDIA_CACHE_CONTROL = "public, max-age=31536000, immutable"
WEB_ROOT = Path(__file__).resolve().parent.parent / "client_js"
# The built app's file names under assets/ carry a content hash: cache them for good.
WEB_ASSETS_PREFIX = "assets/"
WEB_ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
WEB_PAGE_CACHE_CONTROL = "no-cache"
# Unknown paths under these are real 404s, not client-side routes of the app (a
# missing hashed asset too: an HTML page in its place would only confuse the browser).
NOT_APP_PREFIXES = frozenset({"api", "media", "metrics", "healthz", "readyz", "ws", "assets"})
_STATUS = {"bad_request": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404,
           "conflict": 409, "rate_limited": 429, "too_large": 413, "unsupported": 415,
           "unavailable": 503, "internal": 500}


def _error(err: GlintError) -> Response:
    resp = Response(json.dumps({"error": err.to_wire()}), status=_STATUS[err.code.value],
                    content_type="application/json")
    if err.retry_after is not None:
        resp.headers["Retry-After"] = str(max(1, int(err.retry_after + 0.999)))
    return resp


class _Metered:
    """The request body chunk by chunk, refused as it arrives: past `limit` bytes
    (413), or when the next chunk takes longer than HTTP_BODY_IDLE_SECONDS (408).
    Without a Content-Length (chunked) nothing else bounds a body before it is all
    buffered, and quart's BODY_TIMEOUT never covers iterating over it."""

    def __init__(self, body: Body, limit: int, too_large: str) -> None:
        self.body, self.limit, self.too_large = body, limit, too_large
        self.size = 0

    def __aiter__(self) -> _Metered:
        return self

    async def __anext__(self) -> bytes:
        with trio.move_on_after(L.HTTP_BODY_IDLE_SECONDS) as idle:
            chunk = await self.body.__anext__()
        if idle.cancelled_caught:
            raise RequestTimeout(f"no part of the body came for {L.HTTP_BODY_IDLE_SECONDS:g} s")
        self.size += len(chunk)
        if self.size > self.limit:
            raise TooLarge(self.too_large)
        return chunk


async def _receive_upload(tmp: trio.Path, limit: int) -> None:
    """Stream the body (raw, or multipart field `file`) to `tmp`, never past `limit` bytes."""
    too_large = f"uploads are limited to {limit} bytes"
    if (request.mimetype or "").startswith("multipart/"):
        # The form parser reads request.body: metered the same way, and with no deadline
        # for the whole body (BODY_TIMEOUT's 60 s cut a slow link's upload short).
        # The parser is given the metered body; request.body itself stays (the server
        # goes on appending to it as parts arrive: a stand-in there raised, mid-upload).
        parser = request.make_form_data_parser()
        _, files = await parser.parse(
            _Metered(request.body, limit + MULTIPART_SLACK_BYTES, too_large),  # type: ignore[arg-type]
            request.mimetype, request.content_length, request.mimetype_params)
        f = files.get("file")
        if f is None:
            raise BadRequest("multipart uploads need a `file` field")
        await f.save(str(tmp))
        if (await tmp.stat()).st_size > limit:
            raise TooLarge(too_large)
        g.body_read = True
        return
    size = 0
    async with await trio.open_file(tmp, "wb") as out:
        async for chunk in _Metered(request.body, limit, too_large):
            size += len(chunk)
            await out.write(chunk)
    g.body_read = True
    if size == 0:
        raise BadRequest("the upload is empty")


def host_only(host_header: str) -> str:
    """A Host header without its port: "[::1]:8080" and "[::1]" are both "[::1]"."""
    if host_header.endswith("]") or ":" not in host_header:
        return host_header
    return host_header.rsplit(":", 1)[0]


def _client_ip(trusted: tuple[str, ...]) -> str:
    return client_ip(request.remote_addr or "unknown",
                     request.headers.getlist("X-Forwarded-For"), trusted)


def create_app(node: Node) -> QuartTrio:
    app = QuartTrio(__name__, static_folder=None)
    # Quart refuses bodies past this on its own; the upload also counts while streaming.
    app.config["MAX_CONTENT_LENGTH"] = node.settings.upload_max_bytes + MULTIPART_SLACK_BYTES
    uploading: dict[int, int] = {}  # user id -> uploads in progress on this node

    async def body() -> dict[str, Any]:
        if request.mimetype != JSON_MIMETYPE:
            raise Unsupported(f"the body must be JSON, sent as Content-Type: {JSON_MIMETYPE}")
        if (request.content_length or 0) > MAX_JSON_BYTES:
            raise TooLarge("request body too large")
        raw = bytearray()
        # Each chunk within HTTP_BODY_IDLE_SECONDS, and the whole as quart's get_data had it.
        with trio.move_on_after(request.body_timeout or math.inf) as whole:
            async for chunk in _Metered(request.body, MAX_JSON_BYTES, "request body too large"):
                raw += chunk
        if whole.cancelled_caught:
            raise RequestTimeout("the body did not arrive in time")
        g.body_read = True
        try:
            data = json.loads(bytes(raw) or b"{}")
            # JSON may spell lone surrogates ("\ud800"), which are no text: argon2, Redis
            # and PostgreSQL failed on them as `internal` (UnicodeEncodeError is a
            # ValueError). Deep nesting ends in RecursionError.
            json.dumps(data, ensure_ascii=False).encode()
        except (ValueError, RecursionError):
            raise BadRequest("body must be JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("body must be a JSON object")
        return data

    def bearer() -> str:
        auth = request.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer "):
            raise Unauthorized("Authorization: Bearer <token> is required")
        return auth[7:].strip()

    @app.errorhandler(Exception)
    async def on_error(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            # 405 and 408 (a body that stalled) have no code of their own: bad_request.
            status = exc.code or 400
            code = next((c for c, st in _STATUS.items() if st == status), "bad_request")
            resp = Response(json.dumps({"error": {"code": code, "message": exc.description}}),
                            status=status, content_type="application/json")
            if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
                resp.headers["Allow"] = ", ".join(exc.valid_methods)
        else:
            resp = _error(to_protocol(exc))
        if request.method not in ("GET", "HEAD") and not g.get("body_read"):
            # The body may be unread or still coming: don't let the next request on this
            # connection wait behind it.
            resp.headers["Connection"] = "close"
        return resp

    # The access log: one event per request, as for WebSocket ops (server/router.py): at
    # debug, and at warning for a server error. The path only: no query string, and
    # tokens travel in headers, which are never logged.
    @app.before_request
    async def started() -> None:
        g.started = time.perf_counter()

    @app.after_request
    async def access_log(resp: Response) -> Response:
        level = logging.WARNING if resp.status_code >= 500 else logging.DEBUG
        if log.isEnabledFor(level):
            ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
            log.log(level, "http", extra={
                "method": request.method, "path": request.path[:200],
                "status": resp.status_code, "ms": round(ms, 3),
                "ip": _client_ip(node.settings.trusted_proxies)})
        return resp

    @app.get("/api/info")
    async def info() -> Any:
        host = host_only(request.host) if request.host else node.settings.host
        ws_url = node.settings.public_ws_url or f"ws://{host}:{node.ws_port}{WS_PATH}"
        return {"ws_url": ws_url, "proto": PROTOCOL_VERSION, "server": "glint/0.1.0",
                "node": node.name}

    async def issued(i: Any) -> dict[str, Any]:
        return {"token": i.token, "user": public_user(i.user, me=True),
                "expires_at": i.expires_ms}

    @app.post("/api/auth/signup")
    async def signup() -> Any:
        ip = _client_ip(node.settings.trusted_proxies)
        return await issued(await node.accounts.signup(await body(), ip=ip, client="http")), 201

    @app.post("/api/auth/login")
    async def login() -> Any:
        ip = _client_ip(node.settings.trusted_proxies)
        return await issued(await node.accounts.login(await body(), ip=ip, client="http"))

    @app.post("/api/auth/logout")
    async def logout() -> Any:
        await node.accounts.logout_token(bearer())
        return {"ok": True}

    async def session() -> Session:
        try:
            sess, _ = await node.accounts.authenticate(bearer())
        except NotAuthenticated as exc:
            raise Unauthorized(exc.message) from None
        return sess

    @app.post("/api/auth/password")
    async def password() -> Any:
        done = await node.accounts.change_password(await session(), await body())
        return {"changed": True, "sessions_closed": done.sessions_closed}

    @app.post("/api/media")
    async def upload() -> Any:
        """Everything that can refuse an upload before its body does so first; then the
        body goes to a temp file that goes with the request, however it ends."""
        sess = await session()
        limit = node.settings.upload_max_bytes
        if (request.content_length or 0) > limit:
            raise TooLarge(f"uploads are limited to {limit} bytes")
        options = dict(request.args)
        parse_options(options)  # a bad kind, filter or adjustment
        uid = sess.user_id
        if uploading.get(uid, 0) >= L.UPLOADS_IN_FLIGHT_PER_USER:
            raise RateLimited(f"at most {L.UPLOADS_IN_FLIGHT_PER_USER} uploads at once; "
                              "wait for one to finish", retry_after=UPLOAD_BUSY_RETRY_SECONDS)
        uploading[uid] = uploading.get(uid, 0) + 1
        try:
            await node.media.allowance_left(uid)
            tmp_dir = trio.Path(node.media.tmp_dir)
            await tmp_dir.mkdir(parents=True, exist_ok=True)
            tmp = tmp_dir / f"{UPLOAD_TMP_PREFIX}{secrets.token_hex(12)}"
            try:
                await _receive_upload(tmp, limit)
                return await node.media.upload(sess, Path(tmp), options), 201
            finally:
                # Shielded: a client gone (quart cancels the handler) or the node stopping
                # would otherwise skip the unlink, whose thread hop checks for cancellation.
                with trio.CancelScope(shield=True), contextlib.suppress(FileNotFoundError):
                    await tmp.unlink()
        finally:
            if uploading[uid] > 1:
                uploading[uid] -= 1
            else:
                del uploading[uid]

    @app.get("/media/<key>")
    async def media_file(key: str) -> Response:
        if not valid_key(key):
            return _error(NotFound("no such media"))
        path = await node.media.store.path(key)
        if path is None:
            return _error(NotFound("no such media"))
        etag = '"' + key.split(".", 1)[0] + '"'  # content-addressed: a strong validator
        headers = {"ETag": etag, "Cache-Control": MEDIA_CACHE_CONTROL}
        if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
            return Response(b"", status=304, headers=headers)
        data = await trio.Path(path).read_bytes()
        kind = "image/webp" if key.endswith(".webp") else "image/jpeg"
        return Response(data, content_type=kind, headers=headers)

    @app.get("/healthz")
    async def healthz() -> Any:
        return {"ok": True, "node": node.name}

    @app.get("/readyz")
    async def readyz() -> Any:
        status = await node.storage.check()
        ready = bool(status.get("postgres") and status.get("redis")
                     and not status.get("migrations_pending"))
        return {"ready": ready, **status}, 200 if ready else 503

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(node.metrics.render(),
                        content_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/")
    async def index() -> Any:
        return await _web_page("index.html", node.settings.web_dir)

    @app.get("/admin")
    async def admin_page() -> Any:
        return await _web_page("admin.html", node.settings.web_dir)

    def routed(path: str) -> list[str]:
        """The methods a route other than the catch-alls takes at `path`."""
        adapter = app.url_map.bind("localhost")
        methods = []
        for method in ROUTED_METHODS:
            try:
                endpoint, _ = adapter.match(path, method=method)
            except HTTPException:
                continue
            if endpoint not in ("static_file", "no_route"):
                methods.append(method)
        return [*methods, "HEAD"] if "GET" in methods else methods

    def no_such_path(path: str) -> GlintError:
        """404 for a path of the API (not a page of the app), 405 if it exists for others."""
        if methods := routed("/" + path):
            raise MethodNotAllowed(valid_methods=methods)
        return NotFound("no such path")

    @app.route("/<path:path>", methods=OTHER_METHODS)
    async def no_route(path: str) -> Any:
        """No route takes this method at this path (werkzeug tried them first)."""
        if path.split("/", 1)[0] not in NOT_APP_PREFIXES:
            raise MethodNotAllowed(valid_methods=["GET", "HEAD"])  # a page of the app
        raise no_such_path(path)

    @app.get("/<path:path>")
    async def static_file(path: str) -> Any:
        root = _web_root(node.settings.web_dir)
        found = safe_join(str(root), path)
        if found is not None and await trio.Path(found).is_file():
            resp = await send_from_directory(root, path)
            hashed = path.startswith(WEB_ASSETS_PREFIX)
            resp.headers["Cache-Control"] = (WEB_ASSET_CACHE_CONTROL if hashed
                                             else WEB_PAGE_CACHE_CONTROL)
            return resp
        top = path.split("/", 1)[0]
        if top in NOT_APP_PREFIXES:
            raise no_such_path(path)
        if top == "admin":
            return await _web_page("admin.html", root)  # the operator console's own routes
        return await _web_page("index.html", root)  # a client-side route: the app handles it

    return app


async def _web_page(name: str, web_dir: Path | None) -> Response:
    """An HTML entry page: always revalidated, so a new build is picked up at once."""
    root = _web_root(web_dir)
    if not await trio.Path(root / name).is_file():
        raise NotFound("no such page")
    resp = await send_from_directory(root, name)
    resp.headers["Cache-Control"] = WEB_PAGE_CACHE_CONTROL
    return resp


def _web_root(web_dir: Path | None) -> Path:
    if web_dir is not None:
        return web_dir
    built = WEB_ROOT / "dist"
    return built if (built / "index.html").exists() else WEB_ROOT / "public"


async def serve_http(node: Node, listener: socket.socket, *,
                     task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    config = HyperConfig()
    config.accesslog = None
    config.errorlog = None
    config.backlog = LISTEN_BACKLOG
    config.graceful_timeout = 2.0
    app = wrap_app(create_app(node), config.wsgi_max_body_size, "asgi")
    await worker_serve(app, config, sockets=Sockets([], [listener], []), task_status=task_status)
