"""The login throttle in Redis, shared by every worker process.

Layout (``P`` is the key prefix; ``U`` and ``C`` are the hashed username and client address from
:func:`~inventory_core.throttling.username_key` / :func:`~inventory_core.throttling.client_key`):

* ``P throttle:user:U`` -- sorted set of the username's failures: member ``C:<nonce>``, score the
  time in microseconds;
* ``P throttle:client:C`` -- the same for the client address, members ``U:<nonce>``;
* ``P throttle:trusted:U:C`` -- a string holding the end of the pair's trust (microseconds).

Each key's TTL is its window (or the trust period) from its last write: the backstop that keeps
Redis from filling up. What counts is judged by the store's clock, in the scripts, exactly as
:class:`~inventory_core.memory.throttle.InMemoryLoginThrottle` does. ``retry_after`` decides with
the shared :meth:`~inventory_core.throttling.ThrottlePolicy.retry_after`; ``begin_attempt`` must
decide and count in one script, so the script decides, looking its delays up in the table the
policy computes (:meth:`~inventory_core.throttling.ThrottleLimit.delay_table_us`) rather than
doing the arithmetic itself.
"""

from __future__ import annotations

import secrets
from typing import Final

import redis

from inventory_core.ports import Clock
from inventory_core.throttling import (
    ThrottlePolicy,
    WindowState,
    client_key,
    timestamp_us,
    username_key,
)
from inventory_redis.errors import translate_redis_errors

__all__ = ["RedisLoginThrottle"]

# KEYS: username set, client set, trust key. ARGV: now, username cutoff, client cutoff.
# Returns {username failures, latest username failure, client failures, latest client failure,
# trusted}: times as strings (a Lua number in a reply would be cut to an integer anyway, and
# strings keep every digit).
_STATE: Final = """
local function side(key, cutoff)
  local n = redis.call('ZCOUNT', key, '(' .. cutoff, '+inf')
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  return n, last[2] or ''
end
local un, ulast = side(KEYS[1], ARGV[2])
local cn, clast = side(KEYS[2], ARGV[3])
local until_ = redis.call('GET', KEYS[3])
local trusted = 0
if until_ and tonumber(until_) > tonumber(ARGV[1]) then trusted = 1 end
return {un, ulast, cn, clast, trusted}
"""

# Adds a failure on both sides: ARGV as _FAILURE's below (1-8).
_ADD_FAILURE: Final = """
local function add(key, member, cutoff, ttl)
  redis.call('ZADD', key, ARGV[1], member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
  redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(ARGV[8]) + 1))
  redis.call('PEXPIRE', key, ttl)
end
local function add_failure()
  add(KEYS[1], ARGV[4], ARGV[2], ARGV[6])
  add(KEYS[2], ARGV[5], ARGV[3], ARGV[7])
end
"""

# KEYS: username set, client set. ARGV: now, username cutoff, client cutoff, username member,
# client member, username TTL ms, client TTL ms, max kept per key. The members carry a nonce drawn
# by the caller, so a retried call adds nothing twice.
_FAILURE: Final = (
    _ADD_FAILURE
    + """
add_failure()
return 1
"""
)

# KEYS: username set, client set, trust key. ARGV 1-8 as _FAILURE's, then: username free
# failures, client free failures, length of the username delay table, length of the client one,
# then both tables (ThrottleLimit.delay_table_us, in microseconds). Judges the attempt as
# ThrottlePolicy.retry_after does and, when it is allowed, counts it as a failure in the same
# step. Returns the wait in microseconds as a string: "0" when allowed (and counted).
_BEGIN: Final = (
    _ADD_FAILURE
    + """
local now = tonumber(ARGV[1])
local ulen, clen = tonumber(ARGV[11]), tonumber(ARGV[12])
local function wait(key, cutoff, free, first, len)
  local n = redis.call('ZCOUNT', key, '(' .. cutoff, '+inf')
  if n == 0 or n < free then return 0 end
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2]
  local delay = tonumber(ARGV[first + math.min(n - free, len - 1)])
  return math.max(0, tonumber(last) + delay - now)
end
local w = wait(KEYS[2], ARGV[3], tonumber(ARGV[10]), 13 + ulen, clen)
local until_ = redis.call('GET', KEYS[3])
if not (until_ and tonumber(until_) > now) then
  w = math.max(w, wait(KEYS[1], ARGV[2], tonumber(ARGV[9]), 13, ulen))
end
if w > 0 then return string.format('%.0f', w) end
add_failure()
return '0'
"""
)

# KEYS: username set, client set, trust key. ARGV: client key, username key, trusted until,
# trust TTL ms. Removes this client's failures against this username on both sides.
_SUCCESS: Final = """
local function forget(key, other)
  local p = other .. ':'
  for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    if string.sub(m, 1, #p) == p then redis.call('ZREM', key, m) end
  end
end
forget(KEYS[1], ARGV[1])
forget(KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
return 1
"""


