"""Server-side sessions in Redis.

Layout (``P`` is the key prefix, ``inventory:`` by default):

* ``P session:<sha256 of id>`` -- a hash: user_id, role, csrf_token, created_at, last_seen_at,
  expires_at, absolute_expires_at (integer microseconds since the epoch), user_agent (absent when
  unknown), remember (``1``/``0``). Its Redis TTL is the time left to ``expires_at``.
* ``P user-sessions:<user id>`` -- a sorted set of that user's digests scored by their
  ``absolute_expires_at``; its TTL is the time left to the latest of them.

The raw id exists only in the caller's hands: keys hold its SHA-256, and no value holds it.
Every operation is one Lua script (atomic on the server): get-and-touch, create-with-eviction,
destroy, logout-everywhere and list. The scripts judge expiry by the ``now`` the store's clock
gives them, never by the server's clock, so behaviour is that of
:class:`~inventory_core.memory.sessions.InMemorySessionStore`, and tests can drive time. Redis
TTLs, computed from the same deadlines, are only the backstop that removes what nobody asks for.

The index is pruned on every write and list: entries past their absolute deadline by
ZREMRANGEBYSCORE, the others by checking their hash (an idle deadline can pass long before the
absolute one, and a hash may already be gone by TTL). It holds at most ``max_sessions_per_user``
live entries, so that check is bounded.

The scripts touch session keys they compute from the index, so they need all keys on one server:
plain Redis or a primary with replicas, not Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

import redis

from inventory_core.ports import Clock
from inventory_core.sessions import (
    DEFAULT_MAX_SESSIONS_PER_USER,
    Session,
    SessionPolicy,
    eviction_order,
    is_session_id,
    new_session,
    new_session_id,
    session_digest,
    session_lifetimes,
)
from inventory_core.throttling import timestamp_us
from inventory_core.users import Role
from inventory_redis.errors import translate_redis_errors

__all__ = ["RedisSessionStore"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# Shared by the scripts below. prune() drops the index entries (and hashes) of sessions that are no
# longer live at `now` and returns the live ones as {digest, created_at}; set_index_ttl() keeps the
# index key alive exactly as long as its longest-lived entry. Numbers are formatted with %.0f:
# tostring() would print large ones in exponent form and lose digits.
_LUA_HELPERS: Final = """
local function prune(index, prefix, now)
  for _, d in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', now)) do
    redis.call('DEL', prefix .. d)
  end
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
  local live = {}
  for _, d in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    local v = redis.call('HMGET', prefix .. d, 'expires_at', 'created_at')
    if v[1] and tonumber(v[1]) > now then
      table.insert(live, {d, tonumber(v[2])})
    else
      redis.call('DEL', prefix .. d)
      redis.call('ZREM', index, d)
    end
  end
  return live
end

local function ttl_ms(deadline, now)
  return string.format('%.0f', math.max(1, math.ceil((deadline - now) / 1000)))
end

local function set_index_ttl(index, now)
  local top = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  if top[2] then
    redis.call('PEXPIRE', index, ttl_ms(tonumber(top[2]), now))
  end
end
"""

# KEYS: session, index. ARGV: now, session prefix, digest, max per user, then the fields.
# Returns 1 when stored, 0 when the digest is taken by another session (the caller draws again).
_CREATE: Final = (
    _LUA_HELPERS
    + """
local now = tonumber(ARGV[1])
local prefix, digest, max = ARGV[2], ARGV[3], tonumber(ARGV[4])
local existing = redis.call('HGET', KEYS[1], 'csrf_token')
if existing then
  -- Our own earlier attempt of this very call (a retry after a lost reply) is a success.
  if existing == ARGV[7] then return 1 end
  return 0
end
local live = prune(KEYS[2], prefix, now)
table.sort(live, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[1] < b[1]
end)
for i = 1, #live - max + 1 do
  redis.call('DEL', prefix .. live[i][1])
  redis.call('ZREM', KEYS[2], live[i][1])
end
redis.call('HSET', KEYS[1], 'user_id', ARGV[5], 'role', ARGV[6], 'csrf_token', ARGV[7],
  'created_at', ARGV[8], 'last_seen_at', ARGV[8], 'expires_at', ARGV[9],
  'absolute_expires_at', ARGV[10], 'remember', ARGV[11])
