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

Node death. Each node instance keeps a liveness mark `{ns}:presnode:{instance}`
(same TTL as a device key, renewed once per heartbeat) and is listed with its
last renewal time in the sorted set `{ns}:presnodes`. The same connect/disconnect
script keeps the set `{ns}:presidx:{instance}` of its devices (`{user}:{device}`),
without a TTL. An instance whose mark is gone but whose index is not died without
saying goodbye: one node claims it (`{ns}:presclaim:{instance}`, SET NX with a TTL
renewed per chunk), removes its devices chunk by chunk (one script per chunk, which
also says which of their users have no live device left), and the index empties.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from config.limits import TYPING_EXPIRES_MS, TYPING_RESTART_WINDOW_MS, TYPING_RESTARTS
from storage import bus
from storage.relations import Relation, relation_columns, relation_from
from storage.store import Storage

# KEYS[1] = the user's device set, KEYS[2] = this device's key, KEYS[3] = its node
# instance's device index
# ARGV[1] = device id, ARGV[2] = TTL in ms, ARGV[3] = "1" connect / "0" disconnect,
# ARGV[4] = the prefix of the user's device keys, ARGV[5] = the device's index member
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
  redis.call('SADD', KEYS[3], ARGV[5])
else
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[5])
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
    target_follows: bool = False  # the target follows the viewer
    # both are current members of one conversation the target has accepted (it is in
    # their inbox, not their requests)
    shares_conversation: bool = False

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


def instance_of(device: str) -> str:
    """The node instance holding a device (`<instance>:<conn id>`)."""
    return device.rpartition(":")[0]


def node_mark(st: Storage, instance: str) -> str:
    return st.key("presnode", instance)


def node_index(st: Storage, instance: str) -> str:
    return st.key("presidx", instance)


def node_claim(st: Storage, instance: str) -> str:
    return st.key("presclaim", instance)


def nodes_key(st: Storage) -> str:
    return st.key("presnodes")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- connects and disconnects ------------------------------------------------------------------
_AUDIENCE = """
SELECT DISTINCT s.id AS target, p.user_id AS viewer, p.hide_activity AS viewer_hides,
       s.hide_activity AS target_hides, s.suspended_at IS NOT NULL AS suspended,
       EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = p.user_id AND b.blocked_id = s.id)
                                         OR (b.blocker_id = s.id AND b.blocked_id = p.user_id))
           AS blocked
FROM {users} s
JOIN conversation_members me ON me.user_id = s.id AND me.left_at IS NULL AND me.state = 'inbox'
JOIN LATERAL (
    SELECT m.user_id, u.hide_activity FROM conversation_members m JOIN users u ON u.id = m.user_id
    WHERE m.conversation_id = me.conversation_id AND m.left_at IS NULL AND m.user_id <> s.id
) p ON true
WHERE s.id = ANY($1::bigint[])
"""
_AUDIENCE_READ = _AUDIENCE.format(users="users")
# The same, setting users.last_active_at in the same statement: a connect's or
# disconnect's presence change was a transaction of four round trips (BEGIN, UPDATE,
# the read, COMMIT) on every hello and close. The users' own flags come from the
# UPDATE's RETURNING, i.e. as they are once their row lock is held (a statement's
# snapshot alone would miss a hide_activity committed while it waited for the lock,
# and announce what was just hidden); a data-modifying CTE runs in full either way.
_AUDIENCE_ACTIVE = (
    "WITH active AS (UPDATE users SET last_active_at = $2 WHERE id = ANY($1::bigint[])"
    " RETURNING id, hide_activity, suspended_at)\n" + _AUDIENCE.format(users="active"))


async def _audiences(conn: asyncpg.Connection, user_ids: Sequence[int],
                     active_at: datetime | None = None) -> dict[int, list[PresenceLink]]:
    """Each user's audience (one query for all of them); with `active_at`, their
    last_active_at set to it by the same statement."""
    out: dict[int, list[PresenceLink]] = {uid: [] for uid in user_ids}
    query, args = ((_AUDIENCE_READ, (list(user_ids),)) if active_at is None
                   else (_AUDIENCE_ACTIVE, (list(user_ids), active_at)))
    for r in await conn.fetch(query, *args):
        out[r["target"]].append(PresenceLink(
            r["viewer"], r["target"], True, r["viewer_hides"], r["target_hides"],
            r["suspended"], r["blocked"], shares_conversation=True))
    return out


