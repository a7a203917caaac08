"""HEAD answers as GET does, without the body, on every route that serves GET (RFC 9110 §9.3.2)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.http.conftest import Api, Stocked, World, create_item

REQUEST_ID = "head-vs-get"
"""Sent with both requests, so that the echoed X-Request-Id is the same in both answers."""


def get_routes(world: World) -> list[str]:
    """The URI template of every route whose resource serves GET, from Falcon's router."""
    found: list[str] = []

    def walk(nodes: list[Any]) -> None:
        for node in nodes:
            if node.resource is not None and hasattr(node.resource, "on_get"):
                found.append(node.uri_template)
            walk(node.children)

    walk(world.app._router._roots)
    return sorted(found)


@pytest.fixture
def ids(world: World, admin: Api, clerk: Api, stocked: Stocked) -> dict[str, str]:
    """An existing resource for every path parameter of a GET route."""
    reservation = clerk.post(
        "/v1/reservations",
        json={"item_id": stocked.item_id, "warehouse_id": stocked.warehouse_id, "quantity": 1},
    )
    assert reservation.status_code == 201, reservation.text
    webhook = admin.post(
        "/v1/webhooks", json={"url": "https://example.com/hook", "types": ["item.created"]}
    )
    assert webhook.status_code == 201, webhook.text
    assert admin.user is not None
    lot_item = create_item(admin, "HEAD-LOT", tracking="lot")
    serial_item = create_item(admin, "HEAD-SERIAL", tracking="serial")
    receipt = admin.post(
        "/v1/movements",
        json={
            "kind": "receipt",
            "lines": [
                {"item_id": lot_item["id"], "quantity": 2, "to_location_id": stocked.bin_id}
                | {"lot": "L-1", "expires_on": "2031-01-31"},
                {"item_id": serial_item["id"], "quantity": 1, "to_location_id": stocked.bin_id}
                | {"serials": ["SN-1"]},
            ],
        },
    )
    assert receipt.status_code == 201, receipt.text
    return {
        "lot_id": receipt.json["lines"][0]["lot_id"],
        "serial": "SN-1",
        "serial_item_id": serial_item["id"],
        "warehouse_id": stocked.warehouse_id,
        "webhook_id": webhook.json["webhook"]["id"],
        "item_id": stocked.item_id,
        "location_id": stocked.bin_id,
        "movement_id": stocked.receipt["id"],
        "reservation_id": reservation.json["id"],
        "user_id": admin.user["id"],
    }


def concrete(template: str, ids: dict[str, str]) -> str:
    """A path of the route, with the query parameters it requires."""
    if "/serials/" in template:  # the serial number is of its own item
        ids = {**ids, "item_id": ids["serial_item_id"]}
    path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: ids[m.group(1)], template)
    if template == "/v1/picking":
        path += f"?item_id={ids['item_id']}&warehouse_id={ids['warehouse_id']}&quantity=1"
    return path


def test_every_get_route_answers_head_like_get(
    world: World, admin: Api, ids: dict[str, str]
) -> None:
    routes = get_routes(world)
    assert {"/healthz", "/readyz", "/openapi.json", "/v1/items/{item_id:uuid}"} <= set(routes)
    assert {"/v1/lots/{lot_id:uuid}", "/v1/picking"} <= set(routes)
    assert len(routes) >= 21
    headers = {"X-Request-Id": REQUEST_ID}
    for template in routes:
        path = concrete(template, ids)
        got = admin.get(path, headers=headers)
        head = admin.request("HEAD", path, headers=headers)
        assert got.status_code == 200, (path, got.text)
        assert head.status_code == got.status_code, (path, head.text)
        assert head.content == b"", path
        # Every header, Content-Type, Content-Length and ETag included.
        assert dict(head.headers) == dict(got.headers), path
        assert head.headers["content-length"] == str(len(got.content)), path


def test_head_carries_the_etag_and_honours_if_none_match(admin: Api, stocked: Stocked) -> None:
    path = f"/v1/items/{stocked.item_id}"
    head = admin.request("HEAD", path)
    assert head.status_code == 200
    assert head.headers["etag"] == admin.get(path).headers["etag"]
    assert head.headers["content-type"] == "application/json"
    again = admin.request("HEAD", path, headers={"If-None-Match": head.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_head_needs_a_session_wherever_get_does(world: World, ids: dict[str, str]) -> None:
    anonymous = world.client()
    headers = {"X-Request-Id": REQUEST_ID}
    for template in get_routes(world):
        path = concrete(template, ids)
        got = anonymous.get(path, headers=headers)
        head = anonymous.request("HEAD", path, headers=headers)
        assert head.status_code == got.status_code, path
        assert head.content == b"", path
        assert dict(head.headers) == dict(got.headers), path
        public = template in {"/healthz", "/readyz", "/openapi.json"}
        assert got.status_code == (200 if public else 401), (path, got.status_code)


def test_head_is_not_offered_where_get_is_not(admin: Api) -> None:
    result = admin.request("HEAD", "/v1/users/me/password")  # PUT only
    assert result.status_code == 405
    assert "HEAD" not in result.headers["allow"]
    assert "HEAD" in admin.request("PUT", "/v1/items").headers["allow"]
