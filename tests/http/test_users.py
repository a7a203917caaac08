"""Users (admin) and password changes."""

from __future__ import annotations

from tests.http.conftest import Api, World, assert_problem


def test_admin_creates_and_lists_users(world: World, admin: Api) -> None:
    result = admin.post(
        "/v1/users", json={"username": "Dana", "password": "dana-pass-83jd", "role": "clerk"}
    )
    assert result.status_code == 201
    assert result.json["username"] == "dana"
    assert result.json["role"] == "clerk"
    assert "password" not in result.text
    assert world.client().login("dana", "dana-pass-83jd").status_code == 201
    listed = admin.get("/v1/users")
    assert listed.status_code == 200
    assert [u["username"] for u in listed.json["data"]] == [
        "viewer",
        "clerk",
        "manager",
        "admin",
        "dana",
    ]


def test_duplicate_username_is_409(admin: Api) -> None:
    result = admin.post(
        "/v1/users", json={"username": "clerk", "password": "other-pass-8dj3", "role": "clerk"}
    )
    body = assert_problem(result, 409, "already-exists")
    assert body["field"] == "username"


def test_weak_password_is_422_with_its_path(admin: Api) -> None:
    result = admin.post(
        "/v1/users", json={"username": "eve", "password": "password", "role": "viewer"}
    )
    assert assert_problem(result, 422)["errors"][0]["path"] == "$.password"


def test_only_admins_manage_users(manager: Api) -> None:
    assert_problem(manager.get("/v1/users"), 403, "permission-denied")
    result = manager.post(
        "/v1/users", json={"username": "x1", "password": "x1-pass-8dj3k", "role": "admin"}
    )
    assert_problem(result, 403, "permission-denied")


def test_role_change_ends_the_users_sessions(world: World, admin: Api) -> None:
    clerk = world.as_("clerk")
    user_id = clerk.user["id"]
    result = admin.patch(f"/v1/users/{user_id}", json={"role": "manager"})
    assert result.status_code == 200
    assert result.json["role"] == "manager"
    assert result.headers["etag"] == '"2"'
    assert_problem(clerk.get("/v1/session"), 401)
    again = world.as_("clerk")
    assert again.user["role"] == "manager"
    assert again.post("/v1/items", json={"sku": "NEW-1", "name": "n"}).status_code == 201


def test_deactivation_ends_sessions_and_blocks_login(world: World, admin: Api) -> None:
    viewer = world.as_("viewer")
    result = admin.patch(f"/v1/users/{viewer.user['id']}", json={"active": False})
    assert result.status_code == 200
    assert result.json["active"] is False
    assert_problem(viewer.get("/v1/items"), 401)
    assert_problem(world.client().login("viewer"), 401)


def test_a_patch_naming_a_field_ends_sessions_even_when_it_changes_nothing(
    world: World, admin: Api
) -> None:
    # So that retrying a PATCH whose session purge failed (503) always ends the sessions.
    clerk = world.as_("clerk")
    result = admin.patch(f"/v1/users/{clerk.user['id']}", json={"role": "clerk"})
    assert result.status_code == 200
    assert result.json["version"] == 1
    assert_problem(clerk.get("/v1/session"), 401)
    # A PATCH naming no field ends nothing; nor does one the caller may not make.
    again = world.as_("clerk")
    assert admin.patch(f"/v1/users/{again.user['id']}", json={}).status_code == 200
    assert_problem(again.patch(f"/v1/users/{again.user['id']}", json={"role": "clerk"}), 403)
    assert again.get("/v1/session").status_code == 200


def test_an_admin_changing_their_own_password_keeps_their_session(world: World, admin: Api) -> None:
    other_device = world.as_("admin")
    result = admin.patch(f"/v1/users/{admin.user['id']}", json={"password": "admin-new-pass-5k"})
    assert result.status_code == 200
    assert admin.get("/v1/session").status_code == 200
    assert_problem(other_device.get("/v1/session"), 401)


