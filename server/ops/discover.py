"""Discovery ops: search, user.search, tag.get, tag.posts, feed.explore — thin adapters
onto actors.discover.Discover."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from actors.discover import Discover
from server.connection import Connection
from server.ops import Op, session_of
from storage.store import Storage

if TYPE_CHECKING:
    from server.node import Node


_DISCOVERS: weakref.WeakKeyDictionary[Storage, Discover] = weakref.WeakKeyDictionary()


def discover_of(node: Node) -> Discover:
    """The node's discovery service (tests wait on `discover_of(node).settled(user)`)."""
    return _DISCOVERS[node.storage]


def ops(node: Node) -> dict[str, Op]:
    discover = Discover(node.storage)
    _DISCOVERS[node.storage] = discover
    if discover.precompute_on:
        node.connect_hooks.append(discover.connected)
        node.disconnect_hooks.append(discover.disconnected)
        node.nursery.start_soon(discover.run)

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
