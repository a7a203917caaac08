"""Items and locations: create, list with filters, read with ETags, change with If-Match."""

from __future__ import annotations

from tests.http.conftest import Api, Stocked, World, assert_problem, create_item, create_location


def test_create_item_answers_location_and_etag(manager: Api) -> None:
    result = manager.post(
        "/v1/items",
        json={"sku": "Pear-2", "name": "Pear", "barcodes": ["4006381333931"], "reorder_point": 3},
    )
    assert result.status_code == 201
    assert result.headers["location"] == f"/v1/items/{result.json['id']}"
    assert result.headers["etag"] == '"1"'
    assert result.json["sku"] == "Pear-2"
    assert result.json["barcodes"] == ["4006381333931"]
    assert result.json["reorder_point"] == 3
    assert result.json["reorder_quantity"] is None
    assert manager.get(result.headers["location"]).json == result.json


def test_duplicate_sku_or_barcode_is_409(manager: Api) -> None:
    create_item(manager, "DUP-1", barcodes=["123"])
    assert (
        assert_problem(manager.post("/v1/items", json={"sku": "DUP-1", "name": "x"}), 409)["field"]
        == "sku"
    )
    again = manager.post("/v1/items", json={"sku": "DUP-2", "name": "x", "barcodes": ["123"]})
    assert assert_problem(again, 409, "already-exists")["field"] == "barcode"


def test_clerks_cannot_create_items_but_everyone_reads_them(world: World, manager: Api) -> None:
    item = create_item(manager)
    clerk, viewer = world.as_("clerk"), world.as_("viewer")
    assert_problem(
        clerk.post("/v1/items", json={"sku": "C-1", "name": "c"}), 403, "permission-denied"
    )
    assert viewer.get(f"/v1/items/{item['id']}").status_code == 200
    assert_problem(world.client().get("/v1/items"), 401)


def test_list_items_filters(manager: Api) -> None:
    create_item(manager, "APPLE-1", barcodes=["111"])
    create_item(manager, "PEAR-1")
    plum = create_item(manager, "PLUM-1")
    manager.patch(f"/v1/items/{plum['id']}", json={"active": False})

    def skus(query: str) -> list[str]:
        result = manager.get("/v1/items", query_string=query)
        assert result.status_code == 200, result.text
        return [i["sku"] for i in result.json["data"]]

    assert skus("") == ["APPLE-1", "PEAR-1", "PLUM-1"]
    assert skus("sku=PEAR-1") == ["PEAR-1"]
    assert skus("barcode=111") == ["APPLE-1"]
    assert skus("q=item%20p") == ["PEAR-1", "PLUM-1"]
    assert skus("active=false") == ["PLUM-1"]
    assert skus("active=true&q=plum") == []
    assert_problem(manager.get("/v1/items", query_string="active=yes"), 422)