if ARGV[12] == '1' then
  redis.call('HSET', KEYS[1], 'user_agent', ARGV[13])
end
redis.call('PEXPIRE', KEYS[1], ttl_ms(tonumber(ARGV[9]), now))
redis.call('ZADD', KEYS[2], ARGV[10], digest)
set_index_ttl(KEYS[2], now)
return 1
"""
)

# KEYS: session. ARGV: now, idle (us) of a normal session, of a remember-me one, index prefix,
# digest. Returns the touched hash as a flat list, or nil when absent or expired (then removed).
_GET: Final = (
    _LUA_HELPERS
    + """
local now = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'expires_at', 'absolute_expires_at', 'remember', 'user_id')
if not v[1] then return nil end
if tonumber(v[1]) <= now then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', ARGV[4] .. v[4], ARGV[5])
  return nil
end
local idle = tonumber(ARGV[2])
if v[3] == '1' then idle = tonumber(ARGV[3]) end
local expires = math.min(now + idle, tonumber(v[2]))
redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[1], 'expires_at', string.format('%.0f', expires))
redis.call('PEXPIRE', KEYS[1], ttl_ms(expires, now))
return redis.call('HGETALL', KEYS[1])
"""
)

# KEYS: session. ARGV: index prefix, digest.
_DESTROY: Final = """
local user_id = redis.call('HGET', KEYS[1], 'user_id')
redis.call('DEL', KEYS[1])
if user_id then redis.call('ZREM', ARGV[1] .. user_id, ARGV[2]) end
return 1
"""

# KEYS: index. ARGV: now, session prefix, digest to keep ('' for none). Returns how many ended.
_DESTROY_USER: Final = (
    _LUA_HELPERS
    + """
local now, prefix, keep = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local ended = 0
for _, s in ipairs(prune(KEYS[1], prefix, now)) do
  if s[1] ~= keep then
    redis.call('DEL', prefix .. s[1])
    redis.call('ZREM', KEYS[1], s[1])
    ended = ended + 1
  end
end
set_index_ttl(KEYS[1], now)
return ended
"""
)

# KEYS: index. ARGV: now, session prefix. Returns {digest, flat hash} per live session.
_LIST: Final = (
    _LUA_HELPERS
    + """
local now, prefix = tonumber(ARGV[1]), ARGV[2]
local out = {}
for _, s in ipairs(prune(KEYS[1], prefix, now)) do
  table.insert(out, {s[1], redis.call('HGETALL', prefix .. s[1])})