def test_patch_user_honours_if_match_and_404(world: World, admin: Api) -> None:
    clerk_id = world.as_("clerk").user["id"]
    stale = admin.patch(
        f"/v1/users/{clerk_id}", json={"role": "viewer"}, headers={"If-Match": '"7"'}
    )
    assert_problem(stale, 412, "version-mismatch")
    missing = admin.patch("/v1/users/0190a8e4-3b6c-7d4e-9f10-123456789abc", json={"active": False})
    assert_problem(missing, 404, "not-found")
    assert_problem(admin.patch("/v1/users/not-a-uuid", json={}), 404)


def test_admins_cannot_demote_themselves(admin: Api) -> None:
    result = admin.patch(f"/v1/users/{admin.user['id']}", json={"role": "viewer"})
    assert_problem(result, 409, "invalid-operation")


def test_password_change_issues_a_new_session_and_ends_every_other(world: World) -> None:
    here, elsewhere = world.as_("clerk"), world.as_("clerk")
    old_id, old_csrf = here.session_id, here.csrf_token
    result = here.put(
        "/v1/users/me/password",
        json={"current_password": "clerk-pass-4m8z", "new_password": "brand-new-pass-77"},
    )
    assert result.status_code == 200
    # The login's answer: the user, a new CSRF token, and a new session cookie.
    assert set(result.json) == {"user", "csrf_token", "expires_at"}
    assert result.json["user"]["username"] == "clerk"
    assert result.json["user"]["version"] == 2
    assert result.headers["cache-control"] == "no-store"
    cookie = result.cookies[here.cookie_name]
    assert cookie.http_only
    assert cookie.max_age is None
    assert cookie.value != old_id
    assert result.json["csrf_token"] != old_csrf
    # The old id is dead like every other session of the user ...
    assert_problem(here.get("/v1/session"), 401)
    assert_problem(elsewhere.get("/v1/session"), 401)
    # ... and the new one works, with its own CSRF token.
    fresh = Api(here.client, here.cookie_name, cookie.value, result.json["csrf_token"])
    assert fresh.get("/v1/session").json["csrf_token"] == result.json["csrf_token"]
    assert fresh.post("/v1/items", json={"sku": "X-1", "name": "x"}).status_code == 403
    stale_token = Api(here.client, here.cookie_name, cookie.value, old_csrf)
    assert_problem(stale_token.delete("/v1/session"), 403, "csrf-token-mismatch")
    assert_problem(world.client().login("clerk"), 401)
    assert world.client().login("clerk", "brand-new-pass-77").status_code == 201


def test_password_change_keeps_remember_me(world: World) -> None:
    phone = world.client()
    assert phone.login("viewer", remember=True).status_code == 201
    result = phone.put(
        "/v1/users/me/password",
        json={"current_password": "viewer-pass-2b6w", "new_password": "brand-new-pass-77"},
    )
    assert result.status_code == 200
    assert result.cookies[phone.cookie_name].max_age == 30 * 86400


def test_a_failed_password_change_keeps_the_session(world: World) -> None:
    api, other = world.as_("viewer"), world.as_("viewer")
    weak = {"current_password": "viewer-pass-2b6w", "new_password": "viewer"}
    assert_problem(api.put("/v1/users/me/password", json=weak), 422)
    wrong = {"current_password": "wrong-wrong-1", "new_password": "brand-new-pass-77"}
    assert_problem(api.put("/v1/users/me/password", json=wrong), 401)
    assert api.get("/v1/session").status_code == 200
    assert other.get("/v1/session").status_code == 200


def test_password_change_with_the_wrong_current_password_is_401_and_throttled(world: World) -> None:
    api = world.as_("viewer")
    body = {"current_password": "wrong-wrong-1", "new_password": "brand-new-pass-77"}
    # The pair (user, address) logged in successfully, so it is trusted: only the per-address
    # limit (20 free failures) applies, as for logins from a trusted device.
    for _ in range(20):
        assert_problem(api.put("/v1/users/me/password", json=body), 401, "authentication-failed")
    assert_problem(api.put("/v1/users/me/password", json=body), 429)
    assert api.get("/v1/session").status_code == 200  # a wrong password does not log out


def test_password_change_rejects_a_weak_new_password(world: World) -> None:
    api = world.as_("viewer")
    result = api.put(
        "/v1/users/me/password",
        json={"current_password": "viewer-pass-2b6w", "new_password": "short"},
    )
    assert assert_problem(result, 422)["errors"][0]["path"] == "$.new_password"