def _text(value: object) -> str:
    # make_redis_client decodes replies; a client built without decode_responses gives bytes.
    return value.decode() if isinstance(value, bytes) else str(value)


def _window(count: object, last: object) -> WindowState:
    failures = int(_text(count))
    text = _text(last)
    # Scores come back as float text ("1767225600000000" or "1.7672256e+15"); both parse exactly
    # because every stored score is an integer below 2**53.
    return WindowState(
        failures=failures, last_failure_us=int(float(text)) if failures and text else None
    )


class RedisLoginThrottle:
    """A :class:`~inventory_core.ports.LoginThrottle` in Redis (algorithm and numbers in
    :mod:`inventory_core.throttling`).

    ``client`` should come from :func:`inventory_redis.make_redis_client`; every Redis failure
    surfaces as :class:`~inventory_core.errors.Unavailable` (the caller decides whether a login may
    proceed without a throttle; the reference API refuses it). Creating the throttle sends nothing.
    """

    def __init__(
        self,
        client: redis.Redis,
        clock: Clock,
        policy: ThrottlePolicy | None = None,
        *,
        key_prefix: str = "inventory:",
    ) -> None:
        self._clock = clock
        self._policy = policy or ThrottlePolicy()
        self._prefix = f"{key_prefix}throttle:"
        user_table = self._policy.username.delay_table_us()
        client_table = self._policy.client.delay_table_us()
        # The begin script's arguments after the failure ones: fixed by the policy.
        self._tables: list[str | int] = [
            self._policy.username.free_failures,
            self._policy.client.free_failures,
            len(user_table),
            len(client_table),
            *user_table,
            *client_table,
        ]
        self._state = client.register_script(_STATE)
        self._failure = client.register_script(_FAILURE)
        self._begin = client.register_script(_BEGIN)
        self._success = client.register_script(_SUCCESS)

    @property
    def policy(self) -> ThrottlePolicy:
        """The policy in force."""
        return self._policy

    def _keys(self, user: str, addr: str) -> list[str]:
        return [
            f"{self._prefix}user:{user}",
            f"{self._prefix}client:{addr}",
            f"{self._prefix}trusted:{user}:{addr}",
        ]

    def retry_after(self, *, username: str, client: str) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` if it is allowed now."""
        user, addr = username_key(username), client_key(client)
        now = timestamp_us(self._clock.now())
        policy = self._policy
        args: list[str | int] = [now, policy.username.cutoff_us(now), policy.client.cutoff_us(now)]
        with translate_redis_errors("throttle check"):
            reply = self._state(keys=self._keys(user, addr), args=args)
        user_count, user_last, client_count, client_last, trusted = reply
        return policy.retry_after(
            now,
            username=_window(user_count, user_last),
            client=_window(client_count, client_last),
            trusted=int(trusted) == 1,
        )

    def begin_attempt(self, *, username: str, client: str) -> float | None:
        """``None`` when an attempt is allowed now, counted as a failure by the same script
        that judged it; else the seconds to wait, counting nothing."""
        user, addr = username_key(username), client_key(client)
        args = [*self._failure_args(user, addr), *self._tables]
        with translate_redis_errors("throttle attempt"):
            wait_us = int(_text(self._begin(keys=self._keys(user, addr), args=args)))
        return wait_us / 1_000_000 if wait_us > 0 else None

    def record_failure(self, *, username: str, client: str) -> None:
        """Count a failed login against both the username and the client address."""
        user, addr = username_key(username), client_key(client)
        args = self._failure_args(user, addr)
        with translate_redis_errors("throttle failure"):
            self._failure(keys=self._keys(user, addr)[:2], args=args)

    def _failure_args(self, user: str, addr: str) -> list[str | int]:
        now = timestamp_us(self._clock.now())
        policy = self._policy
        nonce = secrets.token_hex(8)
        return [
            now,
            policy.username.cutoff_us(now),
            policy.client.cutoff_us(now),
            f"{addr}:{nonce}",
            f"{user}:{nonce}",
            _ceil_ms(policy.username.window_us),
            _ceil_ms(policy.client.window_us),
            policy.max_tracked_failures,
        ]

    def record_success(self, *, username: str, client: str) -> None:
        """Forget this client's failures against this username and trust the pair."""
        user, addr = username_key(username), client_key(client)
        now = timestamp_us(self._clock.now())
        trust = self._policy.trusted_us
        args: list[str | int] = [addr, user, now + trust, _ceil_ms(trust)]
        with translate_redis_errors("throttle success"):
            self._success(keys=self._keys(user, addr), args=args)


def _ceil_ms(us: int) -> int:
    return max(1, -(-us // 1000))
