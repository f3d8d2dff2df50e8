"""posts.load keeps a post's media per process (storage/posts.py `_post_media`): a page
of posts seen before skips the media statement, and an edit made anywhere (which
stamps edited_at) shows at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server.node import Node
from storage import posts
from tests.server.test_posts import bots, quick_post, uid


class _Counting:
    """The connection, counting its statements. With `unkept`, those posts' kept media
    are dropped as the first statement (the posts) returns, so load finds them missing
    whatever another task of the node kept meanwhile (the post's own live fan-out loads
    it too: dropped before the call, it was seen kept again). With `clearing`, all kept
    media are dropped during the second (the media statement), as another load filling
    the dict while this one awaits would."""

    def __init__(self, conn: Any, unkept: Sequence[int] = (), clearing: bool = False) -> None:
        self.conn, self.statements = conn, 0
        self.unkept, self.clearing = set(unkept), clearing

    async def fetch(self, *args: Any) -> Any:
        self.statements += 1
        rows = await self.conn.fetch(*args)
        if self.statements == 1:  # nothing awaits between this and load's look-up
            for key in [k for k in posts._post_media if k[0] in self.unkept]:
                del posts._post_media[key]
        if self.clearing and self.statements == 2:
            posts._post_media.clear()
        return rows


async def _alts(node: Node, viewer: int, pid: int, *pids: int, unkept: Sequence[int] = (),
                clearing: bool = False) -> tuple[list[str], int]:
    async def run(conn: Any) -> tuple[list[str], int]:
        counting = _Counting(conn, unkept, clearing)
        found = await posts.load(counting, viewer, [pid, *pids])  # type: ignore[arg-type]
        assert set(found) == {pid, *pids}
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


async def test_a_load_survives_the_kept_media_being_cleared_meanwhile(node: Node) -> None:
    """The dict is shared and cleared when full: a load that awaits its media statement
    must not depend on what it found kept before (this was a KeyError)."""
    async with bots(node, 1) as (alice,):
        kept = (await quick_post(alice, "kept"))["id"]
        new = (await quick_post(alice, "new"))["id"]
        await _alts(node, uid(alice), kept)
        alts, statements = await _alts(node, uid(alice), kept, new, unkept=[new], clearing=True)
        assert alts == [""] and statements == 2
