"""Login, logout, the session cookie, throttling and the session list; logins racing each other
and racing changes to their user (issue 14), driven from threads on the in-memory adapters."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

import attrs
import falcon.testing

from inventory_core.ports import LoginThrottle
from inventory_core.users import Role
from inventory_http.app import create_app
from inventory_http.settings import Settings
from tests.http.conftest import PASSWORDS, Api, World, assert_problem, build_world

SOME_RESERVATION = "/v1/reservations/0190a8e4-3b6c-7d4e-9f10-123456789abc"
"""Releasing it needs a clerk: 404 for a clerk (there is none), 403 for a viewer. It tells which
role a session really acts with (``GET /v1/session`` shows the user as stored, not the session)."""


class Gate:
    """Lines concurrent logins up deterministically: counts the throttle decisions taken, and
    holds the logins that reach the throttle call named by ``hold`` (``record_failure``: a wrong
    password was checked; ``record_success``: a right one was, and the session is next) until
    the test opens it."""

    def __init__(self, hold: str) -> None:
        self.hold = hold
        self._changed = threading.Condition()
        self._opened = threading.Event()
        self.decided = 0
        self.held = 0

    def decide(self) -> None:
        with self._changed:
            self.decided += 1
            self._changed.notify_all()

    def wait_here(self) -> None:
        with self._changed:
            self.held += 1
            self._changed.notify_all()
        if not self._opened.wait(timeout=20):
            raise RuntimeError("the test never opened the gate")

    def wait_until(self, condition: Callable[[Gate], bool]) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: condition(self), timeout=20), (
                f"{self.decided} decided, {self.held} held"
            )

    def open(self) -> None:
        self._opened.set()


class GatedThrottle:
    """A login throttle (any adapter) that reports to ``gate`` while one is set."""

    def __init__(self, inner: LoginThrottle) -> None:
        self.inner = inner
        self.gate: Gate | None = None

    def begin_attempt(self, *, username: str, client: str) -> float | None:
        wait = self.inner.begin_attempt(username=username, client=client)
        if self.gate is not None:
            self.gate.decide()
        return wait

    def retry_after(self, *, username: str, client: str) -> float | None:
        wait = self.inner.retry_after(username=username, client=client)
        if self.gate is not None:
            self.gate.decide()
        return wait

    def record_failure(self, *, username: str, client: str) -> None:
        if self.gate is not None and self.gate.hold == "record_failure":
            self.gate.wait_here()
        self.inner.record_failure(username=username, client=client)

    def record_success(self, *, username: str, client: str) -> None:
        if self.gate is not None and self.gate.hold == "record_success":
            self.gate.wait_here()
        self.inner.record_success(username=username, client=client)


def gated_world() -> tuple[World, GatedThrottle]:
    """build_world's users and adapters, served by an app whose throttle is gated."""
    world = build_world()
    throttle = GatedThrottle(world.throttle)
    app = create_app(
        world.settings, inventory=world.inventory, sessions=world.sessions, throttle=throttle
    )
    return attrs.evolve(world, app=app), throttle


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(0..count-1)`` on as many threads, started together; their results in order."""
    results: list[Any] = [None] * count
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=20)
            results[n] = work(n)
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a request hung"
    if errors:
        raise errors[0]
    return results


def concurrent_wrong_passwords(
    app: falcon.App[falcon.Request, falcon.Response], throttle: GatedThrottle, count: int
) -> list[int]:
    """``count`` wrong passwords for one username from one address at once: the statuses.

    Every failure is held back until every request has had its throttle decision, so a
    throttle that checks first and counts later lets them all through, every time."""
    gate = throttle.gate = Gate(hold="record_failure")

    def login(n: int) -> int:
        result = falcon.testing.TestClient(app).simulate_post(
            "/v1/session", json={"username": "manager", "password": f"wrong-guess-{n}"}
        )
        return result.status_code

    def opener() -> None:
        gate.wait_until(lambda g: g.decided == count)
        gate.open()

    thread = threading.Thread(target=opener)
    thread.start()
    try:
        return in_threads(count, login)
    finally:
        gate.open()
        thread.join(timeout=30)
        throttle.gate = None


def login_during(
    world: World, throttle: GatedThrottle, username: str, count: int, change: Callable[[], None]
) -> list[Api]:
    """``count`` logins as ``username`` that have all checked the password, and not yet made
    their session, when ``change`` runs (to its end); they finish after it. Returns their
    clients (logged in or not)."""
    apis = [world.client() for _ in range(count)]
    gate = throttle.gate = Gate(hold="record_success")
    threads = [threading.Thread(target=api.login, args=(username,)) for api in apis]
    try:
        for thread in threads:
            thread.start()
        gate.wait_until(lambda g: g.held == count)
        change()
    finally:
        gate.open()
        for thread in threads:
            thread.join(timeout=30)
        throttle.gate = None
    assert not any(t.is_alive() for t in threads)
    return apis


def test_login_answers_user_csrf_token_and_expiry_with_a_locked_down_cookie(world: World) -> None:
    api = world.client()
    result = api.login("clerk")
    assert result.status_code == 201
    assert set(result.json) == {"user", "csrf_token", "expires_at"}
    assert result.json["user"]["username"] == "clerk"
    assert result.json["user"]["role"] == "clerk"
    assert "password" not in result.text
    assert "hash" not in result.text
    assert result.json["expires_at"] == "2026-01-01T00:30:00Z"
    cookie = result.cookies["inventory_session"]
    assert cookie.http_only
    assert cookie.path == "/"
    assert cookie.same_site == "Lax"
    assert not cookie.secure
    assert cookie.max_age is None
    assert len(cookie.value) == 43
    assert result.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in result.headers


def test_secure_cookies_use_the_host_prefix_and_hsts() -> None:
    world = build_world(Settings(cookie_secure=True))
    api = world.client()
    result = api.login("viewer")
    assert result.status_code == 201
    raw = result.headers["set-cookie"]
    assert raw.startswith("__Host-inventory_session=")
    assert "Secure" in raw
    assert "HttpOnly" in raw
    assert "SameSite=Lax" in raw
    assert "Path=/" in raw
    assert "Domain" not in raw
    assert result.headers["strict-transport-security"].startswith("max-age=")
    assert api.get("/v1/session").status_code == 200


def test_remember_me_gives_a_persistent_cookie(world: World) -> None:
    result = world.client().login("viewer", remember=True)
    assert result.cookies["inventory_session"].max_age == 30 * 86400


def test_every_login_gets_a_new_id_and_ends_the_session_it_replaces(world: World) -> None:
    api = world.as_("viewer")
    first = api.session_id
    assert api.login("viewer").status_code == 201  # sent with the old cookie
    assert api.session_id != first
    old = Api(api.client, api.cookie_name, first, api.csrf_token)
    assert_problem(old.get("/v1/session"), 401, "unauthenticated")
    assert api.get("/v1/session").status_code == 200


def test_unknown_user_and_wrong_password_get_the_same_answer(world: World) -> None:
    api = world.client()
    unknown = api.login("nobody", "whatever-password")
    wrong = api.login("admin", "not-the-password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json == wrong.json
    assert_problem(wrong, 401, "authentication-failed")
    assert "inventory_session" not in wrong.cookies


def test_repeated_failures_are_throttled_with_retry_after(world: World) -> None:
    api = world.client()
    for _ in range(5):
        assert api.login("manager", "wrong-password-1").status_code == 401
    throttled = api.login("manager")  # even the right password waits
    body = assert_problem(throttled, 429, "too-many-attempts")
    assert int(throttled.headers["retry-after"]) >= 1
    assert "password" not in body["detail"]
    world.clock.advance(int(throttled.headers["retry-after"]))
    assert api.login("manager").status_code == 201


def test_get_session_needs_a_live_session(world: World) -> None:
    api = world.client()
    assert_problem(api.get("/v1/session"), 401, "unauthenticated")
    forged = Api(api.client, api.cookie_name, "A" * 43)
    assert_problem(forged.get("/v1/session"), 401)
    junk = Api(api.client, api.cookie_name, "not a session id; really")
    assert_problem(junk.get("/v1/items"), 401)


def test_get_session_repeats_the_login_answer(world: World) -> None:
    api = world.as_("manager")
    result = api.get("/v1/session")
    assert result.status_code == 200
    assert result.json["user"] == api.user
    assert result.json["csrf_token"] == api.csrf_token
    assert result.headers["cache-control"] == "no-store"


def test_sessions_expire_when_idle(world: World) -> None:
    api = world.as_("viewer")
    world.clock.advance(29 * 60)
    assert api.get("/v1/session").status_code == 200  # activity moves the idle deadline
    world.clock.advance(29 * 60)
    assert api.get("/v1/session").status_code == 200
    world.clock.advance(31 * 60)
    assert_problem(api.get("/v1/session"), 401)


def test_logout_destroys_the_session_server_side_and_clears_the_cookie(world: World) -> None:
    api = world.as_("clerk")
    result = api.delete("/v1/session")
    assert result.status_code == 204
    cleared = result.cookies["inventory_session"]
    assert cleared.value == ""
    assert cleared.expires is not None
    assert_problem(api.get("/v1/session"), 401)  # the old cookie value no longer works


def test_logout_needs_a_session(world: World) -> None:
    assert_problem(world.client().delete("/v1/session"), 401)


def test_session_list_shows_the_callers_sessions_without_ids(world: World) -> None:
    phone = world.client()
    assert phone.login("clerk", remember=True).status_code == 201
    world.clock.advance(60)
    laptop = world.as_("clerk")
    world.as_("viewer")  # someone else's session is not listed
    result = laptop.get("/v1/sessions", headers={"User-Agent": "laptop"})
    assert result.status_code == 200
    sessions = result.json["data"]
    assert result.json["next_cursor"] is None
    assert len(sessions) == 2
    assert [s["current"] for s in sessions] == [False, True]
    assert [s["remember"] for s in sessions] == [True, False]
    for session_id in (phone.session_id, laptop.session_id):
        assert session_id not in result.text
    assert phone.csrf_token not in result.text
    assert laptop.csrf_token not in result.text


def test_logout_everywhere_ends_every_session_of_the_caller(world: World) -> None:
    first, second = world.as_("clerk"), world.as_("clerk")
    other = world.as_("viewer")
    assert second.delete("/v1/sessions").status_code == 204
    assert_problem(first.get("/v1/session"), 401)
    assert_problem(second.get("/v1/session"), 401)
    assert other.get("/v1/session").status_code == 200


def test_login_body_is_validated(world: World) -> None:
    api = world.client()
    body = assert_problem(api.client.simulate_post("/v1/session", json={"username": "admin"}), 422)
    assert body["errors"] == [{"path": "$.password", "message": "is required"}]
    result = api.client.simulate_post(
        "/v1/session", json={"username": "admin", "password": PASSWORDS["admin"], "remember": 1}
    )
    assert assert_problem(result, 422)["errors"][0]["path"] == "$.remember"


# ---------------------------------------------------------------- races (issue 14)


def test_concurrent_wrong_passwords_get_no_more_checks_than_sequential_ones() -> None:
    # 16 at once for one username from one address: as many are checked as in a row (the five
    # free failures); the others are 429 without a check.
    world, throttle = gated_world()
    statuses = concurrent_wrong_passwords(world.app, throttle, 16)
    assert sorted(statuses) == [401] * 5 + [429] * 11
    # The five count as failures: even the right password waits now.
    assert_problem(world.client().login("manager"), 429, "too-many-attempts")


def test_a_demotion_during_a_login_is_not_undone_by_it() -> None:
    world, throttle = gated_world()
    admin = world.as_("admin")
    clerk_id = world.as_("clerk").user["id"]

    def demote() -> None:
        result = admin.patch(f"/v1/users/{clerk_id}", json={"role": "viewer"})
        assert result.status_code == 200, result.text

    for api in login_during(world, throttle, "clerk", 3, demote):
        # Whatever the login answered, its session acts as a viewer, if at all.
        if api.user is not None:
            assert api.user["role"] == "viewer"
        assert api.request("DELETE", SOME_RESERVATION).status_code in (401, 403)
        session = world.sessions.get(api.session_id or "A" * 43)
        assert session is None or session.role is Role.VIEWER


def test_a_deactivation_during_a_login_leaves_no_session() -> None:
    world, throttle = gated_world()
    admin = world.as_("admin")
    viewer_id = world.as_("viewer").user["id"]

    def deactivate() -> None:
        result = admin.patch(f"/v1/users/{viewer_id}", json={"active": False})
        assert result.status_code == 200, result.text

    for api in login_during(world, throttle, "viewer", 3, deactivate):
        if api.session_id is not None:  # logged in before the change showed: dead on first use
            assert_problem(api.get("/v1/items"), 401, "unauthenticated")
    assert world.sessions.list_user_sessions(UUID(viewer_id)) == []


def test_every_route_refuses_a_session_revoked_elsewhere(world: World) -> None:
    # Not only GET /v1/session: the middleware refuses it on any route, at once.
    clerk = world.as_("clerk")
    world.sessions.revoke_user_sessions(UUID(clerk.user["id"]))
    for path in ("/v1/items", "/v1/sessions", SOME_RESERVATION):
        assert_problem(clerk.get(path), 401, "unauthenticated")