async def audience(st: Storage, user_id: int) -> list[PresenceLink]:
    """The user's conversation peers, each as a link from the peer (viewer) to the user."""

    async def run(conn: asyncpg.Connection) -> list[PresenceLink]:
        return (await _audiences(conn, [user_id]))[user_id]

    return await st.read(run)


async def apply_changes(st: Storage, changes: Sequence[Change],
                        ttl_ms: int) -> list[Transition]:
    """Record connects/disconnects; the users who came online or went offline, with
    the people they share a current conversation with. users.last_active_at is set
    at every transition."""

    async def run(st: Storage) -> list[Transition]:
        assert st.redis is not None and st.pool is not None
        async with st.redis.pipeline(transaction=False) as pipe:
            for c in changes:
                pipe.eval(_CHANGE, 3, device_set(st, c.user_id),
                          device_key(st, c.user_id, c.device),
                          node_index(st, instance_of(c.device)), c.device, ttl_ms,
                          "1" if c.online else "0", device_key(st, c.user_id, ""),
                          f"{c.user_id}:{c.device}")
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
        async with st.pool.acquire() as conn:
            audiences = await _audiences(conn, list(flips), active_at=now)
            return [Transition(uid, online, at_ms, audiences[uid])
                    for uid, online in flips.items()]

    return await st.both(run)


# KEYS[1] = a node instance's device index, KEYS[2] = its liveness mark
# ARGV[1] = TTL in ms, ARGV[2] = the prefix of device sets (`{ns}:pres:`), then pairs of
# user id and device.
# Returns {1 if the mark exists else 0, {positions (1-based) of the pairs renewed}}.
_REFRESH = """
local renewed = {}
for i = 3, #ARGV, 2 do
  local uid, dev = ARGV[i], ARGV[i + 1]
  if redis.call('SISMEMBER', KEYS[1], uid .. ':' .. dev) == 1 then
    local set = ARGV[2] .. uid
    redis.call('SET', set .. ':' .. dev, '1', 'PX', ARGV[1])
    redis.call('SADD', set, dev)
    redis.call('PEXPIRE', set, ARGV[1])
    table.insert(renewed, (i - 1) / 2)
  end
end
return {redis.call('EXISTS', KEYS[2]), renewed}
"""


@dataclass(frozen=True)
class Refreshed:
    renewed: int  # device keys renewed
    missing: list[tuple[int, str]]  # the devices their instance's index does not list
    # a device's instance has no liveness mark: Redis lost its data, or the instance was
    # taken for dead (and swept): its devices must be connected again
    mark_missing: bool


async def refresh(st: Storage, devices: Iterable[tuple[int, str]], ttl_ms: int,
                  touch_active: bool) -> Refreshed:
    """Keep the devices of this node's attached connections alive (one crossing), and
    with `touch_active` also set users.last_active_at of their users to now.

    Only a device its instance's index still lists is renewed: the caller's list may be
    older than a disconnect applied meanwhile (or a sweep), and renewing that device
    would bring its key back for a TTL, with no index entry (online in presence.get;
    the user's next connect not announced). A live device whose key merely lapsed is
    still listed, and comes back."""
    items = list(devices)
    if not items:
        return Refreshed(0, [], False)
    by_instance: dict[str, list[tuple[int, str]]] = {}
    for user_id, device in items:
        by_instance.setdefault(instance_of(device), []).append((user_id, device))

    async def run(st: Storage) -> Refreshed:
        assert st.redis is not None and st.pool is not None
        async with st.redis.pipeline(transaction=False) as pipe:
            for instance, group in by_instance.items():
                pipe.eval(_REFRESH, 2, node_index(st, instance), node_mark(st, instance),
                          ttl_ms, st.key("pres", ""),
                          *[x for user_id, device in group for x in (user_id, device)])
            out = await pipe.execute()
        renewed = [group[int(i) - 1] for group, (_, done) in zip(by_instance.values(), out,
                                                                   strict=True) for i in done]
        unmarked = any(int(marked) == 0 for marked, _ in out)
        kept = set(renewed)
        if touch_active and renewed:
            async with st.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE users SET last_active_at = now() WHERE id = ANY($1::bigint[])",
                    sorted({u for u, _ in renewed}))
        return Refreshed(len(renewed), [d for d in items if d not in kept], unmarked)

    return await st.both(run)


