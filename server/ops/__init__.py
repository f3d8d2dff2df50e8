"""Op tables by domain: each module has `ops(node) -> {op name: handler}`.

A handler is `async (conn, args, rid) -> reply data` (or router.REPLIED when it
wrote its own reply). Domain modules build their services from the node here,
so adding a domain never touches the router or the node.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from actors.accounts import Session
from actors.errors import NotAuthenticated
from server.connection import Connection

if TYPE_CHECKING:
    from server.node import Node

Op = Callable[[Connection, dict[str, Any], int], Awaitable[Any]]

# Modules under server/ops/ that contribute ops, in order.
DOMAINS = ("graph", "posts", "notifications", "presence", "dm", "feed", "discover", "admin")


def session_of(conn: Connection) -> Session:
    if conn.session is None:
        raise NotAuthenticated("say `hello` first")
    return conn.session


def all_ops(node: Node) -> dict[str, Op]:
    table: dict[str, Op] = {}
    for name in DOMAINS:
        try:
            module = importlib.import_module(f"server.ops.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"server.ops.{name}":
                raise
            continue
        for op, handler in module.ops(node).items():
            if op in table:
                raise RuntimeError(f"op {op} registered twice")
            table[op] = handler
    return table
