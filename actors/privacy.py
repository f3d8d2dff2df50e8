"""Who may see or touch what — the one place for these rules.

Every social op asks here, inside the transaction that then mutates, so a check
and its effect cannot be separated by a concurrent change. What a viewer may not
see is reported as `Missing` (not_found), so private or blocked content does not
leak its existence; what they can see but may not do is `NotAllowed` (forbidden).
"""

from __future__ import annotations

from collections.abc import Callable

from actors.errors import Missing, NotAllowed
from storage.presence import PresenceLink
from storage.relations import Relation


def can_see_profile(rel: Relation) -> bool:
    """Profiles exist for everyone but blocked (either way) and suspended users."""
    return rel.exists and (rel.is_self or not (rel.blocked or rel.target_suspended))


def can_see_posts(rel: Relation) -> bool:
    """A private account's posts: only its followers (and itself)."""
    return can_see_profile(rel) and (
        rel.is_self or not rel.target_private or rel.following)


def require_profile(rel: Relation) -> None:
    if not can_see_profile(rel):
        raise Missing("no such user")


def require_posts(rel: Relation, what: str = "post") -> None:
    """The viewer may see the target's posts (else: it does not exist, for them)."""
    if not can_see_posts(rel):
        raise Missing(f"no such {what}")


def require_interaction(rel: Relation) -> None:
    """Like, comment, mention, reply: needs sight of the posts and no block."""
    require_posts(rel)
    if rel.blocked:
        raise Missing("no such post")


def require_follow(rel: Relation) -> None:
    if rel.is_self:
        raise NotAllowed("you cannot follow yourself")
    require_profile(rel)


def should_notify(rel_recipient_to_actor: Relation) -> bool:
    """No notification to yourself, from someone blocked either way, or someone you muted.

    `rel_recipient_to_actor` is the relation seen from the recipient to the actor.
    """
    r = rel_recipient_to_actor
    return r.exists and not (r.is_self or r.blocked or r.i_muted or r.target_suspended)


def can_see_connections(rel: Relation) -> bool:
    """Follower and following lists: like posts, a private account shows them to followers."""
    return can_see_posts(rel)


def require_connections(rel: Relation) -> None:
    """Hidden profile: not_found; visible but private and not followed: forbidden."""
    require_profile(rel)
    if not can_see_connections(rel):
        raise NotAllowed("this account is private")


def require_other(rel: Relation, verb: str) -> None:
    """Graph ops on someone else: yourself is forbidden, an unknown user not_found."""
    if not rel.exists:
        raise Missing("no such user")
    if rel.is_self:
        raise NotAllowed(f"you cannot {verb} yourself")


def require_block_target(rel: Relation) -> None:
    """Blocking needs a visible user, except that re-blocking is a no-op.

    Someone who blocked you, or is suspended, is not_found: blocking back must not
    reveal their block.
    """
    require_other(rel, "block")
    if rel.blocked_me or rel.target_suspended:
        raise Missing("no such user")


def require_graph_target(rel: Relation, verb: str) -> None:
    """Follow, unfollow, approve, mute: another user whose profile you can see."""
    require_other(rel, verb)
    require_profile(rel)


# -- posts, comments, watching (actors/posts.py, actors/watch.py) ---------------------------
def require_grid(rel: Relation) -> None:
    """A profile's post list: unknown/blocked/suspended is not_found; private and not
    followed is forbidden (the profile itself is public, only its posts are not)."""
    require_profile(rel)
    if not can_see_posts(rel):
        raise NotAllowed("this account is private")


def require_own_post(rel: Relation) -> None:
    """Edit or delete a post: the viewer sees it (else not_found) and wrote it (else forbidden)."""
    require_posts(rel)
    if not rel.is_self:
        raise NotAllowed("only the author may change this post")


def require_comment_removal(rel_to_post_author: Relation, wrote_comment: bool,
                            sees_comment: bool) -> None:
    """A comment goes by its author's hand or the post owner's, even one hidden from them
    (in a thread whose author is blocked, say). To anyone else a comment hidden from them
    does not exist (not_found, as for a made-up id); only one they see is forbidden."""
    require_posts(rel_to_post_author, "comment")
    if wrote_comment or rel_to_post_author.is_self:
        return
    if not sees_comment:
        raise Missing("no such comment")
    raise NotAllowed("only the comment's author or the post's owner may delete it")


def can_see_comment(rel_to_comment_author: Relation) -> bool:
    """Comments by someone blocked either way (or suspended) are hidden from the viewer."""
    r = rel_to_comment_author
    return r.exists and (r.is_self or not (r.blocked or r.target_suspended))


def told_comment_gone(rel_to_comment_author: Relation) -> bool:
    """Who is told a comment went (`comment.deleted`): whoever could see it were its
    author not suspended. A suspension is what takes a user's comments off everyone's
    screen, and that event is how it does; the blocked either way never had them."""
    return can_see_comment(rel_to_comment_author._replace(target_suspended=False))


