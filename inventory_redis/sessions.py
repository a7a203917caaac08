"""Server-side sessions in Redis.

Layout (``P`` is the key prefix, ``inventory:`` by default):

* ``P sess:<sha256 of id>`` -- a string, the session's fields separated by single spaces, in
  this order: user_id, role, csrf_token, created_at, last_seen_at, expires_at,
  absolute_expires_at (integer microseconds since the epoch), remember (``1``/``0``),
  generation, user_agent (last, so it may hold spaces; empty when unknown). None of the others
  can hold a space. One string, so a lookup reads one short value. Its Redis TTL is the time left
  to ``expires_at``.
* ``P user-sessions:<user id>`` -- a sorted set of that user's digests scored by their
  ``absolute_expires_at``; its TTL is the time left to the latest of them.
* ``P user-gen:<user id>`` -- the user's revocation generation (an integer; absent means 0),
  raised by :meth:`RedisSessionStore.revoke_user_sessions`. No TTL: a generation must only ever
  grow, and there is one such key per user ever revoked.

The raw id exists only in the caller's hands: keys hold its SHA-256, and no value holds it.

Every operation is one Lua script (atomic on the server): lookup, create-with-eviction, destroy,
revoke, list. A lookup reads the session and its user's generation in one script, one round
trip; it writes nothing unless a use is to be recorded (its recorded use is at least
:func:`~inventory_core.sessions.touch_interval` old, a minute by default) or the session is to be
removed (expired, or of an older generation). A revocation raises the generation and deletes the
user's sessions in one step, and a create refuses to store a session of a generation that is no
longer current, so no interleaving of logins and revocations leaves a session of an older
generation behind. The scripts judge expiry by the ``now`` the store's clock gives them, never
by the server's clock, so behaviour is that of
:class:`~inventory_core.memory.sessions.InMemorySessionStore`, and tests can drive time. Redis
TTLs, computed from the same deadlines, are only the backstop that removes what nobody asks for.

The index is pruned on every write and list: entries past their absolute deadline by
ZREMRANGEBYSCORE, the others by checking their session (an idle deadline can pass long before
the absolute one, and a session may already be gone by TTL). It holds at most
``max_sessions_per_user`` live entries, so that check is bounded.

The scripts touch keys they compute from the index or from a session's value, so they need all
keys on one server: plain Redis or a primary with replicas, not Redis Cluster.
"""

from __future__ import annotations

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
    touch_interval,
)
from inventory_core.throttling import timestamp_us
from inventory_core.users import Role
from inventory_redis.errors import translate_redis_errors

__all__ = ["RedisSessionStore"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)
# Decoded sessions a store keeps, by digest, to skip decoding a value it has seen before.
_DECODED_CACHE_SIZE: Final = 1024

# Shared by the scripts below. A session value is "user role csrf created last_seen expires
# absolute remember generation agent" (see the module docstring); the patterns pick fields out of
# it, and a value they do not match (the layout before generations) counts as ended.
# generation() reads a user's generation key (absent: 0). prune() drops the index entries (and
# sessions) that are no longer live at `now` or not of generation `current`, and returns the live
# ones as {digest, created_at}; set_index_ttl() keeps the index key alive exactly as long as its
# longest-lived entry. Numbers are formatted with %.0f: tostring() would print large ones in
# exponent form and lose digits. Microsecond times (~1.8e15) are exact in Lua's doubles.
_LUA_HELPERS: Final = """
local function generation(key)
  return tonumber(redis.call('GET', key) or '0')
end

local function prune(index, prefix, now, current)
  for _, d in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', now)) do
    redis.call('DEL', prefix .. d)
  end
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
  local live = {}
  for _, d in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    local v = redis.call('GET', prefix .. d)
    local created, expires, gen
    if v then
      created, expires, gen = string.match(v, '^%S+ %S+ %S+ (%d+) %d+ (%d+) %d+ [01] (%d+) ')
    end
    if gen and tonumber(expires) > now and tonumber(gen) == current then
      table.insert(live, {d, tonumber(created)})
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

# KEYS: session, index, generation. ARGV: now, session prefix, digest, max per user, the value,
# its expires_at, its absolute_expires_at, its generation. Returns 1 when stored, 2 when not
# stored because a revocation raised the user's generation since the caller read it, 0 when the
# digest is taken by another session (the caller draws again).
_CREATE: Final = (
    _LUA_HELPERS
    + """
local now = tonumber(ARGV[1])
local prefix, digest, max = ARGV[2], ARGV[3], tonumber(ARGV[4])
local existing = redis.call('GET', KEYS[1])
if existing then
  -- Our own earlier attempt of this very call (a retry after a lost reply) is a success: the
  -- value holds a fresh CSRF token, so no other call stores the same one.
  if existing == ARGV[5] then return 1 end
  return 0
end
local current = generation(KEYS[3])
if tonumber(ARGV[8]) ~= current then return 2 end
local live = prune(KEYS[2], prefix, now, current)
table.sort(live, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[1] < b[1]
end)
for i = 1, #live - max + 1 do
  redis.call('DEL', prefix .. live[i][1])
  redis.call('ZREM', KEYS[2], live[i][1])
