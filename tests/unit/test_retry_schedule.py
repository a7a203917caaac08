"""The webhook retry schedule: the Standard Webhooks delays, at least a day of retries, jitter
within its bounds, giving up after the last attempt, and the checks on a custom schedule."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inventory_core.retries import STANDARD_WEBHOOKS_DELAYS, RetrySchedule

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def _wait(schedule: RetrySchedule, attempts_made: int, rng: random.Random) -> timedelta:
    at = schedule.next_attempt_at(attempts_made, NOW, rng)
    assert at is not None
    return at - NOW


def test_the_default_is_the_standard_webhooks_schedule() -> None:
    schedule = RetrySchedule()
    assert schedule.delays == STANDARD_WEBHOOKS_DELAYS
    assert [d.total_seconds() for d in schedule.delays] == [
        5,
        5 * 60,
        30 * 60,
        2 * 3600,
        5 * 3600,
        10 * 3600,
        10 * 3600,
    ]
    assert schedule.jitter == 0.2
    assert schedule.max_attempts == 8


def test_retries_go_on_for_more_than_a_day() -> None:
    span = RetrySchedule().total_span()
    assert span >= timedelta(hours=24)
    assert span == timedelta(hours=27, minutes=35, seconds=5)  # about 27.6 hours


def test_the_first_retry_comes_about_five_seconds_after_the_first_failure() -> None:
    schedule = RetrySchedule()
    waits = [_wait(schedule, 1, random.Random(seed)) for seed in range(200)]
    assert all(timedelta(seconds=4) <= wait <= timedelta(seconds=6) for wait in waits)
    # Jitter spreads them: deliveries that failed together do not come back together.
    assert len(set(waits)) > 150
    assert min(waits) < timedelta(seconds=4.5)
    assert max(waits) > timedelta(seconds=5.5)


def test_without_an_rng_it_still_jitters_within_bounds() -> None:
    at = RetrySchedule().next_attempt_at(2, NOW)
    assert at is not None
    assert timedelta(minutes=4) <= at - NOW <= timedelta(minutes=6)


@given(
    seed=st.integers(min_value=0, max_value=2**64),
    attempts_made=st.integers(min_value=1, max_value=len(STANDARD_WEBHOOKS_DELAYS)),
    jitter=st.floats(min_value=0, max_value=0.99),
)
def test_every_retry_is_within_the_jitter_of_its_delay(
    seed: int, attempts_made: int, jitter: float
) -> None:
    schedule = RetrySchedule(jitter=jitter)
    at = schedule.next_attempt_at(attempts_made, NOW, random.Random(seed))
    assert at is not None
    delay = STANDARD_WEBHOOKS_DELAYS[attempts_made - 1]
    # timedelta * float rounds to whole microseconds.
    assert delay * (1 - jitter) - MICROSECOND <= at - NOW <= delay * (1 + jitter) + MICROSECOND
    assert at > NOW
    # The same random source gives the same answer (reproducible tests and simulations).
    assert schedule.next_attempt_at(attempts_made, NOW, random.Random(seed)) == at


def test_without_jitter_the_delays_are_exact_and_add_up_to_the_span() -> None:
    schedule = RetrySchedule(jitter=0)
    at = NOW
    for attempts_made in range(1, schedule.max_attempts):
        following = schedule.next_attempt_at(attempts_made, at)
        assert following == at + STANDARD_WEBHOOKS_DELAYS[attempts_made - 1]
        at = following
    assert at - NOW == schedule.total_span()


@pytest.mark.parametrize("attempts_made", [8, 9, 100])
def test_after_the_last_attempt_it_gives_up(attempts_made: int) -> None:
    assert RetrySchedule().next_attempt_at(attempts_made, NOW, random.Random(1)) is None


def test_a_custom_schedule() -> None:
    schedule = RetrySchedule(delays=(timedelta(seconds=1), timedelta(seconds=2)), jitter=0)
    assert schedule.max_attempts == 3
    assert schedule.total_span() == timedelta(seconds=3)
    assert schedule.next_attempt_at(2, NOW) == NOW + timedelta(seconds=2)
    assert schedule.next_attempt_at(3, NOW) is None
    # No delays: one attempt and no retry.
    assert RetrySchedule(delays=()).next_attempt_at(1, NOW) is None


@pytest.mark.parametrize(
    "delays",
    [
        (timedelta(seconds=5), timedelta(0)),
        (timedelta(seconds=-1),),
    ],
)
def test_delays_are_positive(delays: tuple[timedelta, ...]) -> None:
    with pytest.raises(ValueError, match="positive"):
        RetrySchedule(delays=delays)


@pytest.mark.parametrize("delays", [[timedelta(seconds=5)], (5,)])
def test_delays_are_a_tuple_of_timedelta(delays: object) -> None:
    with pytest.raises(TypeError, match="tuple of timedelta"):
        RetrySchedule(delays=delays)  # type: ignore[arg-type]


@pytest.mark.parametrize("jitter", [1, 1.5, -0.1, float("nan"), float("inf")])
def test_jitter_is_in_zero_to_one(jitter: float) -> None:
    with pytest.raises(ValueError, match="jitter"):
        RetrySchedule(jitter=jitter)


@pytest.mark.parametrize("jitter", [True, "0.2", None])
def test_jitter_is_a_number(jitter: object) -> None:
    with pytest.raises(TypeError, match="jitter"):
        RetrySchedule(jitter=jitter)  # type: ignore[arg-type]


@pytest.mark.parametrize("attempts_made", [0, -1])
def test_attempts_made_counts_at_least_the_first_attempt(attempts_made: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetrySchedule().next_attempt_at(attempts_made, NOW)


def test_attempts_made_is_an_int() -> None:
    with pytest.raises(TypeError):
        RetrySchedule().next_attempt_at(True, NOW)
