"""The node serves the built web app: cache headers, the SPA fallback, the admin page."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from trio_websocket import open_websocket_url

import server.http
from server.http import WEB_ASSET_CACHE_CONTROL, WEB_PAGE_CACHE_CONTROL
from server.node import Node
from tests.wire import Raw

ASSET = "assets/main-Dqag2J2B.js"


@pytest.fixture
def web_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A client_js/ with a built dist/ (as `npm run build` leaves it) and a public/."""
    root = tmp_path / "client_js"
    (root / "dist" / "assets").mkdir(parents=True)
    (root / "public").mkdir()
    (root / "dist" / "index.html").write_text("<title>Glint</title>app page")
    (root / "dist" / "admin.html").write_text("<title>Glint admin</title>admin page")
    (root / "dist" / ASSET).write_text("console.log('app')")
    (root / "dist" / "favicon.svg").write_text("<svg/>")
    (root / "public" / "index.html").write_text("not built yet")
    monkeypatch.setattr(server.http, "WEB_ROOT", root)
    return root


async def test_hashed_assets_are_immutable_and_pages_revalidate(node: Node,
                                                                web_root: Path) -> None:
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        page = await http.get("/")
        asset = await http.get(f"/{ASSET}")
        other = await http.get("/favicon.svg")
    assert page.status_code == 200 and "app page" in page.text
    assert page.headers["cache-control"] == WEB_PAGE_CACHE_CONTROL == "no-cache"
    assert asset.status_code == 200 and asset.text == "console.log('app')"
    assert asset.headers["cache-control"] == WEB_ASSET_CACHE_CONTROL
    assert "immutable" in WEB_ASSET_CACHE_CONTROL
    assert other.headers["cache-control"] == "no-cache"  # not hashed: revalidate


@pytest.mark.parametrize("path", ["/login", "/u/alice", "/p/500811257377457154",
                                  "/direct/123", "/t/sunset", "/a/b/c/d"])
async def test_client_routes_get_the_app_page(node: Node, web_root: Path, path: str) -> None:
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        resp = await http.get(path)
    assert resp.status_code == 200
    assert "app page" in resp.text
    assert resp.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/admin", "/admin/", "/admin/users/42"])
async def test_admin_paths_get_the_admin_page(node: Node, web_root: Path, path: str) -> None:
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        resp = await http.get(path)
    assert resp.status_code == 200 and "admin page" in resp.text
    assert resp.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/api/nope", "/media/nope", "/metrics/x", "/healthz/x",
                                  "/readyz/x", f"/{ASSET}x", "/assets/%2e%2e/%2e%2e/etc/passwd"])
async def test_server_paths_and_missing_assets_are_not_the_app(node: Node, web_root: Path,
                                                               path: str) -> None:
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        resp = await http.get(path)
        still = await http.get("/healthz")
    # A missing hashed asset is not a client route either: an HTML page cached for
    # a year in its place would break the app.
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
    assert resp.headers.get("cache-control") != WEB_ASSET_CACHE_CONTROL
    assert still.status_code == 200


async def test_without_a_build_the_public_page_is_served(node: Node, web_root: Path) -> None:
    for f in (web_root / "dist").rglob("*"):
        if f.is_file():
            f.unlink()
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        resp = await http.get("/")
        route = await http.get("/explore")
    assert resp.status_code == 200 and "not built yet" in resp.text
    assert route.status_code == 200 and "not built yet" in route.text


async def test_the_page_origin_may_open_the_websocket(node: Node) -> None:
    # The page is on the HTTP port, the socket on the WebSocket port: the default
    # allowed origins are the HTTP port's, by every name of this host.
    for host in ("127.0.0.1", "localhost"):
        origin = f"http://{host}:{node.http_port}"
        async with open_websocket_url(node.ws_url, extra_headers=[("Origin", origin)]) as ws:
            assert (await Raw(ws).call("ping"))["ok"]
