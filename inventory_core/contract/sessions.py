"""Contract tests for any :class:`~inventory_core.ports.SessionStore` and
:class:`~inventory_core.ports.LoginThrottle`.

Subclass the classes below in a test module and provide one fixture each:
``make_session_store`` returning a callable ``(clock, policy) -> SessionStore`` (an empty store on
every call), and ``make_login_throttle`` returning ``(clock, policy) -> LoginThrottle``. The stores
must judge time by the clock they are given; the suite drives it (a
:class:`~inventory_core.clocks.ManualClock`, from the ``clock`` fixture defined here)::

    import pytest
    from inventory_core.contract.sessions import LoginThrottleContract, SessionStoreContract

    class TestMySessions(SessionStoreContract):
        @pytest.fixture
        def make_session_store(self):
            return lambda clock, policy: MySessionStore(clock, policy)

    class TestMyThrottle(LoginThrottleContract):
        @pytest.fixture
        def make_login_throttle(self):
            return lambda clock, policy: MyThrottle(clock, policy)

A store whose per-user session cap is not the library default sets the class attribute
``max_sessions_per_user``. This module needs pytest (``inventory-core[testing]``); the library
itself never imports it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import ClassVar
from uuid import UUID, uuid4

import attrs
import pytest

from inventory_core.clocks import ManualClock
from inventory_core.ports import LoginThrottle, SessionStore
from inventory_core.sessions import (
    DEFAULT_MAX_SESSIONS_PER_USER,
    MAX_USER_AGENT_LENGTH,
    Session,
    SessionPolicy,
    is_session_id,
    touch_interval,
)
from inventory_core.throttling import ThrottleLimit, ThrottlePolicy
from inventory_core.users import Role

__all__ = [
    "LoginThrottleContract",
    "LoginThrottleFactory",
    "SessionStoreContract",
    "SessionStoreFactory",
]

SessionStoreFactory = Callable[[ManualClock, SessionPolicy], SessionStore]
"""Makes an empty session store judging time by the given clock, with the given policy."""

LoginThrottleFactory = Callable[[ManualClock, ThrottlePolicy], LoginThrottle]
"""Makes an empty login throttle judging time by the given clock, with the given policy."""

_POLICY = SessionPolicy()
_IDLE = timedelta(seconds=_POLICY.idle_seconds)
_ABSOLUTE = timedelta(seconds=_POLICY.absolute_seconds)
_REMEMBER = timedelta(seconds=_POLICY.remember_seconds)
_TOUCH = timedelta(seconds=60)  # touch_interval of the default policy, either kind of session
_US = timedelta(microseconds=1)
_THREADS = 8


def _run_in_threads(work: Callable[[int], None], count: int = _THREADS) -> None:
    """Run ``work(0..count-1)`` in as many threads, released together by a barrier; re-raise the
    first failure of any thread."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            work(n)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


