"""Ops of the feed domain: `feed.home`, and the node's fan-out worker.

The rules live in actors/feed.py; the worker runs in the node's nursery for the
node's lifetime (one consumer of the fan-out stream per node).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from actors.feed import Feed
from server.connection import Connection
from server.ops import Op, session_of
from storage.store import Storage

if TYPE_CHECKING:
    from server.node import Node

_FEEDS: weakref.WeakKeyDictionary[Storage, Feed] = weakref.WeakKeyDictionary()


def feed_of(node: Node) -> Feed:
    """The node's feed service (tests wait on `feed_of(node).drained()`)."""
    return _FEEDS[node.storage]


def ops(node: Node) -> dict[str, Op]:
    feed = Feed(node.storage, consumer=node.name)
    _FEEDS[node.storage] = feed
    node.nursery.start_soon(feed.run)

    async def home(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await feed.home(session_of(conn), args)

    return {"feed.home": home}
