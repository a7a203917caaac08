"""CSRF on cookie sessions, CORS, security headers and request ids."""

from __future__ import annotations

import pytest

from inventory_http.settings import Settings
from tests.http.conftest import Api, Stocked, World, assert_problem, build_world

ORIGIN = "https://app.example.com"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/items", {"sku": "CSRF-1", "name": "x"}),
        ("PATCH", "/v1/users/0190a8e4-3b6c-7d4e-9f10-123456789abc", {"active": False}),
        ("PUT", "/v1/users/me/password", {"current_password": "a", "new_password": "b"}),
        ("DELETE", "/v1/session", None),
        ("DELETE", "/v1/sessions", None),
    ],
)
def test_unsafe_methods_need_the_csrf_token(
    admin: Api, method: str, path: str, body: object
) -> None:
    missing = admin.request(method, path, csrf=False, json=body)
    assert_problem(missing, 403, "csrf-token-mismatch")
    wrong = admin.request(method, path, headers={"X-CSRF-Token": "x" * 43}, json=body)
    assert_problem(wrong, 403, "csrf-token-mismatch")
    assert admin.get("/v1/session").status_code == 200  # nothing happened


def test_the_right_token_passes_and_safe_methods_need_none(admin: Api) -> None:
    assert admin.get("/v1/items", csrf=False).status_code == 200
    assert admin.post("/v1/items", json={"sku": "CSRF-2", "name": "x"}).status_code == 201


def test_another_sessions_token_does_not_pass(world: World, admin: Api) -> None:
    other = world.as_("admin")
    result = admin.post(
        "/v1/items",
        json={"sku": "CSRF-3", "name": "x"},
        headers={"X-CSRF-Token": other.csrf_token or ""},
    )
    assert_problem(result, 403)


def test_login_is_exempt(world: World) -> None:
    api = world.client()
    assert api.login("viewer").status_code == 201  # no token exists before login


def test_nosniff_and_request_id_on_every_response(world: World, viewer: Api) -> None:
    for result in (
        viewer.get("/v1/items"),
        viewer.get("/v1/nope"),
        world.client().get("/healthz"),
        world.client().get("/v1/items"),
    ):
        assert result.headers["x-content-type-options"] == "nosniff"
        assert len(result.headers["x-request-id"]) == 32


def test_request_ids_are_echoed_when_plain_and_replaced_when_not(viewer: Api) -> None:
    assert (
        viewer.get("/healthz", headers={"X-Request-Id": "abc-123.x"}).headers["x-request-id"]
        == "abc-123.x"
    )
    for bad in ("has space", "a" * 200, "new\nline", ""):
        echoed = viewer.get("/healthz", headers={"X-Request-Id": bad}).headers["x-request-id"]
        assert echoed != bad
        assert len(echoed) == 32


def test_data_responses_must_be_revalidated_and_session_ones_not_stored(
    viewer: Api, stocked: Stocked
) -> None:
    assert (
        viewer.get(f"/v1/items/{stocked.item_id}").headers["cache-control"] == "private, no-cache"
    )
    assert viewer.get("/v1/sessions").headers["cache-control"] == "no-store"


def test_cors_is_off_by_default(world: World) -> None:
    preflight = world.client().client.simulate_options(
        "/v1/items", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    simple = world.client().client.simulate_get("/healthz", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_preflight_needs_no_session_and_allows_credentials_for_listed_origins() -> None:
    world = build_world(Settings(cookie_secure=False, cors_origins=(ORIGIN,)))
    client = world.client().client
    preflight = client.simulate_options(
        "/v1/items",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-csrf-token, idempotency-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "x-csrf-token" in preflight.headers["access-control-allow-headers"]

    api = world.as_("viewer")
    actual = api.get("/v1/items", headers={"Origin": ORIGIN})
    assert actual.headers["access-control-allow-origin"] == ORIGIN
    assert "X-Request-Id" in actual.headers["access-control-expose-headers"]
    assert actual.headers["vary"] == "Origin"

    stranger = client.simulate_options(
        "/v1/items",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in stranger.headers
