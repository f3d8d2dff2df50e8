"""post.create re-renders an upload for another filter or adjustments, several at once in
a nursery. A failing render answers the error it stands for, as documented: the kept
original gone (as on a node without a shared media store) is `not_found`, a corrupt one
`bad_request` (both were `internal`: trio wraps a nursery's error in a group). Nothing
is posted, and the node goes on serving. Each render counts against the user's
`uploads_per_hour`, as an upload does."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.client import Client
from protocol.errors import BadRequest, NotFound, RateLimited
from server.node import Node, open_node
from tests.conftest import make_settings
from tests.fixtures import images
from tests.server.test_posts import bots, expect, posts_count, sql


async def _original(node: Node, c: Client) -> tuple[int, Path]:
    up = await c.upload(images.jpeg(640, 480))
    key = await sql(node, "SELECT master_key FROM media WHERE id = $1", up["id"])
    path = await node.media.store.path(key)
    assert path is not None
    return int(up["id"]), Path(path)


async def test_a_failing_render_answers_its_error(node: Node) -> None:
    async with bots(node, 1) as (a,):
        gone, gone_path = await _original(node, a)
        gone_path.unlink()
        kept = (await a.upload(images.jpeg(320, 240)))["id"]
        await expect(NotFound, a, "post.create",
                     media=[{"id": kept, "filter": "moon"}, {"id": gone, "filter": "moon"}])

        corrupt, corrupt_path = await _original(node, a)
        with corrupt_path.open("r+b") as f:
            f.truncate(200)
        await expect(BadRequest, a, "post.create",
                     media=[{"id": corrupt, "adjust": {"warmth": 0.5}}])

        assert await posts_count(node, a) == 0
        made = await a.call("post.create", media=[{"id": kept, "filter": "moon"}])
        assert made["media"][0]["filter"] == "moon"


async def test_renders_count_against_the_upload_limit(
        services: tuple[str, str], tmp_path: Path) -> None:
    """A render is the same work as an upload in the node's few media workers: one
    upload re-rendered ten times a post, post after post, was never limited."""
    settings = make_settings(services, tmp_path, uploads_per_hour=4)
    async with open_node(settings) as node, bots(node, 2) as (a, b):
        up = (await a.upload(images.jpeg(320, 240)))["id"]  # 1 of 4
        await a.call("post.create", media=[{"id": up, "filter": "moon"},
                                           {"id": up, "adjust": {"warmth": 0.3}}])  # 3
        with pytest.raises(RateLimited):
            await a.call("post.create", media=[{"id": up, "filter": "moon"},
                                               {"id": up, "filter": "moon"}])  # 5 > 4
        assert await posts_count(node, a) == 1
        with pytest.raises(RateLimited):
            await a.call("user.update", avatar=up)  # the avatar crop is a rendering too
        with pytest.raises(RateLimited):
            await a.upload(images.jpeg(320, 240))
        await a.call("post.create", media=[{"id": up}])  # as uploaded: nothing to process
        assert await posts_count(node, a) == 2
        # another user is not affected
        assert (await b.upload(images.jpeg(320, 240)))["id"]
