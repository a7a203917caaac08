"""Login throttling: the policy and the pure arithmetic every LoginThrottle adapter shares.

The algorithm (documented with its numbers in ``docs/security.md``, "Login throttling"):

* Every failed login is recorded twice: against the **username** (whatever client sent it) and
  against the **client address** (whatever username it tried). Each record remembers the other
  side, so a success can take back exactly what that client did to that username.
* Each side is a sliding window (:class:`ThrottleLimit`): the failures younger than
  ``window_seconds`` count. The first ``free_failures`` of them cost nothing; from then on the next
  attempt must wait ``base_delay_seconds * 2 ** (failures - free_failures)`` after the latest
  failure, capped at ``max_delay_seconds``.
* The username cap is short (an attacker controls that counter, and the real user pays for it);
  the client cap is long (the client that keeps failing is the one that waits).
* An attempt is counted as a failure when it is allowed, in the same atomic step as the check
  (``LoginThrottle.begin_attempt``), so concurrent attempts cannot all pass one check before any
  of them is counted; a success takes it back.
* A success clears that client's failures against that username (on both sides) and makes the
  (username, client) pair *trusted* for ``trusted_client_seconds``: a trusted pair ignores the
  username limit (never its own client limit), so an attacker hammering an account from elsewhere
  cannot keep its owner out from a place they logged in from before.

Adapters keep the failures (timestamps in integer microseconds, so the arithmetic is exact) and call
:meth:`ThrottlePolicy.retry_after` with what they found (or, deciding inside Redis, look delays up
in :meth:`ThrottleLimit.delay_table_us`); that keeps memory and Redis identical.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import attrs

from inventory_core.users import normalize_username

__all__ = [
    "ThrottleLimit",
    "ThrottlePolicy",
    "WindowState",
    "client_key",
    "timestamp_us",
    "username_key",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = 1_000_000
# 2**62 microseconds is ~146,000 years: past it every delay is at its cap anyway, and stopping
# there keeps the exponent from building huge integers.
_MAX_EXPONENT = 62


def timestamp_us(when: datetime) -> int:
    """``when`` as integer microseconds since the Unix epoch (exact, unlike ``timestamp()``)."""
    return (when - _EPOCH) // timedelta(microseconds=1)


def _digest(kind: str, value: str) -> str:
    # Hashed so a Redis dump or a memory snapshot holds no usernames or client addresses in
    # clear (weak pseudonymization only: both spaces can be enumerated). The kind is mixed in so
    # a username and an address that happen to be equal never share a key.
    return hashlib.sha256(f"{kind}\0{value}".encode("utf-8", "surrogatepass")).hexdigest()


def username_key(username: str) -> str:
    """The key a throttle files a username under: normalized as logins are, then hashed, so
    ``Alice`` and ``alice `` share one counter."""
    return _digest("username", normalize_username(username))


def client_key(client: str) -> str:
    """The key a throttle files a client address under (hashed)."""
    return _digest("client", client.strip())


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive")


def _not_negative(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative")


@attrs.frozen
class WindowState:
    """What an adapter found for one side (username or client): how many failures are inside the
    window and when the latest one happened (``None`` when there is none)."""

    failures: int = 0
    last_failure_us: int | None = None


@attrs.frozen
class ThrottleLimit:
    """One sliding-window limit with capped exponential backoff."""

    window_seconds: float = attrs.field(validator=_positive)
    free_failures: int = attrs.field(validator=_not_negative)
    base_delay_seconds: float = attrs.field(validator=_positive)
    max_delay_seconds: float = attrs.field(validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.max_delay_seconds < self.base_delay_seconds:
            raise ValueError("max_delay_seconds must be at least base_delay_seconds")

    @property
    def window_us(self) -> int:
        """The window in microseconds."""
        return round(self.window_seconds * _US)

    def cutoff_us(self, now_us: int) -> int:
        """Failures at or before this instant are outside the window (and may be dropped)."""
        return now_us - self.window_us

    def delay_us(self, failures: int) -> int:
        """Microseconds the next attempt must wait after the latest of ``failures`` failures."""
        excess = failures - self.free_failures
        if excess < 0:
            return 0
        cap = round(self.max_delay_seconds * _US)
        if excess >= _MAX_EXPONENT:
            return cap
        return min(cap, round(self.base_delay_seconds * _US) << excess)

    def wait_us(self, state: WindowState, now_us: int) -> int:
        """Microseconds until the next attempt is allowed on this side (0: allowed now)."""
        if state.failures <= 0 or state.last_failure_us is None:
            return 0
        return max(0, state.last_failure_us + self.delay_us(state.failures) - now_us)

    def saturation(self) -> int:
        """The smallest failure count whose delay is already the cap."""
        count = self.free_failures
        while self.delay_us(count) < round(self.max_delay_seconds * _US):
            count += 1
        return count

    def delay_table_us(self) -> tuple[int, ...]:
        """``delay_us(n)`` for ``n`` from ``free_failures`` to :meth:`saturation`: every delay
        this limit can ask for (fewer failures wait nothing, more wait the last). An adapter
        deciding inside its backend (a Redis script) looks delays up here instead of
        re-implementing the arithmetic."""
        return tuple(self.delay_us(n) for n in range(self.free_failures, self.saturation() + 1))


@attrs.frozen
class ThrottlePolicy:
    """The numbers of the login throttle (see the module docstring for the algorithm).

    Defaults: per username 5 free failures in 15 minutes, then 1 s doubling up to 60 s; per client
    address 20 free failures in 1 hour, then 1 s doubling up to 15 minutes; a successful login
    trusts its (username, client) pair for 30 days; at most 100 failures are kept per key.
    """

    username: ThrottleLimit = ThrottleLimit(
        window_seconds=15 * 60, free_failures=5, base_delay_seconds=1, max_delay_seconds=60
    )
    client: ThrottleLimit = ThrottleLimit(
        window_seconds=3600, free_failures=20, base_delay_seconds=1, max_delay_seconds=15 * 60
    )
    trusted_client_seconds: float = attrs.field(default=30.0 * 86400, validator=_positive)
    max_tracked_failures: int = attrs.field(default=100)

    def __attrs_post_init__(self) -> None:
        # Adapters trim the oldest failures past this bound. Failures leave a window oldest first,
        # so a trimmed count is min(true count, bound); every count from the saturation point up
        # gives the same capped delay, so trimming never changes an answer as long as the bound is
        # at least that point. (After a success a trimmed key can hold fewer failures than an
        # untrimmed one; that takes more failures inside one window than the bound, which a
        # caller that honours retry_after never records.)
        needed = max(self.username.saturation(), self.client.saturation())
        if self.max_tracked_failures < needed:
            raise ValueError(f"max_tracked_failures must be at least {needed} for these limits")

    @property
    def trusted_us(self) -> int:
        """How long a success trusts its pair, in microseconds."""
        return round(self.trusted_client_seconds * _US)

    def retry_after(
        self,
        now_us: int,
        *,
        username: WindowState,
        client: WindowState,
        trusted: bool,
    ) -> float | None:
        """Seconds until the next attempt is allowed, or ``None`` when it is allowed now: the
        longer of the two sides' waits, the username side ignored for a trusted pair."""
        wait = self.client.wait_us(client, now_us)
        if not trusted:
            wait = max(wait, self.username.wait_us(username, now_us))
        return wait / _US if wait > 0 else None
