"""Presence in Redis (a key per device, with a TTL) and activity status in Postgres.

A device is one attached connection, named `<node instance>:<conn id>`. Its key
`{ns}:pres:{user}:{device}` lives PRESENCE_TTL_HEARTBEATS heartbeats unless the
node that holds the connection refreshes it; a user is online while any device
key is alive. The set `{ns}:pres:{user}` indexes the user's devices so that
"is anyone alive" needs no SCAN; dead members are pruned whenever it is read.

Connects and disconnects run a Lua script each (atomic on the Redis server), which
reports how many *other* devices are alive: 0 means this device made the user come
online (or go offline), so concurrent devices on different nodes agree on who
announces the change. Every function here is one crossing of the bridge.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import redis.asyncio as aioredis

from storage import bus
from storage.store import Storage

# KEYS[1] = the user's device set, KEYS[2] = this device's key
# ARGV[1] = device id, ARGV[2] = TTL in ms, ARGV[3] = "1" connect / "0" disconnect,
# ARGV[4] = the prefix of the user's device keys
# Returns how many of the user's other devices are alive.
_CHANGE = """
local alive = 0
for _, d in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if d ~= ARGV[1] then
    if redis.call('EXISTS', ARGV[4] .. d) == 1 then
      alive = alive + 1
    else
      redis.call('SREM', KEYS[1], d)
    end
  end
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
  redis.call('SADD', KEYS[1], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[1], ARGV[1])
end
return alive
"""

# KEYS[1] = the user's device set; ARGV[1] = the prefix of its device keys.
# Returns 1 if any device key is alive (pruning dead members), else 0.
_ALIVE = """
local alive = 0
for _, d in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. d) == 1 then
    alive = 1
  else
    redis.call('SREM', KEYS[1], d)
  end
end
return alive
"""


@dataclass(frozen=True)
class Change:
    """A device came (online=True) or went."""

    user_id: int
    device: str
    online: bool


@dataclass(frozen=True)
class PresenceLink:
    """What decides whether `viewer_id` may see `target_id`'s activity status
    (the rule itself is actors/privacy.py `can_see_presence`)."""

    viewer_id: int
    target_id: int
    exists: bool
    viewer_hides: bool = False
    target_hides: bool = False
    target_suspended: bool = False
    blocked: bool = False  # either way
    following: bool = False  # viewer follows target
    shares_conversation: bool = False  # both are current members of one conversation

    @property
    def is_self(self) -> bool:
        return self.viewer_id == self.target_id


@dataclass(frozen=True)
class Transition:
    """A user came online (first device) or went offline (last device gone)."""

    user_id: int
    online: bool
    at_ms: int
    audience: list[PresenceLink]  # seen from each peer (viewer) to this user (target)


@dataclass(frozen=True)
class Status:
    user_id: int
    online: bool
    last_active_ms: int | None


def device_set(st: Storage, user_id: int) -> str:
    return st.key("pres", user_id)


def device_key(st: Storage, user_id: int, device: str) -> str:
    return st.key("pres", user_id, device)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- connects and disconnects ------------------------------------------------------------------
_AUDIENCE = """
SELECT DISTINCT p.user_id AS viewer, p.hide_activity AS viewer_hides,
       s.hide_activity AS target_hides, s.suspended_at IS NOT NULL AS suspended,
       EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = p.user_id AND b.blocked_id = s.id)
                                         OR (b.blocker_id = s.id AND b.blocked_id = p.user_id))
           AS blocked
