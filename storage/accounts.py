"""Users and bearer tokens in Postgres; tokens are kept only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from storage.relations import Relation, relation
from storage.store import Storage


def _cols(alias: str = "") -> str:
    p = f"{alias}." if alias else ""
    plain = ("id username email display_name bio website is_private is_admin event_seq "
             "followers_count following_count posts_count hide_activity").split()
    return ", ".join(p + c for c in plain) + (
        f", (extract(epoch FROM {p}created_at) * 1000)::bigint AS created_ms"
        f", (SELECT variants FROM media WHERE media.id = {p}avatar_id) AS avatar")


_USER_COLS = _cols()


def user_columns(alias: str = "") -> str:
    """The select list a `UserRecord` is built from (for queries in other modules)."""
    return _cols(alias)


@dataclass(frozen=True)
class UserRecord:
    id: int
    username: str
    email: str
    display_name: str
    bio: str
    website: str
    is_private: bool
    is_admin: bool
    event_seq: int
    created_ms: int
    avatar: dict[str, Any] | None = None  # the avatar's stored variants
    followers_count: int = 0
    following_count: int = 0
    posts_count: int = 0
    hide_activity: bool = False  # activity status hidden (both ways: actors/privacy.py)


@dataclass(frozen=True)
class TokenRecord:
    user: UserRecord
    token_hash: bytes
    expires_ms: int


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _user(row: asyncpg.Record | None) -> UserRecord | None:
    if row is None:
        return None
    data = {k: row[k] for k in UserRecord.__dataclass_fields__}
    if isinstance(data["avatar"], str):
        data["avatar"] = json.loads(data["avatar"])
    return UserRecord(**data)


def user_record(row: asyncpg.Record | None) -> UserRecord | None:
    """A `UserRecord` from a row selected with `user_columns`."""
    return _user(row)


async def _create_user(conn: asyncpg.Connection, username: str, email: str, pw_hash: str,
                       display_name: str) -> UserRecord:
    row = await conn.fetchrow(
        f"""INSERT INTO users (username, email, password_hash, display_name)
            VALUES ($1, $2, $3, $4) RETURNING {_USER_COLS}""",
        username, email, pw_hash, display_name,
    )
    user = _user(row)
    assert user is not None
    return user


async def create_user(st: Storage, username: str, email: str, pw_hash: str,
                      display_name: str = "") -> UserRecord:
    """Raises storage.errors.Duplicate('users_username_key' / 'users_email_key')."""
    return await st.tx(_create_user, username, email, pw_hash, display_name)


async def _sign_up(conn: asyncpg.Connection, username: str, email: str, pw_hash: str,
                   display_name: str, token_digest: bytes, ttl: int,
                   client: str) -> tuple[UserRecord, int]:
    user = await _create_user(conn, username, email, pw_hash, display_name)
    expires = await _issue_token(conn, user.id, token_digest, ttl, client, None)
    assert expires is not None  # issued unconditionally
    return user, expires


async def sign_up(st: Storage, username: str, email: str, pw_hash: str, display_name: str,
                  token: str, ttl_seconds: int, client: str = "") -> tuple[UserRecord, int]:
    """The account and its first token in one transaction (apart, a failure between
    them left an account its maker was told had not been made): (user, expiry in ms).
    Raises storage.errors.Duplicate as create_user does."""
    return await st.tx(_sign_up, username, email, pw_hash, display_name,
                       token_hash(token), ttl_seconds, client[:100])


async def _login_lookup(conn: asyncpg.Connection, login: str) -> tuple[UserRecord, str] | None:
    row = await conn.fetchrow(
        f"""SELECT {_USER_COLS}, password_hash FROM users
            WHERE lower(username) = lower($1) OR lower(email) = lower($1) LIMIT 1""",
        login,
    )
    if row is None:
        return None
    user = _user(row)
    assert user is not None
    return user, row["password_hash"]


async def find_for_login(st: Storage, login: str) -> tuple[UserRecord, str] | None:
    """The user whose username or email is `login`, with the password hash."""
    return await st.tx(_login_lookup, login)


async def _rehash(conn: asyncpg.Connection, user_id: int, old_hash: str,
                  new_hash: str) -> bool:
    return await conn.fetchval("UPDATE users SET password_hash = $3 WHERE id = $1 "
                               "AND password_hash = $2 RETURNING true",
                               user_id, old_hash, new_hash) is not None


async def rehash_password(st: Storage, user_id: int, old_hash: str, new_hash: str) -> bool:
    """The same password under newer hashing parameters, unless the password changed
    meanwhile (a login racing a change wrote the old password back); whether it was
    written."""
    return await st.tx(_rehash, user_id, old_hash, new_hash)


async def _password_hash(conn: asyncpg.Connection, user_id: int) -> str | None:
    return await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)


async def password_hash_of(st: Storage, user_id: int) -> str | None:
    """The user's stored password hash (None if there is no such user)."""
    return await st.tx(_password_hash, user_id)


