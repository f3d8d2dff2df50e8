"""Discovery ops: search, user.search, tag.get, tag.posts, feed.explore — thin adapters
onto actors.discover.Discover."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors.discover import Discover
from server.connection import Connection
from server.ops import Op, session_of

if TYPE_CHECKING:
    from server.node import Node


def ops(node: Node) -> dict[str, Op]:
    discover = Discover(node.storage)

    async def search(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await discover.search(session_of(conn), args)

    async def user_search(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await discover.search_users(session_of(conn), args)

    async def tag_get(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await discover.tag_get(session_of(conn), args)

    async def tag_posts(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await discover.tag_posts(session_of(conn), args)

    async def explore(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await discover.explore(session_of(conn), args)

    return {"search": search, "user.search": user_search, "tag.get": tag_get,
            "tag.posts": tag_posts, "feed.explore": explore}
