"""Property (issue 14): no interleaving of logins, role changes, deactivations, password resets,
password changes and logouts everywhere leaves a session that acts with more than its user now
has: once a change has finished, every live session of the user has the user's current role at
most, belongs to an active user, and came from a check of the user's current password.

Each request is modelled as the steps the HTTP layer takes, against a real session store (in
memory, and Redis), and hypothesis interleaves the steps of concurrent requests freely:

* a login (``inventory_http.resources.session``: ``on_post`` and ``start_session``): check the
  password against the user as stored; read the user's revocation generation; read the user
  again (refused if inactive or its password changed); create the session with the role read and
  the generation read;
* an admin change (``UserResource.on_patch``): revoke the user's sessions; change the user;
  revoke again if that changed anything;
* a password change (``PasswordResource.on_put``): change the password; revoke every session of
  the user; then make the caller's new session as a login does (generation, re-read, create);
* logout everywhere (``SessionsResource.on_delete``): revoke.

The "database" is a dict here: the property is about the session store and the order of those
steps, which both the in-memory and the Redis store must make safe.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID, uuid4

import attrs
import pytest
import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from inventory_core.clocks import ManualClock
from inventory_core.memory.sessions import InMemorySessionStore
from inventory_core.ports import SessionStore
from inventory_core.users import Role
from inventory_redis import RedisSessionStore, make_redis_client

USERS = 2
CHANGES = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(Role)}),
    st.fixed_dictionaries({"active": st.booleans()}),
    st.just({"password": "reset"}),
    st.fixed_dictionaries({"role": st.sampled_from(Role), "active": st.booleans()}),
    st.just({"password-change": True}),  # the user's own, PUT /v1/users/me/password
    st.just({}),  # a PATCH naming nothing
)
"""What an admin PATCH changes, or a password change of the user's own."""
StoreFactory = Callable[[ManualClock], tuple[SessionStore, Callable[[], None]]]


@attrs.frozen
class Row:
    """A user as the database holds it."""

    role: Role
    active: bool = True
    password: int = 0  # which password is in force (an admin reset or a change makes a new one)


@attrs.define
class Login:
    """A login under way: the password its client knows, and what its steps have read."""

    user: int
    password: int
    checked: Row | None = None
    generation: int | None = None
    reread: Row | None = None
    step: int = 0


@attrs.define
class Change:
    """An admin PATCH (``changes``) or a password change (``password_change``) under way."""

    user: int
    changes: dict[str, Any]
    password: int  # the password its client knows (a password change checks it)
    changed: bool = False
    follow_up: Login | None = None  # the password change's new session
    step: int = 0

    @property
    def password_change(self) -> bool:
        return "password-change" in self.changes

    @property
    def in_flux(self) -> bool:
        """The user is changed, and the request has not finished: its sessions may not yet
        reflect the change (the property is about what a finished change leaves)."""
        return self.step >= (1 if self.password_change else 2)


@attrs.frozen
class Made:
    """A session a finished login made: its user and the password its login checked."""

    session_id: str
    user: int
    password: int


