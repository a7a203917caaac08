"""Movements, stock levels, availability, reservations and counts."""

from __future__ import annotations

import base64

from tests.http.conftest import (
    Api,
    Stocked,
    World,
    assert_problem,
    create_item,
    create_location,
    receive,
)


def test_post_movement_answers_the_movement_with_seq_and_location(
    stocked: Stocked, clerk: Api
) -> None:
    result = clerk.post(
        "/v1/movements",
        json={
            "kind": "shipment",
            "reference": "SO-1",
            "lines": [
                {"item_id": stocked.item_id, "quantity": 3, "from_location_id": stocked.bin_id}
            ],
        },
    )
    assert result.status_code == 201
    movement = result.json
    assert movement["seq"] == stocked.receipt["seq"] + 1
    assert movement["kind"] == "shipment"
    assert movement["reference"] == "SO-1"
    assert movement["lines"][0]["to_location_id"] == "00000000-0000-7000-8000-000000000002"
    assert result.headers["location"] == f"/v1/movements/{movement['id']}"
    assert clerk.get(result.headers["location"]).json == movement


def test_insufficient_stock_names_item_location_available_and_requested(
    stocked: Stocked, clerk: Api
) -> None:
    result = clerk.post(
        "/v1/movements",
        json={
            "kind": "shipment",
            "lines": [
                {"item_id": stocked.item_id, "quantity": 11, "from_location_id": stocked.bin_id}
            ],
        },
    )
    body = assert_problem(result, 409, "insufficient-stock")
    assert body["item_id"] == stocked.item_id
    assert body["location_id"] in {stocked.bin_id, stocked.warehouse_id}
    assert body["available"] == 10
    assert body["requested"] == 11


def test_adjustments_need_a_reason(stocked: Stocked, clerk: Api) -> None:
    line = {"item_id": stocked.item_id, "quantity": 2, "from_location_id": stocked.bin_id}
    missing = clerk.post("/v1/movements", json={"kind": "adjustment", "lines": [line]})
    assert assert_problem(missing, 422)["errors"][0]["path"] == "$.reason"
    ok = clerk.post(
        "/v1/movements", json={"kind": "adjustment", "reason": "damage", "lines": [line]}
    )
    assert ok.status_code == 201
    assert ok.json["reason"] == "damage"


def test_viewers_cannot_post_movements(stocked: Stocked, viewer: Api) -> None:
    result = viewer.post(
        "/v1/movements",
        json={
            "kind": "receipt",
            "lines": [
                {"item_id": stocked.item_id, "quantity": 1, "to_location_id": stocked.bin_id}
            ],
        },
    )
    assert_problem(result, 403, "permission-denied")


def test_paging_through_the_ledger_sees_every_movement_once(stocked: Stocked, clerk: Api) -> None:
    for _ in range(6):
        receive(clerk, stocked.item_id, stocked.bin_id, 1)
    seen: list[int] = []
    positions: list[str] = []
    query = "limit=3"
    while True:
        result = clerk.get("/v1/movements", query_string=query)
        assert result.status_code == 200
        seen += [m["seq"] for m in result.json["data"]]
        positions.append(result.json["position"])
        if result.json["next_cursor"] is None:
            break
        assert result.json["next_cursor"] == result.json["position"]
        query = f"limit=3&cursor={result.json['next_cursor']}"
    assert seen == list(range(1, 8))
    # The last page's position resumes the feed later: nothing new yet, then just what came.
    resume = f"cursor={positions[-1]}"
    empty = clerk.get("/v1/movements", query_string=resume).json
    assert (empty["data"], empty["next_cursor"], empty["position"]) == ([], None, positions[-1])
    receive(clerk, stocked.item_id, stocked.bin_id, 1)
    later = clerk.get("/v1/movements", query_string=resume).json
    assert [m["seq"] for m in later["data"]] == [8]
    assert later["position"] != positions[-1]
    by_location = clerk.get(
        "/v1/movements", query_string=f"location_id={stocked.bin_id}&item_id={stocked.item_id}"
    )
    assert len(by_location.json["data"]) == 8
    # The old seq parameter is gone: it is refused, not ignored.
    assert_problem(clerk.get("/v1/movements", query_string="after=5"), 422)


