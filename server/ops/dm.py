"""Ops of the direct-messages domain; the rules live in actors/dm.py (and actors/privacy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors.dm import DirectMessages
from server.connection import Connection
from server.ops import Op, session_of

if TYPE_CHECKING:
    from server.node import Node

# op name -> DirectMessages method; dm.typing belongs to the presence domain.
_OPS = {
    "dm.open": "open", "dm.list": "list", "dm.history": "history", "dm.send": "send",
    "dm.edit": "edit", "dm.unsend": "unsend", "dm.react": "react", "dm.read": "read",
    "dm.accept": "accept", "dm.add": "add", "dm.remove": "remove", "dm.leave": "leave",
    "dm.rename": "rename",
}


def ops(node: Node) -> dict[str, Op]:
    service = DirectMessages(node.storage, node.registry, node.media)

    def bind(method: str) -> Op:
        call = getattr(service, method)

        async def handler(conn: Connection, args: dict[str, Any], rid: int) -> Any:
            return await call(session_of(conn), args)

        return handler

    return {op: bind(method) for op, method in _OPS.items()}