end
redis.call('SET', KEYS[1], ARGV[5], 'PX', ttl_ms(tonumber(ARGV[6]), now))
redis.call('ZADD', KEYS[2], ARGV[7], digest)
set_index_ttl(KEYS[2], now)
return 1
"""
)

# KEYS: session. ARGV: now, idle and touch interval (us) of a normal session, the same of a
# remember-me one, index prefix, generation prefix, digest. Returns nil when the session is
# absent, expired or of an older generation than its user's (then removed, with its index
# entry); else the value, with the use recorded when the touch is due. Reads only, otherwise.
_LOOKUP: Final = (
    _LUA_HELPERS
    + """
local now = tonumber(ARGV[1])
local v = redis.call('GET', KEYS[1])
if not v then return nil end
local user = string.match(v, '^%S+')
local head, seen, expires, absolute, tail =
  string.match(v, '^(%S+ %S+ %S+ %d+) (%d+) (%d+) (%d+)( .*)$')
local remember, gen
if tail then remember, gen = string.match(tail, '^ ([01]) (%d+) ') end
if not gen or tonumber(expires) <= now or tonumber(gen) ~= generation(ARGV[7] .. user) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', ARGV[6] .. user, ARGV[8])
  return nil
end
local idle, interval = ARGV[2], ARGV[3]
if remember == '1' then idle, interval = ARGV[4], ARGV[5] end
if now - tonumber(seen) < tonumber(interval) then return v end
local deadline = math.min(now + tonumber(idle), tonumber(absolute))
v = head .. ' ' .. ARGV[1] .. ' ' .. string.format('%.0f', deadline) .. ' ' .. absolute .. tail
redis.call('SET', KEYS[1], v, 'PX', ttl_ms(deadline, now))
return v
"""
)

# KEYS: session. ARGV: index prefix, digest.
_DESTROY: Final = """
local v = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
if v then redis.call('ZREM', ARGV[1] .. string.match(v, '^%S+'), ARGV[2]) end
return 1
"""

# KEYS: index, generation. ARGV: now, session prefix, digest to keep ('' for none). Raises the
# generation, ends every live session but the kept one, and moves the kept one to the new
# generation (its TTL unchanged). Returns how many ended.
_REVOKE: Final = (
    _LUA_HELPERS
    + """
local now, prefix, keep = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local live = prune(KEYS[1], prefix, now, generation(KEYS[2]))
local gen = redis.call('INCR', KEYS[2])
local ended = 0
for _, s in ipairs(live) do
  local key = prefix .. s[1]
  if s[1] == keep then
    local before, after =
      string.match(redis.call('GET', key), '^(%S+ %S+ %S+ %d+ %d+ %d+ %d+ [01]) %d+( .*)$')
    redis.call('SET', key, before .. ' ' .. gen .. after, 'KEEPTTL')
  else
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], s[1])
    ended = ended + 1
  end
end
set_index_ttl(KEYS[1], now)
return ended
"""
)

# KEYS: index, generation. ARGV: now, session prefix. Returns {digest, value} per live session.
_LIST: Final = (
    _LUA_HELPERS
    + """
local now, prefix = tonumber(ARGV[1]), ARGV[2]
local out = {}
for _, s in ipairs(prune(KEYS[1], prefix, now, generation(KEYS[2]))) do
  table.insert(out, {s[1], redis.call('GET', prefix .. s[1])})
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


def _encode(session: Session) -> str:
    """The stored value of ``session`` (layout in the module docstring)."""
    return " ".join(
        [
            str(session.user_id),
            session.role.value,
            session.csrf_token,
            _us(session.created_at),
            _us(session.last_seen_at),
            _us(session.expires_at),
            _us(session.absolute_expires_at),
            "1" if session.remember else "0",
            str(session.generation),
            session.user_agent or "",  # cleaned user agents are never empty
        ]
    )


