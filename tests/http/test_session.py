"""Login, logout, the session cookie, throttling and the session list."""

from __future__ import annotations

from inventory_http.settings import Settings
from tests.http.conftest import PASSWORDS, Api, World, assert_problem, build_world


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
