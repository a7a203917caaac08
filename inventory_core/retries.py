"""When to try a failed webhook delivery again, and when to give up.

The default follows the schedule the Standard Webhooks specification suggests: after the first,
immediate attempt, retries 5 seconds, 5 minutes, 30 minutes, 2 hours, 5 hours, 10 hours and 10
hours after the previous failure -- 8 attempts over about 27.6 hours, so an endpoint that is down
for a day still gets every event. Each delay is stretched or shrunk by a random factor (jitter), so
deliveries that failed together (an endpoint's outage) do not all come back in the same second.

Pure: the caller says what time it is and may pass the random source (tests, reproducible runs).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import attrs

__all__ = ["STANDARD_WEBHOOKS_DELAYS", "RetrySchedule"]

STANDARD_WEBHOOKS_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
"""The wait before each retry, counted from the failure before it (the first attempt is at once)."""

# Jitter is not a security measure; a shared, seedless PRNG is all it needs.
_RNG = random.Random()  # noqa: S311


def _check_delays(
    _instance: object, _attribute: attrs.Attribute[tuple[timedelta, ...]], value: object
) -> None:
    if not isinstance(value, tuple) or not all(isinstance(d, timedelta) for d in value):
        raise TypeError("retry delays are a tuple of timedelta")
    for delay in value:
        if delay <= timedelta(0):
            raise ValueError(f"every retry delay is positive, not {delay}")


def _check_jitter(_instance: object, _attribute: attrs.Attribute[float], value: object) -> None:
    # bool is an int; a jitter of True is a mistake.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("jitter is a number in [0, 1)")
    # NaN fails every comparison, so the positive form refuses it too.
    if not (0 <= value < 1):
        raise ValueError(f"jitter is in [0, 1) (a fraction of each delay), not {value}")


@attrs.frozen
class RetrySchedule:
    """A fixed list of delays between attempts, each scaled by ``uniform(1 - jitter, 1 + jitter)``.

    ``delays[n - 1]`` is the wait after the ``n``-th failed attempt; after ``len(delays) + 1``
    failures the delivery is given up. Jitter below 1 keeps every delay positive.
    """

    delays: tuple[timedelta, ...] = attrs.field(
        default=STANDARD_WEBHOOKS_DELAYS, validator=_check_delays
    )
    jitter: float = attrs.field(default=0.2, validator=_check_jitter)

    @property
    def max_attempts(self) -> int:
        """How many attempts a delivery gets in all: the first one and one per delay."""
        return len(self.delays) + 1

    def total_span(self) -> timedelta:
        """First attempt to last, without jitter: how long an endpoint may be down and catch up."""
        return sum(self.delays, timedelta(0))

    def next_attempt_at(
        self, attempts_made: int, now: datetime, rng: random.Random | None = None
    ) -> datetime | None:
        """When to try again after ``attempts_made`` attempts that all failed (the latest at
        ``now``), or None when that was the last attempt and the delivery is given up.

        ``attempts_made`` counts the first attempt: after it failed, pass 1 (the answer is about
        5 seconds after ``now`` with the default schedule).
        """
        if isinstance(attempts_made, bool) or not isinstance(attempts_made, int):
            raise TypeError("attempts_made is an int")
        if attempts_made < 1:
            raise ValueError(
                f"attempts_made counts failed attempts, at least 1, not {attempts_made}"
            )
        if attempts_made > len(self.delays):
            return None
        factor = (rng or _RNG).uniform(1 - self.jitter, 1 + self.jitter)
        return now + self.delays[attempts_made - 1] * factor