# -- node instances: liveness and the sweep of dead ones ---------------------------------------
# KEYS[1] = the registry of instances; ARGV[1], ARGV[2] = the prefixes of marks and indexes.
# Returns [instance, last renewal ms, ...] of each instance with an index but no mark;
# unregisters those with neither (gone cleanly, or swept).
_DEAD = """
local dead = {}
local listed = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #listed, 2 do
  local inst = listed[i]
  if redis.call('EXISTS', ARGV[1] .. inst) == 0 then
    if redis.call('EXISTS', ARGV[2] .. inst) == 1 then
      table.insert(dead, inst)
      table.insert(dead, listed[i + 1])
    else
      redis.call('ZREM', KEYS[1], inst)
    end
  end
end
return dead
"""

# KEYS[1] = the dead instance's index, KEYS[2] = its claim, KEYS[3] = its mark
# ARGV[1] = the claimer, ARGV[2] = the claim's TTL in ms, ARGV[3] = chunk size,
# ARGV[4] = the prefix of device sets (`{ns}:pres:`)
# Returns -1 if the claim is not ours, -2 if the instance is alive again, else
# {members removed, {users left with no live device}}.
_SWEEP = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[3]) == 1 then return -2 end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local members = redis.call('SRANDMEMBER', KEYS[1], tonumber(ARGV[3]))
local seen, users = {}, {}
for _, m in ipairs(members) do
  local uid, dev = string.match(m, '^(%d+):(.+)$')
  if uid then
    local set = ARGV[4] .. uid
    redis.call('SREM', set, dev)
    redis.call('DEL', set .. ':' .. dev)
    if not seen[uid] then
      seen[uid] = true
      table.insert(users, uid)
    end
  end
  redis.call('SREM', KEYS[1], m)
end
local gone = {}
for _, uid in ipairs(users) do
  local set = ARGV[4] .. uid
  local alive = 0
  for _, d in ipairs(redis.call('SMEMBERS', set)) do
    if redis.call('EXISTS', set .. ':' .. d) == 1 then
      alive = 1
    else
      redis.call('SREM', set, d)
    end
  end
  if alive == 0 then table.insert(gone, uid) end
