"""Request bodies: chunked bodies are read, JSON objects that repeat a key are refused."""

from __future__ import annotations

import json

import falcon.testing
import pytest

from inventory_http.settings import Settings
from tests.http.conftest import Api, Stocked, World, assert_problem, build_world


def send_chunked(api: Api, path: str, body: bytes) -> falcon.testing.Result:
    """POST ``body`` as a server passes a ``Transfer-Encoding: chunked`` request on: no
    ``CONTENT_LENGTH``, and a ``wsgi.input`` that ends with the body (``wsgi.input_terminated``,
    as gunicorn sets it). falcon.testing always sets ``CONTENT_LENGTH``, so the environ is made
    here."""
    headers = {
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
        "Cookie": f"{api.cookie_name}={api.session_id}",
        "X-CSRF-Token": api.csrf_token or "",
    }
    env = falcon.testing.create_environ(path=path, method="POST", headers=headers, body=body)
    del env["CONTENT_LENGTH"]
    env["wsgi.input_terminated"] = True
    start_response = falcon.testing.StartResponseMock()
    app = api.client.app
    chunks = app(env, start_response)  # type: ignore[arg-type]
    return falcon.testing.Result(chunks, start_response.status, start_response.headers)


def test_a_chunked_body_is_read(manager: Api) -> None:
    body = json.dumps({"sku": "CHUNK-1", "name": "Sent in chunks"}).encode()
    result = send_chunked(manager, "/v1/items", body)
    assert result.status_code == 201, result.text
    assert result.json["sku"] == "CHUNK-1"
    assert [item["sku"] for item in manager.get("/v1/items").json["data"]] == ["CHUNK-1"]


def test_a_chunked_body_over_the_limit_is_413() -> None:
    world = build_world(Settings(cookie_secure=False, max_body_bytes=200))
    manager = world.as_("manager")
    fits = json.dumps({"sku": "FITS-1", "name": "x" * 150}).encode()
    assert len(fits) <= 200
    assert send_chunked(manager, "/v1/items", fits).status_code == 201
    big = json.dumps({"sku": "BIG-1", "name": "x" * 300}).encode()
    assert_problem(send_chunked(manager, "/v1/items", big), 413, "content-too-large")
    assert [item["sku"] for item in manager.get("/v1/items").json["data"]] == ["FITS-1"]


def _post_raw(api: Api, path: str, raw: str) -> falcon.testing.Result:
    return api.post(path, body=raw.encode(), headers={"Content-Type": "application/json"})


def _paths(result: falcon.testing.Result) -> list[str]:
    body = assert_problem(result, 422, "validation-error")
    assert {error["message"] for error in body["errors"]} == {"is given more than once"}
    return [error["path"] for error in body["errors"]]


def test_a_repeated_key_is_422_and_nothing_is_written(manager: Api) -> None:
    # Last one wins in Python's json; first one wins elsewhere: refuse, whatever the values.
    result = _post_raw(manager, "/v1/items", '{"sku": "A-1", "name": "a", "sku": "B-1"}')
    assert _paths(result) == ["$.sku"]
    same = _post_raw(manager, "/v1/items", '{"sku": "A-1", "name": "a", "name": "a"}')
    assert _paths(same) == ["$.name"]
    assert manager.get("/v1/items").json["data"] == []


def test_repeated_keys_are_found_at_any_depth_with_their_paths(
    world: World, stocked: Stocked, clerk: Api
) -> None:
    ids = f'"item_id": "{stocked.item_id}", "to_location_id": "{stocked.bin_id}"'
    ok_line = f'{{{ids}, "quantity": 1}}'
    line = f'{{{ids}, "quantity": 1, "quantity": 1000}}'
    raw = (
        f'{{"kind": "receipt", "note": "n", "lines": [{ok_line}, {line}], "note": "m",'
        ' "kind": "receipt"}'
    )
    before = clerk.get(f"/v1/items/{stocked.item_id}/stock").json["on_hand"]
    result = _post_raw(clerk, "/v1/movements", raw)
    assert _paths(result) == ["$.note", "$.kind", "$.lines[1].quantity"]
    assert clerk.get(f"/v1/items/{stocked.item_id}/stock").json["on_hand"] == before
    deeper = _post_raw(clerk, "/v1/movements", '{"lines": [[{"a": {"b": 1, "b": 2}}]]}')
    assert _paths(deeper) == ["$.lines[0][0].a.b"]


@pytest.mark.parametrize(
    "raw",
    [
        '{"username": "viewer", "password": "viewer-pass-2b6w", "username": "admin"}',
        '{"username": "viewer", "password": "x", "password": "viewer-pass-2b6w"}',
    ],
)
def test_a_login_that_repeats_a_key_is_refused_before_any_check(world: World, raw: str) -> None:
    result = world.client().client.simulate_post(
        "/v1/session", body=raw.encode(), headers={"Content-Type": "application/json"}
    )
    assert result.status_code == 422, result.text
    assert "set-cookie" not in result.headers