end
return out
"""
)


def _us(when: datetime) -> str:
    return str(timestamp_us(when))


def _from_us(value: str) -> datetime:
    return _EPOCH + timedelta(microseconds=int(value))


def _text(value: Any) -> str:
    # make_redis_client decodes replies; a client built without decode_responses gives bytes.
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Sequence[Any]) -> dict[str, str]:
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}


def _session(digest: str, fields: Mapping[str, str]) -> Session:
    return Session(
        digest=digest,
        user_id=UUID(fields["user_id"]),
        role=Role(fields["role"]),
        csrf_token=fields["csrf_token"],
        created_at=_from_us(fields["created_at"]),
        last_seen_at=_from_us(fields["last_seen_at"]),
        expires_at=_from_us(fields["expires_at"]),
        absolute_expires_at=_from_us(fields["absolute_expires_at"]),
        user_agent=fields.get("user_agent"),
        remember=fields["remember"] == "1",
    )


class RedisSessionStore:
    """A :class:`~inventory_core.ports.SessionStore` in Redis, shared by every worker process.

    ``client`` should come from :func:`inventory_redis.make_redis_client` (timeouts, bounded
    retries, health checks); every Redis failure surfaces as
    :class:`~inventory_core.errors.Unavailable`. ``clock`` judges expiry (inject a ManualClock in
    tests). ``key_prefix`` namespaces the keys, so several deployments or test runs can share a
    database. Creating the store sends nothing to Redis.
    """

    def __init__(
        self,
        client: redis.Redis,
        clock: Clock,
        policy: SessionPolicy | None = None,
        *,
        max_sessions_per_user: int = DEFAULT_MAX_SESSIONS_PER_USER,
        key_prefix: str = "inventory:",
    ) -> None:
        if max_sessions_per_user < 1:
            raise ValueError("max_sessions_per_user must be at least 1")
        self._client = client
        self._clock = clock
        self._policy = policy or SessionPolicy()
        self._max_per_user = max_sessions_per_user
        self._session_prefix = f"{key_prefix}session:"
        self._index_prefix = f"{key_prefix}user-sessions:"
        # register_script only hashes the source; it talks to Redis on first use, and reloads the
        # script by itself after a server restart emptied the script cache (NOSCRIPT).
        self._create = client.register_script(_CREATE)
        self._get = client.register_script(_GET)
        self._destroy = client.register_script(_DESTROY)
        self._destroy_user = client.register_script(_DESTROY_USER)
        self._list = client.register_script(_LIST)

    @property
    def policy(self) -> SessionPolicy:
        """The timeouts in force."""
        return self._policy

    def create(
        self, *, user_id: UUID, role: Role, user_agent: str | None, remember: bool
    ) -> tuple[str, Session]:
        """Start a session (ending the user's oldest when at the cap); returns the raw id and it."""
        now = self._clock.now()
        index = f"{self._index_prefix}{user_id}"
        # A digest collision (never expected with 256-bit ids) makes the script refuse; draw again.
        for _ in range(3):
            session_id = new_session_id()
            digest = session_digest(session_id)
            session = new_session(
                digest=digest,
                user_id=user_id,
                role=role,
                user_agent=user_agent,
                remember=remember,
                now=now,
                policy=self._policy,
            )
            args: list[str | int] = [
                _us(now),
                self._session_prefix,
                digest,
                self._max_per_user,
                str(user_id),
                session.role.value,
                session.csrf_token,
                _us(session.created_at),
                _us(session.expires_at),
                _us(session.absolute_expires_at),
                "1" if remember else "0",
                "0" if session.user_agent is None else "1",
                session.user_agent or "",
            ]
            with translate_redis_errors("session create"):
                stored = self._create(keys=[self._session_prefix + digest, index], args=args)
            if int(stored) == 1:
                return session_id, session
        raise RuntimeError("could not draw an unused session id")  # pragma: no cover

    def get(self, session_id: str) -> Session | None:
        """The live session for a raw id, its idle deadline moved forward (never past the
        absolute one); ``None`` for an unknown, expired or malformed id (a malformed one never
        reaches Redis)."""
        if not is_session_id(session_id):
            return None
        digest = session_digest(session_id)
        now = self._clock.now()
        idle, _ = session_lifetimes(self._policy, remember=False)
        remember_idle, _ = session_lifetimes(self._policy, remember=True)
        args: list[str | int] = [
            _us(now),
            idle // timedelta(microseconds=1),
            remember_idle // timedelta(microseconds=1),
            self._index_prefix,
            digest,
        ]
        with translate_redis_errors("session get"):
            flat = self._get(keys=[self._session_prefix + digest], args=args)
        if not flat:
            return None
        return _session(digest, _pairs(flat))

    def destroy(self, session_id: str) -> None:
        """End one session; nothing happens for an unknown or malformed id."""
        if not is_session_id(session_id):
            return
        digest = session_digest(session_id)
        with translate_redis_errors("session destroy"):
            self._destroy(keys=[self._session_prefix + digest], args=[self._index_prefix, digest])

    def destroy_user_sessions(self, user_id: UUID, *, keep: str | None = None) -> int:
        """End every live session of ``user_id`` except the raw id ``keep``, atomically; returns
        how many live sessions ended."""
        kept = session_digest(keep) if keep is not None and is_session_id(keep) else ""
        args = [_us(self._clock.now()), self._session_prefix, kept]
        with translate_redis_errors("session destroy-all"):
            ended = self._destroy_user(keys=[f"{self._index_prefix}{user_id}"], args=args)
        return int(ended)

    def list_user_sessions(self, user_id: UUID) -> list[Session]:
        """The user's live sessions, oldest first (listing touches none of them)."""
        args = [_us(self._clock.now()), self._session_prefix]
        with translate_redis_errors("session list"):
            rows = self._list(keys=[f"{self._index_prefix}{user_id}"], args=args)
        return eviction_order(_session(_text(digest), _pairs(flat)) for digest, flat in rows)