def test_cursors_cannot_be_tampered_with_or_moved_between_collections(
    stocked: Stocked, admin: Api
) -> None:
    for sku in ("B-1", "C-1"):
        create_item(admin, sku)
    items = admin.get("/v1/items", query_string="limit=1")
    cursor = items.json["next_cursor"]
    assert cursor is not None
    deep = base64.urlsafe_b64encode(b"[" * 3_000).decode()  # within the 4096-byte target limit
    for bad in ("garbage", cursor[:-2], cursor + "A", "eyJ4Ijp0cnVlfQ", "W10", "é", deep):
        body = assert_problem(admin.get("/v1/items", query_string=f"cursor={bad}"), 422)
        assert body["errors"][0]["path"] == "$.cursor"
    assert_problem(admin.get("/v1/movements", query_string=f"cursor={cursor}"), 422)
    assert_problem(admin.get("/v1/stock", query_string=f"cursor={cursor}"), 422)


def test_every_collection_pages_to_the_end(world: World, admin: Api) -> None:
    warehouse = create_location(admin, "WH-P")
    for n in range(5):
        item = create_item(admin, f"P-{n}")
        receive(admin, item["id"], warehouse["id"], n + 1)
        admin.post(
            "/v1/reservations",
            json={"item_id": item["id"], "warehouse_id": warehouse["id"], "quantity": 1},
        )
    for path, total in [
        ("/v1/items", 5),
        ("/v1/locations", 4),
        ("/v1/stock", 5),
        ("/v1/availability", 5),
        ("/v1/movements", 5),
        ("/v1/reservations", 5),
        ("/v1/users", 4),
    ]:
        rows: list[object] = []
        query = "limit=2"
        for _ in range(10):
            result = admin.get(path, query_string=query)
            assert result.status_code == 200, (path, result.text)
            rows += result.json["data"]
            if result.json["next_cursor"] is None:
                break
            query = f"limit=2&cursor={result.json['next_cursor']}"
        assert len(rows) == total, path
        assert len({str(r) for r in rows}) == total, path


def test_reversal_mirrors_once(stocked: Stocked, manager: Api, clerk: Api) -> None:
    path = f"/v1/movements/{stocked.receipt['id']}/reversal"
    assert_problem(clerk.post(path), 403)
    result = manager.post(path, json={"note": "wrong item"})
    assert result.status_code == 201
    assert result.json["kind"] == "reversal"
    assert result.json["reverses_id"] == stocked.receipt["id"]
    assert result.json["note"] == "wrong item"
    assert_problem(manager.post(path), 409, "invalid-operation")
    assert_problem(manager.post("/v1/movements/0190a8e4-3b6c-7d4e-9f10-123456789abc/reversal"), 404)
    assert manager.get(f"/v1/items/{stocked.item_id}/stock").json["on_hand"] == 0


def test_stock_and_availability(stocked: Stocked, clerk: Api, admin: Api) -> None:
    other = create_item(admin, "OTHER-1", reorder_point=100)
    receive(admin, other["id"], stocked.bin_id, 4)
    stock = clerk.get("/v1/stock", query_string=f"item_id={stocked.item_id}")
    assert stock.json["data"] == [
        {
            "item_id": stocked.item_id,
            "location_id": stocked.bin_id,
            "warehouse_id": stocked.warehouse_id,
            "on_hand": 10,
        }
    ]
    by_warehouse = clerk.get("/v1/stock", query_string=f"warehouse_id={stocked.warehouse_id}")
    assert len(by_warehouse.json["data"]) == 2
    below = clerk.get("/v1/availability", query_string="below_reorder=true")
    assert [r["item_id"] for r in below.json["data"]] == [other["id"]]
    everything = clerk.get("/v1/availability", query_string=f"warehouse_id={stocked.warehouse_id}")
    assert len(everything.json["data"]) == 2
    assert_problem(clerk.get("/v1/availability", query_string="below_reorder=1"), 422)
    assert_problem(clerk.get("/v1/stock", query_string="item_id=nope"), 422)


