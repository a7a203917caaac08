"""Problem documents for every failure, and strict parsing of what clients send."""

from __future__ import annotations

import json

import falcon.testing
import pytest

from inventory_core.errors import Unavailable
from inventory_core.memory.sessions import InMemorySessionStore
from inventory_core.sessions import Session
from inventory_http.app import create_app
from inventory_http.settings import Settings
from tests.http.conftest import Api, Stocked, World, assert_problem, build_world

ITEM = "0190a8e4-3b6c-7d4e-9f10-123456789abc"


def test_unknown_route_is_404_problem(viewer: Api) -> None:
    body = assert_problem(viewer.get("/v1/nothing-here"), 404, "not-found")
    assert body["title"] == "Not Found"
    assert_problem(viewer.client.simulate_get("/nothing"), 404)


def test_wrong_method_is_405_with_allow(viewer: Api) -> None:
    result = viewer.request("PUT", "/v1/items")
    assert_problem(result, 405, "method-not-allowed")
    assert set(result.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert_problem(viewer.client.simulate_delete("/healthz"), 405)


def test_body_over_the_limit_is_413() -> None:
    world = build_world(Settings(cookie_secure=False, max_body_bytes=200))
    api = world.as_("manager")
    big = {"sku": "BIG-1", "name": "x" * 300}
    assert_problem(api.post("/v1/items", json=big), 413, "content-too-large")
    # A chunked body without Content-Length is cut off at the limit too.
    raw = json.dumps(big).encode()
    result = api.post(
        "/v1/items",
        body=raw,
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    assert_problem(result, 413)


def test_wrong_content_type_is_415(manager: Api) -> None:
    body = json.dumps({"sku": "T-1", "name": "t"})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx"):
        result = manager.post("/v1/items", body=body, headers={"Content-Type": content_type})
        assert_problem(result, 415, "unsupported-media-type")
    assert_problem(manager.post("/v1/items", body=body), 415)  # no Content-Type at all
    ok = manager.post(
        "/v1/items", body=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert ok.status_code == 201


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"",
        b"{'sku': 1}",
        b"\xff\xfe",
        b'{"sku": NaN}',
        b"[1,]",
        b'{"a":1}{"b":2}',
        b"[" * 100_000,
    ],
)
def test_malformed_json_is_400(manager: Api, raw: bytes) -> None:
    result = manager.post("/v1/items", body=raw, headers={"Content-Type": "application/json"})
    assert_problem(result, 400, "malformed-json")


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ({"quantity": "1"}, "$.lines[0].quantity"),
        ({"quantity": 1.5}, "$.lines[0].quantity"),
        ({"quantity": True}, "$.lines[0].quantity"),
        ({"quantity": 0}, "$.lines[0].quantity"),
        ({"quantity": 10**12 + 1}, "$.lines[0].quantity"),
        ({"quantity": None}, "$.lines[0].quantity"),
        ({"item_id": "0190a8e43b6c7d4e9f10123456789abc"}, "$.lines[0].item_id"),
        ({"item_id": "{0190a8e4-3b6c-7d4e-9f10-123456789abc}"}, "$.lines[0].item_id"),
        ({"item_id": 5}, "$.lines[0].item_id"),
        ({"surprise": 1}, "$.lines[0]"),
    ],
)
def test_no_silent_coercion(
    stocked: Stocked, clerk: Api, line: dict[str, object], path: str
) -> None:
    full = {"item_id": stocked.item_id, "quantity": 1, "to_location_id": stocked.bin_id, **line}
    result = clerk.post("/v1/movements", json={"kind": "receipt", "lines": [full]})
    errors = assert_problem(result, 422, "validation-error")["errors"]
    assert [e["path"] for e in errors] == [path], errors
    assert all(isinstance(e["message"], str) and e["message"] for e in errors)


def test_every_invalid_field_is_reported_at_once(clerk: Api) -> None:
    result = clerk.post(
        "/v1/movements",
        json={
            "kind": "teleport",
            "lines": [{"item_id": "x", "quantity": "2"}],
            "occurred_at": "yesterday",
            "extra": 1,
        },
    )
    errors = assert_problem(result, 422)["errors"]
    assert {e["path"] for e in errors} == {
        "$.kind",
        "$.lines[0].item_id",
        "$.lines[0].quantity",
        "$.occurred_at",
        "$",
    }
    unknown = next(e for e in errors if e["path"] == "$")
    assert "extra" in unknown["message"]


@pytest.mark.parametrize(
    "body",
    [[], "text", 1, None, {"kind": "receipt", "lines": "abc"}, {"kind": "receipt", "lines": {}}],
)
def test_wrong_shapes_are_422(clerk: Api, body: object) -> None:
    raw = json.dumps(body).encode()
    result = clerk.post("/v1/movements", body=raw, headers={"Content-Type": "application/json"})
    assert_problem(result, 422)


@pytest.mark.parametrize(
    "when",
    [
        "2026-13-01T00:00:00Z",
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:00",
        "1767225600",
        "2026-02-30T00:00:00Z",
    ],
)
def test_times_must_be_rfc_3339_with_offset(stocked: Stocked, clerk: Api, when: str) -> None:
    body = {
        "item_id": stocked.item_id,
        "warehouse_id": stocked.warehouse_id,
        "quantity": 1,
        "expires_at": when,
    }
    result = clerk.post("/v1/reservations", json=body)
    assert assert_problem(result, 422)["errors"][0]["path"] == "$.expires_at"


