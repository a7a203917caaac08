"""The in-memory LoginThrottle: the embedded default, and the reference for the Redis one."""

from __future__ import annotations

import bisect
import threading

from inventory_core.ports import Clock
from inventory_core.throttling import (
    ThrottleLimit,
    ThrottlePolicy,
    WindowState,
    client_key,
    timestamp_us,
    username_key,
)

__all__ = ["InMemoryLoginThrottle"]

# How often (in clock time) a write also sweeps every key, so counters of usernames and addresses
# that are never seen again do not stay in memory forever.
_SWEEP_EVERY_US = 60 * 1_000_000

# A failure as one side keeps it: (when, key of the other side).
_Failure = tuple[int, str]


class InMemoryLoginThrottle:
    """A thread-safe :class:`~inventory_core.ports.LoginThrottle` held in this process.

    Same algorithm and numbers as every other adapter (:mod:`inventory_core.throttling`); only
    one process sees its counters, which is right for the single-worker embedded default only.
    Memory stays bounded: failures outside their window and expired trust are dropped on the keys
    a call touches and, once a minute of clock time, everywhere.
    """

    def __init__(self, clock: Clock, policy: ThrottlePolicy | None = None) -> None:
        self._clock = clock
        self._policy = policy or ThrottlePolicy()
        self._lock = threading.Lock()
        # Each list is kept sorted by time, as a Redis sorted set is by score.
        self._by_username: dict[str, list[_Failure]] = {}
        self._by_client: dict[str, list[_Failure]] = {}
        self._trusted_until: dict[tuple[str, str], int] = {}
        self._last_sweep_us: int | None = None

    @property
    def policy(self) -> ThrottlePolicy:
        """The policy in force."""
        return self._policy

    def begin_attempt(self, *, username: str, client: str) -> float | None:
        """``None`` when an attempt is allowed now, counted as a failure in the same locked step
        as the check; else the seconds to wait, counting nothing."""
        user, addr = username_key(username), client_key(client)
        now = timestamp_us(self._clock.now())
        with self._lock:
            wait = self._retry_after(user, addr, now)
            if wait is None:
                self._record_failure(user, addr, now)
        return wait

    def retry_after(self, *, username: str, client: str) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` if it is allowed now."""
        user, addr = username_key(username), client_key(client)
        now = timestamp_us(self._clock.now())
        with self._lock:
            return self._retry_after(user, addr, now)

    def record_failure(self, *, username: str, client: str) -> None:
        """Count a failed login against both the username and the client address."""
        user, addr = username_key(username), client_key(client)
        now = timestamp_us(self._clock.now())
        with self._lock:
            self._record_failure(user, addr, now)

    def record_success(self, *, username: str, client: str) -> None:
        """Forget this client's failures against this username and trust the pair."""
        user, addr = username_key(username), client_key(client)
        now = timestamp_us(self._clock.now())
        with self._lock:
            _remove_other(self._by_username, user, addr)
            _remove_other(self._by_client, addr, user)
            self._trusted_until[(user, addr)] = now + self._policy.trusted_us
            self._maybe_sweep(now)

    # The helpers below run with the lock held.

    def _retry_after(self, user: str, addr: str, now: int) -> float | None:
        user_state = _state(self._by_username.get(user), self._policy.username, now)
        client_state = _state(self._by_client.get(addr), self._policy.client, now)
        trusted = self._trusted_until.get((user, addr), 0) > now
        return self._policy.retry_after(
            now, username=user_state, client=client_state, trusted=trusted
        )

    def _record_failure(self, user: str, addr: str, now: int) -> None:
        self._add(self._by_username, user, (now, addr), self._policy.username, now)
        self._add(self._by_client, addr, (now, user), self._policy.client, now)
        self._maybe_sweep(now)

    def _add(
        self,
        table: dict[str, list[_Failure]],
        key: str,
        failure: _Failure,
        limit: ThrottleLimit,
        now: int,
    ) -> None:
        failures = table.setdefault(key, [])
        bisect.insort(failures, failure)
        _prune(failures, limit.cutoff_us(now))
        # Keep the newest entries, as ZREMRANGEBYRANK does in Redis.
        del failures[: max(0, len(failures) - self._policy.max_tracked_failures)]

    def _maybe_sweep(self, now: int) -> None:
        if self._last_sweep_us is not None and now - self._last_sweep_us < _SWEEP_EVERY_US:
            return
        self._last_sweep_us = now
        for table, limit in (
            (self._by_username, self._policy.username),
            (self._by_client, self._policy.client),
        ):
            cutoff = limit.cutoff_us(now)
            for key in list(table):
                _prune(table[key], cutoff)
                if not table[key]:
                    del table[key]
        for pair in [p for p, until in self._trusted_until.items() if until <= now]:
            del self._trusted_until[pair]


def _prune(failures: list[_Failure], cutoff: int) -> None:
    # Failures at or before the cutoff are outside the window; the list is sorted by time.
    del failures[: bisect.bisect_right(failures, (cutoff, "\uffff"))]


def _state(failures: list[_Failure] | None, limit: ThrottleLimit, now: int) -> WindowState:
    if not failures:
        return WindowState()
    cutoff = limit.cutoff_us(now)
    inside = len(failures) - bisect.bisect_right(failures, (cutoff, "\uffff"))
    return WindowState(failures=inside, last_failure_us=failures[-1][0] if inside else None)


def _remove_other(table: dict[str, list[_Failure]], key: str, other: str) -> None:
    failures = table.get(key)
    if failures is None:
        return
    failures[:] = [f for f in failures if f[1] != other]
    if not failures:
        del table[key]