async def _change_password(conn: asyncpg.Connection, user_id: int, keep: bytes, old_hash: str,
                           new_hash: str) -> list[bytes] | None:
    live = await conn.fetchval(
        """SELECT 1 FROM tokens WHERE hash = $1 AND user_id = $2 AND revoked_at IS NULL
                                  AND expires_at > now()""", keep, user_id)
    if live is None:
        return None
    # The users row is locked first, as admin suspension does: concurrent changes queue
    # here, and the later one finds the hash changed.
    changed = await conn.fetchval(
        "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2 RETURNING id",
        user_id, old_hash, new_hash)
    if changed is None:
        return None
    rows = await conn.fetch(
        """UPDATE tokens SET revoked_at = now()
           WHERE user_id = $1 AND hash <> $2 AND revoked_at IS NULL AND expires_at > now()
           RETURNING hash""",
        user_id, keep)
    return [bytes(r["hash"]) for r in rows]


async def change_password(st: Storage, user_id: int, keep: bytes, old_hash: str,
                          new_hash: str) -> list[bytes] | None:
    """Store `new_hash` and revoke every other live token of the user, in one transaction.

    Only while the hash is still `old_hash` (the one the old password was checked
    against) and the token `keep` is live; otherwise None and nothing changes.
    Returns the hashes of the tokens revoked.
    """
    return await st.tx(_change_password, user_id, keep, old_hash, new_hash)


async def _issue_token(conn: asyncpg.Connection, user_id: int, digest: bytes, ttl: int,
                       client: str, while_hash: str | None) -> int | None:
    if while_hash is not None and await conn.fetchval(
            """SELECT 1 FROM users WHERE id = $1 AND password_hash = $2
                                       AND suspended_at IS NULL FOR SHARE""",
            user_id, while_hash) is None:
        return None
    expires = datetime.now(UTC) + timedelta(seconds=ttl)
    # A new token takes the user's dead ones (expired or revoked) with it: every login
    # and logout left a row behind for good, and a bot logging in often grew the table
    # without bound. A dead token and a missing one are refused alike.
    await conn.execute(
        """WITH dead AS (DELETE FROM tokens WHERE user_id = $2
                         AND (revoked_at IS NOT NULL OR expires_at <= now()))
           INSERT INTO tokens (hash, user_id, expires_at, client) VALUES ($1, $2, $3, $4)""",
        digest, user_id, expires, client,
    )
    return int(expires.timestamp() * 1000)


async def issue_token(st: Storage, user_id: int, token: str, ttl_seconds: int,
                      client: str = "", while_hash: str | None = None) -> int | None:
    """Store the token's hash; returns its expiry in ms. With `while_hash` (the password
    hash a login verified), only if the password is still that one and the user is not
    suspended, its row held (FOR SHARE) until the token is in: a password change or a
    suspension racing the login either waits and then revokes the new token, or comes
    first and the login gets none (it got a token the change had not revoked, which
    outlived the suspension)."""
    return await st.tx(_issue_token, user_id, token_hash(token), ttl_seconds, client[:100],
                       while_hash)


async def _resolve_token(conn: asyncpg.Connection, digest: bytes) -> TokenRecord | None:
    row = await conn.fetchrow(
        f"""SELECT {_cols("u")},
                   (extract(epoch FROM t.expires_at) * 1000)::bigint AS expires_ms
            FROM tokens t JOIN users u ON u.id = t.user_id
            WHERE t.hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now()
              AND u.suspended_at IS NULL""",
        digest,
    )
    user = _user(row)
    if user is None or row is None:
        return None
    return TokenRecord(user=user, token_hash=digest, expires_ms=row["expires_ms"])