def test_text_that_storage_cannot_hold_is_422(manager: Api) -> None:
    result = manager.post(
        "/v1/items",
        body=b'{"sku": "N-1", "name": "a\\u0000b"}',
        headers={"Content-Type": "application/json"},
    )
    assert assert_problem(result, 422)["errors"][0]["path"] == "$.name"
    result = manager.post(
        "/v1/items",
        body=b'{"sku": "N-1", "name": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert assert_problem(result, 422)["errors"][0]["path"] == "$.name"


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=abc",
        "limit=1.5",
        "limit=-1",
        "limit=%EF%BC%91",
        "limit=1&limit=2",
        "active=TRUE",
        "q=%00",
    ],
)
def test_bad_query_parameters_are_422(viewer: Api, query: str) -> None:
    assert_problem(viewer.get("/v1/items", query_string=query), 422)


def test_limit_bounds_are_inclusive(viewer: Api) -> None:
    assert viewer.get("/v1/items", query_string="limit=1").status_code == 200
    assert viewer.get("/v1/items", query_string="limit=500").status_code == 200


def test_forbidden_and_unauthenticated(world: World, viewer: Api) -> None:
    assert_problem(world.client().get("/v1/items"), 401, "unauthenticated")
    assert_problem(
        viewer.post("/v1/items", json={"sku": "V-1", "name": "v"}), 403, "permission-denied"
    )


class DownSessionStore(InMemorySessionStore):
    """A session store whose backend stopped answering after login (as Redis can)."""

    down = False

    def get(self, session_id: str) -> Session | None:
        if self.down:
            raise Unavailable("session store unreachable at 10.0.0.7:6379")
        return super().get(session_id)


def test_an_unavailable_backend_is_503_with_retry_after(world: World) -> None:
    sessions = DownSessionStore(world.clock)
    app = create_app(
        world.settings, inventory=world.inventory, sessions=sessions, throttle=world.throttle
    )
    api = Api(falcon.testing.TestClient(app), "inventory_session")
    assert api.login("viewer").status_code == 201
    sessions.down = True
    result = api.get("/v1/items")
    body = assert_problem(result, 503, "unavailable")
    assert result.headers["retry-after"] == "5"
    assert "10.0.0.7" not in result.text
    assert "unreachable" not in body["detail"]


class BrokenThrottle:
    """A login throttle with a bug: anything unexpected must still be a bare 500."""

    def begin_attempt(self, *, username: str, client: str) -> float | None:
        raise RuntimeError("secret internals: dsn=postgres://app:hunter2@db")

    def retry_after(self, *, username: str, client: str) -> float | None:
        raise RuntimeError("secret internals: dsn=postgres://app:hunter2@db")

    def record_failure(self, *, username: str, client: str) -> None: ...

    def record_success(self, *, username: str, client: str) -> None: ...


def test_unexpected_errors_are_a_bare_500(world: World) -> None:
    app = create_app(
        world.settings,
        inventory=world.inventory,
        sessions=world.sessions,
        throttle=BrokenThrottle(),
    )
    api = Api(falcon.testing.TestClient(app), "inventory_session")
    result = api.login("viewer")
    body = assert_problem(result, 500, "internal-error")
    assert "hunter2" not in result.text
    assert "RuntimeError" not in result.text
    assert body["detail"] == "the server failed to answer this request"


def _assert_limit_problem(result: falcon.testing.Result, status: int) -> None:
    """A refused oversized request: a problem document with the app's own headers.

    (Its ``type`` is whatever PROBLEM_TYPES registers for the status; gunicorn's own answer to
    the same request, past its larger limits, would be an HTML page without these headers.)"""
    assert_problem(result, status)
    assert result.headers["x-content-type-options"] == "nosniff"
    assert result.headers["x-request-id"] == "limits-1"


def test_a_request_target_over_the_limit_is_414_before_routing(viewer: Api) -> None:
    from inventory_http.app import MAX_TARGET_BYTES  # noqa: PLC0415

    headers = {"X-Request-Id": "limits-1"}
    query = "q=" + "x" * (MAX_TARGET_BYTES - len("/v1/items?q="))
    assert viewer.get("/v1/items", query_string=query, headers=headers).status_code == 200
    longer = viewer.get("/v1/items", query_string=query + "x", headers=headers)
    _assert_limit_problem(longer, 414)
    # Checked before routing: an overlong unknown path is 414 too, not 404.
    _assert_limit_problem(viewer.get("/" + "p" * MAX_TARGET_BYTES, headers=headers), 414)


def test_too_many_or_too_large_header_fields_are_431(viewer: Api) -> None:
    from inventory_http.app import MAX_HEADER_FIELD_BYTES, MAX_HEADER_FIELDS  # noqa: PLC0415

    base = {"X-Request-Id": "limits-1"}
    # The test client sends Host and the session Cookie too, and sends a User-Agent.
    sent = viewer.get("/v1/items", headers=base)
    assert sent.status_code == 200
    extra = {f"X-Extra-{n}": "1" for n in range(MAX_HEADER_FIELDS - 5)}
    assert viewer.get("/v1/items", headers={**base, **extra}).status_code == 200
    more = {f"X-Extra-{n}": "1" for n in range(MAX_HEADER_FIELDS + 1)}
    _assert_limit_problem(viewer.get("/v1/items", headers={**base, **more}), 431)
    name = "X-Large"
    fits = "v" * (MAX_HEADER_FIELD_BYTES - len(name) - len(": "))
    assert viewer.get("/v1/items", headers={**base, name: fits}).status_code == 200
    _assert_limit_problem(viewer.get("/v1/items", headers={**base, name: fits + "v"}), 431)
