"""API tokens over HTTP (DESIGN §10): the routes, the bearer branch of the session middleware, and
every failure of issue 15's "Bad input" list."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import falcon.testing
import pytest

from inventory_http.middleware import SESSION_ONLY_ROUTES
from tests.http.conftest import (
    Api,
    Stocked,
    World,
    assert_problem,
    create_item,
)

TOKEN = re.compile(r"inv_[A-Za-z0-9_-]{43}")
NEW_TOKEN_FIELDS = {"id", "name", "role", "created_at", "expires_at", "last_used_at", "token"}


def new_token(api: Api, name: str = "ERP sync", **fields: Any) -> dict[str, Any]:
    result = api.post("/v1/tokens", json={"name": name, **fields})
    assert result.status_code == 201, result.text
    return result.json


def bearer(
    world: World,
    token: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> falcon.testing.Result:
    """A request with ``Authorization: Bearer <token>`` and nothing else (no cookie, no CSRF)."""
    all_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
    return world.client().client.simulate_request(method, path, headers=all_headers, **kwargs)


def refused(result: falcon.testing.Result) -> dict[str, Any]:
    """The one answer to a bearer request whose token does not work."""
    body = assert_problem(result, 401, "unauthenticated")
    assert result.headers["www-authenticate"] == "Bearer"
    return body


def user_id(admin: Api, username: str) -> str:
    users = admin.get("/v1/users", params={"limit": 500}).json["data"]
    return next(u["id"] for u in users if u["username"] == username)


# ---------------------------------------------------------------- creating and using


def test_a_new_token_is_shown_once_and_acts_as_its_user_without_csrf(
    world: World, clerk: Api, stocked: Stocked
) -> None:
    result = clerk.post("/v1/tokens", json={"name": "ERP sync"})
    assert result.status_code == 201, result.text
    created = result.json
    assert set(created) == NEW_TOKEN_FIELDS
    assert TOKEN.fullmatch(created["token"])
    assert created["role"] == "clerk"  # the caller's by default
    assert created["expires_at"] is None
    assert created["last_used_at"] is None
    assert result.headers["location"] == f"/v1/tokens/{created['id']}"
    assert result.headers["cache-control"] == "private, no-cache"

    # No cookie, no X-CSRF-Token: an unsafe method passes on the token alone.
    line = {"item_id": stocked.item_id, "quantity": 3, "from_location_id": stocked.bin_id}
    shipped = bearer(
        world, created["token"], "POST", "/v1/movements", json={"kind": "shipment", "lines": [line]}
    )
    assert shipped.status_code == 201, shipped.text
    assert shipped.json["actor_id"] == clerk.user["id"]  # type: ignore[index]

    listed = clerk.get("/v1/tokens").json
    assert listed["next_cursor"] is None
    [shown] = listed["data"]
    assert shown["id"] == created["id"]
    assert "token" not in shown
    assert "digest" not in shown
    assert created["token"] not in clerk.get("/v1/tokens").text


def test_a_bearer_request_ignores_the_cookie_it_carries(world: World, clerk: Api) -> None:
    """A request with both acts as the token's user: here an admin's cookie (and its CSRF
    token) travel with a clerk's token, and the request is the clerk's."""
    token = new_token(clerk)["token"]
    admin = world.as_("admin")
    both = {"Authorization": f"Bearer {token}"}
    created = admin.post(
        "/v1/users",
        json={"username": "x-user", "password": "x-pass-93kd", "role": "viewer"},
        headers=both,
    )
    assert_problem(created, 403, "permission-denied")
    # ...and a broken token is not rescued by the live cookie next to it.
    refused(admin.get("/v1/items", headers={"Authorization": "Bearer inv_nope"}))
    assert admin.get("/v1/items").status_code == 200  # the cookie alone still works


def test_last_used_at_is_shown_and_written_at_most_once_a_minute(world: World, viewer: Api) -> None:
    token = new_token(viewer)["token"]
    assert viewer.get("/v1/tokens").json["data"][0]["last_used_at"] is None
    first_use = world.clock.now()
    assert bearer(world, token, "GET", "/v1/items").status_code == 200
    [listed] = viewer.get("/v1/tokens").json["data"]
    assert listed["last_used_at"] == first_use.isoformat().replace("+00:00", "Z")

    world.clock.advance(30)
    assert bearer(world, token, "GET", "/v1/items").status_code == 200
    assert viewer.get("/v1/tokens").json["data"][0]["last_used_at"] == listed["last_used_at"]

    world.clock.advance(31)
    assert bearer(world, token, "GET", "/v1/items").status_code == 200
    later = viewer.get("/v1/tokens").json["data"][0]["last_used_at"]
    assert later > listed["last_used_at"]


def test_a_token_may_create_tokens_but_never_above_its_own_role(world: World, manager: Api) -> None:
    token = new_token(manager, role="clerk")["token"]
    above = bearer(world, token, "POST", "/v1/tokens", json={"name": "more", "role": "manager"})
    assert_problem(above, 403, "permission-denied")
    same = bearer(world, token, "POST", "/v1/tokens", json={"name": "spare"})
    assert same.status_code == 201, same.text
    assert same.json["role"] == "clerk"


# ---------------------------------------------------------------- bad input


def test_a_role_above_the_callers_is_403(clerk: Api) -> None:
    assert_problem(clerk.post("/v1/tokens", json={"name": "x", "role": "manager"}), 403)
    assert clerk.get("/v1/tokens").json["data"] == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": "x", "expires_at": "2025-12-31T23:59:59Z"}, "$.expires_at"),
        ({"name": "x", "expires_at": "2026-01-01T00:00:00Z"}, "$.expires_at"),  # now is past
        ({"name": "x" * 101}, "$.name"),
        ({"name": ""}, "$.name"),
        ({"name": "line\nbreak"}, "$.name"),
        ({"name": "x", "role": "owner"}, "$.role"),
        ({"name": "x", "expires_at": "tomorrow"}, "$.expires_at"),
        ({"name": "x", "secret": "inv_mine"}, "$"),
        ({}, "$.name"),
    ],
)
def test_invalid_creations_are_422_naming_the_field(
    clerk: Api, body: dict[str, Any], path: str
) -> None:
    result = clerk.post("/v1/tokens", json=body)
    problem = assert_problem(result, 422, "validation-error")
    assert path in [e["path"] for e in problem["errors"]], problem
    assert clerk.get("/v1/tokens").json["data"] == []


def test_a_name_of_100_characters_and_a_future_expiry_are_accepted(
    world: World, clerk: Api
) -> None:
    expires = (world.clock.now() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    created = new_token(clerk, name="n" * 100, expires_at=expires)
    assert created["expires_at"] == expires


def test_malformed_json_is_400_and_a_login_is_needed(world: World) -> None:
    client = world.client()
    anonymous = client.client.simulate_post("/v1/tokens", json={"name": "x"})
    assert_problem(anonymous, 401, "unauthenticated")
    assert anonymous.headers["www-authenticate"] == "Bearer"
    clerk = world.as_("clerk")
    result = clerk.post("/v1/tokens", body=b"{", headers={"Content-Type": "application/json"})
    assert_problem(result, 400, "malformed-json")


def test_malformed_unknown_revoked_expired_and_foreign_schemes_get_one_answer(
    world: World, clerk: Api, admin: Api
) -> None:
    """Nothing in the status, headers or body tells which way a token failed."""
    expires = (world.clock.now() + timedelta(minutes=5)).isoformat()
    expiring = new_token(clerk, name="expiring", expires_at=expires)["token"]
    revoked = new_token(clerk, name="revoked")
    assert clerk.delete(f"/v1/tokens/{revoked['id']}").status_code == 204
    inactive_user = new_token(world.as_("viewer"), name="of a deactivated user")["token"]
    patch = admin.patch(f"/v1/users/{user_id(admin, 'viewer')}", json={"active": False})
    assert patch.status_code == 200, patch.text
    world.clock.advance(minutes=5)

    unknown = "inv_" + "A" * 43
    headers = [
        f"Bearer {unknown}",
        f"Bearer {revoked['token']}",
        f"Bearer {expiring}",
        f"Bearer {inactive_user}",
        "Bearer inv_short",
        f"Bearer {unknown}x",
        "Bearer",
        "Bearer ",
        "",
        "Basic YWRtaW46YWRtaW4tcGFzcy05ZjNrMg==",
        f"Token {unknown}",
        "Bearer inv_\u00e9\u00e9\u00e9",
        "Bearer " + "inv_" + "x" * 5000,
    ]
    bodies = []
    for index, header in enumerate(headers):
        # One address each: this test is about the answers, not the throttle.
        result = world.client().client.simulate_get(
            "/v1/items", headers={"Authorization": header}, remote_addr=f"10.0.0.{index + 1}"
        )
        body = refused(result)
        bodies.append(body)
    assert all(body == bodies[0] for body in bodies), bodies


def test_public_routes_ignore_a_bad_authorization_header(world: World) -> None:
    client = world.client().client
    junk = {"Authorization": "Bearer junk"}
    assert client.simulate_get("/healthz", headers=junk).status_code == 200
    assert client.simulate_get("/openapi.json", headers=junk).status_code == 200
    login = client.simulate_post(
        "/v1/session", json={"username": "clerk", "password": "clerk-pass-4m8z"}, headers=junk
    )
    assert login.status_code == 201, login.text


# ---------------------------------------------------------------- revocation and its timing


def test_revocation_takes_effect_on_the_next_request(world: World, clerk: Api) -> None:
    created = new_token(clerk)
    assert bearer(world, created["token"], "GET", "/v1/items").status_code == 200
    assert clerk.delete(f"/v1/tokens/{created['id']}").status_code == 204
    refused(bearer(world, created["token"], "GET", "/v1/items"))
    assert_problem(clerk.delete(f"/v1/tokens/{created['id']}"), 404, "not-found")
    assert clerk.get("/v1/tokens").json["data"] == []


def test_a_token_can_revoke_itself(world: World, clerk: Api) -> None:
    created = new_token(clerk)
    gone = bearer(world, created["token"], "DELETE", f"/v1/tokens/{created['id']}")
    assert gone.status_code == 204, gone.text
    refused(bearer(world, created["token"], "GET", "/v1/tokens"))


def test_only_the_owner_or_an_admin_revokes_and_others_see_404(
    world: World, clerk: Api, manager: Api, admin: Api
) -> None:
    created = new_token(clerk)
    assert_problem(manager.delete(f"/v1/tokens/{created['id']}"), 404, "not-found")
    assert bearer(world, created["token"], "GET", "/v1/items").status_code == 200
    assert admin.delete(f"/v1/tokens/{created['id']}").status_code == 204
    refused(bearer(world, created["token"], "GET", "/v1/items"))
    assert_problem(clerk.delete("/v1/tokens/not-a-uuid"), 404)


def test_expiry_takes_effect_on_the_next_request(world: World, clerk: Api) -> None:
    expires = world.clock.now() + timedelta(hours=1)
    token = new_token(clerk, expires_at=expires.isoformat())["token"]
    world.clock.advance(hours=1, seconds=-1)
    assert bearer(world, token, "GET", "/v1/items").status_code == 200
    world.clock.advance(1)
    refused(bearer(world, token, "GET", "/v1/items"))


def test_deactivation_takes_effect_and_reactivation_restores(
    world: World, clerk: Api, admin: Api
) -> None:
    token = new_token(clerk)["token"]
    clerk_id = user_id(admin, "clerk")
    assert admin.patch(f"/v1/users/{clerk_id}", json={"active": False}).status_code == 200
    refused(bearer(world, token, "GET", "/v1/items"))
    assert admin.patch(f"/v1/users/{clerk_id}", json={"active": True}).status_code == 200
    assert bearer(world, token, "GET", "/v1/items").status_code == 200


def test_the_effective_role_is_the_lower_of_token_and_user_and_follows_demotion(
    world: World, manager: Api, admin: Api
) -> None:
    full = new_token(manager, name="full")["token"]
    reduced = new_token(manager, name="read only", role="viewer")["token"]
    item = {"sku": "TOK-1", "name": "Token item"}
    assert bearer(world, full, "POST", "/v1/items", json=item).status_code == 201
    second = {"sku": "TOK-2", "name": "Token item"}
    assert_problem(bearer(world, reduced, "POST", "/v1/items", json=second), 403)
    assert bearer(world, reduced, "GET", "/v1/items").status_code == 200

    manager_id = user_id(admin, "manager")
    assert admin.patch(f"/v1/users/{manager_id}", json={"role": "viewer"}).status_code == 200
    assert_problem(bearer(world, full, "POST", "/v1/items", json=second), 403)
    assert admin.patch(f"/v1/users/{manager_id}", json={"role": "manager"}).status_code == 200
    assert bearer(world, full, "POST", "/v1/items", json=second).status_code == 201


# ---------------------------------------------------------------- listing


def test_listing_is_the_callers_and_admins_may_name_a_user(
    world: World, clerk: Api, manager: Api, admin: Api
) -> None:
    mine = [new_token(clerk, name=f"clerk {n}")["id"] for n in range(3)]
    new_token(manager, name="manager's")
    page = clerk.get("/v1/tokens", params={"limit": 2}).json
    assert [t["id"] for t in page["data"]] == mine[:2]
    rest = clerk.get("/v1/tokens", params={"limit": 2, "cursor": page["next_cursor"]}).json
    assert [t["id"] for t in rest["data"]] == mine[2:]
    assert rest["next_cursor"] is None

    clerk_id = user_id(admin, "clerk")
    listed = admin.get("/v1/tokens", params={"user_id": clerk_id}).json["data"]
    assert [t["id"] for t in listed] == mine
    assert all(t["user_id"] == clerk_id for t in listed)
    assert admin.get("/v1/tokens").json["data"] == []
    assert_problem(manager.get("/v1/tokens", params={"user_id": clerk_id}), 403)
    # naming oneself is no escalation
    own = manager.get("/v1/tokens", params={"user_id": manager.user["id"]})  # type: ignore[index]
    assert own.status_code == 200
    assert_problem(clerk.get("/v1/tokens", params={"user_id": "nope"}), 422, "validation-error")
    assert_problem(clerk.get("/v1/tokens", params={"limit": 0}), 422, "validation-error")


# ---------------------------------------------------------------- idempotency


def test_a_token_and_a_cookie_session_of_one_user_share_idempotency_keys(
    world: World, clerk: Api, stocked: Stocked
) -> None:
    token = new_token(clerk)["token"]
    line = {"item_id": stocked.item_id, "quantity": 2, "from_location_id": stocked.bin_id}
    body = {"kind": "shipment", "lines": [line]}

    first = clerk.post("/v1/movements", json=body, headers={"Idempotency-Key": "ship-1"})
    assert first.status_code == 201, first.text
    again = bearer(
        world, token, "POST", "/v1/movements", json=body, headers={"Idempotency-Key": "ship-1"}
    )
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json == first.json

    # ...and the other way round.
    by_token = bearer(
        world, token, "POST", "/v1/movements", json=body, headers={"Idempotency-Key": "ship-2"}
    )
    assert by_token.status_code == 201
    by_cookie = clerk.post("/v1/movements", json=body, headers={"Idempotency-Key": "ship-2"})
    assert by_cookie.headers["idempotent-replayed"] == "true"
    assert by_cookie.json == by_token.json
    stock = clerk.get(f"/v1/items/{stocked.item_id}/stock").json
    assert stock["on_hand"] == 10 - 2 - 2  # two shipments, not four


def test_token_creation_is_never_replayed(clerk: Api) -> None:
    """A replay would have to keep the secret: the key is checked, then each POST creates."""
    key = {"Idempotency-Key": "tok-1"}
    first = clerk.post("/v1/tokens", json={"name": "x"}, headers=key)
    second = clerk.post("/v1/tokens", json={"name": "x"}, headers=key)
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in second.headers
    assert first.json["token"] != second.json["token"]
    bad = clerk.post("/v1/tokens", json={"name": "x"}, headers={"Idempotency-Key": "é"})
    assert_problem(bad, 400, "invalid-idempotency-key")


# ---------------------------------------------------------------- the cookie session's own routes


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/session"),
        ("DELETE", "/v1/session"),
        ("GET", "/v1/sessions"),
        ("DELETE", "/v1/sessions"),
        ("PUT", "/v1/users/me/password"),
    ],
)
def test_the_session_routes_refuse_a_token_with_403(
    world: World, clerk: Api, method: str, path: str
) -> None:
    assert path in SESSION_ONLY_ROUTES
    token = new_token(clerk)["token"]
    body = {"current_password": "clerk-pass-4m8z", "new_password": "another-pass-8t2v"}
    kwargs: dict[str, Any] = {"json": body} if method == "PUT" else {}
    # Sent with the clerk's live cookie too: the token decides, and the session is untouched.
    result = clerk.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    problem = assert_problem(result, 403, "session-required")
    assert "token" in problem["detail"]
    assert "set-cookie" not in result.headers
    assert clerk.get("/v1/session").status_code == 200
    assert clerk.post("/v1/session", json={}).status_code != 500  # still a normal client


# ---------------------------------------------------------------- throttling


def test_failed_bearer_attempts_are_throttled_per_address(world: World, clerk: Api) -> None:
    token = new_token(clerk)["token"]
    client = world.client().client

    def attempt(secret: str, address: str) -> falcon.testing.Result:
        headers = {"Authorization": f"Bearer {secret}"}
        return client.simulate_get("/v1/items", headers=headers, remote_addr=address)

    # Valid requests cost nothing, however many, and do not wipe the guesses made between them.
    for n in range(20):
        assert attempt(token, "10.9.9.9").status_code == 200
        refused(attempt(f"inv_{n:043d}", "10.9.9.9"))
    throttled = attempt("inv_" + "Z" * 43, "10.9.9.9")
    assert_problem(throttled, 429, "too-many-attempts")
    assert int(throttled.headers["retry-after"]) >= 1
    # The address waits, even with a good token (as a login from it would)...
    assert attempt(token, "10.9.9.9").status_code == 429
    # ...and other addresses do not.
    assert attempt(token, "10.8.8.8").status_code == 200
    refused(attempt("inv_" + "Z" * 43, "10.8.8.8"))

    world.clock.advance(int(throttled.headers["retry-after"]))
    assert attempt(token, "10.9.9.9").status_code == 200


def test_one_bad_token_repeated_is_slowed_sooner(world: World) -> None:
    client = world.client().client
    stale = {"Authorization": "Bearer inv_" + "R" * 43}
    for _ in range(5):
        refused(client.simulate_get("/v1/items", headers=stale, remote_addr="10.7.7.7"))
    assert_problem(
        client.simulate_get("/v1/items", headers=stale, remote_addr="10.7.7.7"),
        429,
        "too-many-attempts",
    )


def test_many_good_requests_are_never_throttled(world: World, viewer: Api) -> None:
    token = new_token(viewer)["token"]
    for _ in range(60):
        assert bearer(world, token, "GET", "/v1/tokens").status_code == 200


# ---------------------------------------------------------------- secrets stay secret


def test_the_secret_is_never_logged(
    world: World, clerk: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = new_token(clerk)["token"]
    bearer(world, token, "GET", "/v1/items")
    bearer(world, token + "x", "GET", "/v1/items")
    create_item(world.as_("admin"), "LOG-1")
    logged = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert token[len("inv_") :] not in logged
    assert "Bearer" not in logged