end
return {#members, gone}
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
"""


@dataclass(frozen=True)
class DeadInstance:
    instance: str
    last_seen_ms: int  # its last liveness renewal (its own clock)


@dataclass(frozen=True)
class Swept:
    """One chunk of a dead instance's devices removed."""

    done: bool  # its index is empty, or the sweep must stop (claim lost, instance alive)
    removed: int  # devices removed
    offline: list[Transition]  # users left with no live device (not yet announced)


async def mark_alive(st: Storage, instance: str, ttl_ms: int) -> bool:
    """Renew this instance's liveness mark; False if it was missing (first renewal, or the
    instance was taken for dead: its devices must be connected again)."""

    async def run(r: aioredis.Redis) -> bool:
        async with r.pipeline(transaction=True) as pipe:
            pipe.set(node_mark(st, instance), b"1", px=ttl_ms, get=True)
            pipe.zadd(nodes_key(st), {instance: int(time.time() * 1000)})
            before, _ = await pipe.execute()
        return before is not None

    return await st.redis_op(run)


async def forget_instance(st: Storage, instance: str) -> None:
    """A node going away drops its mark, so that its devices are swept within a heartbeat
    (those whose disconnects it did not get to apply)."""
    await st.redis_op(lambda r: r.delete(node_mark(st, instance)))


async def dead_instances(st: Storage) -> list[DeadInstance]:
    """Instances that died with devices listed (mark gone, index still there)."""

    async def run(r: aioredis.Redis) -> list[Any]:
        return await r.eval(_DEAD, 1, nodes_key(st), node_mark(st, ""),  # type: ignore[no-any-return]
                            node_index(st, ""))

    flat = await st.redis_op(run)
    return [DeadInstance(_text(flat[i]), int(float(flat[i + 1])))
            for i in range(0, len(flat), 2)]


async def claim(st: Storage, instance: str, claimer: str, ttl_ms: int) -> bool:
    """Take the sweep of a dead instance (no one else holds it)."""
    return bool(await st.redis_op(
        lambda r: r.set(node_claim(st, instance), claimer, px=ttl_ms, nx=True)))


async def release(st: Storage, instance: str, claimer: str) -> None:
    await st.redis_op(lambda r: r.eval(_RELEASE, 1, node_claim(st, instance), claimer))


async def sweep_chunk(st: Storage, dead: DeadInstance, claimer: str, claim_ms: int,
                      chunk: int, announced: set[int]) -> Swept:
    """Remove up to `chunk` devices of a dead instance; the users this left with no live
    device (except those in `announced`, which it extends) went offline at its last sign
    of life, with their audiences. users.last_active_at never moves back."""

    async def run(st: Storage) -> Swept:
        assert st.redis is not None and st.pool is not None
        out = await st.redis.eval(_SWEEP, 3, node_index(st, dead.instance),
                                  node_claim(st, dead.instance), node_mark(st, dead.instance),
                                  claimer, claim_ms, chunk, st.key("pres", ""))
        if not isinstance(out, list):
            return Swept(True, 0, [])
        removed, gone = int(out[0]), [int(u) for u in out[1]]
        gone = [u for u in gone if u not in announced]
        announced.update(gone)
        done = removed < chunk
        if not gone:
            return Swept(done, removed, [])
        at = _EPOCH + timedelta(milliseconds=min(dead.last_seen_ms, int(time.time() * 1000)))
        async with st.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE users SET last_active_at = GREATEST(last_active_at, $2) "
                "WHERE id = ANY($1::bigint[]) "
                "RETURNING id, (extract(epoch FROM last_active_at) * 1000)::bigint AS ms",
                gone, at)
            audiences = await _audiences(conn, [r["id"] for r in rows])
        return Swept(done, removed, [Transition(r["id"], False, int(r["ms"]), audiences[r["id"]])
                                     for r in rows])

    return await st.both(run)


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


# -- presence.get ------------------------------------------------------------------------------
_LINKS = """
SELECT u.id, u.hide_activity, u.suspended_at IS NOT NULL AS suspended,
       (extract(epoch FROM u.last_active_at) * 1000)::bigint AS last_ms,
       EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = u.id AND f.followee_id = $1)
           AS target_follows,
       EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = $1 AND b.blocked_id = u.id)
                                         OR (b.blocker_id = u.id AND b.blocked_id = $1))
           AS blocked,
       EXISTS (SELECT 1 FROM conversation_members a
               JOIN conversation_members b ON b.conversation_id = a.conversation_id
               WHERE a.user_id = $1 AND a.left_at IS NULL
                 AND b.user_id = u.id AND b.left_at IS NULL AND b.state = 'inbox')
           AS shares
FROM users u WHERE u.id = ANY($2::bigint[])
"""


async def _links(conn: asyncpg.Connection, viewer_id: int, user_ids: Sequence[int]
                 ) -> list[tuple[PresenceLink, int | None]]:
    """For each id (in order): how the viewer stands to that user, and the user's
    last_active_at (ms)."""
    viewer_hides = bool(await conn.fetchval(
        "SELECT hide_activity FROM users WHERE id = $1", viewer_id))
    rows = {r["id"]: r for r in await conn.fetch(_LINKS, viewer_id, list(user_ids))}
    out: list[tuple[PresenceLink, int | None]] = []
    for uid in user_ids:
        r = rows.get(uid)
        if r is None:
            out.append((PresenceLink(viewer_id, uid, False), None))
        else:
            out.append((PresenceLink(viewer_id, uid, True, viewer_hides, r["hide_activity"],
                                     r["suspended"], r["blocked"], r["target_follows"],
                                     r["shares"]), r["last_ms"]))
    return out


async def links_between(conn: asyncpg.Connection, a: int, b: int) -> list[PresenceLink]:
    """How a stands to b's status and b to a's, as the caller's transaction sees them
    (a block reads them before it is written: what the two could see of each other)."""
    [(ab, _)] = await _links(conn, a, [b])
    [(ba, _)] = await _links(conn, b, [a])
    return [ab, ba]