def test_get_item_honours_if_none_match(manager: Api) -> None:
    item = create_item(manager)
    path = f"/v1/items/{item['id']}"
    fresh = manager.get(path, headers={"If-None-Match": '"1"'})
    assert fresh.status_code == 304
    assert fresh.text == ""
    assert fresh.headers["etag"] == '"1"'
    assert manager.get(path, headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert manager.get(path, headers={"If-None-Match": "*"}).status_code == 304
    stale = manager.get(path, headers={"If-None-Match": '"0"'})
    assert stale.status_code == 200
    assert stale.json["id"] == item["id"]


def test_patch_item_honours_if_match(manager: Api) -> None:
    item = create_item(manager, "EDIT-1", reorder_point=4)
    path = f"/v1/items/{item['id']}"
    changed = manager.patch(
        path, json={"name": "Renamed", "reorder_point": None}, headers={"If-Match": '"1"'}
    )
    assert changed.status_code == 200
    assert changed.json["name"] == "Renamed"
    assert changed.json["reorder_point"] is None
    assert changed.json["version"] == 2
    assert changed.headers["etag"] == '"2"'
    assert changed.json["sku"] == "EDIT-1"  # fields not sent stay as they were
    stale = manager.patch(path, json={"name": "Lost update"}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "version-mismatch")
    assert_problem(manager.patch(path, json={"name": "x"}, headers={"If-Match": 'W/"2"'}), 412)
    assert (
        manager.patch(path, json={"unit": "kg"}, headers={"If-Match": '"1", "2"'}).status_code
        == 200
    )
    assert manager.patch(path, json={"unit": "g"}, headers={"If-Match": "*"}).json["version"] == 4
    assert manager.get(path).json["name"] == "Renamed"


def test_patch_item_validates_fields(manager: Api) -> None:
    item = create_item(manager)
    result = manager.patch(f"/v1/items/{item['id']}", json={"sku": "bad sku!", "active": "no"})
    paths = {e["path"] for e in assert_problem(result, 422)["errors"]}
    assert paths == {"$.active"}  # wire types first; the SKU rule is checked once they are right
    result = manager.patch(f"/v1/items/{item['id']}", json={"sku": "bad sku!"})
    assert assert_problem(result, 422)["errors"][0]["path"] == "$.sku"


def test_missing_item_is_404(viewer: Api) -> None:
    missing = "0190a8e4-3b6c-7d4e-9f10-123456789abc"
    assert_problem(viewer.get(f"/v1/items/{missing}"), 404, "not-found")
    assert_problem(viewer.get(f"/v1/items/{missing}/stock"), 404, "not-found")


def test_item_stock_sums_warehouses_and_lists_locations(stocked: Stocked, viewer: Api) -> None:
    result = viewer.get(f"/v1/items/{stocked.item_id}/stock")
    assert result.status_code == 200
    assert result.json == {
        "item_id": stocked.item_id,
        "on_hand": 10,
        "reserved": 0,
        "available": 10,
        "warehouses": [
            {
                "item_id": stocked.item_id,
                "warehouse_id": stocked.warehouse_id,
                "on_hand": 10,
                "reserved": 0,
                "available": 10,
            }
        ],
        "locations": [
            {
                "item_id": stocked.item_id,
                "location_id": stocked.bin_id,
                "warehouse_id": stocked.warehouse_id,
                "on_hand": 10,
            }
        ],
        "lots": [],  # the item is tracked neither by lot nor by serial number
        "serials": [],
    }


def test_locations_create_list_filter_and_change(manager: Api) -> None:
    warehouse = create_location(manager, "WH-A")
    zone = create_location(manager, "WH-A-Z1", "internal", warehouse["id"])
    bin_ = create_location(manager, "WH-A-Z1-B1", "internal", zone["id"])
    assert bin_["warehouse_id"] == warehouse["id"]
    assert bin_["parent_id"] == zone["id"]
    other = create_location(manager, "WH-B")

    def codes(query: str) -> list[str]:
        result = manager.get("/v1/locations", query_string=query)
        assert result.status_code == 200, result.text
        return [x["code"] for x in result.json["data"]]

    assert codes("kind=warehouse") == ["WH-A", "WH-B"]
    assert codes(f"parent_id={zone['id']}") == ["WH-A-Z1-B1"]
    assert codes(f"warehouse_id={warehouse['id']}") == ["WH-A", "WH-A-Z1", "WH-A-Z1-B1"]
    assert set(codes("kind=supplier")) == {"SUPPLIER"}
    assert_problem(manager.get("/v1/locations", query_string="kind=moon"), 422)

    path = f"/v1/locations/{bin_['id']}"
    assert manager.get(path).headers["etag"] == '"1"'
    assert manager.get(path, headers={"If-None-Match": '"1"'}).status_code == 304
    moved = manager.patch(path, json={"parent_id": warehouse["id"]}, headers={"If-Match": '"1"'})
    assert moved.status_code == 200
    assert moved.json["parent_id"] == warehouse["id"]
    assert_problem(manager.patch(path, json={"name": "late"}, headers={"If-Match": '"1"'}), 412)
    across = manager.patch(path, json={"parent_id": other["id"]})
    assert assert_problem(across, 422)["errors"][0]["path"] == "$.parent_id"
    dup = manager.post("/v1/locations", json={"code": "WH-A", "name": "again", "kind": "warehouse"})
    assert assert_problem(dup, 409, "already-exists")["field"] == "code"
    virtual = manager.post("/v1/locations", json={"code": "S2", "name": "s", "kind": "supplier"})
    assert_problem(virtual, 422)
    assert_problem(manager.get("/v1/locations/0190a8e4-3b6c-7d4e-9f10-123456789abc"), 404)


def test_a_patch_that_changes_nothing_keeps_the_etag(world: World, admin: Api) -> None:
    # Items, locations and users alike: the values they have are no change, so no new version
    # (and ETag) and no new updated_at; a client's cached copy and If-Match stay good.
    item = create_item(admin, "SAME-1", reorder_point=3)
    warehouse = create_location(admin, "WH-S")
    bin_ = create_location(admin, "WH-S-1", "internal", warehouse["id"])
    user = admin.post(
        "/v1/users", json={"username": "same.clerk", "password": "a-long-pw-8d2k", "role": "clerk"}
    )
    assert user.status_code == 201, user.text
    world.clock.advance(60)
    cases = [
        (
            f"/v1/items/{item['id']}",
            item,
            {"name": item["name"], "reorder_point": 3, "active": True},
        ),
        (
            f"/v1/locations/{bin_['id']}",
            bin_,
            {"code": "WH-S-1", "name": bin_["name"], "parent_id": warehouse["id"]},
        ),
        (f"/v1/users/{user.json['id']}", user.json, {"role": "clerk", "active": True}),
    ]
    for path, created, same in cases:
        for headers in ({}, {"If-Match": '"1"'}):
            result = admin.patch(path, json=same, headers=headers)
            assert result.status_code == 200, result.text
            assert result.headers["etag"] == '"1"', path
            assert result.json == created
        if not path.startswith("/v1/users/"):  # users have no GET of one
            assert admin.get(path, headers={"If-None-Match": '"1"'}).status_code == 304
    changed = admin.patch(cases[0][0], json={"name": "Different"}, headers={"If-Match": '"1"'})
    assert changed.headers["etag"] == '"2"'
    assert changed.json["updated_at"] != item["updated_at"]
