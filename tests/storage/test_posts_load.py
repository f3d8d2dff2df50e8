"""posts.load keeps a post's media per process (storage/posts.py `_post_media`): a page
of posts seen before skips the media statement, and an edit made anywhere (which
stamps edited_at) shows at once."""

from __future__ import annotations

from typing import Any

from server.node import Node
from storage import posts
from tests.server.test_posts import bots, quick_post, uid


class _Counting:
    """The connection, counting its statements."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.statements = conn, 0

    async def fetch(self, *args: Any) -> Any:
        self.statements += 1
        return await self.conn.fetch(*args)


async def _alts(node: Node, viewer: int, pid: int) -> tuple[list[str], int]:
    async def run(conn: Any) -> tuple[list[str], int]:
        counting = _Counting(conn)
        found = await posts.load(counting, viewer, [pid])  # type: ignore[arg-type]
        return [m.alt for m in found[pid].media], counting.statements

    return await node.storage.read(run)


async def test_media_are_read_once_and_again_after_an_edit_elsewhere(node: Node) -> None:
    async with bots(node, 1) as (alice,):
        pid = (await quick_post(alice, "kept"))["id"]
        first, _ = await _alts(node, uid(alice), pid)
        again, statements = await _alts(node, uid(alice), pid)
        assert first == again == [""] and statements == 1  # no media statement

        # What post.edit does on any node: new alts and edited_at, in one transaction.
        async def edit(conn: Any) -> None:
            await conn.execute("UPDATE post_media SET alt = 'a cat' WHERE post_id = $1", pid)
            await conn.execute("UPDATE posts SET edited_at = now() WHERE id = $1", pid)

        await node.storage.tx(edit)
        edited, statements = await _alts(node, uid(alice), pid)
        assert edited == ["a cat"] and statements == 2
        assert (await alice.call("post.get", post=pid))["media"][0]["alt"] == "a cat"
