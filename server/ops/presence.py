"""Ops of presence: presence.get and dm.typing (actors/presence.py), and the node
hooks that keep this node's devices in Redis."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from actors.presence import Presence
from server.connection import Connection
from server.ops import Op, session_of

if TYPE_CHECKING:
    from server.node import Node


def ops(node: Node) -> dict[str, Op]:
    presence = Presence(node.storage, instance=f"{node.name}:{secrets.token_hex(4)}",
                        heartbeat_seconds=node.settings.heartbeat_seconds)
    node.connect_hooks.append(presence.connected)
    node.disconnect_hooks.append(presence.disconnected)
    node.shutdown_hooks.append(presence.drain)
    node.accounts.on_activity_hidden = presence.activity_hidden
    node.metrics.watch_presence(lambda: presence.swept)
    node.nursery.start_soon(presence.run)

    async def presence_get(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await presence.get(session_of(conn), args)

    async def dm_typing(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await presence.typing(session_of(conn), args)

    return {"presence.get": presence_get, "dm.typing": dm_typing}