def test_reservation_lifecycle(world: World, stocked: Stocked, clerk: Api) -> None:
    result = clerk.post(
        "/v1/reservations",
        json={
            "item_id": stocked.item_id,
            "warehouse_id": stocked.warehouse_id,
            "quantity": 4,
            "reference": "SO-9",
        },
    )
    assert result.status_code == 201
    reservation = result.json
    assert reservation["status"] == "active"
    assert result.headers["location"] == f"/v1/reservations/{reservation['id']}"
    availability = clerk.get("/v1/availability", query_string=f"item_id={stocked.item_id}").json[
        "data"
    ][0]
    assert availability["reserved"] == 4
    assert availability["available"] == 6
    too_much = clerk.post(
        "/v1/reservations",
        json={"item_id": stocked.item_id, "warehouse_id": stocked.warehouse_id, "quantity": 7},
    )
    assert assert_problem(too_much, 409, "insufficient-stock")["available"] == 6
    assert clerk.get(f"/v1/reservations/{reservation['id']}").json == reservation
    listed = clerk.get("/v1/reservations", query_string="status=active&reference=SO-9")
    assert [r["id"] for r in listed.json["data"]] == [reservation["id"]]

    shipped = clerk.post(
        f"/v1/reservations/{reservation['id']}/fulfilment",
        json={"lines": [{"location_id": stocked.bin_id, "quantity": 4}]},
    )
    assert shipped.status_code == 201
    assert shipped.json["kind"] == "shipment"
    assert shipped.json["reservation_id"] == reservation["id"]
    assert clerk.get(f"/v1/reservations/{reservation['id']}").json["status"] == "fulfilled"
    assert_problem(clerk.delete(f"/v1/reservations/{reservation['id']}"), 409)


def test_release_and_expiry(world: World, stocked: Stocked, clerk: Api, viewer: Api) -> None:
    body = {"item_id": stocked.item_id, "warehouse_id": stocked.warehouse_id, "quantity": 2}
    first = clerk.post("/v1/reservations", json=body).json
    assert_problem(viewer.delete(f"/v1/reservations/{first['id']}"), 403)
    assert clerk.delete(f"/v1/reservations/{first['id']}").status_code == 204
    assert clerk.get(f"/v1/reservations/{first['id']}").json["status"] == "released"
    assert_problem(clerk.delete(f"/v1/reservations/{first['id']}"), 409, "invalid-operation")
    expiring = clerk.post(
        "/v1/reservations", json={**body, "expires_at": "2026-01-01T01:00:00+01:00"}
    )
    assert assert_problem(expiring, 422)["errors"][0]["path"] == "$.expires_at"  # already past
    later = clerk.post("/v1/reservations", json={**body, "expires_at": "2026-01-01T00:10:00Z"}).json
    assert later["expires_at"] == "2026-01-01T00:10:00Z"
    world.clock.advance(11 * 60)
    assert clerk.get(f"/v1/reservations/{later['id']}").json["status"] == "expired"
    assert_problem(clerk.get("/v1/reservations/0190a8e4-3b6c-7d4e-9f10-123456789abc"), 404)


def test_counts_post_the_difference_or_report_conflicts(stocked: Stocked, clerk: Api) -> None:
    line = {"item_id": stocked.item_id, "location_id": stocked.bin_id}
    matched = clerk.post(
        "/v1/counts", json={"lines": [{**line, "counted": 10, "expected_on_hand": 10}]}
    )
    assert matched.status_code == 201
    assert matched.json == {"movement": None, "conflicts": []}
    short = clerk.post(
        "/v1/counts", json={"lines": [{**line, "counted": 8}], "note": "cycle count"}
    )
    assert short.status_code == 201
    assert short.json["movement"]["reason"] == "count"
    assert short.json["movement"]["lines"][0]["quantity"] == 2
    conflict = clerk.post(
        "/v1/counts", json={"lines": [{**line, "counted": 5, "expected_on_hand": 10}]}
    )
    body = assert_problem(conflict, 409, "count-conflict")
    assert body["conflicts"] == [{**line, "expected_on_hand": 10, "on_hand": 8, "lot": None}]
    assert clerk.get(f"/v1/items/{stocked.item_id}/stock").json["on_hand"] == 8