class SessionStoreContract:
    """What every SessionStore must do (DESIGN.md §3 "Sessions", docs/security.md)."""

    max_sessions_per_user: ClassVar[int] = DEFAULT_MAX_SESSIONS_PER_USER
    """The cap of the stores ``make_session_store`` builds."""

    @pytest.fixture
    def clock(self) -> ManualClock:
        """The time the store under test sees; tests move it."""
        return ManualClock()

    @pytest.fixture
    def store(self, clock: ManualClock, make_session_store: SessionStoreFactory) -> SessionStore:
        """An empty store with the default policy."""
        return make_session_store(clock, SessionPolicy())

    @staticmethod
    def _create(
        store: SessionStore,
        user_id: UUID | None = None,
        *,
        remember: bool = False,
        user_agent: str | None = "contract-suite/1.0",
        role: Role = Role.CLERK,
        generation: int | None = None,
    ) -> tuple[str, Session]:
        """A session as a login makes it: of the user's current generation unless told."""
        user_id = user_id or uuid4()
        if generation is None:
            generation = store.user_generation(user_id)
        return store.create(
            user_id=user_id,
            role=role,
            user_agent=user_agent,
            remember=remember,
            generation=generation,
        )

    # ------------------------------------------------------------ creating and reading

    def test_create_returns_a_256_bit_url_safe_id_and_the_session(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        user_id = uuid4()
        session_id, session = self._create(store, user_id, role=Role.MANAGER)
        assert is_session_id(session_id)  # 43 URL-safe characters: 256 bits
        assert session.user_id == user_id
        assert session.role is Role.MANAGER
        assert session.created_at == session.last_seen_at == clock.now()
        assert session.expires_at == clock.now() + _IDLE
        assert session.absolute_expires_at == clock.now() + _ABSOLUTE
        assert session.user_agent == "contract-suite/1.0"
        assert session.remember is False
        assert len(session.csrf_token) >= 43

    def test_the_store_keeps_a_digest_never_the_id(self, store: SessionStore) -> None:
        session_id, session = self._create(store)
        assert session.digest
        assert session_id not in session.digest
        assert session_id not in session.csrf_token
        assert session.csrf_token not in session_id

    def test_ids_and_csrf_tokens_are_never_reused(self, store: SessionStore) -> None:
        user_id = uuid4()
        made = [self._create(store, user_id) for _ in range(self.max_sessions_per_user)]
        assert len({session_id for session_id, _ in made}) == len(made)
        assert len({s.digest for _, s in made}) == len(made)
        assert len({s.csrf_token for _, s in made}) == len(made)

    @pytest.mark.parametrize("role", list(Role))
    def test_get_returns_what_create_stored(
        self, store: SessionStore, clock: ManualClock, role: Role
    ) -> None:
        session_id, created = self._create(store, role=role, user_agent=None, remember=True)
        assert store.get(session_id) == created  # no time passed: touching changes nothing

    def test_get_moves_the_idle_deadline_forward(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        session_id, created = self._create(store)
        clock.advance(600)
        seen = store.get(session_id)
        assert seen is not None
        assert seen.last_seen_at == clock.now()
        assert seen.expires_at == clock.now() + _IDLE
        assert seen.created_at == created.created_at
        assert seen.absolute_expires_at == created.absolute_expires_at
        assert seen.csrf_token == created.csrf_token
        assert store.get(session_id) == seen  # the touch was stored

    def test_unknown_id_is_none(self, store: SessionStore) -> None:
        self._create(store)
        assert store.get("A" * 43) is None

    @pytest.mark.parametrize(
        "bad_id",
        [
            "",
            "x",
            "A" * 42,
            "A" * 44,
            "A" * 42 + "=",
            "A" * 42 + " ",
            "A" * 42 + "é",
            "A" * 42 + "\n",
            "A" * 42 + "+",
            "A" * 42 + "/",
            "0" * 64,
        ],
    )
    def test_malformed_ids_are_none_and_harmless(self, store: SessionStore, bad_id: str) -> None:
        self._create(store)
        assert store.get(bad_id) is None
        store.destroy(bad_id)
        assert store.revoke_user_sessions(uuid4(), keep=bad_id) == 0

    def test_the_digest_is_not_accepted_as_an_id(self, store: SessionStore) -> None:
        _, session = self._create(store)
        assert store.get(session.digest) is None
        assert store.get(session.digest[:43]) is None

    @pytest.mark.parametrize(
        ("given", "kept"),
        [
            (None, None),
            ("", None),
            ("Mozilla/5.0 (X11)", "Mozilla/5.0 (X11)"),
            ("  padded  ", "padded"),
            ("evil\r\nSet-Cookie: x\x00", "evilSet-Cookie: x"),
            ("u" * 5000, "u" * MAX_USER_AGENT_LENGTH),
        ],
    )
    def test_user_agent_is_cleaned_and_truncated(
        self, store: SessionStore, given: str | None, kept: str | None
    ) -> None:
        session_id, session = self._create(store, user_agent=given)
        assert session.user_agent == kept
        assert (store.get(session_id) or session).user_agent == kept

    # ------------------------------------------------------------ timeouts

    def test_idle_timeout_ends_the_session_exactly_at_its_deadline(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        session_id, _ = self._create(store)
        clock.advance(_POLICY.idle_seconds - 1)
        assert store.get(session_id) is not None  # and this touch restarts the idle period
        clock.advance(_POLICY.idle_seconds - 0.001)
        assert store.get(session_id) is not None
        clock.advance(_POLICY.idle_seconds)
        assert store.get(session_id) is None
        assert store.get(session_id) is None  # stays gone

    def test_absolute_timeout_cannot_be_extended_by_activity(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        session_id, created = self._create(store)
        deadline = created.absolute_expires_at
        while clock.advance(_POLICY.idle_seconds // 2) < deadline:
            seen = store.get(session_id)
            assert seen is not None
            assert seen.expires_at <= deadline
            assert seen.expires_at == min(clock.now() + _IDLE, deadline)
        assert clock.now() == deadline
        assert store.get(session_id) is None

    def test_remember_me_lasts_remember_seconds_from_login(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        session_id, created = self._create(store, remember=True)
        assert created.remember is True
        assert created.expires_at == created.absolute_expires_at == clock.now() + _REMEMBER
        clock.advance(_POLICY.absolute_seconds * 2)  # far past a normal session's limits
        seen = store.get(session_id)
        assert seen is not None
        assert seen.expires_at == created.absolute_expires_at  # activity does not extend it
        clock.set(created.absolute_expires_at - timedelta(seconds=1))
        assert store.get(session_id) is not None
        clock.advance(1)
        assert store.get(session_id) is None

    # A use is recorded only when the recorded one is touch_interval old (docs/security.md,
    # "Timeouts"); the idle deadline counts from the recorded use.

    def test_the_touch_interval_is_a_minute_or_a_twentieth_of_the_idle_timeout(self) -> None:
        assert touch_interval(_POLICY, remember=False) == _TOUCH
        assert touch_interval(_POLICY, remember=True) == _TOUCH
        short = SessionPolicy(idle_seconds=10, absolute_seconds=25, remember_seconds=40)
        assert touch_interval(short, remember=False) == timedelta(seconds=0.5)
        assert touch_interval(short, remember=True) == timedelta(seconds=2)

    def test_a_use_sooner_than_the_touch_interval_is_not_recorded(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        session_id, created = self._create(store)
        clock.set(created.last_seen_at + _TOUCH - _US)
        assert store.get(session_id) == created  # last_seen_at and expires_at as they were
        # Left idle now, it ends idle after the recorded use: IDLE - TOUCH + 1 us after this one.
        clock.set(created.last_seen_at + _IDLE - _US)
        assert store.list_user_sessions(created.user_id) == [created]  # listing records nothing
        clock.advance(microseconds=1)
        assert store.get(session_id) is None

    def test_a_use_at_the_touch_interval_is_recorded(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        session_id, created = self._create(store)
        clock.set(created.last_seen_at + _TOUCH)
        used_at = clock.now()
        seen = store.get(session_id)
        assert seen is not None
        assert seen.last_seen_at == used_at
        assert seen.expires_at == used_at + _IDLE
        clock.set(created.expires_at)  # the deadline before that use: passed, not reached
        assert store.list_user_sessions(created.user_id) == [seen]
        clock.set(used_at + _IDLE)
        assert store.get(session_id) is None

    def test_the_interval_counts_from_the_recorded_use_not_the_latest_one(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        session_id, created = self._create(store)
        recorded = created.last_seen_at
        for _ in range(20):  # a use every 25 s: every third one is recorded
            clock.advance(25)
            seen = store.get(session_id)
            assert seen is not None
            if clock.now() - recorded >= _TOUCH:
                recorded = clock.now()
            assert seen.last_seen_at == recorded
            assert seen.expires_at == recorded + _IDLE
            assert store.get(session_id) == seen  # what was returned is what is stored
        assert recorded == created.last_seen_at + timedelta(seconds=450)

    def test_remember_me_records_last_seen_once_per_interval(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        session_id, created = self._create(store, remember=True)
        clock.set(created.last_seen_at + _TOUCH - _US)
        assert store.get(session_id) == created
        clock.advance(microseconds=1)
        seen = store.get(session_id)
        assert seen is not None
        assert seen.last_seen_at == clock.now()
        assert seen.expires_at == created.absolute_expires_at  # never extended

    def test_short_idle_timeouts_record_uses_every_twentieth(
        self, clock: ManualClock, make_session_store: SessionStoreFactory
    ) -> None:
        store = make_session_store(
            clock, SessionPolicy(idle_seconds=10, absolute_seconds=25, remember_seconds=40)
        )
        session_id, created = self._create(store)
        clock.set(created.last_seen_at + timedelta(seconds=0.5) - _US)
        assert store.get(session_id) == created
        clock.advance(microseconds=1)
        seen = store.get(session_id)
        assert seen is not None
        assert seen.last_seen_at == clock.now()
        assert seen.expires_at == clock.now() + timedelta(seconds=10)

    def test_the_policy_given_is_the_policy_used(
        self, clock: ManualClock, make_session_store: SessionStoreFactory
    ) -> None:
        store = make_session_store(
            clock, SessionPolicy(idle_seconds=10, absolute_seconds=25, remember_seconds=40)
        )
        short, _ = self._create(store)
        long, _ = self._create(store, remember=True)
        for _ in range(2):
            clock.advance(9)
            assert store.get(short) is not None
        clock.advance(7)  # 25 s after login: the absolute limit
        assert store.get(short) is None
        assert store.get(long) is not None
        clock.advance(15)
        assert store.get(long) is None

    # ------------------------------------------------------------ ending sessions

    def test_destroy_ends_only_that_session(self, store: SessionStore) -> None:
        user_id = uuid4()
        first, _ = self._create(store, user_id)
        second, _ = self._create(store, user_id)
        store.destroy(first)
        assert store.get(first) is None
        assert store.get(second) is not None
        store.destroy(first)  # ending an ended session is fine
        store.destroy("B" * 43)  # and so is ending one that never was
        assert [s.digest for s in store.list_user_sessions(user_id)] == [
            (store.get(second) or pytest.fail("lost")).digest
        ]

    def test_revoke_user_sessions_ends_every_session_of_that_user_only(
        self, store: SessionStore
    ) -> None:
        user_id, other = uuid4(), uuid4()
        ids = [self._create(store, user_id)[0] for _ in range(3)]
        remembered, _ = self._create(store, user_id, remember=True)
        others, _ = self._create(store, other)
        assert store.revoke_user_sessions(user_id) == 4
        assert all(store.get(i) is None for i in [*ids, remembered])
        assert store.list_user_sessions(user_id) == []
        assert store.get(others) is not None
        assert store.revoke_user_sessions(user_id) == 0

    def test_revoke_user_sessions_can_keep_the_current_one(self, store: SessionStore) -> None:
        user_id = uuid4()
        current, created = self._create(store, user_id)
        rest = [self._create(store, user_id)[0] for _ in range(2)]
        assert store.revoke_user_sessions(user_id, keep=current) == 2
        kept = store.get(current)
        assert kept == attrs.evolve(created, generation=store.user_generation(user_id))
        assert all(store.get(i) is None for i in rest)
        assert store.list_user_sessions(user_id) == [kept]
        # Kept again by the next revocation, and still usable after it.
        assert store.revoke_user_sessions(user_id, keep=current) == 0
        assert store.get(current) is not None
        # Keeping an id of another user keeps nothing of this one.
        foreign, _ = self._create(store)
        self._create(store, user_id)
        assert store.revoke_user_sessions(user_id, keep=foreign) == 2
        assert store.get(foreign) is not None
        assert store.get(current) is None

    def test_revoke_user_sessions_counts_only_live_sessions(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        user_id = uuid4()
        self._create(store, user_id)
        clock.advance(_POLICY.idle_seconds - 60)
        self._create(store, user_id)
        clock.advance(60)  # the first one has just expired
        assert store.revoke_user_sessions(user_id) == 1

    # ------------------------------------------------------------ revocation generations

    def test_generations_start_at_zero_and_each_revocation_raises_them(
        self, store: SessionStore
    ) -> None:
        user_id, other = uuid4(), uuid4()
        assert store.user_generation(user_id) == 0
        store.revoke_user_sessions(user_id)
        assert store.user_generation(user_id) == 1
        store.revoke_user_sessions(user_id, keep="A" * 43)
        assert store.user_generation(user_id) == 2
        assert store.user_generation(other) == 0
        session_id, session = self._create(store, user_id)
        assert session.generation == 2
        assert store.get(session_id) == session

    def test_a_login_that_read_the_user_before_a_revocation_gets_a_dead_session(
        self, store: SessionStore
    ) -> None:
        # The interleaving of issue 14: a login reads the generation (then checks the password,
        # which takes a while), the user is demoted and revoked, then the login creates its
        # session with what it read.
        user_id = uuid4()
        generation = store.user_generation(user_id)
        store.revoke_user_sessions(user_id)
        session_id, session = self._create(store, user_id, generation=generation)
        assert session.generation == generation
        assert store.get(session_id) is None
        assert store.list_user_sessions(user_id) == []
        # A login that read the generation after the revocation is not affected.
        fresh, _ = self._create(store, user_id)
        assert store.get(fresh) is not None
        assert store.get(session_id) is None

    def test_a_dead_session_takes_no_place_under_the_cap(self, store: SessionStore) -> None:
        user_id = uuid4()
        stale = store.user_generation(user_id)
        store.revoke_user_sessions(user_id)
        live = [self._create(store, user_id)[0] for _ in range(self.max_sessions_per_user)]
        self._create(store, user_id, generation=stale)
        assert all(store.get(i) is not None for i in live)
        assert len(store.list_user_sessions(user_id)) == self.max_sessions_per_user

    def test_logins_racing_a_revocation_leave_no_session_behind(self, store: SessionStore) -> None:
        # Every login reads the generation before any of them creates and before the revocation;
        # then they all go at once. Whatever the order, no session may survive.
        user_id = uuid4()
        generation = store.user_generation(user_id)
        made: list[str] = []

        def work(n: int) -> None:
            if n == 0:
                store.revoke_user_sessions(user_id)
            else:
                made.append(self._create(store, user_id, generation=generation)[0])

        _run_in_threads(work)
        assert len(made) == _THREADS - 1
        assert [i for i in made if store.get(i) is not None] == []
        assert store.list_user_sessions(user_id) == []

    # ------------------------------------------------------------ listing

    def test_list_shows_live_sessions_oldest_first_without_touching_them(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        user_id = uuid4()
        created = []
        for n in range(3):
            created.append(self._create(store, user_id, user_agent=f"device {n}")[1])
            clock.advance(60)
        self._create(store)  # someone else's
        listed = store.list_user_sessions(user_id)
        assert listed == created  # same fields, same order, last_seen_at untouched
        assert store.list_user_sessions(uuid4()) == []

    def test_list_leaves_out_expired_and_destroyed_sessions(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        user_id = uuid4()
        idle_one, _ = self._create(store, user_id)
        clock.advance(_POLICY.idle_seconds / 2)
        destroyed, _ = self._create(store, user_id)
        kept, _ = self._create(store, user_id, remember=True)
        store.destroy(destroyed)
        clock.advance(_POLICY.idle_seconds / 2)
        listed = store.list_user_sessions(user_id)
        assert [s.remember for s in listed] == [True]
        assert store.get(idle_one) is None
        assert store.get(kept) is not None

    def test_the_oldest_session_is_ended_past_the_per_user_cap(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        user_id = uuid4()
        ids = []
        for _ in range(self.max_sessions_per_user + 2):
            ids.append(self._create(store, user_id)[0])
            clock.advance(1)
        assert store.get(ids[0]) is None
        assert store.get(ids[1]) is None
        assert all(store.get(i) is not None for i in ids[2:])
        assert len(store.list_user_sessions(user_id)) == self.max_sessions_per_user
        # Other users are not affected by one user's cap.
        other, _ = self._create(store)
        assert store.get(other) is not None

    def test_expired_sessions_do_not_count_against_the_cap(
        self, store: SessionStore, clock: ManualClock
    ) -> None:
        user_id = uuid4()
        old = [self._create(store, user_id)[0] for _ in range(self.max_sessions_per_user)]
        clock.advance(_POLICY.idle_seconds)
        fresh = [self._create(store, user_id)[0] for _ in range(self.max_sessions_per_user)]
        assert all(store.get(i) is None for i in old)
        assert all(store.get(i) is not None for i in fresh)

    # ------------------------------------------------------------ threads

    def test_concurrent_use_loses_and_mixes_up_nothing(self, store: SessionStore) -> None:
        users = [uuid4() for _ in range(_THREADS)]
        per_thread = max(2, self.max_sessions_per_user // 2)
        made: dict[int, list[str]] = {}

        def work(n: int) -> None:
            ids = [self._create(store, users[n])[0] for _ in range(per_thread)]
            for session_id in ids:
                seen = store.get(session_id)
                assert seen is not None
                assert seen.user_id == users[n]
            store.destroy(ids[0])
            made[n] = ids

        _run_in_threads(work)
        for n, user_id in enumerate(users):
            assert len(store.list_user_sessions(user_id)) == per_thread - 1
            assert store.get(made[n][0]) is None


class LoginThrottleContract:
    """What every LoginThrottle must do (DESIGN.md §3, docs/security.md "Login throttling")."""

    @pytest.fixture
    def clock(self) -> ManualClock:
        """The time the throttle under test sees; tests move it."""
        return ManualClock()

    @pytest.fixture
    def policy(self) -> ThrottlePolicy:
        """The default policy, whose numbers the tests read."""
        return ThrottlePolicy()

    @pytest.fixture
    def throttle(
        self, clock: ManualClock, policy: ThrottlePolicy, make_login_throttle: LoginThrottleFactory
    ) -> LoginThrottle:
        """An empty throttle with the default policy."""
        return make_login_throttle(clock, policy)

    @staticmethod
    def _fail(throttle: LoginThrottle, username: str, client: str, times: int = 1) -> None:
        for _ in range(times):
            throttle.record_failure(username=username, client=client)

    # ------------------------------------------------------------ per username

    def test_nothing_recorded_means_no_wait(self, throttle: LoginThrottle) -> None:
        assert throttle.retry_after(username="alice", client="192.0.2.1") is None

    def test_username_failures_cost_nothing_until_the_free_ones_are_used(
        self, throttle: LoginThrottle, policy: ThrottlePolicy
    ) -> None:
        # Each failure from a different address, so only the username limit is in play.
        for n in range(policy.username.free_failures - 1):
            self._fail(throttle, "alice", f"198.51.100.{n}")
            assert throttle.retry_after(username="alice", client="192.0.2.1") is None
        self._fail(throttle, "alice", "198.51.100.250")
        wait = throttle.retry_after(username="alice", client="192.0.2.1")
        assert wait == pytest.approx(policy.username.base_delay_seconds)
        assert throttle.retry_after(username="bob", client="192.0.2.1") is None

    def test_the_wait_counts_down_with_the_clock(
        self, throttle: LoginThrottle, policy: ThrottlePolicy, clock: ManualClock
    ) -> None:
        self._fail(throttle, "alice", "198.51.100.1", policy.username.free_failures + 2)
        assert throttle.retry_after(username="alice", client="x") == pytest.approx(4.0)
        clock.advance(2.5)
        assert throttle.retry_after(username="alice", client="x") == pytest.approx(1.5)
        clock.advance(1.5)
        assert throttle.retry_after(username="alice", client="x") is None

    def test_username_backoff_doubles_up_to_a_short_cap(
        self, throttle: LoginThrottle, policy: ThrottlePolicy, clock: ManualClock
    ) -> None:
        limit = policy.username
        waits = []
        for n in range(limit.free_failures + 12):
            self._fail(throttle, "alice", f"203.0.113.{n}")
            wait = throttle.retry_after(username="alice", client="192.0.2.1")
            waits.append(wait or 0.0)
            clock.advance(wait or 0.0)  # an attacker who waits exactly as told
        base = limit.base_delay_seconds
        assert waits[: limit.free_failures - 1] == [0.0] * (limit.free_failures - 1)
        assert waits[limit.free_failures - 1 : limit.free_failures + 2] == pytest.approx(
            [base, 2 * base, 4 * base]
        )
        assert max(waits) == pytest.approx(limit.max_delay_seconds)
        assert waits[-1] == pytest.approx(limit.max_delay_seconds)

    def test_failures_leave_the_window(
        self, throttle: LoginThrottle, policy: ThrottlePolicy, clock: ManualClock
    ) -> None:
        self._fail(throttle, "alice", "198.51.100.1", policy.username.free_failures - 1)
        clock.advance(policy.username.window_seconds)
        # The old failures no longer count: one more is again far from the limit.
        self._fail(throttle, "alice", "198.51.100.1")
        assert throttle.retry_after(username="alice", client="198.51.100.1") is None
        self._fail(throttle, "alice", "198.51.100.1", policy.username.free_failures - 2)
        assert throttle.retry_after(username="alice", client="198.51.100.1") is None

    def test_usernames_are_matched_as_logins_match_them(
        self, throttle: LoginThrottle, policy: ThrottlePolicy
    ) -> None:
        for n, spelling in enumerate(["Alice", "ALICE", " alice ", "alice", "aLiCe"]):
            self._fail(throttle, spelling, f"198.51.100.{n}")
        assert throttle.retry_after(username="alice", client="192.0.2.9") is not None

    # ------------------------------------------------------------ per client address

    def test_client_limit_spans_usernames_and_is_stricter(
        self, throttle: LoginThrottle, policy: ThrottlePolicy, clock: ManualClock
    ) -> None:
        limit = policy.client
        for n in range(limit.free_failures):
            self._fail(throttle, f"user{n}", "203.0.113.7")  # password spraying
        assert throttle.retry_after(username="fresh", client="203.0.113.7") == pytest.approx(
            limit.base_delay_seconds
        )
        # Another address trying the same usernames is not slowed down.
        assert throttle.retry_after(username="user0", client="203.0.113.8") is None
        waits = []
        for n in range(12):
            self._fail(throttle, f"other{n}", "203.0.113.7")
            wait = throttle.retry_after(username="fresh", client="203.0.113.7") or 0.0
            waits.append(wait)
            clock.advance(wait)
        assert max(waits) == pytest.approx(limit.max_delay_seconds)
        assert limit.max_delay_seconds > policy.username.max_delay_seconds

    # ------------------------------------------------------------ success

    def test_success_clears_that_clients_failures_against_that_username(
        self, throttle: LoginThrottle, policy: ThrottlePolicy
    ) -> None:
        free = policy.username.free_failures
        self._fail(throttle, "alice", "198.51.100.1", free - 2)  # the owner mistyping
        self._fail(throttle, "alice", "203.0.113.9", 2)  # someone else
        assert throttle.retry_after(username="alice", client="192.0.2.1") is not None
        throttle.record_success(username="alice", client="198.51.100.1")
        assert throttle.retry_after(username="alice", client="192.0.2.1") is None
        # The other client's failures still count.
        self._fail(throttle, "alice", "203.0.113.9", free - 2)
        assert throttle.retry_after(username="alice", client="192.0.2.1") is not None

    def test_success_clears_the_client_counter_only_for_that_username(
        self, throttle: LoginThrottle, policy: ThrottlePolicy
    ) -> None:
        free = policy.client.free_failures
        for n in range(free):
            self._fail(throttle, f"user{n}", "203.0.113.7")
        assert throttle.retry_after(username="user0", client="203.0.113.7") is not None
        throttle.record_success(username="user0", client="203.0.113.7")
        assert throttle.retry_after(username="user0", client="203.0.113.7") is None
        self._fail(throttle, "user1", "203.0.113.7")  # back at the limit: the rest still counts
        assert throttle.retry_after(username="user0", client="203.0.113.7") is not None

    def test_an_attacker_cannot_keep_the_owner_out(
        self, throttle: LoginThrottle, policy: ThrottlePolicy, clock: ManualClock
    ) -> None:
        throttle.record_success(username="alice", client="198.51.100.1")  # the owner, earlier
        clock.advance(86400)
        # A botnet fails against alice from 300 addresses, 3 times each (ignoring every wait).
        for n in range(300):
            self._fail(throttle, "Alice", f"198.18.{n // 250}.{n % 250}", 3)
        # From where she logged in before, the owner is not slowed down at all ...
        assert throttle.retry_after(username="alice", client="198.51.100.1") is None
        # ... and from anywhere else she waits at most the short username cap.
        wait = throttle.retry_after(username="alice", client="192.0.2.200")
        assert wait is not None
        assert wait <= policy.username.max_delay_seconds
        clock.advance(policy.username.max_delay_seconds)
        assert throttle.retry_after(username="alice", client="192.0.2.200") is None

    def test_trust_ends_after_its_period(
        self, throttle: LoginThrottle, policy: ThrottlePolicy, clock: ManualClock
    ) -> None:
        throttle.record_success(username="alice", client="198.51.100.1")
        clock.advance(policy.trusted_client_seconds - 1)
        self._fail(throttle, "alice", "203.0.113.9", policy.username.free_failures)
        assert throttle.retry_after(username="alice", client="198.51.100.1") is None
        clock.advance(1)
        self._fail(throttle, "alice", "203.0.113.9")
        assert throttle.retry_after(username="alice", client="198.51.100.1") is not None

    def test_trust_does_not_lift_the_client_limit(
        self, throttle: LoginThrottle, policy: ThrottlePolicy
    ) -> None:
        throttle.record_success(username="alice", client="203.0.113.7")
        for n in range(policy.client.free_failures):
            self._fail(throttle, f"user{n}", "203.0.113.7")
        assert throttle.retry_after(username="alice", client="203.0.113.7") is not None

    def test_the_policy_given_is_the_policy_used(
        self, clock: ManualClock, make_login_throttle: LoginThrottleFactory
    ) -> None:
        policy = ThrottlePolicy(
            username=ThrottleLimit(
                window_seconds=30, free_failures=2, base_delay_seconds=0.5, max_delay_seconds=2
            ),
            client=ThrottleLimit(
                window_seconds=60, free_failures=3, base_delay_seconds=5, max_delay_seconds=10
            ),
            trusted_client_seconds=100,
        )
        throttle = make_login_throttle(clock, policy)
        self._fail(throttle, "alice", "a")
        assert throttle.retry_after(username="alice", client="b") is None
        self._fail(throttle, "alice", "c")
        assert throttle.retry_after(username="alice", client="b") == pytest.approx(0.5)
        self._fail(throttle, "bob", "a", 2)
        assert throttle.retry_after(username="carol", client="a") == pytest.approx(5)
        clock.advance(30)
        assert throttle.retry_after(username="alice", client="b") is None
        assert throttle.retry_after(username="carol", client="a") is None
        self._fail(throttle, "dave", "a")  # 4 in the client's 60 s window
        assert throttle.retry_after(username="carol", client="a") == pytest.approx(10)

    # ------------------------------------------------------------ attempts (check and count)

    def test_an_allowed_attempt_is_counted_at_once(
        self, throttle: LoginThrottle, policy: ThrottlePolicy
    ) -> None:
        for _ in range(policy.username.free_failures):
            assert throttle.begin_attempt(username="alice", client="192.0.2.1") is None
        # Nothing reported after them: the attempts themselves count as failures.
        wait = throttle.retry_after(username="alice", client="192.0.2.9")
        assert wait == pytest.approx(policy.username.base_delay_seconds)
        assert throttle.begin_attempt(username="alice", client="192.0.2.1") == wait

    def test_a_refused_attempt_counts_nothing(
        self, throttle: LoginThrottle, policy: ThrottlePolicy, clock: ManualClock
    ) -> None:
        self._fail(throttle, "alice", "198.51.100.1", policy.username.free_failures)
        base = policy.username.base_delay_seconds
        for _ in range(5):  # asking again and again does not push the wait further
            assert throttle.begin_attempt(username="alice", client="192.0.2.1") == pytest.approx(
                base
            )
        clock.advance(base)
        assert throttle.begin_attempt(username="alice", client="192.0.2.1") is None
        # That one was allowed, so it counts: the next wait doubles.
        assert throttle.retry_after(username="alice", client="192.0.2.1") == pytest.approx(2 * base)

    def test_a_success_takes_its_attempt_back(
        self, throttle: LoginThrottle, policy: ThrottlePolicy
    ) -> None:
        free = policy.username.free_failures
        self._fail(throttle, "alice", "203.0.113.9", free - 1)  # someone else
        assert throttle.begin_attempt(username="alice", client="198.51.100.1") is None
        assert throttle.retry_after(username="alice", client="192.0.2.1") is not None
        throttle.record_success(username="alice", client="198.51.100.1")
        assert throttle.retry_after(username="alice", client="192.0.2.1") is None

    def test_attempts_follow_the_same_rules_as_the_check(
        self, throttle: LoginThrottle, policy: ThrottlePolicy, clock: ManualClock
    ) -> None:
        # Waits count down with the clock; trust lifts the username limit, never the client one.
        throttle.record_success(username="alice", client="198.51.100.1")
        self._fail(throttle, "alice", "203.0.113.9", policy.username.free_failures + 3)
        wait = throttle.begin_attempt(username="alice", client="192.0.2.1")
        assert wait is not None
        assert wait == pytest.approx(8 * policy.username.base_delay_seconds)
        assert wait == pytest.approx(throttle.retry_after(username="alice", client="192.0.2.1"))
        clock.advance(3)
        assert throttle.begin_attempt(username="alice", client="192.0.2.1") == pytest.approx(
            wait - 3
        )
        assert throttle.begin_attempt(username="alice", client="198.51.100.1") is None
        for n in range(policy.client.free_failures - 1):  # that attempt counted as one
            self._fail(throttle, f"user{n}", "198.51.100.1")
        assert throttle.begin_attempt(username="alice", client="198.51.100.1") == pytest.approx(
            policy.client.base_delay_seconds
        )

    def test_attempts_wait_the_caps_past_saturation(
        self, throttle: LoginThrottle, policy: ThrottlePolicy
    ) -> None:
        # More failures than the saturation point and than the bound on kept failures.
        for n in range(policy.max_tracked_failures + 10):
            self._fail(throttle, "alice", f"198.51.{n // 250}.{n % 250}")
            self._fail(throttle, f"user{n}", "203.0.113.7")
        for username, client, cap in [
            ("alice", "192.0.2.1", policy.username.max_delay_seconds),
            ("fresh", "203.0.113.7", policy.client.max_delay_seconds),
        ]:
            wait = throttle.begin_attempt(username=username, client=client)
            assert wait == pytest.approx(cap)
            assert wait == pytest.approx(throttle.retry_after(username=username, client=client))

    # ------------------------------------------------------------ threads

    def test_concurrent_attempts_get_no_more_checks_than_sequential_ones(
        self, throttle: LoginThrottle, policy: ThrottlePolicy
    ) -> None:
        # Issue 14: 16 concurrent wrong passwords for one username from one address. Sequential
        # attempts get the free failures checked, then must wait; so must concurrent ones.
        allowed: list[int] = []
        refused: list[float] = []

        def work(n: int) -> None:
            wait = throttle.begin_attempt(username="alice", client="192.0.2.1")
            (allowed.append(n) if wait is None else refused.append(wait))

        _run_in_threads(work, count=16)
        assert len(allowed) == policy.username.free_failures
        assert len(refused) == 16 - policy.username.free_failures
        assert all(w == pytest.approx(policy.username.base_delay_seconds) for w in refused)

    def test_concurrent_failures_are_all_counted(
        self, clock: ManualClock, make_login_throttle: LoginThrottleFactory
    ) -> None:
        per_thread = 5
        policy = ThrottlePolicy(
            username=ThrottleLimit(
                window_seconds=900,
                free_failures=_THREADS * per_thread,
                base_delay_seconds=1,
                max_delay_seconds=60,
            )
        )
        throttle = make_login_throttle(clock, policy)

        def work(n: int) -> None:
            self._fail(throttle, "alice", f"198.51.100.{n}", per_thread - (1 if n == 0 else 0))

        _run_in_threads(work)
        assert throttle.retry_after(username="alice", client="192.0.2.1") is None
        self._fail(throttle, "alice", "198.51.100.0")  # exactly the free number now
        assert throttle.retry_after(username="alice", client="192.0.2.1") == pytest.approx(1)