def can_see_thread(rel_to_thread_author: Relation | None) -> bool:
    """A reply is hidden with its thread, whoever wrote it: its top-level comment's author
    must not be hidden (can_see_comment). None: a top-level comment, its own thread."""
    return rel_to_thread_author is None or can_see_comment(rel_to_thread_author)


def require_comment_interaction(rel_to_post_author: Relation,
                                rel_to_comment_author: Relation) -> None:
    """Reply to or like a comment: interaction with the post, and no block with its author."""
    require_interaction(rel_to_post_author)
    if not can_see_comment(rel_to_comment_author):
        raise Missing("no such comment")


def can_list_user(rel_viewer_to_user: Relation) -> bool:
    """A user inside a list of people (a post's likers): left out when hidden from the
    viewer (blocked either way, suspended); never hidden from oneself. A private account
    is listed (its profile is public, only its posts are not). Muting hides nothing, and
    `hide_activity` is about activity status (online, last active), not likes: neither
    leaves anyone out."""
    return can_see_profile(rel_viewer_to_user)


def post_notice(rel_recipient_to_post_author: Relation) -> Callable[[Relation], bool]:
    """The notification rule for news about a post (mention, reply, comment, like): the
    recipient must be able to see the post, and should_notify must hold for the actor."""
    sees_post = can_see_posts(rel_recipient_to_post_author)
    return lambda rel_recipient_to_actor: sees_post and should_notify(rel_recipient_to_actor)


# -- presence and typing (actors/presence.py) -------------------------------------------------
def can_see_presence(link: PresenceLink) -> bool:
    """Whether the viewer may see the target's activity status (online, last active).

    Oneself: always. Anyone else, as on Instagram ("accounts you follow and anyone
    you message"): only a target who follows the viewer, or shares a current
    conversation with them that the target has accepted (a stranger's request, even
    an empty 1:1 they opened, shows nothing of the target until then), neither
    blocking the other, not suspended — and only while neither hides their
    activity: hiding yours also hides everyone else's from you.
    """
    if not link.exists:
        return False
    if link.is_self:
        return True
    if link.viewer_hides or link.target_hides or link.blocked or link.target_suspended:
        return False
    return link.shares_conversation or link.target_follows


def require_conversation_member(is_member: bool) -> None:
    """Conversation ops (dm.typing): only current members; to anyone else it does not exist."""
    if not is_member:
        raise Missing("no such conversation")


# -- direct messages (actors/dm.py) ------------------------------------------------------------
def require_dm_peer(rel_sender_to_peer: Relation) -> None:
    """Open a conversation with, add to a group, write (send, edit, react) or type 1:1 to
    someone.

    A user the sender blocked is forbidden whatever else holds (the sender knows of
    their own block, and answering so reveals nothing of the other's state). Otherwise
    one who does not exist, is suspended, or blocked the sender is not_found, with the
    same message: their block is not revealed.
    """
    r = rel_sender_to_peer
    if not r.exists:
        raise Missing("no such user")
    if r.i_blocked:
        raise NotAllowed("unblock this user to message them")
    if r.target_suspended or r.blocked_me:
        raise Missing("no such user")


def dm_folder(rel_recipient_to_sender: Relation) -> str:
    """Where a conversation started by someone lands for a recipient: their inbox if the
    recipient follows the sender (or is the sender), else their message requests."""
    r = rel_recipient_to_sender
    return "inbox" if r.is_self or r.following else "request"


def dm_read_receipts(state: str) -> bool:
    """Reading a message request does not tell the sender it was seen."""
    return state == "inbox"


def dm_reaches_peer(rel_member_to_peer: Relation | None) -> bool:
    """Whether what a member of a 1:1 does besides writing to it (their read position,
    live or in dm.list and dm.history; a message they unsend, live) reaches the other.

    Not while either blocks the other: the one blocked must see no more of the other
    than of an account that is gone (not_found to dm.send; a gone account neither reads
    nor unsends), and the one who blocked asked to hear nothing more from them. What
    one writes (send, edit, react, typing) is refused instead: require_dm_peer.
    `None`: a group (blocks are checked there only when someone is added), or a 1:1
    whose other member's account was deleted.
    """
    return rel_member_to_peer is None or not rel_member_to_peer.blocked


# -- discovery: search, hashtag pages, explore (actors/discover.py) ---------------------------
def can_recommend(rel_viewer_to_author: Relation) -> bool:
    """Explore shows posts the viewer may see, by someone else they have not muted."""
    r = rel_viewer_to_author
    return can_see_posts(r) and not (r.is_self or r.i_muted)


def can_suggest(rel_viewer_to_user: Relation) -> bool:
    """Suggested accounts: visible, not oneself, not already followed or requested, not
    muted."""
    r = rel_viewer_to_user
    return can_see_profile(r) and not (r.is_self or r.following or r.requested or r.i_muted)


def in_home(rel: Relation) -> bool:
    """A post belongs in the viewer's home feed: their own, or by someone they follow and
    may see, neither blocking the other, not muted by them. The feed reads this rule in
    SQL (storage.relations.home_authors); a test holds the two equal."""
    if rel.is_self:
        return rel.exists
    return can_see_posts(rel) and rel.following and not rel.blocked and not rel.i_muted