def _decode(digest: str, value: str) -> Session:
    """The session a stored value holds (layout in the module docstring)."""
    fields = value.split(" ", 9)
    user_id, role, csrf_token, created, last_seen, expires, absolute, remember, gen, agent = fields
    return Session(
        digest=digest,
        user_id=UUID(user_id),
        role=Role(role),
        csrf_token=csrf_token,
        created_at=_from_us(created),
        last_seen_at=_from_us(last_seen),
        expires_at=_from_us(expires),
        absolute_expires_at=_from_us(absolute),
        user_agent=agent or None,
        remember=remember == "1",
        generation=int(gen),
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
        self._session_prefix = f"{key_prefix}sess:"
        self._index_prefix = f"{key_prefix}user-sessions:"
        self._generation_prefix = f"{key_prefix}user-gen:"
        # digest -> (value, the Session decoded from it). Every lookup still reads the value from
        # Redis and compares it whole: an equal value decodes to an equal Session, so a hit is
        # never stale. Saves the decoding (~10 us) on the requests between two recorded uses.
        # Bounded: emptied when full. Keyed by digest, never by id; threads may share it (each
        # dict operation is atomic, and a lost entry only costs a decode).
        self._decoded: dict[str, tuple[str, Session]] = {}
        # The lookup script's arguments after `now`: (idle, touch interval) in microseconds of a
        # normal session, then of a remember-me one, then the key prefixes it needs.
        self._lookup_args: list[str | int] = [
            *(
                value
                for remember in (False, True)
                for value in (
                    session_lifetimes(self._policy, remember=remember)[0] // _US,
                    touch_interval(self._policy, remember=remember) // _US,
                )
            ),
            self._index_prefix,
            self._generation_prefix,
        ]
        # register_script only hashes the source; it talks to Redis on first use, and reloads the
        # script by itself after a server restart emptied the script cache (NOSCRIPT).
        self._create = client.register_script(_CREATE)
        self._lookup = client.register_script(_LOOKUP)
        self._destroy = client.register_script(_DESTROY)
        self._revoke = client.register_script(_REVOKE)
        self._list = client.register_script(_LIST)

    @property
    def policy(self) -> SessionPolicy:
        """The timeouts in force."""
        return self._policy

    def create(
        self,
        *,
        user_id: UUID,
        role: Role,
        user_agent: str | None,
        remember: bool,
        generation: int = 0,
    ) -> tuple[str, Session]:
        """Start a session (ending the user's oldest when at the cap); returns the raw id and it.
        A session of a ``generation`` that is no longer the user's is returned but not stored."""
        now = self._clock.now()
        keys = [f"{self._index_prefix}{user_id}", f"{self._generation_prefix}{user_id}"]
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
                generation=generation,
            )
            args: list[str | int] = [
                _us(now),
                self._session_prefix,
                digest,
                self._max_per_user,
                _encode(session),
                _us(session.expires_at),
                _us(session.absolute_expires_at),
                generation,
            ]
            with translate_redis_errors("session create"):
                stored = self._create(keys=[self._session_prefix + digest, *keys], args=args)
            if int(stored) != 0:  # 1: stored; 2: revoked since the login read the user
                return session_id, session
        raise RuntimeError("could not draw an unused session id")  # pragma: no cover

    def get(self, session_id: str) -> Session | None:
        """The live session for a raw id; ``None`` for an unknown, expired, revoked or malformed
        id (a malformed one never reaches Redis).

        One script reads the session and its user's generation. The use is recorded (last seen
        now, idle deadline moved forward, never past the absolute one) when the recorded one is
        at least :func:`~inventory_core.sessions.touch_interval` old -- a minute by default.
        Otherwise the lookup writes nothing, so a session ends ``idle`` after its last recorded
        use: never later than ``idle`` after its last use, and at most one interval sooner.
        """
        if not is_session_id(session_id):
            return None
        digest = session_digest(session_id)
        args: list[str | int] = [_us(self._clock.now()), *self._lookup_args, digest]
        with translate_redis_errors("session get"):
            value = self._lookup(keys=[self._session_prefix + digest], args=args)
        if value is None:
            self._decoded.pop(digest, None)
            return None
        return self._session(digest, value)

    def destroy(self, session_id: str) -> None:
        """End one session; nothing happens for an unknown or malformed id."""
        if not is_session_id(session_id):
            return
        digest = session_digest(session_id)
        self._decoded.pop(digest, None)
        with translate_redis_errors("session destroy"):
            self._destroy(keys=[self._session_prefix + digest], args=[self._index_prefix, digest])

    def user_generation(self, user_id: UUID) -> int:
        """The user's revocation generation (0 before the first revocation)."""
        with translate_redis_errors("session generation"):
            value = self._client.get(f"{self._generation_prefix}{user_id}")
        return 0 if value is None else int(_text(value))

    def revoke_user_sessions(self, user_id: UUID, *, keep: str | None = None) -> int:
        """Raise the user's generation and end every live session of ``user_id`` except the raw
        id ``keep`` (moved to the new generation), atomically; returns how many ended."""
        kept = session_digest(keep) if keep is not None and is_session_id(keep) else ""
        keys = [f"{self._index_prefix}{user_id}", f"{self._generation_prefix}{user_id}"]
        args = [_us(self._clock.now()), self._session_prefix, kept]
        with translate_redis_errors("session revoke"):
            ended = self._revoke(keys=keys, args=args)
        return int(ended)

    def list_user_sessions(self, user_id: UUID) -> list[Session]:
        """The user's live sessions, oldest first (listing touches none of them)."""
        keys = [f"{self._index_prefix}{user_id}", f"{self._generation_prefix}{user_id}"]
        args = [_us(self._clock.now()), self._session_prefix]
        with translate_redis_errors("session list"):
            rows = self._list(keys=keys, args=args)
        return eviction_order(_decode(_text(digest), _text(value)) for digest, value in rows)

    def _session(self, digest: str, value: Any) -> Session:
        """The Session a value read from Redis holds, decoded once per distinct value."""
        text = _text(value)
        cached = self._decoded.get(digest)
        if cached is not None and cached[0] == text:
            return cached[1]
        session = _decode(digest, text)
        if len(self._decoded) >= _DECODED_CACHE_SIZE:
            self._decoded.clear()
        self._decoded[digest] = (text, session)
        return session
