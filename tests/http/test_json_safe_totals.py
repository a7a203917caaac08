"""Issue 14, defect 7: every level and total the API shows stays within 2^53 - 1, the largest
integer a JSON client reading numbers as doubles (JavaScript) gets exactly. What would pass it
is 409 `limit-exceeded` and changes nothing; a count works for any counted value."""

from __future__ import annotations

from typing import Any

from tests.http.conftest import Api, assert_problem, create_item, create_location

MAX_TOTAL = 2**53 - 1
MAX_QUANTITY = 10**12
FULL = MAX_QUANTITY * 1000  # one movement of 1,000 lines of 10^12


def _lines(item_id: str, location_id: str, quantity: int) -> list[dict[str, Any]]:
    """Lines of at most 10^12 adding up to ``quantity`` (at most 10^15), to ``location_id``."""
    whole, rest = divmod(quantity, MAX_QUANTITY)
    line = {"item_id": item_id, "quantity": MAX_QUANTITY, "to_location_id": location_id}
    return [line] * whole + ([{**line, "quantity": rest}] if rest else [])


def _receipt(api: Api, item_id: str, location_id: str, quantity: int) -> Any:
    return api.post(
        "/v1/movements", json={"kind": "receipt", "lines": _lines(item_id, location_id, quantity)}
    )


def _stock(api: Api, item_id: str) -> dict[str, Any]:
    result = api.get(f"/v1/items/{item_id}/stock")
    assert result.status_code == 200, result.text
    body: dict[str, Any] = result.json
    return body


def test_the_tenth_full_receipt_is_409_limit_exceeded_and_posts_nothing(
    admin: Api, clerk: Api
) -> None:
    item = create_item(admin)["id"]
    warehouse = create_location(admin, "WH-1")["id"]
    bin_ = create_location(admin, "WH-1-A1", "internal", warehouse)["id"]
    for _ in range(9):
        assert _receipt(clerk, item, bin_, FULL).status_code == 201
    movements = clerk.get("/v1/movements", query_string="limit=500").json["data"]

    refused = _receipt(clerk, item, bin_, FULL)

    body = assert_problem(refused, 409, "limit-exceeded")
    assert {k: body[k] for k in ("item_id", "location_id", "level", "limit")} == {
        "item_id": item,
        "location_id": bin_,
        "level": "on_hand",
        "limit": MAX_TOTAL,
    }
    assert (body["current"], body["change"]) == (9 * FULL, FULL)
    assert str(MAX_TOTAL) in body["detail"]
    assert clerk.get("/v1/movements", query_string="limit=500").json["data"] == movements
    stock = _stock(clerk, item)
    assert (stock["on_hand"], stock["available"]) == (9 * FULL, 9 * FULL)
    # Up to the limit exactly is fine, and what the API shows then is still exact.
    assert _receipt(clerk, item, bin_, MAX_TOTAL - 9 * FULL).status_code == 201
    assert _stock(clerk, item)["on_hand"] == MAX_TOTAL
    levels = clerk.get("/v1/stock", query_string=f"item_id={item}").json["data"]
    assert [level["on_hand"] for level in levels] == [MAX_TOTAL]
    one_more = _receipt(clerk, item, bin_, 1)
    assert assert_problem(one_more, 409, "limit-exceeded")["current"] == MAX_TOTAL


def test_an_items_total_over_warehouses_is_bounded_too(admin: Api, clerk: Api) -> None:
    item = create_item(admin)["id"]
    east = create_location(admin, "EAST")["id"]
    west = create_location(admin, "WEST")["id"]
    a = create_location(admin, "EAST-A", "internal", east)["id"]
    b = create_location(admin, "WEST-B", "internal", west)["id"]
    # Half by receipt, half found: no single location or warehouse near the limit.
    for _ in range(5):
        assert _receipt(clerk, item, a, FULL).status_code == 201
    found = {"kind": "adjustment", "reason": "found", "lines": _lines(item, b, FULL)}
    for _ in range(4):
        assert clerk.post("/v1/movements", json=found).status_code == 201

    refused = _receipt(clerk, item, b, FULL)

    body = assert_problem(refused, 409, "limit-exceeded")
    assert (body["item_id"], body["location_id"], body["level"]) == (item, None, "on_hand")
    assert "over all warehouses" in body["detail"]
    assert _stock(clerk, item)["on_hand"] == 9 * FULL
    assert _stock(clerk, item)["on_hand"] <= MAX_TOTAL


def test_a_count_of_3e12_down_to_0_posts(admin: Api, clerk: Api) -> None:
    item = create_item(admin)["id"]
    warehouse = create_location(admin, "WH-1")["id"]
    bin_ = create_location(admin, "WH-1-A1", "internal", warehouse)["id"]
    assert _receipt(clerk, item, bin_, 3 * MAX_QUANTITY).status_code == 201

    counted = clerk.post(
        "/v1/counts", json={"lines": [{"item_id": item, "location_id": bin_, "counted": 0}]}
    )

    assert counted.status_code == 201, counted.text
    lines = counted.json["movement"]["lines"]
    assert [(line["quantity"], line["from_location_id"]) for line in lines] == [
        (MAX_QUANTITY, bin_)
    ] * 3
    assert _stock(clerk, item)["on_hand"] == 0


def test_limit_exceeded_is_a_documented_409(viewer: Api) -> None:
    document = viewer.get("/openapi.json").json
    conflict = document["components"]["schemas"]["ConflictProblem"]["properties"]["type"]
    assert "urn:inventory-core:problem:limit-exceeded" in conflict["enum"]