async def resolve_token(st: Storage, token: str) -> TokenRecord | None:
    """The live (unexpired, unrevoked) token's user, or None."""
    return await st.read(_resolve_token, token_hash(token))


async def token_live(st: Storage, digest: bytes) -> bool:
    """The token (by digest) is unrevoked and unexpired, and its user not suspended."""
    return await st.read(_resolve_token, digest) is not None


async def live_tokens(st: Storage, digests: Sequence[bytes]) -> set[bytes]:
    """Those of the tokens (by digest) still unrevoked and unexpired, their users not
    suspended: one statement for every session a node holds."""
    if not digests:
        return set()

    async def run(conn: asyncpg.Connection) -> set[bytes]:
        rows = await conn.fetch(
            """SELECT t.hash FROM tokens t JOIN users u ON u.id = t.user_id
               WHERE t.hash = ANY($1::bytea[]) AND t.revoked_at IS NULL
                 AND t.expires_at > now() AND u.suspended_at IS NULL""", list(digests))
        return {bytes(r["hash"]) for r in rows}

    return await st.read(run)


async def _revoke(conn: asyncpg.Connection, digest: bytes) -> int | None:
    return await conn.fetchval(
        "UPDATE tokens SET revoked_at = now() WHERE hash = $1 AND revoked_at IS NULL "
        "RETURNING user_id",
        digest,
    )


async def revoke_token(st: Storage, digest: bytes) -> int | None:
    """Revoke; returns the owner's id, or None if it was not live."""
    return await st.tx(_revoke, digest)


async def _get_user(conn: asyncpg.Connection, user_id: int | None,
                    username: str | None) -> UserRecord | None:
    if user_id is not None:
        return _user(await conn.fetchrow(f"SELECT {_USER_COLS} FROM users WHERE id = $1",
                                         user_id))
    return _user(await conn.fetchrow(
        f"SELECT {_USER_COLS} FROM users WHERE lower(username) = lower($1)", username))


async def get_user(st: Storage, *, user_id: int | None = None,
                   username: str | None = None) -> UserRecord | None:
    return await st.tx(_get_user, user_id, username)


async def _profile(conn: asyncpg.Connection, viewer_id: int, user_id: int | None,
                   username: str | None) -> tuple[UserRecord, Relation] | None:
    user = await _get_user(conn, user_id, username)
    if user is None:
        return None
    return user, await relation(conn, viewer_id, user.id)


async def get_profile(st: Storage, viewer_id: int, *, user_id: int | None = None,
                      username: str | None = None) -> tuple[UserRecord, Relation] | None:
    """The user and how the viewer stands to them, read in one transaction."""
    return await st.tx(_profile, viewer_id, user_id, username)


_UPDATABLE = {"display_name", "bio", "website", "is_private", "hide_activity"}


async def _update_user(conn: asyncpg.Connection, user_id: int, changes: dict[str, Any],
                       changed: list[str] | None = None) -> UserRecord | None:
    cols = [c for c in changes if c in _UPDATABLE]
    if not cols:
        return await _get_user(conn, user_id, None)
    before = await conn.fetchrow(
        f"SELECT {', '.join(cols)} FROM users WHERE id = $1 FOR NO KEY UPDATE", user_id)
    if before is None:
        return None
    sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
    row = await conn.fetchrow(
        f"UPDATE users SET {sets} WHERE id = $1 RETURNING {_USER_COLS}",
        user_id, *(changes[c] for c in cols),
    )
    if changed is not None:
        changed.extend(c for c in cols if before[c] != changes[c])
    return _user(row)


async def update_user(st: Storage, user_id: int, changes: dict[str, Any],
                      changed: list[str] | None = None) -> UserRecord | None:
    """Update whitelisted profile columns (names are never taken from input); the
    columns whose value this changed are added to `changed` (setting a flag to what it
    was is no change: nobody is told of it)."""
    return await st.tx(_update_user, user_id, changes, changed)


async def _set_admin(conn: asyncpg.Connection, username: str, flag: bool) -> bool:
    done = await conn.fetchval(
        "UPDATE users SET is_admin = $2 WHERE lower(username) = lower($1) RETURNING id",
        username, flag)
    return done is not None


async def set_admin(st: Storage, username: str, flag: bool) -> bool:
    return await st.tx(_set_admin, username, flag)
