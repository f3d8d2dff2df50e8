"""Accounts: sign-up, login, tokens, logout, profiles — the one place for their rules.

Passwords are hashed with argon2id off the event loop; tokens are 256 random
bits handed out once and stored only as SHA-256 hashes; login and sign-up are
rate-limited per IP and per account in Redis, so every node shares the counts
(a successful login gives its attempt back: only failures add up). A password
change needs the old password (limited too, so a stolen session cannot guess it)
and ends every other session of the user.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import trio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from actors import args as A
from actors import privacy
from actors.errors import Invalid, Missing, NotAllowed, NotAuthenticated, Taken, Throttled
from actors.watch import sight_lost
from config import Settings
from config.limits import (
    BIO_MAX,
    DISPLAY_NAME_MAX,
    EMAIL_MAX,
    IPV6_LIMIT_PREFIX,
    LOGIN_WINDOW_SECONDS,
    PASSWORD_CHANGE_ATTEMPTS,
    PASSWORD_HASH_CONCURRENCY,
    PASSWORD_MAX,
    PASSWORD_MIN,
    TOKEN_BYTES,
    USERNAME_MAX,
    WEBSITE_MAX,
)
from storage import accounts as db
from storage import bus, moderation, ratelimit
from storage.accounts import UserRecord, token_hash
from storage.errors import Duplicate, Unavailable
from storage.store import Storage

if TYPE_CHECKING:
    from actors.media import Media

USERNAME_RE = re.compile(rf"^[a-z0-9._]{{1,{USERNAME_MAX}}}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
# Characters no address holds: controls, invisible formatting (zero-width, soft hyphen,
# bidirectional marks, overrides and isolates, tag characters), separators, private-use
# and unassigned code points, and the invisible letters and selectors (Hangul fillers,
# the combining grapheme joiner, variation selectors). An address is shown to
# operators as written.
_EMAIL_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
_EMAIL_REFUSED_CHARS = A.INVISIBLE_LETTERS | {"\u034f"}  # and the grapheme joiner


def email_ok(email: str) -> bool:
    """`local@domain.tld` (local part ≤ 64) with no character an address never holds."""
    return bool(EMAIL_RE.match(email)) and not any(
        unicodedata.category(ch) in _EMAIL_REFUSED_CATEGORIES or ch in _EMAIL_REFUSED_CHARS
        or 0xFE00 <= ord(ch) <= 0xFE0F or 0xE0100 <= ord(ch) <= 0xE01EF for ch in email)
# [http(s)://]host.tld[:port][/path]: the host made of word characters, hyphens and dots
# (so no other scheme, e.g. "javascript:", passes), and nothing blank or a control
# character anywhere (a client may render it as a link).
WEBSITE_RE = re.compile(r"^(https?://)?[\w-]+(\.[\w-]+)+(:\d{1,5})?([/?#][^\s\x00-\x1f\x7f]*)?$")
log = logging.getLogger(__name__)


# IPv6 addresses that carry an IPv4 client's address in their last 32 bits: the NAT64
# well-known prefix (RFC 6052). Behind a NAT64 gateway or an IPv6-only load balancer,
# a /64 would put every IPv4 client in one budget.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def ip_subject(ip: str) -> str:
    """What a per-address limit counts: an IPv4 address (also written IPv4-mapped), or
    an IPv6 address's /IPV6_LIMIT_PREFIX network: one IPv6 client commonly holds a
    whole /64, and counting each address gave it an unlimited budget. Anything else
    (a unix socket, "unknown") as given."""
    try:
        addr = ipaddress.ip_address(ip.strip().strip("[]"))
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        if addr in _NAT64:  # an IPv4 client, translated
            return str(ipaddress.IPv4Address(addr.packed[-4:]))
        return str(ipaddress.IPv6Network((addr, IPV6_LIMIT_PREFIX), strict=False))
    return str(addr)


def _common_passwords() -> frozenset[str]:
    text = resources.files("actors").joinpath("data/common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip()
        and not line.startswith("#"))


COMMON_PASSWORDS = _common_passwords()


@dataclass(frozen=True)
class Session:
    """Who is calling: the authenticated user and the token behind the connection."""

    user_id: int
    username: str
    token_hash: bytes
    is_admin: bool = False


@dataclass(frozen=True)
class PasswordChanged:
    """The other tokens `change_password` revoked (their connections are being closed)."""

    sessions_closed: int


@dataclass(frozen=True)
class Issued:
    token: str
    user: UserRecord
    expires_ms: int


def public_user(u: UserRecord, *, me: bool = False) -> dict[str, Any]:
    """The user map of the wire protocol; email only for oneself."""
    from actors.media import variant_urls

    out: dict[str, Any] = {
        "id": u.id, "username": u.username, "display_name": u.display_name, "bio": u.bio,
        "website": u.website, "private": u.is_private, "created_at": u.created_ms,
        "avatar": variant_urls(u.avatar) if u.avatar else None,
        "followers_count": u.followers_count, "following_count": u.following_count,
        "posts_count": u.posts_count,
    }
    if me:
        out["email"] = u.email
        out["admin"] = u.is_admin
        out["hide_activity"] = u.hide_activity
    return out


class Accounts:
    """Account rules over storage; shared by the WebSocket ops and the HTTP API."""

    def __init__(self, st: Storage, settings: Settings) -> None:
        self.st = st
        self.settings = settings
        self._hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
        self._hash_limiter = trio.CapacityLimiter(PASSWORD_HASH_CONCURRENCY)
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))
        self.media: Media | None = None  # set by the node: avatars are media
        # set by the presence ops: tells peers when `hide_activity` changes (presence
        # imports this module, so it is handed in rather than imported)
        self.on_activity_hidden: Callable[[int, bool], Awaitable[None]] | None = None

    # -- validation -------------------------------------------------------------
    @staticmethod
    def check_username(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid("`username` must be a string")
        name = value.strip().lower()
        if not USERNAME_RE.match(name):
            raise Invalid(f"usernames are 1 to {USERNAME_MAX} of a-z, 0-9, '.' and '_'")
        return name

    @staticmethod
    def check_password(value: Any, username: str) -> str:
        if not isinstance(value, str):
            raise Invalid("`password` must be a string")
        if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
            raise Invalid(f"passwords need at least {PASSWORD_MIN} characters")
        if "\x00" in value:  # login refuses it (args.text): such an account was locked out
            raise Invalid("`password` must not contain a NUL character")
        low = value.lower()
        if low in COMMON_PASSWORDS or low == username or len(set(value)) < 3:
            raise Invalid("this password is too common; choose another")
        return value

    # -- sign-up and login --------------------------------------------------------
    async def signup(self, raw: dict[str, Any], *, ip: str, client: str = "") -> Issued:
        A.only(raw, {"username", "email", "password", "display_name"})
        username = self.check_username(raw.get("username"))
        email = A.text(raw, "email", max_len=EMAIL_MAX)
        assert email is not None
        email = email.strip()
        if not email_ok(email):
            raise Invalid("that does not look like an email address")
        password = self.check_password(raw.get("password"), username)
        display = A.trimmed(raw, "display_name", max_len=DISPLAY_NAME_MAX, required=False) or ""
        await self._limit([("signup-ip", ip_subject(ip), self.settings.signups_per_ip)])
        pw_hash = await self._hash(password)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        try:
            user, expires = await db.sign_up(self.st, username, email, pw_hash, display,
                                             token, self.settings.token_ttl_seconds, client)
        except Duplicate as exc:
            what = "email" if "email" in exc.constraint else "username"
            raise Taken(f"that {what} is taken") from None
        return Issued(token, user, expires)

    async def login(self, raw: dict[str, Any], *, ip: str, client: str = "") -> Issued:
        A.only(raw, {"username", "password"})
        login = A.text(raw, "username", max_len=EMAIL_MAX, min_len=1)
        password = A.text(raw, "password", max_len=PASSWORD_MAX, min_len=1)
        assert login is not None and password is not None
        login = login.strip()
        counted = [("login-ip", ip_subject(ip), self.settings.login_attempts_per_ip),
                   ("login-acct", login.lower(), self.settings.login_attempts_per_account)]
        await self._limit(counted)
        # As typed: PostgreSQL lowers it as it lowered the stored email (Python's lower()
        # differs, "İ" -> "i̇" against "i": such an email could never log in).
        found = await db.find_for_login(self.st, login)
        if found is None:
            await self._verify(self._dummy_hash, password)  # same cost: no user enumeration
            raise NotAuthenticated("wrong username or password")
        user, pw_hash = found
        if not await self._verify(pw_hash, password):
            raise NotAuthenticated("wrong username or password")
        if await self.st.read(moderation.is_suspended, user.id):
            raise NotAllowed("this account is suspended")  # only with the right password
        if self._hasher.check_needs_rehash(pw_hash):
            new_hash = await self._hash(password)
            if await db.rehash_password(self.st, user.id, pw_hash, new_hash):
                pw_hash = new_hash  # the same password, now stored so
        issued = await self._issue(user, client, while_hash=pw_hash)
        if issued is None:
            if await self.st.read(moderation.is_suspended, user.id):
                raise NotAllowed("this account is suspended")  # suspended meanwhile
            # the password changed since it was checked: no longer right
            raise NotAuthenticated("wrong username or password")
        # Only failed attempts count: people on many devices, or many people behind one
        # address, log in again and again. Best effort (the attempt stays counted).
        try:
            await ratelimit.refund(self.st, [(scope, subj) for scope, subj, _ in counted])
        except Unavailable as exc:
            log.warning("login attempt not refunded", extra={"error": str(exc)})
        return issued

    async def authenticate(self, token: Any) -> tuple[Session, UserRecord]:
        if not isinstance(token, str) or not 10 <= len(token) <= 200:
            raise NotAuthenticated("a valid `token` is required")
        rec = await db.resolve_token(self.st, token)
        if rec is None:
            raise NotAuthenticated("the token is unknown, expired or revoked")
        u = rec.user
        return Session(u.id, u.username, rec.token_hash, u.is_admin), u

    async def revoke(self, token_digest: bytes) -> int | None:
        """Revoke a token (committed on return); returns its owner, None if it was not live."""
        return await db.revoke_token(self.st, token_digest)

    async def close_sessions(self, user_id: int, token_digest: bytes) -> None:
        """Tell every node to close the connections using that token (4001)."""
        await self.close_tokens(user_id, [token_digest])

    async def close_tokens(self, user_id: int, token_digests: list[bytes],
                           reason: str = "") -> None:
        """Tell every node to close the connections using any of these tokens (4001), with
        `reason` in their session.closed (default "logged out"): the `r` message is the
        32-byte digest, then the reason's UTF-8. The revoke is committed already: if the
        bus cannot carry the news, each node's periodic re-check of its sessions
        (Node.recheck_sessions) closes them instead."""
        channel = bus.user_channel(self.st, user_id)
        tail = reason.encode("utf-8")
        try:
            await bus.publish(self.st,
                              [(channel, bus.pack("r", d + tail)) for d in token_digests])
        except Unavailable as exc:  # committed: the nodes' session re-check closes them
            log.warning("session close not published; the re-check will close it",
                        extra={"user": user_id, "error": str(exc)})

    async def still_live(self, session: Session) -> bool:
        """Whether the session's token is still unrevoked, unexpired, and its user not
        suspended: re-checked once a connection is attached, so a revoke that committed
        between `hello`'s check and the attach (its message missed) still closes it."""
        return await db.token_live(self.st, session.token_hash)

    async def change_password(self, session: Session, raw: dict[str, Any]) -> PasswordChanged:
        """Replace the password; every other token of the user is revoked and its
        connections closed on every node, the calling session's token stays valid.

        Each attempt counts against PASSWORD_CHANGE_ATTEMPTS per account (a success
        gives it back), so a stolen session cannot be used to guess the password.
        """
        A.only(raw, {"old_password", "new_password"})
        old = A.text(raw, "old_password", max_len=PASSWORD_MAX, min_len=1)
        assert old is not None
        new = raw.get("new_password")
        if not isinstance(new, str):
            raise Invalid("`new_password` must be a string")
        try:
            self.check_password(new, session.username)
        except Invalid as exc:
            raise Invalid(f"`new_password`: {exc.message}") from None
        if new == old:
            raise Invalid("`new_password` must differ from the current password")
        counted = [("password-acct", str(session.user_id), PASSWORD_CHANGE_ATTEMPTS)]
        await self._limit(counted)
        old_hash = await db.password_hash_of(self.st, session.user_id)
        if old_hash is None or not await self._verify(old_hash, old):
            raise NotAuthenticated("the current password is wrong")
        revoked = await db.change_password(self.st, session.user_id, session.token_hash,
                                           old_hash, await self._hash(new))
        if revoked is None:  # this token was revoked, or the password changed, meanwhile
            raise NotAuthenticated("the session or the password changed meanwhile")
        await self.close_tokens(session.user_id, revoked, "password changed")
        try:
            await ratelimit.refund(self.st, [(scope, subj) for scope, subj, _ in counted])
        except Unavailable as exc:
            log.warning("password change attempt not refunded", extra={"error": str(exc)})
        return PasswordChanged(len(revoked))

    async def logout(self, token_digest: bytes) -> None:
        user_id = await self.revoke(token_digest)
        if user_id is not None:
            await self.close_sessions(user_id, token_digest)

    async def logout_token(self, token: Any) -> None:
        if not isinstance(token, str) or not token:
            raise NotAuthenticated("a valid `token` is required")
        await self.logout(token_hash(token))

    # -- profiles ---------------------------------------------------------------
    async def get_user(self, session: Session, raw: dict[str, Any]) -> dict[str, Any]:
        """A profile with its counts; for someone else also how you stand to them.

        Someone who blocked you, whom you blocked, or who is suspended is not_found.
        """
        A.only(raw, {"id", "username"})
        uid = A.integer(raw, "id", required=False)
        name = A.text(raw, "username", max_len=USERNAME_MAX, min_len=1, required=False)
        if uid is None and name is None:
            uid = session.user_id
        found = await db.get_profile(self.st, session.user_id, user_id=uid,
                                     username=name.lower() if name else None)
        if found is None:
            raise Missing("no such user")
        user, rel = found
        privacy.require_profile(rel)  # blocked either way, or suspended: not_found
        out = public_user(user, me=rel.is_self)
        if not rel.is_self:
            out.update(followed_by_me=rel.following, follows_me=rel.follows_me,
                       requested=rel.requested, muted=rel.i_muted)
        return out

    async def update_user(self, session: Session, raw: dict[str, Any]) -> dict[str, Any]:
        """Profile fields; `avatar` takes an uploaded media id (or nil to remove it);
        `hide_activity` hides one's activity status and others' from oneself."""
        A.only(raw, {"display_name", "bio", "website", "private", "avatar", "hide_activity"})
        changes: dict[str, Any] = {}
        if (v := A.trimmed(raw, "display_name", max_len=DISPLAY_NAME_MAX,
                           required=False)) is not None:
            changes["display_name"] = v
        if (v := A.text(raw, "bio", max_len=BIO_MAX, required=False)) is not None:
            changes["bio"] = v
        if (v := A.trimmed(raw, "website", max_len=WEBSITE_MAX, required=False)) is not None:
            if v and not WEBSITE_RE.match(v):
                raise Invalid("that does not look like a web address")
            changes["website"] = v
        if (f := A.flag(raw, "private", required=False)) is not None:
            changes["is_private"] = f
        if (f := A.flag(raw, "hide_activity", required=False)) is not None:
            changes["hide_activity"] = f
        if "avatar" in raw:  # after every other field is known to be valid
            if self.media is None:
                raise Invalid("avatars are not available on this server")
            await self.media.set_avatar(session, raw["avatar"])
        changed: list[str] = []
        user = await db.update_user(self.st, session.user_id, changes, changed)
        if user is None:
            raise Missing("no such user")
        if changes.get("is_private"):  # live watches by non-followers end
            await sight_lost(self.st, {user.id: ()})
        # only a real change: hiding again sent a nil that told peers "active just now"
        if "hide_activity" in changed and self.on_activity_hidden is not None:
            await self.on_activity_hidden(user.id, changes["hide_activity"])
        return public_user(user, me=True)

    async def create_user(self, username: str, email: str, password: str, *,
                          admin: bool = False) -> UserRecord:
        """For the CLI: the same rules as sign-up, no rate limit, no token."""
        name = self.check_username(username)
        pw_hash = await self._hash(self.check_password(password, name))
        try:
            user = await db.create_user(self.st, name, email, pw_hash)
        except Duplicate:
            raise Taken("that username or email is taken") from None
        if admin:
            await db.set_admin(self.st, name, True)
        return user

    # -- helpers ------------------------------------------------------------------
    async def _issue(self, user: UserRecord, client: str,
                     while_hash: str | None = None) -> Issued | None:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires = await db.issue_token(self.st, user.id, token,
                                       self.settings.token_ttl_seconds, client, while_hash)
        return None if expires is None else Issued(token, user, expires)

    async def _limit(self, checks: list[tuple[str, str, int]]) -> None:
        verdict = await ratelimit.hit_many(
            self.st, [(scope, subj, lim, LOGIN_WINDOW_SECONDS) for scope, subj, lim in checks])
        if not verdict.allowed:
            raise Throttled("too many attempts; try again later", verdict.retry_after)

    async def _hash(self, password: str) -> str:
        return await trio.to_thread.run_sync(self._hasher.hash, password,
                                             limiter=self._hash_limiter)

    async def _verify(self, pw_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(pw_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await trio.to_thread.run_sync(check, limiter=self._hash_limiter)
