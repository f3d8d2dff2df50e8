"""Garbage on the wire gets the documented error or close code and disturbs nobody else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgpack
import pytest
import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from config.limits import GARBAGE_FRAMES_BEFORE_CLOSE
from protocol.client import Client, connect
from protocol.errors import BadRequest, Forbidden
from server.node import Node
from tests.conftest import PASSWORD, unique
from tests.wire import WAIT, Raw


@asynccontextmanager
async def bystander(node: Node) -> AsyncIterator[Client]:
    """A healthy, authenticated client that must keep working throughout."""
    name = unique("ok")
    async with connect(node.ws_url) as c:
        await c.signup(name, f"{name}@example.com", PASSWORD)
        yield c


async def still_fine(c: Client) -> None:
    with trio.fail_after(WAIT):
        assert "t" in await c.call("ping")


async def closed_with(raw: Raw) -> int:
    with trio.fail_after(WAIT), pytest.raises(ConnectionClosed) as info:
        while True:
            await raw.recv()
    return info.value.reason.code


async def test_text_frames_get_unsupported_then_close_1003(node: Node) -> None:
    async with bystander(node) as ok, open_websocket_url(node.ws_url) as ws:
        raw = Raw(ws)
        for _ in range(GARBAGE_FRAMES_BEFORE_CLOSE - 1):
            await ws.send_message('{"op": "ping", "id": 1}')
            reply = await raw.recv()
            assert reply["ok"] is False and reply["error"]["code"] == "unsupported"
            await still_fine(ok)
        assert (await raw.call("ping"))["ok"]  # still served between bad frames
        await ws.send_message("again")
        assert (await raw.recv())["error"]["code"] == "unsupported"
        assert await closed_with(raw) == 1003
        await still_fine(ok)


@pytest.mark.parametrize("frame", [
    b"\xc1",  # never-used msgpack byte
    msgpack.packb([1, 2, 3]),  # not a map
    msgpack.packb("hello"),
    msgpack.packb({"op": "ping"}) + b"trailing",
    b"",
])
async def test_non_map_frames_get_bad_request_then_close_1008(node: Node, frame: bytes) -> None:
    async with bystander(node) as ok, open_websocket_url(node.ws_url) as ws:
        raw = Raw(ws)
        for _ in range(GARBAGE_FRAMES_BEFORE_CLOSE):
            await ws.send_message(frame)
            reply = await raw.recv()
            assert reply == {"re": None, "ok": False, "error": reply["error"]}
            assert reply["error"]["code"] == "bad_request"
        assert await closed_with(raw) == 1008
        await still_fine(ok)


async def test_bad_envelopes_and_unknown_ops_are_answered(node: Node) -> None:
    async with bystander(node) as ok, open_websocket_url(node.ws_url) as ws:
        raw = Raw(ws)
        await raw.send_obj({"op": "ping", "id": -1})
        assert (await raw.recv())["error"]["code"] == "bad_request"
        await raw.send_obj({"op": "ping", "id": 5, "args": [1, 2]})
        r = await raw.reply(5)
        assert r["error"]["code"] == "bad_request"
        await raw.send_obj({"op": 12, "id": 6})
        assert (await raw.reply(6))["error"]["code"] == "bad_request"
        assert (await raw.call("no.such.op"))["error"]["code"] == "bad_request"
        assert (await raw.call("feed.home"))["error"]["code"] == "unauthorized"
        assert (await raw.call("user.get"))["error"]["code"] == "unauthorized"
        name = unique("env")
        r = await raw.call("auth.signup", username=name, email=f"{name}@example.com",
                           password=PASSWORD)
        r = await raw.call("hello", proto=1, token=r["data"]["token"])
        assert r["ok"]
        assert (await raw.call("hello", proto=1, token="x" * 40))["error"]["code"] == \
            "bad_request"
        assert (await raw.call("user.update", private="yes"))["error"]["code"] == "bad_request"
        assert (await raw.call("user.get", id="123"))["error"]["code"] == "bad_request"
        assert (await raw.call("user.get", id=2**63))["error"]["code"] == "bad_request"
        assert (await raw.call("ping"))["ok"]
        await still_fine(ok)


async def test_reserved_names_answer_cleanly(node: Node) -> None:
    """Every protocol op is implemented now; `admin.*` is for operators (tests/server/
    test_admin.py has the rest): a non-admin gets forbidden, even for unknown names."""
    async with bystander(node) as ok:
        with pytest.raises(BadRequest):
            await ok.call("report.create")
        for op in ("admin.stats", "admin.no_such_op"):
            with pytest.raises(Forbidden):
                await ok.call(op)
        with pytest.raises(BadRequest):
            await ok.call("nonsense.op")
        await still_fine(ok)


async def test_oversize_frame_closes_1009(node: Node) -> None:
    async with bystander(node) as ok, open_websocket_url(
            node.ws_url, max_message_size=4 << 20) as ws:
        raw = Raw(ws)
        await ws.send_message(b"\x80" + b"x" * (node.settings.max_frame_bytes + 10))
        assert await closed_with(raw) == 1009
        await still_fine(ok)


async def test_foreign_origin_is_refused(node: Node) -> None:
    with pytest.raises(HandshakeError):
        async with open_websocket_url(
                node.ws_url, extra_headers=[("Origin", "http://evil.example")]):
            pass
    origin = f"http://127.0.0.1:{node.http_port}"
    async with open_websocket_url(node.ws_url, extra_headers=[("Origin", origin)]) as ws:
        assert (await Raw(ws).call("ping"))["ok"]


async def test_ops_are_rate_limited_per_connection(node: Node) -> None:
    async with bystander(node) as ok, open_websocket_url(node.ws_url) as ws:
        raw = Raw(ws)
        burst = node.settings.ops_burst
        for i in range(burst + 20):
            await raw.send_obj({"op": "ping", "id": i + 1})
        codes = [(await raw.reply(i + 1)).get("error", {}).get("code") for i in range(burst + 20)]
        assert codes.count("rate_limited") >= 10
        assert codes[:burst].count(None) >= burst - 5
        await still_fine(ok)


async def test_bad_envelopes_count_towards_the_close(node: Node) -> None:
    async with bystander(node) as ok, open_websocket_url(node.ws_url) as ws:
        raw = Raw(ws)
        for _ in range(GARBAGE_FRAMES_BEFORE_CLOSE):
            await raw.send_obj({"op": "ping", "id": -1})
            assert (await raw.recv())["error"]["code"] == "bad_request"
        assert await closed_with(raw) == 1008
        await still_fine(ok)


async def test_nul_characters_in_text_are_bad_request_not_internal(node: Node) -> None:
    """Postgres text cannot hold U+0000: every text argument refuses it up front."""
    from tests.server.test_posts import bots, quick_post, sql

    async with bystander(node) as ok, bots(node, 1) as (author,):
        post = await quick_post(author, "clean")
        bad = [("post.edit", {"post": post["id"], "caption": "a\x00b"}),
               ("post.edit", {"post": post["id"], "alts": ["a\x00b"]}),
               ("comment.add", {"post": post["id"], "text": "a\x00b"}),
               ("user.update", {"bio": "a\x00b"})]
        for op, args in bad:
            with pytest.raises(BadRequest):
                await author.call(op, **args)
        assert await sql(node, "SELECT caption FROM posts WHERE id = $1", post["id"]) == "clean"
        assert await sql(node, "SELECT count(*) FROM comments WHERE post_id = $1",
                         post["id"]) == 0
        await still_fine(ok)
        await still_fine(author)
