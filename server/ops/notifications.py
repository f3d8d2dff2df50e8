"""notif.list and notif.read: the reader's side of notifications (actors/notifications.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors.notifications import Notifications
from server.connection import Connection
from server.ops import Op, session_of

if TYPE_CHECKING:
    from server.node import Node


def ops(node: Node) -> dict[str, Op]:
    notifications = Notifications(node.storage)

    async def notif_list(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await notifications.page(session_of(conn), args)

    async def notif_read(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await notifications.read(session_of(conn), args)

    return {"notif.list": notif_list, "notif.read": notif_read}
