"""Who may see or touch what — the one place for these rules.

Every social op asks here, inside the transaction that then mutates, so a check
and its effect cannot be separated by a concurrent change. What a viewer may not
see is reported as `Missing` (not_found), so private or blocked content does not
leak its existence; what they can see but may not do is `NotAllowed` (forbidden).
"""

from __future__ import annotations

from actors.errors import Missing, NotAllowed
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
