"""Photos end to end: upload over HTTP, variants served with cache headers, avatars, clean-up."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio
from PIL import Image

import storage.media
from config import Settings
from protocol.client import connect
from protocol.errors import BadRequest, Forbidden, TooLarge, Unauthorized, Unsupported
from server.node import Node, open_node
from tests.conftest import PASSWORD, make_settings, unique
from tests.fixtures import images

UPLOAD_LIMIT = 3 * 1024 * 1024


@pytest.fixture
def media_settings(services: tuple[str, str], tmp_path: Path) -> Settings:
    return make_settings(services, tmp_path, upload_max_bytes=UPLOAD_LIMIT)


@pytest.fixture
async def mnode(media_settings: Settings) -> AsyncIterator[Node]:
    async with open_node(media_settings) as n:
        yield n




def _files(node: Node) -> set[Path]:
    root = node.settings.data_dir
    return {p for p in root.rglob("*") if p.is_file() and "postgres" not in p.parts}


IPHONE = images.shared("photos", "iphone_hdr_YES.jpg")


@pytest.mark.skipif(IPHONE is None, reason="../shared/data not present: no real phone photo")
async def test_upload_real_phone_photo_and_serve_variants(mnode: Node) -> None:
    assert IPHONE is not None
    sample = IPHONE
    name = unique("ph")
    async with connect(mnode.ws_url) as c, httpx.AsyncClient(base_url=mnode.http_url) as http:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        rec = await c.upload(sample)
        assert rec["id"] > 0 and rec["blurhash"] and rec["color"].startswith("#")
        v = rec["variants"]
        assert set(v) >= {"feed", "640", "320", "thumb"}
        assert v["feed"]["width"] == 1080 and (v["thumb"]["width"], v["thumb"]["height"]) == (
            150, 150)
        assert rec["width"] == v["feed"]["width"] and rec["height"] == v["feed"]["height"]
        for name_, want in (("feed", 1080), ("640", 640), ("320", 320)):
            r = await http.get(v[name_]["jpeg"])
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
            img = Image.open(io.BytesIO(r.content))
            assert img.size == (want, v[name_]["height"])
            assert not img.getexif() and b"Exif" not in r.content[:4096]
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
            etag = r.headers["etag"]
            assert etag.startswith('"') and not etag.startswith('W/')
            again = await http.get(v[name_]["jpeg"], headers={"If-None-Match": etag})
            assert again.status_code == 304 and again.content == b""
        r = await http.get(v["feed"]["webp"])
        assert r.headers["content-type"] == "image/webp"
        assert Image.open(io.BytesIO(r.content)).format == "WEBP"


async def test_generated_gps_photo_is_stripped_and_identical_uploads_share_files(
        mnode: Node) -> None:
    data = images.jpeg(2000, 1500, gps=True)
    name = unique("gps")
    async with connect(mnode.ws_url) as c, httpx.AsyncClient(base_url=mnode.http_url) as http:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        first = await c.upload(data)
        files_after_first = _files(mnode)
        second = await c.upload(data)
        assert second["id"] != first["id"]
        assert second["variants"] == first["variants"]  # same bytes, same files
        assert _files(mnode) == files_after_first
        for variant in first["variants"].values():
            for fmt in ("jpeg", "webp"):
                body = (await http.get(variant[fmt])).content
                img = Image.open(io.BytesIO(body))
                assert "GPSInfo" not in str(img.getexif().get_ifd(0x8825)) and not img.getexif()
                assert b"GlintTestCam" not in body


async def test_multipart_upload_with_filter(mnode: Node) -> None:
    name = unique("mp")
    async with connect(mnode.ws_url) as c, httpx.AsyncClient(base_url=mnode.http_url) as http:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        r = await http.post("/api/media", params={"filter": "moon"},
                            headers={"Authorization": f"Bearer {c.token}"},
                            files={"file": ("photo.png", images.jpeg(800, 800), "image/png")})
        assert r.status_code == 201, r.text
        rec = r.json()
        assert rec["filter"] == "moon"
        body = (await http.get(rec["variants"]["320"]["jpeg"])).content
        rgb = Image.open(io.BytesIO(body)).convert("RGB")
        raw = rgb.tobytes()
        pixels = [raw[i:i + 3] for i in range(0, len(raw), 3 * 97)]
        assert all(abs(p[0] - p[1]) <= 3 and abs(p[1] - p[2]) <= 3 for p in pixels)


BAD = [
    ("zero bytes", b"", BadRequest),
    ("random bytes", os.urandom(4096), Unsupported),
    ("truncated jpeg", images.jpeg(1200, 900)[:3000], BadRequest),
    ("decompression bomb", images.png_bomb(), TooLarge),
    ("1 x 100000", images.png(1, 100_000), BadRequest),
    ("svg", images.SVG, Unsupported),
    ("pdf", images.PDF, Unsupported),
    ("over the byte limit", b"\xff\xd8\xff" + b"\x00" * (UPLOAD_LIMIT + 10), TooLarge),
    ("polyglot jpeg+zip", images.polyglot(), BadRequest),
]


@pytest.mark.parametrize(("label", "data", "error"), BAD, ids=[b[0] for b in BAD])
async def test_bad_uploads_get_clear_errors_and_leave_nothing(
        mnode: Node, label: str, data: bytes, error: type[Exception]) -> None:
    name = unique("bad")
    async with connect(mnode.ws_url) as c, connect(mnode.ws_url) as other:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        other_name = unique("by")
        await other.signup(other_name, f"{other_name}@example.com", PASSWORD)
        before = _files(mnode)
        with trio.fail_after(60), pytest.raises(error):
            await c.upload(data)
        assert _files(mnode) == before  # nothing left on disk
        assert "t" in await other.call("ping")  # the node keeps serving
        assert "t" in await c.call("ping")


async def test_renamed_jpeg_is_sniffed_by_its_bytes(mnode: Node) -> None:
    name = unique("ren")
    async with connect(mnode.ws_url) as c, httpx.AsyncClient(base_url=mnode.http_url) as http:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        r = await http.post("/api/media", headers={"Authorization": f"Bearer {c.token}",
                                                   "Content-Type": "image/png"},
                            content=images.jpeg(640, 480))
        assert r.status_code == 201


async def test_upload_needs_a_valid_token_and_serving_refuses_bad_keys(mnode: Node) -> None:
    async with httpx.AsyncClient(base_url=mnode.http_url) as http:
        r = await http.post("/api/media", content=images.jpeg(100, 100))
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = await http.post("/api/media", content=images.jpeg(100, 100),
                            headers={"Authorization": "Bearer not-a-token-at-all"})
        assert r.status_code == 401
        for bad in ("/media/" + "a" * 64 + ".jpg", "/media/..%2F..%2Fetc%2Fpasswd",
                    "/media/%2e%2e/secret", "/media/x.jpg"):
            r = await http.get(bad)
            assert r.status_code == 404, bad
    async with connect(mnode.ws_url) as c:
        await c.signup(unique("tok"), f"{unique()}@example.com", PASSWORD)
        c.token = "forged-token-that-does-not-exist"
        with pytest.raises(Unauthorized):
            await c.upload(images.jpeg(100, 100))


async def test_avatar_from_an_upload(mnode: Node) -> None:
    a, b = unique("ava"), unique("avb")
    async with connect(mnode.ws_url) as ca, connect(mnode.ws_url) as cb:
        await ca.signup(a, f"{a}@example.com", PASSWORD)
        await cb.signup(b, f"{b}@example.com", PASSWORD)
        photo = await ca.upload(images.jpeg(1200, 800))
        me = await ca.call("user.update", avatar=photo["id"], bio="with a face")
        assert set(me["avatar"]) == {"avatar320", "avatar150"}
        assert (me["avatar"]["avatar320"]["width"], me["avatar"]["avatar150"]["height"]) == (
            320, 150)
        seen = await cb.call("user.get", username=a)
        assert seen["avatar"] == me["avatar"]
        with pytest.raises(Forbidden):
            await cb.call("user.update", avatar=photo["id"])
        cleared = await ca.call("user.update", avatar=None)
        assert cleared["avatar"] is None


@pytest.mark.alone  # with no grace, it collects every unattached upload of the database
async def test_unattached_uploads_are_collected_after_the_grace_period(
        services: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(services, tmp_path, media_grace_seconds=0)
    # One call goes on batch after batch (one batch per interval fell behind busy users).
    monkeypatch.setattr(storage.media, "COLLECT_BATCH", 1)
    async with open_node(settings) as node:
        name = unique("gc")
        async with connect(node.ws_url) as c:
            await c.signup(name, f"{name}@example.com", PASSWORD)
            kept = await c.upload(images.jpeg(900, 900))
            await c.call("user.update", avatar=kept["id"])
            doomed = [await c.upload(images.jpeg(700, 500 + i, quality=70)) for i in range(3)]
        removed = await node.media.collect()
        assert removed >= 3 * 5
        async with httpx.AsyncClient(base_url=node.http_url) as http:
            for d in doomed:
                assert (await http.get(d["variants"]["feed"]["jpeg"])).status_code == 404
            me = None
            async with connect(node.ws_url) as c2:
                me = await c2.login(name, PASSWORD)
            avatar = me["user"]["avatar"]["avatar150"]["jpeg"]
            assert (await http.get(avatar)).status_code == 200


async def test_early_upload_errors_do_not_wedge_a_kept_alive_connection(mnode: Node) -> None:
    name = unique("ka")
    async with connect(mnode.ws_url) as c, httpx.AsyncClient(base_url=mnode.http_url) as http:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        auth = {"Authorization": f"Bearer {c.token}"}
        big = b"\xff\xd8\xff" + b"\x00" * (UPLOAD_LIMIT + 10)
        with trio.fail_after(30):
            for _ in range(3):
                r = await http.post("/api/media", content=big, headers=auth)
                assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
            assert (await http.get("/healthz")).status_code == 200
            r = await http.post("/api/media", content=images.jpeg(300, 300), headers=auth)
            assert r.status_code == 201


async def test_a_spent_upload_allowance_is_refused_before_the_body(
        services: tuple[str, str], tmp_path: Path) -> None:
    """Past `uploads_per_hour` the answer comes at once, with nothing of the body read:
    counted only after receiving it, a throttled user could go on sending 30 MiB bodies.
    The request here announces a megabyte and sends ten bytes: it is answered anyway."""
    settings = make_settings(services, tmp_path, uploads_per_hour=1)
    name = unique("rl")
    async with open_node(settings) as node, connect(node.ws_url) as c, \
            httpx.AsyncClient(base_url=node.http_url) as http:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        r = await http.post("/api/media", content=images.jpeg(300, 300),
                            headers={"Authorization": f"Bearer {c.token}"})
        assert r.status_code == 201
        host, port = node.http_url.removeprefix("http://").rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            await stream.send_all(
                f"POST /api/media HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {c.token}\r\nContent-Type: image/jpeg\r\n"
                f"Content-Length: 1000000\r\n\r\n".encode() + b"\xff\xd8\xff" + b"\0" * 7)
            reply = b""
            with trio.fail_after(10):
                while b"\r\n\r\n" not in reply:
                    reply += await stream.receive_some(4096)
        assert reply.startswith(b"HTTP/1.1 429"), reply[:80]
        assert b"retry-after" in reply.lower()