async def statuses(st: Storage, viewer_id: int,
                   user_ids: Sequence[int]) -> list[tuple[PresenceLink, Status]]:
    """For each id (in order): how the viewer stands to that user, and the user's status."""

    async def run(st: Storage) -> list[tuple[PresenceLink, Status]]:
        assert st.redis is not None and st.pool is not None
        async with st.pool.acquire() as conn:
            links = await _links(conn, viewer_id, user_ids)
        async with st.redis.pipeline(transaction=False) as pipe:
            for uid in user_ids:
                pipe.eval(_ALIVE, 1, device_set(st, uid), device_key(st, uid, ""))
            alive = await pipe.execute()
        return [(link, Status(link.target_id, bool(on) and link.exists, last_ms))
                for (link, last_ms), on in zip(links, alive, strict=True)]

    return await st.both(run)


# -- typing ------------------------------------------------------------------------------------
_TYPING = f"""
    SELECT (SELECT array_agg(user_id) FROM conversation_members
            WHERE conversation_id = $1 AND left_at IS NULL) AS members,
           p.peer_id,
           {relation_columns("$2::bigint", "p.peer_id", "rp")}
    FROM (SELECT (SELECT m.user_id FROM conversation_members m
                  JOIN conversations c ON c.id = m.conversation_id AND c.kind = 'direct'
                  WHERE m.conversation_id = $1 AND m.user_id <> $2 AND m.left_at IS NULL
                  LIMIT 1) AS peer_id) p"""


# KEYS[1] = the throttle (a start sent lately), KEYS[2] = an indicator showing (a start
# sent and not stopped, until receivers drop it), KEYS[3] = restarts counted in their
# window; ARGV[1] = 1 for a start, ARGV[2] = the throttle's ms, ARGV[3] = the
# indicator's, ARGV[4] = the restart window's ms, ARGV[5] = restarts allowed in it.
# 1: send it. A start within the throttle goes out only when nothing is showing (typing
# again after sending a message) and the restart budget allows.
_TYPING_GATE = """
if ARGV[1] == '1' then
    if not redis.call('SET', KEYS[1], '1', 'PX', ARGV[2], 'NX') then
        if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
        local n = redis.call('INCR', KEYS[3])
        if n == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[4]) end
        if n > tonumber(ARGV[5]) then return 0 end
        redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
    end
    redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
    return 1
end
return redis.call('DEL', KEYS[2])
"""


async def typing(st: Storage, user_id: int, conversation_id: int, on: bool,
                 throttle_ms: int, frame: bytes,
                 peer_rule: Callable[[Relation], None]) -> bool | None:
    """Send a typing frame to the conversation's other current members, in one crossing.

    None: the user is not a current member. True: sent. False: not sent — a `typing:
    true` within `throttle_ms` of the last one sent (per user and conversation) while
    one is showing, or past TYPING_RESTARTS restarts in TYPING_RESTART_WINDOW_MS; or a
    `typing: false` with no indicator showing (none sent within TYPING_EXPIRES_MS, or
    stopped already). A stop never lifts the throttle: when it did, true, false, true...
    sent an event per call; a start after a stop (typing again after sending) still
    goes out at once, within the restart budget. In a 1:1, `peer_rule` (the domain's,
    actors/privacy.py) is first given how the user stands to the other member, read in
    the same statement as the members: what it raises is the answer, and then nothing
    is throttled or sent.
    """
    async def run(st: Storage) -> bool | None:
        assert st.redis is not None and st.pool is not None
        async with st.pool.acquire() as conn:
            row = await conn.fetchrow(_TYPING, conversation_id, user_id)
        members: list[int] = row["members"] or []
        if user_id not in members:
            return None
        if row["peer_id"] is not None:
            peer_rule(relation_from(row, "rp", user_id, row["peer_id"]))
        key = st.key("typing", conversation_id, user_id)
        redis: aioredis.Redis = st.redis
        if not await redis.eval(_TYPING_GATE, 3, key, key + ":shown", key + ":restarts",
                                int(on), throttle_ms, TYPING_EXPIRES_MS,
                                TYPING_RESTART_WINDOW_MS, TYPING_RESTARTS):
            return False
        await bus.publish_raw(st, [(bus.user_channel(st, m), bus.pack_event(None, frame))
                                   for m in members if m != user_id])
        return True

    return await st.both(run)
