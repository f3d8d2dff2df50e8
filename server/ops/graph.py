"""Graph ops: follow.*, block.*, mute.* — thin adapters onto actors.graph.Graph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors.graph import Graph
from server.connection import Connection
from server.ops import Op, session_of

if TYPE_CHECKING:
    from server.node import Node


def ops(node: Node) -> dict[str, Op]:
    graph = Graph(node.storage)

    async def follow_add(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await graph.follow(session_of(conn), args)

    async def follow_remove(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await graph.unfollow(session_of(conn), args)

    async def follow_approve(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await graph.approve(session_of(conn), args)

    async def follow_deny(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await graph.deny(session_of(conn), args)

    async def follow_requests(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await graph.requests(session_of(conn), args)

    async def follow_list(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await graph.list_users(session_of(conn), args)

    async def block_add(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await graph.block(session_of(conn), args, True)

    async def block_remove(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await graph.block(session_of(conn), args, False)

    async def block_list(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await graph.own_list(session_of(conn), args, "blocked")

    async def mute_list(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await graph.own_list(session_of(conn), args, "muted")

    async def mute_add(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await graph.mute(session_of(conn), args, True)

    async def mute_remove(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await graph.mute(session_of(conn), args, False)

    return {
        "follow.add": follow_add,
        "follow.remove": follow_remove,
        "follow.approve": follow_approve,
        "follow.deny": follow_deny,
        "follow.requests": follow_requests,
        "follow.list": follow_list,
        "block.add": block_add,
        "block.remove": block_remove,
        "block.list": block_list,
        "mute.add": mute_add,
        "mute.remove": mute_remove,
        "mute.list": mute_list,
    }
