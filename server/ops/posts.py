"""Ops of the posts domain: posts, likes, saves, comments and live watching.

The rules live in actors/posts.py (and actors/privacy.py); live watching in
actors/watch.py. Here: the op table, and the node hooks the watchers need.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from actors import args as A
from actors.posts import Posts
from actors.watch import Watchers
from server.connection import Connection
from server.ops import Op, session_of

if TYPE_CHECKING:
    from server.node import Node


def ops(node: Node) -> dict[str, Op]:
    posts = Posts(node.storage, node.media)

    def fanout(devices: Iterable[Any], payload: bytes) -> None:
        node.gateway.fanout(devices, payload)  # the gateway exists once the node runs

    watchers = Watchers(node.storage, node.subscriber, fanout)
    node.channel_handlers[node.storage.key("p", "")] = watchers.on_message
    node.disconnect_hooks.append(watchers.drop)
    node.reconnect_hooks.append(watchers.recheck_all)
    node.nursery.start_soon(watchers.run)

    async def create(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.create(session_of(conn), args)

    async def get(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.get(session_of(conn), args)

    async def edit(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.edit(session_of(conn), args)

    async def delete(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.delete(session_of(conn), args)

    async def list_posts(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.list_posts(session_of(conn), args)

    async def like(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.like(session_of(conn), args, True)

    async def unlike(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.like(session_of(conn), args, False)

    async def likers(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.likers(session_of(conn), args)

    async def save(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.save(session_of(conn), args, True)

    async def unsave(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.save(session_of(conn), args, False)

    async def watch(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        session = session_of(conn)
        A.only(args, {"post"})
        post_id = Posts.post_arg(args)
        return await watchers.watch(conn, post_id, lambda: posts.get_id(session, post_id),
                                    viewer=session.user_id)

    async def unwatch(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        session_of(conn)
        A.only(args, {"post"})
        return {"post": Posts.post_arg(args), "watching": False,
                "was_watching": watchers.unwatch(conn, Posts.post_arg(args))}

    async def comment_add(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.comment(session_of(conn), args)

    async def comment_delete(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.uncomment(session_of(conn), args)

    async def comment_list(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.comments(session_of(conn), args)

    async def comment_like(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.like_comment(session_of(conn), args, True)

    async def comment_unlike(conn: Connection, args: dict[str, Any], rid: int) -> Any:
        return await posts.like_comment(session_of(conn), args, False)

    return {
        "post.create": create, "post.get": get, "post.edit": edit, "post.delete": delete,
        "post.list": list_posts, "post.like": like, "post.unlike": unlike,
        "post.likers": likers,
        "post.save": save, "post.unsave": unsave, "post.watch": watch,
        "post.unwatch": unwatch, "comment.add": comment_add, "comment.delete": comment_delete,
        "comment.list": comment_list, "comment.like": comment_like,
        "comment.unlike": comment_unlike,
    }
