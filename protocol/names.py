"""Op, event and close-code names fixed by PROTOCOL.md."""

from __future__ import annotations

from enum import IntEnum

OPS: frozenset[str] = frozenset(
    """
    auth.signup auth.login auth.logout hello ping
    user.get user.update user.search
    follow.add follow.remove follow.requests follow.approve follow.deny follow.list
    block.add block.remove mute.add mute.remove
    post.create post.get post.edit post.delete post.list post.like post.unlike
    post.watch post.unwatch post.save post.unsave
    comment.add comment.delete comment.list comment.like
    feed.home feed.explore tag.get tag.posts search
    notif.list notif.read
    dm.open dm.list dm.send dm.history dm.read dm.typing dm.react dm.edit dm.unsend
    presence.get report.create
    """.split()
)

EVENTS: frozenset[str] = frozenset(
    """
    feed.post post.updated post.deleted comment.added comment.deleted
    notification follow.request dm.message dm.updated dm.read
    dm.typing presence session.closed announcement
    """.split()
)

# Ops a connection may send before `hello`.
PRE_HELLO_OPS: frozenset[str] = frozenset({"auth.signup", "auth.login", "ping", "hello"})


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    POLICY = 1008
    TOO_LARGE = 1009
    UNAUTHORIZED = 4001
    TOO_SLOW = 4008
    RATE_LIMITED = 4029
