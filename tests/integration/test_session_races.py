"""Issue 14 on the real stack: the app on PostgreSQL and Redis, driven from threads.

Logins racing a deactivation, a demotion or a password reset must leave no session acting with
what the user no longer has; concurrent wrong passwords must get no more checks than sequential
ones. The gated tests line the threads up (tests/http/test_session.py, ``Gate``) so the bad
interleaving happens on every run; the free-running one adds real timing (argon2 as deployed).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from uuid import UUID

import attrs
import falcon.testing
import pytest
import redis

from inventory_core.clocks import ManualClock, SystemClock
from inventory_core.executor import Executor
from inventory_core.services.users import ProvisionUser
from inventory_core.users import Role
from inventory_http.app import create_app
from inventory_http.passwords import Argon2PasswordHasher
from inventory_http.settings import Settings
from inventory_pg import PgStore
from inventory_redis import RedisLoginThrottle, RedisSessionStore, make_redis_client
from tests.http.conftest import PASSWORDS, Api, World, assert_problem
from tests.http.test_session import (
    SOME_RESERVATION,
    GatedThrottle,
    concurrent_wrong_passwords,
    in_threads,
    login_during,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


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
    keys = list(redis_client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        redis_client.delete(*keys)


@attrs.frozen
class Stack:
    world: World
    throttle: GatedThrottle
    sessions: RedisSessionStore


def build_stack(
    pg: PgStore, client: redis.Redis, prefix: str, hasher: Argon2PasswordHasher | None = None
) -> Stack:
    """The app on Postgres and Redis, one user per role (the passwords of tests/http)."""
    clock = SystemClock()
    inventory = Executor(
        pg.unit_of_work,
        clock=clock,
        password_hasher=hasher or Argon2PasswordHasher(time_cost=1, memory_cost=8),
    )
    for role in Role:
        inventory.execute(
            None, ProvisionUser(username=role.value, password=PASSWORDS[role.value], role=role)
        )
    sessions = RedisSessionStore(client, clock, key_prefix=prefix)
    throttle = GatedThrottle(RedisLoginThrottle(client, clock, key_prefix=prefix))
    settings = Settings(cookie_secure=False)
    app = create_app(settings, inventory=inventory, sessions=sessions, throttle=throttle)
    # World's clock drives nothing here (the stack runs on the system clock).
    world = World(settings, ManualClock(), inventory, sessions, throttle, app, {})
    return Stack(world, throttle, sessions)


@pytest.fixture
def stack(pg: PgStore, redis_client: redis.Redis, key_prefix: str) -> Stack:
    return build_stack(pg, redis_client, key_prefix)


def _dead_or_absent(api: Api) -> None:
    """The login failed, or its session does not work (on any route)."""
    if api.session_id is not None:
        assert_problem(api.get("/v1/items"), 401, "unauthenticated")
        assert_problem(api.get("/v1/session"), 401, "unauthenticated")


def test_six_logins_racing_a_deactivation_three_rounds(stack: Stack) -> None:
    admin = stack.world.as_("admin")
    clerk_id = stack.world.as_("clerk").user["id"]
    for _ in range(3):

        def deactivate() -> None:
            result = admin.patch(f"/v1/users/{clerk_id}", json={"active": False})
            assert result.status_code == 200, result.text

        apis = login_during(stack.world, stack.throttle, "clerk", 6, deactivate)
        for api in apis:
            _dead_or_absent(api)
        assert stack.sessions.list_user_sessions(UUID(clerk_id)) == []
        result = admin.patch(f"/v1/users/{clerk_id}", json={"active": True})
        assert result.status_code == 200
        assert stack.world.client().login("clerk").status_code == 201


def test_logins_racing_a_demotion_act_as_the_new_role_or_not_at_all(stack: Stack) -> None:
    admin = stack.world.as_("admin")
    clerk_id = stack.world.as_("clerk").user["id"]

    def demote() -> None:
        result = admin.patch(f"/v1/users/{clerk_id}", json={"role": "viewer"})
        assert result.status_code == 200, result.text

    apis = login_during(stack.world, stack.throttle, "clerk", 6, demote)
    for api in apis:
        if api.user is not None:
            assert api.user["role"] == "viewer"
        # A clerk would get 404 (no such reservation); a viewer gets 403; a dead session 401.
        assert api.request("DELETE", SOME_RESERVATION).status_code in (401, 403)
    assert all(s.role is Role.VIEWER for s in stack.sessions.list_user_sessions(UUID(clerk_id)))


def test_logins_racing_an_admin_password_reset_leave_no_session(stack: Stack) -> None:
    admin = stack.world.as_("admin")
    clerk_id = stack.world.as_("clerk").user["id"]

    def reset() -> None:
        result = admin.patch(f"/v1/users/{clerk_id}", json={"password": "reset-by-admin-42"})
        assert result.status_code == 200, result.text

    for api in login_during(stack.world, stack.throttle, "clerk", 4, reset):
        _dead_or_absent(api)  # they checked the password the reset replaced
    assert stack.world.client().login("clerk", "reset-by-admin-42").status_code == 201


def test_free_running_logins_racing_a_deactivation(
    pg: PgStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    # No gate: six logins and one deactivation released together by a barrier, with argon2 as
    # deployed (tens of milliseconds), three rounds. Whatever the timing, nothing survives.
    stack = build_stack(pg, redis_client, key_prefix, Argon2PasswordHasher())
    admin = stack.world.as_("admin")
    clerk_id = stack.world.as_("clerk").user["id"]
    for _ in range(3):
        apis = [stack.world.client() for _ in range(6)]

        def work(n: int, apis: list[Api] = apis) -> int:
            if n == 6:
                return admin.patch(f"/v1/users/{clerk_id}", json={"active": False}).status_code
            return apis[n].login("clerk").status_code

        statuses = in_threads(7, work)
        assert statuses[6] == 200
        assert set(statuses[:6]) <= {201, 401}
        for api in apis:
            _dead_or_absent(api)
        assert admin.patch(f"/v1/users/{clerk_id}", json={"active": True}).status_code == 200


def test_sixteen_concurrent_wrong_passwords_against_redis(stack: Stack) -> None:
    statuses = concurrent_wrong_passwords(stack.world.app, stack.throttle, 16)
    assert sorted(statuses) == [401] * 5 + [429] * 11
    assert_problem(stack.world.client().login("manager"), 429, "too-many-attempts")


def test_sixteen_concurrent_wrong_passwords_free_running(stack: Stack) -> None:
    # Without the gate, through separate clients as separate workers would be.
    barrier = threading.Barrier(16)

    def login(n: int) -> int:
        barrier.wait(timeout=20)
        return (
            falcon.testing.TestClient(stack.world.app)
            .simulate_post(
                "/v1/session", json={"username": "viewer", "password": f"wrong-guess-{n}"}
            )
            .status_code
        )

    statuses = in_threads(16, login)
    assert sorted(statuses) == [401] * 5 + [429] * 11
