"""The session and throttle contract suites on the in-memory and Redis adapters, and a differential
state machine proving the two give the same answers to the same random operation sequences."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from uuid import UUID, uuid4

import attrs
import pytest
import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from inventory_core.clocks import ManualClock
from inventory_core.contract.sessions import (
    LoginThrottleContract,
    LoginThrottleFactory,
    SessionStoreContract,
    SessionStoreFactory,
)
from inventory_core.memory.sessions import InMemorySessionStore
from inventory_core.memory.throttle import InMemoryLoginThrottle
from inventory_core.sessions import Session, SessionPolicy
from inventory_core.throttling import ThrottleLimit, ThrottlePolicy
from inventory_core.users import Role
from inventory_redis import RedisLoginThrottle, RedisSessionStore, make_redis_client


@pytest.fixture(scope="module")
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = make_redis_client(redis_url)
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A namespace of its own for each test (the database may be shared); emptied afterwards."""
    prefix = f"test:{secrets.token_hex(6)}:"
    yield prefix
    _drop(redis_client, prefix)


def _drop(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


# ---------------------------------------------------------------- the contract on both adapters


class TestInMemorySessionStore(SessionStoreContract):
    @pytest.fixture
    def make_session_store(self) -> SessionStoreFactory:
        return InMemorySessionStore


@pytest.mark.redis
class TestRedisSessionStore(SessionStoreContract):
    @pytest.fixture
    def make_session_store(self, redis_client: redis.Redis, key_prefix: str) -> SessionStoreFactory:
        def make(clock: ManualClock, policy: SessionPolicy) -> RedisSessionStore:
            return RedisSessionStore(redis_client, clock, policy, key_prefix=key_prefix)

        return make


class TestInMemoryLoginThrottle(LoginThrottleContract):
    @pytest.fixture
    def make_login_throttle(self) -> LoginThrottleFactory:
        return InMemoryLoginThrottle


@pytest.mark.redis
class TestRedisLoginThrottle(LoginThrottleContract):
    @pytest.fixture
    def make_login_throttle(
        self, redis_client: redis.Redis, key_prefix: str
    ) -> LoginThrottleFactory:
        def make(clock: ManualClock, policy: ThrottlePolicy) -> RedisLoginThrottle:
            return RedisLoginThrottle(redis_client, clock, policy, key_prefix=key_prefix)

        return make


# ---------------------------------------------------------------- memory and Redis side by side

# Short numbers so random sequences reach every deadline and the cap.
_SESSION_POLICY = SessionPolicy(idle_seconds=60, absolute_seconds=300, remember_seconds=900)
_CAP = 3
_STEPS = st.sampled_from([0.001, 1, 30, 59, 60, 61, 120, 299, 300, 600, 900])


def _comparable(session: Session | None) -> Session | None:
    # Digests and CSRF tokens are random per store; everything else must match exactly.
    return None if session is None else attrs.evolve(session, digest="-", csrf_token="-")


@pytest.mark.redis
def test_memory_and_redis_session_stores_agree(redis_client: redis.Redis) -> None:
    class SessionStoresAgree(RuleBasedStateMachine):
        sessions = Bundle("sessions")
        readings = Bundle("readings")

        @initialize()
        def start(self) -> None:
            self.clock = ManualClock()
            self.prefix = f"test:{secrets.token_hex(6)}:"
            self.memory = InMemorySessionStore(
                self.clock, _SESSION_POLICY, max_sessions_per_user=_CAP
            )
            self.redis = RedisSessionStore(
                redis_client,
                self.clock,
                _SESSION_POLICY,
                max_sessions_per_user=_CAP,
                key_prefix=self.prefix,
            )
            self.users: list[UUID] = [uuid4() for _ in range(3)]

        def teardown(self) -> None:
            if hasattr(self, "prefix"):
                _drop(redis_client, self.prefix)

        @rule(target=readings, user=st.integers(0, 2))
        def read_generation(self, user: int) -> tuple[int, int]:
            """What a login reads before it checks the password."""
            generation = self.memory.user_generation(self.users[user])
            assert self.redis.user_generation(self.users[user]) == generation
            return user, generation

        def _create(self, user: int, remember: bool, generation: int) -> tuple[str, str]:
            # Creation times must differ: on a tie the stores evict by their (random) digests.
            self.clock.advance(0.001)
            user_id = self.users[user]
            memory_id, memory_session = self.memory.create(
                user_id=user_id,
                role=Role.CLERK,
                user_agent="machine",
                remember=remember,
                generation=generation,
            )
            redis_id, redis_session = self.redis.create(
                user_id=user_id,
                role=Role.CLERK,
                user_agent="machine",
                remember=remember,
                generation=generation,
            )
            assert _comparable(memory_session) == _comparable(redis_session)
            return memory_id, redis_id

        @rule(target=sessions, user=st.integers(0, 2), remember=st.booleans())
        def create(self, user: int, remember: bool) -> tuple[str, str]:
            return self._create(user, remember, self.memory.user_generation(self.users[user]))

        @rule(target=sessions, reading=readings, remember=st.booleans())
        def create_after_reading(self, reading: tuple[int, int], remember: bool) -> tuple[str, str]:
            """A login finishing with the generation it read, maybe revoked since."""
            return self._create(reading[0], remember, reading[1])

        @rule(pair=sessions)
        def get(self, pair: tuple[str, str]) -> None:
            memory, redis_ = self.memory.get(pair[0]), self.redis.get(pair[1])
            assert _comparable(memory) == _comparable(redis_)

        @rule(pair=sessions)
        def destroy(self, pair: tuple[str, str]) -> None:
            self.memory.destroy(pair[0])
            self.redis.destroy(pair[1])

        @rule(user=st.integers(0, 2), keep=st.none() | sessions)
        def revoke_user_sessions(self, user: int, keep: tuple[str, str] | None) -> None:
            user_id = self.users[user]
            memory = self.memory.revoke_user_sessions(user_id, keep=keep and keep[0])
            redis_ = self.redis.revoke_user_sessions(user_id, keep=keep and keep[1])
            assert memory == redis_
            assert self.memory.user_generation(user_id) == self.redis.user_generation(user_id)

        @rule(seconds=_STEPS)
        def advance(self, seconds: float) -> None:
            self.clock.advance(seconds)

        @rule(user=st.integers(0, 2))
        def list_sessions(self, user: int) -> None:
            user_id = self.users[user]
            memory = [_comparable(s) for s in self.memory.list_user_sessions(user_id)]
            redis_ = [_comparable(s) for s in self.redis.list_user_sessions(user_id)]
            assert memory == redis_

    run_state_machine_as_test(
        SessionStoresAgree, settings=settings(stateful_step_count=25, deadline=None)
    )


_THROTTLE_POLICY = ThrottlePolicy(
    username=ThrottleLimit(
        window_seconds=60, free_failures=2, base_delay_seconds=1, max_delay_seconds=8
    ),
    client=ThrottleLimit(
        window_seconds=120, free_failures=3, base_delay_seconds=2, max_delay_seconds=30
    ),
    trusted_client_seconds=200,
    max_tracked_failures=8,
)


@pytest.mark.redis
def test_memory_and_redis_throttles_agree(redis_client: redis.Redis) -> None:
    usernames = ["alice", "Bob", "bob", "carol"]
    clients = ["192.0.2.1", "192.0.2.2", "2001:db8::1"]

    class ThrottlesAgree(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            self.clock = ManualClock()
            self.prefix = f"test:{secrets.token_hex(6)}:"
            self.memory = InMemoryLoginThrottle(self.clock, _THROTTLE_POLICY)
            self.redis = RedisLoginThrottle(
                redis_client, self.clock, _THROTTLE_POLICY, key_prefix=self.prefix
            )

        def teardown(self) -> None:
            if hasattr(self, "prefix"):
                _drop(redis_client, self.prefix)

        def same_answer(self, username: str, client: str) -> None:
            memory = self.memory.retry_after(username=username, client=client)
            redis_ = self.redis.retry_after(username=username, client=client)
            assert memory == redis_, (username, client)

        @rule(username=st.sampled_from(usernames), client=st.sampled_from(clients))
        def failure(self, username: str, client: str) -> None:
            self.memory.record_failure(username=username, client=client)
            self.redis.record_failure(username=username, client=client)
            self.same_answer(username, client)

        @rule(username=st.sampled_from(usernames), client=st.sampled_from(clients))
        def attempt(self, username: str, client: str) -> None:
            memory = self.memory.begin_attempt(username=username, client=client)
            redis_ = self.redis.begin_attempt(username=username, client=client)
            assert memory == redis_, (username, client)
            self.same_answer(username, client)

        @rule(username=st.sampled_from(usernames), client=st.sampled_from(clients))
        def success(self, username: str, client: str) -> None:
            self.memory.record_success(username=username, client=client)
            self.redis.record_success(username=username, client=client)
            self.same_answer(username, client)

        @rule(seconds=st.sampled_from([0.5, 1, 2, 7, 30, 60, 119, 200]))
        def advance(self, seconds: float) -> None:
            self.clock.advance(seconds)

        @rule(username=st.sampled_from(usernames), client=st.sampled_from(clients))
        def check(self, username: str, client: str) -> None:
            self.same_answer(username, client)

    run_state_machine_as_test(
        ThrottlesAgree, settings=settings(stateful_step_count=30, deadline=None)
    )
