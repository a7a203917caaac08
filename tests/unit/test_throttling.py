"""The pure parts of login throttling and session rules; the in-memory stores stay bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inventory_core.clocks import ManualClock
from inventory_core.memory.sessions import InMemorySessionStore
from inventory_core.memory.throttle import InMemoryLoginThrottle
from inventory_core.sessions import (
    SessionPolicy,
    clean_user_agent,
    is_session_id,
    new_session_id,
    session_digest,
)
from inventory_core.throttling import (
    ThrottleLimit,
    ThrottlePolicy,
    WindowState,
    client_key,
    timestamp_us,
    username_key,
)
from inventory_core.users import Role

S = 1_000_000  # microseconds per second

LIMIT = ThrottleLimit(
    window_seconds=900, free_failures=5, base_delay_seconds=1, max_delay_seconds=60
)


def test_delays_are_free_then_double_up_to_the_cap() -> None:
    assert [LIMIT.delay_us(n) / S for n in range(13)] == [
        0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60,
    ]  # fmt: skip
    assert LIMIT.delay_us(10**9) == 60 * S  # no overflow, no huge integers
    assert LIMIT.saturation() == 11


@given(st.integers(0, 500), st.integers(0, 500))
def test_delays_never_shrink_as_failures_grow_and_never_pass_the_cap(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert LIMIT.delay_us(low) <= LIMIT.delay_us(high) <= 60 * S


def test_the_delay_table_lists_every_delay_a_limit_can_ask_for() -> None:
    # What the Redis script looks delays up in: from the free failures to saturation.
    assert [d / S for d in LIMIT.delay_table_us()] == [1, 2, 4, 8, 16, 32, 60]
    policy = ThrottlePolicy()
    for limit in (policy.username, policy.client):
        table = limit.delay_table_us()
        assert len(table) == limit.saturation() - limit.free_failures + 1
        assert table[-1] == round(limit.max_delay_seconds * S)


@given(st.integers(0, 30), st.floats(0.001, 100), st.floats(1, 2000), st.integers(0, 10_000))
def test_looking_delays_up_in_the_table_is_the_arithmetic(
    free: int, base: float, cap_factor: float, failures: int
) -> None:
    limit = ThrottleLimit(
        window_seconds=60,
        free_failures=free,
        base_delay_seconds=base,
        max_delay_seconds=base * cap_factor,
    )
    table = limit.delay_table_us()
    looked_up = 0 if failures < free else table[min(failures - free, len(table) - 1)]
    assert looked_up == limit.delay_us(failures)


def test_wait_runs_from_the_latest_failure() -> None:
    now = 1_000 * S
    assert LIMIT.wait_us(WindowState(), now) == 0
    assert LIMIT.wait_us(WindowState(failures=4, last_failure_us=now), now) == 0
    assert LIMIT.wait_us(WindowState(failures=7, last_failure_us=now - S), now) == 3 * S
    assert LIMIT.wait_us(WindowState(failures=7, last_failure_us=now - 4 * S), now) == 0
    assert LIMIT.cutoff_us(now) == now - 900 * S


def test_the_policy_takes_the_longer_wait_and_trust_skips_the_username_side() -> None:
    policy = ThrottlePolicy()
    now = 5_000 * S
    user = WindowState(failures=8, last_failure_us=now)  # 8 s
    client = WindowState(failures=21, last_failure_us=now - S)  # 2 s, 1 s ago
    assert policy.retry_after(now, username=user, client=client, trusted=False) == 8
    assert policy.retry_after(now, username=user, client=client, trusted=True) == 1
    assert policy.retry_after(now, username=user, client=WindowState(), trusted=True) is None


def test_default_numbers_are_the_documented_ones() -> None:
    policy = ThrottlePolicy()
    assert (policy.username.window_seconds, policy.username.free_failures) == (900, 5)
    assert (policy.username.base_delay_seconds, policy.username.max_delay_seconds) == (1, 60)
    assert (policy.client.window_seconds, policy.client.free_failures) == (3600, 20)
    assert (policy.client.base_delay_seconds, policy.client.max_delay_seconds) == (1, 900)
    assert policy.trusted_client_seconds == 30 * 86400
    assert policy.max_tracked_failures == 100


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_seconds": 0},
        {"free_failures": -1},
        {"base_delay_seconds": 0},
        {"max_delay_seconds": 0.5},  # below the base delay
    ],
)
def test_nonsense_limits_are_refused(kwargs: dict[str, float]) -> None:
    values: dict[str, float] = {
        "window_seconds": 60,
        "free_failures": 1,
        "base_delay_seconds": 1,
        "max_delay_seconds": 10,
    }
    with pytest.raises(ValueError, match="must"):
        ThrottleLimit(**(values | kwargs))  # type: ignore[arg-type]


def test_a_bound_on_kept_failures_below_saturation_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 30"):
        ThrottlePolicy(max_tracked_failures=29)
    with pytest.raises(ValueError, match="positive"):
        ThrottlePolicy(trusted_client_seconds=0)


def test_keys_are_hashed_normalized_and_kept_apart() -> None:
    assert username_key("Alice ") == username_key("alice")
    assert "alice" not in username_key("alice")
    assert client_key("192.0.2.1") != username_key("192.0.2.1")  # a kind each
    assert len(client_key("2001:db8::1")) == 64


def test_timestamps_are_exact_microseconds() -> None:
    when = datetime(2026, 1, 1, 0, 0, 0, 123_457, tzinfo=UTC)
    assert timestamp_us(when) == 1_767_225_600_123_457
    assert timestamp_us(when.astimezone(timezone(timedelta(hours=5)))) == timestamp_us(when)


def test_session_ids_have_the_documented_shape() -> None:
    ids = {new_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_session_id(i) for i in ids)
    assert not is_session_id(None)
    assert not is_session_id(b"A" * 43)
    digest = session_digest("A" * 43)
    assert len(digest) == 64
    assert not is_session_id(digest)


def test_user_agents_are_cleaned() -> None:
    assert clean_user_agent("\x1b[31mred\x1b[0m") == "[31mred[0m"
    assert clean_user_agent("\t \n") is None
    assert clean_user_agent("ü" * 300) == "ü" * 256


def test_the_in_memory_session_store_forgets_expired_sessions_of_users_never_seen_again() -> None:
    clock = ManualClock()
    store = InMemorySessionStore(clock, SessionPolicy())
    for _ in range(500):
        store.create(user_id=uuid4(), role=Role.CLERK, user_agent=None, remember=False)
    clock.advance(SessionPolicy().idle_seconds)
    store.create(user_id=uuid4(), role=Role.CLERK, user_agent=None, remember=False)
    assert len(store._sessions) == 1
    assert len(store._by_user) == 1


def test_the_in_memory_throttle_forgets_old_failures_and_trust() -> None:
    clock = ManualClock()
    throttle = InMemoryLoginThrottle(clock)
    for n in range(300):
        throttle.record_failure(username=f"user{n}", client=f"192.0.2.{n % 250}")
        throttle.record_success(username=f"user{n}", client="198.51.100.1")
    clock.advance(ThrottlePolicy().trusted_client_seconds)
    throttle.record_failure(username="last", client="203.0.113.1")
    assert list(throttle._by_username) == [username_key("last")]
    assert list(throttle._by_client) == [client_key("203.0.113.1")]
    assert throttle._trusted_until == {}


def test_the_in_memory_session_store_refuses_a_cap_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        InMemorySessionStore(ManualClock(), max_sessions_per_user=0)