FROM users s
JOIN conversation_members me ON me.user_id = s.id AND me.left_at IS NULL
JOIN LATERAL (
    SELECT m.user_id, u.hide_activity FROM conversation_members m JOIN users u ON u.id = m.user_id
    WHERE m.conversation_id = me.conversation_id AND m.left_at IS NULL AND m.user_id <> s.id
) p ON true
WHERE s.id = $1
"""


async def _audience(conn: asyncpg.Connection, user_id: int) -> list[PresenceLink]:
    rows = await conn.fetch(_AUDIENCE, user_id)
    return [PresenceLink(r["viewer"], user_id, True, r["viewer_hides"], r["target_hides"],
                         r["suspended"], r["blocked"], shares_conversation=True)
            for r in rows]


async def apply_changes(st: Storage, changes: Sequence[Change],
                        ttl_ms: int) -> list[Transition]:
    """Record connects/disconnects; the users who came online or went offline, with
    the people they share a current conversation with. users.last_active_at is set
    at every transition."""

    async def run(st: Storage) -> list[Transition]:
        assert st.redis is not None and st.pool is not None
        async with st.redis.pipeline(transaction=False) as pipe:
            for c in changes:
                pipe.eval(_CHANGE, 2, device_set(st, c.user_id),
                          device_key(st, c.user_id, c.device), c.device, ttl_ms,
                          "1" if c.online else "0", device_key(st, c.user_id, ""))
            others = await pipe.execute()
        # A user flips when their state before the batch (from their first change)
        # differs from the state after it (from their last): two connects announce one
        # "online"; a connect and a disconnect of a lone device announce nothing.
        before: dict[int, bool] = {}
        after: dict[int, bool] = {}
        for c, alive in zip(changes, others, strict=True):
            others_alive = int(alive) > 0
            before.setdefault(c.user_id, others_alive if c.online else True)
            after[c.user_id] = True if c.online else others_alive
        flips = {uid: online for uid, online in after.items() if online != before[uid]}
        if not flips:
            return []
        at_ms = int(time.time() * 1000)  # stored to the ms, so reads give back the same value
        now = _EPOCH + timedelta(milliseconds=at_ms)
        async with st.pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE users SET last_active_at = $2 WHERE id = ANY($1::bigint[])",
                               list(flips), now)
            return [Transition(uid, online, at_ms, await _audience(conn, uid))
                    for uid, online in flips.items()]

    return await st.both(run)


async def refresh(st: Storage, devices: Iterable[tuple[int, str]], ttl_ms: int,
                  touch_active: bool) -> None:
    """Keep the devices of this node's attached connections alive (one pipeline), and
    with `touch_active` also set users.last_active_at of their users to now."""
    items = list(devices)
    if not items:
        return

    async def run(st: Storage) -> None:
        assert st.redis is not None and st.pool is not None
        async with st.redis.pipeline(transaction=False) as pipe:
            for user_id, device in items:
                pipe.set(device_key(st, user_id, device), b"1", px=ttl_ms)
                pipe.sadd(device_set(st, user_id), device)
                pipe.pexpire(device_set(st, user_id), ttl_ms)
            await pipe.execute()
        if touch_active:
            async with st.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE users SET last_active_at = now() WHERE id = ANY($1::bigint[])",
                    sorted({u for u, _ in items}))

    await st.both(run)


# -- presence.get ------------------------------------------------------------------------------
_LINKS = """
SELECT u.id, u.hide_activity, u.suspended_at IS NOT NULL AS suspended,
       (extract(epoch FROM u.last_active_at) * 1000)::bigint AS last_ms,
       EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = u.id)
           AS following,
       EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = $1 AND b.blocked_id = u.id)
                                         OR (b.blocker_id = u.id AND b.blocked_id = $1))
           AS blocked,
       EXISTS (SELECT 1 FROM conversation_members a
               JOIN conversation_members b ON b.conversation_id = a.conversation_id
               WHERE a.user_id = $1 AND a.left_at IS NULL
                 AND b.user_id = u.id AND b.left_at IS NULL) AS shares
FROM users u WHERE u.id = ANY($2::bigint[])
"""


async def statuses(st: Storage, viewer_id: int,
                   user_ids: Sequence[int]) -> list[tuple[PresenceLink, Status]]:
    """For each id (in order): how the viewer stands to that user, and the user's status."""

    async def run(st: Storage) -> list[tuple[PresenceLink, Status]]:
        assert st.redis is not None and st.pool is not None
        async with st.pool.acquire() as conn:
            viewer_hides = bool(await conn.fetchval(
                "SELECT hide_activity FROM users WHERE id = $1", viewer_id))
            rows = {r["id"]: r for r in await conn.fetch(_LINKS, viewer_id, list(user_ids))}
        async with st.redis.pipeline(transaction=False) as pipe:
            for uid in user_ids:
                pipe.eval(_ALIVE, 1, device_set(st, uid), device_key(st, uid, ""))
            alive = await pipe.execute()
        out = []
        for uid, on in zip(user_ids, alive, strict=True):
            r = rows.get(uid)
            if r is None:
                out.append((PresenceLink(viewer_id, uid, False), Status(uid, False, None)))
                continue
            link = PresenceLink(viewer_id, uid, True, viewer_hides, r["hide_activity"],
                                r["suspended"], r["blocked"], r["following"], r["shares"])
            out.append((link, Status(uid, bool(on), r["last_ms"])))
        return out

    return await st.both(run)


# -- typing ------------------------------------------------------------------------------------
async def typing(st: Storage, user_id: int, conversation_id: int, on: bool,
                 throttle_ms: int, frame: bytes) -> bool | None:
    """Send a typing frame to the conversation's other current members, in one crossing.

    None: the user is not a current member. False: a `typing: true` was throttled
    (one per `throttle_ms` per user and conversation). True: sent. `typing: false`
    always goes, and lets the next `true` go at once.
    """
    async def run(st: Storage) -> bool | None:
        assert st.redis is not None and st.pool is not None
        async with st.pool.acquire() as conn:
            members = [r["user_id"] for r in await conn.fetch(
                "SELECT user_id FROM conversation_members "
                "WHERE conversation_id = $1 AND left_at IS NULL", conversation_id)]
        if user_id not in members:
            return None
        key = st.key("typing", conversation_id, user_id)
        redis: aioredis.Redis = st.redis
        if on:
            if not await redis.set(key, b"1", px=throttle_ms, nx=True):
                return False
        else:
            await redis.delete(key)
        await bus.publish_raw(st, [(bus.user_channel(st, m), bus.pack_event(None, frame))
                                   for m in members if m != user_id])
        return True

    return await st.both(run)