class SessionsNeverOutliveChanges(RuleBasedStateMachine):
    make_store: StoreFactory

    @initialize()
    def start(self) -> None:
        self.clock = ManualClock()
        self.store, self.cleanup = self.make_store(self.clock)
        self.ids: list[UUID] = [uuid4() for _ in range(USERS)]
        # Admins to begin with, so most role changes are demotions.
        self.db: list[Row] = [Row(Role.ADMIN) for _ in range(USERS)]
        self.logins: list[Login] = []
        self.changes: list[Change] = []
        self.made: list[Made] = []

    def teardown(self) -> None:
        if not hasattr(self, "store"):
            return
        try:
            # Let every request finish, in any order: then the property holds for every user.
            while self.logins or self.changes:
                if self.logins:
                    self._advance_login(self.logins[0])
                if self.changes:
                    self._advance_change(self.changes[0])
            self._check(range(USERS))
        finally:
            self.cleanup()

    # ------------------------------------------------------------ requests begin

    @rule(user=st.integers(0, USERS - 1), stale_password=st.booleans())
    def begin_login(self, user: int, stale_password: bool) -> None:
        known = self.db[user].password - (1 if stale_password else 0)
        self.logins.append(Login(user, known))

    @rule(user=st.integers(0, USERS - 1), changes=CHANGES)
    def begin_change(self, user: int, changes: dict[str, Any]) -> None:
        self.changes.append(Change(user, changes, self.db[user].password))

    @rule(user=st.integers(0, USERS - 1))
    def logout_everywhere(self, user: int) -> None:
        self.store.revoke_user_sessions(self.ids[user])

    @rule(
        user=st.integers(0, USERS - 1),
        logins=st.integers(1, 3),
        changes=CHANGES,
        schedule=st.lists(st.integers(0, 3), max_size=16),
    )
    def race(self, user: int, logins: int, changes: dict[str, Any], schedule: list[int]) -> None:
        """Logins of one user racing one change to it, their steps in the order ``schedule``
        picks (each entry: which of the requests still under way takes its next step), then
        every request finishes."""
        requests: list[Login | Change] = [
            Login(user, self.db[user].password) for _ in range(logins)
        ]
        requests.append(Change(user, changes, self.db[user].password))
        self.logins += [r for r in requests if isinstance(r, Login)]
        self.changes += [r for r in requests if isinstance(r, Change)]
        for pick in schedule:
            pending = [r for r in requests if r in self.logins or r in self.changes]
            if not pending:
                break
            self._advance(pending[pick % len(pending)])
        for request in requests:
            while request in self.logins or request in self.changes:
                self._advance(request)

    # ------------------------------------------------------------ requests take a step

    @precondition(lambda self: bool(self.logins))
    @rule(pick=st.integers(0, 7))
    def login_step(self, pick: int) -> None:
        self._advance_login(self.logins[pick % len(self.logins)])

    @precondition(lambda self: bool(self.changes))
    @rule(pick=st.integers(0, 7))
    def change_step(self, pick: int) -> None:
        self._advance_change(self.changes[pick % len(self.changes)])

    def _advance(self, request: Login | Change) -> None:
        if isinstance(request, Login):
            self._advance_login(request)
        else:
            self._advance_change(request)

    def _advance_login(self, login: Login) -> None:
        """One step of a login; a finished or refused login leaves the list."""
        if self._login_step(login):
            self.logins.remove(login)

    def _login_step(self, login: Login) -> bool:
        """One step of ``login``; True when it is over."""
        user_id = self.ids[login.user]
        row = self.db[login.user]
        login.step += 1
        if login.step == 1:  # Authenticate: the user as stored, and the password checked
            login.checked = row
            return not row.active or row.password != login.password
        if login.step == 2:  # start_session: the generation, before the user is read again
            login.generation = self.store.user_generation(user_id)
            return False
        if login.step == 3:  # ... the user read again
            assert login.checked is not None
            login.reread = row
            return not row.active or row.password != login.checked.password
        assert login.checked is not None
        assert login.reread is not None
        assert login.generation is not None
        session_id, _ = self.store.create(
            user_id=user_id,
            role=login.reread.role,
            user_agent=None,
            remember=False,
            generation=login.generation,
        )
        self.made.append(Made(session_id, login.user, login.checked.password))
        return True

    def _advance_change(self, change: Change) -> None:
        if self._change_step(change):
            self.changes.remove(change)

    def _change_step(self, change: Change) -> bool:
        user_id = self.ids[change.user]
        change.step += 1
        if change.password_change:
            if change.step == 1:  # ChangePassword: checks the current one, then changes it
                row = self.db[change.user]
                if not row.active or row.password != change.password:
                    return True
                self.db[change.user] = attrs.evolve(row, password=row.password + 1)
                return False
            if change.step == 2:  # end every session of the user, the caller's included
                self.store.revoke_user_sessions(user_id)
                change.follow_up = Login(change.user, self.db[change.user].password, step=1)
                change.follow_up.checked = self.db[change.user]
                return False
            assert change.follow_up is not None
            return self._login_step(change.follow_up)  # the new session, as a login makes it
        if change.step == 1:  # revoke before the change
            self.store.revoke_user_sessions(user_id)
            return False
        if change.step == 2:  # the change
            row = self.db[change.user]
            new = attrs.evolve(
                row,
                role=change.changes.get("role", row.role),
                active=change.changes.get("active", row.active),
                password=row.password + 1 if "password" in change.changes else row.password,
            )
            self.db[change.user] = new
            change.changed = new != row
            return not change.changed
        self.store.revoke_user_sessions(user_id)  # and after it, when it changed anything
        return True

    # ------------------------------------------------------------ the property

    @invariant()
    def no_session_acts_with_more_than_its_user_has(self) -> None:
        if hasattr(self, "store"):
            in_flux = {c.user for c in self.changes if c.in_flux}
            self._check(u for u in range(USERS) if u not in in_flux)

    def _check(self, users: Any) -> None:
        users = set(users)
        for made in self.made:
            if made.user not in users:
                continue
            session = self.store.get(made.session_id)
            if session is None:
                continue
            row = self.db[made.user]
            assert row.active, "a live session of an inactive user"
            assert session.role.rank <= row.role.rank, (
                f"a live {session.role} session of a {row.role}"
            )
            assert made.password == row.password, "a live session from a replaced password"


def _memory(clock: ManualClock) -> tuple[SessionStore, Callable[[], None]]:
    return InMemorySessionStore(clock), lambda: None


@pytest.fixture(scope="module")
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = make_redis_client(redis_url)
    yield client
    client.close()


def _run(make_store: StoreFactory, max_examples: int | None = None) -> None:
    machine = type(
        "SessionsNeverOutliveChangesHere",
        (SessionsNeverOutliveChanges,),
        {"make_store": staticmethod(make_store)},
    )
    options: dict[str, Any] = {"stateful_step_count": 40, "deadline": None}
    if max_examples is not None:
        options["max_examples"] = max_examples
    run_state_machine_as_test(machine, settings=settings(**options))


def test_on_the_in_memory_store() -> None:
    _run(_memory)


@pytest.mark.redis
def test_on_the_redis_store(redis_client: redis.Redis) -> None:
    def make(clock: ManualClock) -> tuple[SessionStore, Callable[[], None]]:
        prefix = f"test:{secrets.token_hex(6)}:"

        def drop() -> None:
            keys = list(redis_client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                redis_client.delete(*keys)

        return RedisSessionStore(redis_client, clock, key_prefix=prefix), drop

    _run(make, max_examples=60)
