"""Notifications as a user reads them: aggregated Instagram-style, unread counts, marking read.

Notifications are created by the domains (storage.notifications.notify, gated by
privacy.should_notify or privacy.post_notice); this module owns how they are read.

Aggregation happens on read, so nothing is rewritten when a like arrives:
- like and comment collapse per post, comment_like per comment, each within a
  fixed week (Monday 00:00 UTC to the next);
- follow, follow_request and follow_accepted collapse by kind alone within a
  fixed UTC day;
- every other kind (mention, reply, anything new) is an item of its own.
Windows are fixed, not sliding, so a notification's group never changes once it
exists: a new one can only join the current window's group.

Paging: an item's place in the list is its newest notification id (`id`), and
`cursor` is the `id` of the last item of a page; the next page holds the groups
whose newest id is below it. This is stable: no group appears twice and none
is skipped, except one that gained a new notification while the client paged —
it moved to the top and shows up there on the next refresh. A page may hold
fewer items than `limit` with a non-nil cursor (when many rows are hidden);
only a nil cursor means the end.

Hidden from lists and counts (`unread` included): notifications from an actor
the reader may not see (blocked either way, suspended: privacy.can_see_profile),
about a post the reader may no longer see (privacy.can_see_posts on its author),
about a reply in a thread hidden from the reader (privacy.can_see_comment on the
author of its top-level comment), or whose post or comment was deleted. Unblocking
shows them again. Muting only stops new notifications (privacy.should_notify, when
they are made).
"""

from __future__ import annotations

from typing import Any

from actors import args as A
from actors import privacy
from actors.accounts import Session
from actors.errors import Invalid
from actors.media import variant_urls
from storage import notifications as db
from storage.notifications import ActorRecord, GroupRecord, GroupRule, Visibility
from storage.store import Storage

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS

LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 50
GROUP_ACTORS_MAX = 3  # actors shown per item, most recent first
GROUP_IDS_MAX = 100  # ids listed per item, newest first (`size` says how many there are)
READ_IDS_MAX = 5000

RULES: tuple[GroupRule, ...] = (
    GroupRule("like", "post", WEEK_MS),
    GroupRule("comment", "post", WEEK_MS),
    GroupRule("comment_like", "comment", WEEK_MS),
    GroupRule("follow", "kind", DAY_MS),
    GroupRule("follow_request", "kind", DAY_MS),
    GroupRule("follow_accepted", "kind", DAY_MS),
)

_VERBS = {
    "like": "liked your post",
    "comment": "commented on your post",
    "reply": "replied to your comment",
    "comment_like": "liked your comment",
    "follow": "started following you",
    "follow_request": "requested to follow you",
    "follow_accepted": "accepted your follow request",
}


#: What a reader sees of their notifications: actors they can see (not blocked either
#: way, not suspended), about posts they can still see and, for a reply, in a thread
#: they can still see (its top-level comment's author not hidden, as in comment.list).
VISIBILITY = Visibility(actor=privacy.can_see_profile, post=privacy.can_see_posts,
                        thread=privacy.can_see_comment)


def verb(kind: str, *, comment: bool) -> str:
    if kind == "mention":
        return "mentioned you in a comment" if comment else "mentioned you in a post"
    return _VERBS.get(kind, "sent you a notification")


def names(usernames: list[str], count: int) -> str:
    """"ana", "ana and bo", "ana, bo and cy", "ana, bo and 12 others"."""
    if not usernames:
        return "someone"
    if count <= 1 or len(usernames) == 1:
        return usernames[0]
    if count == 2:
        return f"{usernames[0]} and {usernames[1]}"
    if count == 3 and len(usernames) >= 3:
        return f"{usernames[0]}, {usernames[1]} and {usernames[2]}"
    others = count - 2
    return f"{usernames[0]}, {usernames[1]} and {others} other{'s' if others > 1 else ''}"


def actor_wire(a: ActorRecord) -> dict[str, Any]:
    return {"id": a.id, "username": a.username, "display_name": a.display_name,
            "avatar": variant_urls(a.avatar) if a.avatar else None}


def item_wire(g: GroupRecord, actors: dict[int, ActorRecord]) -> dict[str, Any]:
    shown = [actors[i] for i in g.actor_ids if i in actors]
    return {
        "id": g.top, "kind": g.kind, "post": g.post_id, "comment": g.comment_id,
        "body": g.body, "actors": [actor_wire(a) for a in shown], "count": g.actor_count,
        "text": f"{names([a.username for a in shown], g.actor_count)} "
                f"{verb(g.kind, comment=g.comment_id is not None)}",
        "latest_at": g.latest_ms, "read": g.read, "ids": g.ids, "size": g.size,
    }


class Notifications:
    def __init__(self, st: Storage) -> None:
        self.st = st

    async def page(self, session: Session, raw: dict[str, Any]) -> dict[str, Any]:
        """notif.list {cursor?, limit?} → {items, unread, cursor}."""
        A.only(raw, {"cursor", "limit"})
        cursor = A.integer(raw, "cursor", required=False, minimum=1)
        limit = A.integer(raw, "limit", required=False, minimum=1, maximum=LIST_LIMIT_MAX)
        page = await db.list_groups(
            self.st, session.user_id, cursor=cursor, limit=limit or LIST_LIMIT_DEFAULT,
            rules=RULES, visibility=VISIBILITY, ids_max=GROUP_IDS_MAX, actors_max=GROUP_ACTORS_MAX)
        return {"items": [item_wire(g, page.actors) for g in page.groups],
                "unread": page.unread, "cursor": page.cursor}

    async def read(self, session: Session, raw: dict[str, Any]) -> dict[str, Any]:
        """notif.read {ids | all: true | before} → {unread}; others' ids are ignored."""
        A.only(raw, {"ids", "all", "before"})
        given = [k for k in ("ids", "all", "before") if raw.get(k) is not None]
        if len(given) != 1:
            raise Invalid("give exactly one of `ids`, `all` or `before`")
        ids = _ids(raw["ids"]) if "ids" in given else None
        if "all" in given and A.flag(raw, "all") is not True:
            raise Invalid("`all` must be true")
        up_to = A.integer(raw, "before", required=False)
        unread = await db.mark_read(self.st, session.user_id, ids=ids, up_to=up_to,
                                    visibility=VISIBILITY)
        return {"unread": unread}

    async def unread(self, user_id: int) -> int:
        """The badge count, for use outside notif.* (hello, a badge event)."""
        return await db.unread_count(self.st, user_id, visibility=VISIBILITY)


def _ids(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise Invalid("`ids` must be a list of notification ids")
    if len(value) > READ_IDS_MAX:
        raise Invalid(f"`ids` takes at most {READ_IDS_MAX} ids")
    for i in value:
        if not isinstance(i, int) or isinstance(i, bool) or not 0 < i < 1 << 63:
            raise Invalid("`ids` must be a list of notification ids")
    return sorted(set(value))
