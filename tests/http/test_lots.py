"""Lots, serial numbers and expiry over HTTP (DESIGN §12): lot and serial lines on movements,
fulfilments and counts, the refusals (each changing nothing), traceability for recalls
(``/v1/lots``, ``/v1/movements?lot_id=``, ``/v1/items/{id}/serials/{serial}``) and picking."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from tests.http.conftest import Api, World, assert_problem, create_item, create_location

CUSTOMER = "00000000-0000-7000-8000-000000000002"
MISSING = "0190a8e4-3b6c-7d4e-9f10-123456789abc"

# The test clock starts on 2026-01-01: OLD has expired, the others have not.
OLD, SOON, LATER = "2025-12-31", "2026-06-30", "2027-06-30"


@attrs.define
class Site:
    """A warehouse with two bins (codes WH-A < WH-B), a lot item, a serial item and an
    untracked one, none of them in stock yet."""

    warehouse: str
    bin_a: str
    bin_b: str
    milk: str
    phone: str
    bolt: str


@pytest.fixture
def site(admin: Api) -> Site:
    warehouse = create_location(admin, "WH")
    bin_a = create_location(admin, "WH-A", "internal", warehouse["id"])
    bin_b = create_location(admin, "WH-B", "internal", warehouse["id"])
    milk = create_item(admin, "MILK", tracking="lot")
    phone = create_item(admin, "PHONE", tracking="serial")
    bolt = create_item(admin, "BOLT")
    assert (milk["tracking"], phone["tracking"], bolt["tracking"]) == ("lot", "serial", "none")
    return Site(warehouse["id"], bin_a["id"], bin_b["id"], milk["id"], phone["id"], bolt["id"])


def post(api: Api, kind: str, *lines: dict[str, Any], **fields: Any) -> Any:
    return api.post("/v1/movements", json={"kind": kind, "lines": list(lines), **fields})


def posted(api: Api, kind: str, *lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
    result = post(api, kind, *lines, **fields)
    assert result.status_code == 201, result.text
    body: dict[str, Any] = result.json
    return body


def line(item: str, quantity: int, **fields: Any) -> dict[str, Any]:
    return {"item_id": item, "quantity": quantity, **fields}


def stock_in(admin: Api, site: Site) -> dict[str, Any]:
    """MILK: lot SOON 5 at A, lot LATER 5 at B, lot OLD 3 at A; PHONE: S1, S2 at A; BOLT 10 at
    B. Answers the receipt."""
    return posted(
        admin,
        "receipt",
        line(site.milk, 5, to_location_id=site.bin_a, lot="SOON", expires_on=SOON),
        line(site.milk, 5, to_location_id=site.bin_b, lot="LATER", expires_on=LATER),
        line(site.milk, 3, to_location_id=site.bin_a, lot="OLD", expires_on=OLD),
        line(site.phone, 2, to_location_id=site.bin_a, serials=["S1", "S2"]),
        line(site.bolt, 10, to_location_id=site.bin_b),
        reference="PO-1",
    )


def state(api: Api, site: Site) -> dict[str, Any]:
    """Everything a refused request must leave as it was: the levels (per location, per lot,
    per serial), the ledger, the lots and the items."""
    found: dict[str, Any] = {
        "stock": api.get("/v1/stock", query_string="limit=500").json,
        "ledger": api.get("/v1/movements", query_string="limit=500").json["data"],
        "lots": api.get("/v1/lots", query_string="limit=500").json,
        "reservations": api.get("/v1/reservations", query_string="limit=500").json,
    }
    for item in (site.milk, site.phone, site.bolt):
        found[item] = (api.get(f"/v1/items/{item}").json, api.get(f"/v1/items/{item}/stock").json)
    return found


def lot_id(api: Api, item: str, code: str) -> str:
    lots = api.get("/v1/lots", query_string=f"item_id={item}").json["data"]
    found: str = next(lot["id"] for lot in lots if lot["code"] == code)
    return found


def errors_of(result: Any) -> dict[str, str]:
    """path → message of a 422."""
    return {
        e["path"]: e["message"] for e in assert_problem(result, 422, "validation-error")["errors"]
    }


# ---------------------------------------------------------------- lines on movements


def test_a_receipt_creates_its_lots_and_every_line_echoes_lot_or_serials(
    admin: Api, site: Site
) -> None:
    receipt = stock_in(admin, site)
    lines = receipt["lines"]
    assert [(ln["lot"], ln["serials"]) for ln in lines] == [
        ("SOON", []),
        ("LATER", []),
        ("OLD", []),
        (None, ["S1", "S2"]),
        (None, []),
    ]
    assert [ln["lot_id"] for ln in lines[3:]] == [None, None]
    lots = admin.get("/v1/lots", query_string=f"item_id={site.milk}").json
    assert lots["next_cursor"] is None
    by_code = {lot["code"]: lot for lot in lots["data"]}
    assert by_code["SOON"] == {
        "id": lines[0]["lot_id"],
        "item_id": site.milk,
        "code": "SOON",
        "expires_on": SOON,
    }
    assert {code: lot["expires_on"] for code, lot in by_code.items()} == {
        "SOON": SOON,
        "LATER": LATER,
        "OLD": OLD,
    }
    # A later receipt of the code adds to the same lot; the date may be left out.
    again = posted(admin, "receipt", line(site.milk, 2, to_location_id=site.bin_b, lot="SOON"))
    assert again["lines"][0]["lot_id"] == lines[0]["lot_id"]
    assert len(admin.get("/v1/lots").json["data"]) == 3
    assert admin.get(f"/v1/movements/{receipt['id']}").json == receipt


def test_an_item_stock_lists_its_lots_and_serials(admin: Api, viewer: Api, site: Site) -> None:
    receipt = stock_in(admin, site)
    milk = viewer.get(f"/v1/items/{site.milk}/stock").json
    assert (milk["on_hand"], milk["available"], milk["serials"]) == (13, 13, [])
    levels = {(lv["code"], lv["location_id"]): lv for lv in milk["lots"]}
    assert {key: lv["on_hand"] for key, lv in levels.items()} == {
        ("SOON", site.bin_a): 5,
        ("LATER", site.bin_b): 5,
        ("OLD", site.bin_a): 3,
    }
    assert levels[("SOON", site.bin_a)] == {
        "lot_id": receipt["lines"][0]["lot_id"],
        "code": "SOON",
        "expires_on": SOON,
        "location_id": site.bin_a,
        "warehouse_id": site.warehouse,
        "on_hand": 5,
    }
    # Location levels stay the sums of the lot levels.
    assert {lv["location_id"]: lv["on_hand"] for lv in milk["locations"]} == {
        site.bin_a: 8,
        site.bin_b: 5,
    }
    phone = viewer.get(f"/v1/items/{site.phone}/stock").json
    assert phone["lots"] == []
    assert phone["serials"] == [
        {"serial": "S1", "location_id": site.bin_a, "warehouse_id": site.warehouse},
        {"serial": "S2", "location_id": site.bin_a, "warehouse_id": site.warehouse},
    ]
    bolt = viewer.get(f"/v1/items/{site.bolt}/stock").json
    assert (bolt["lots"], bolt["serials"], bolt["on_hand"]) == ([], [], 10)


def test_an_untracked_item_refuses_lot_serials_and_expiry(admin: Api, site: Site) -> None:
    stock_in(admin, site)
    before = state(admin, site)
    result = post(
        admin,
        "receipt",
        line(site.bolt, 1, to_location_id=site.bin_a, lot="L-1"),
        line(site.bolt, 1, to_location_id=site.bin_a, serials=["X1"]),
        line(site.bolt, 1, to_location_id=site.bin_a, expires_on=SOON),
    )
    errors = errors_of(result)
    assert set(errors) == {"$.lines[0].lot", "$.lines[1].serials", "$.lines[2].expires_on"}
    assert "not tracked by lot" in errors["$.lines[0].lot"]
    assert "not tracked by serial" in errors["$.lines[1].serials"]
    assert state(admin, site) == before


def test_a_tracked_item_requires_its_lot_or_serials(admin: Api, site: Site) -> None:
    stock_in(admin, site)
    before = state(admin, site)
    result = post(
        admin,
        "receipt",
        line(site.bolt, 1, to_location_id=site.bin_a),
        line(site.milk, 1, to_location_id=site.bin_a),
        line(site.phone, 1, to_location_id=site.bin_a),
        line(site.milk, 1, to_location_id=site.bin_a, serials=["X1"], lot="L-9"),
    )
    errors = errors_of(result)
    assert set(errors) == {"$.lines[1].lot", "$.lines[2].serials", "$.lines[3].serials"}
    assert errors["$.lines[1].lot"] == "is required: item MILK is tracked by lot"
    assert errors["$.lines[2].serials"] == "is required: item PHONE is tracked by serial number"
    shipment = post(admin, "shipment", line(site.milk, 1, from_location_id=site.bin_a))
    assert set(errors_of(shipment)) == {"$.lines[0].lot"}
    assert state(admin, site) == before


def test_a_serial_listed_twice_is_refused_at_its_index(admin: Api, site: Site) -> None:
    stock_in(admin, site)
    before = state(admin, site)
    twice = post(
        admin, "receipt", line(site.phone, 3, to_location_id=site.bin_a, serials=["S7", "S7", "S8"])
    )
    assert errors_of(twice) == {"$.lines[0].serials[1]": "serial S7 is listed twice"}
    across = post(
        admin,
        "receipt",
        line(site.phone, 1, to_location_id=site.bin_a, serials=["S9"]),
        line(site.phone, 2, to_location_id=site.bin_b, serials=["S10", "S9"]),
    )
    assert set(errors_of(across)) == {"$.lines[1].serials[1]"}
    bad = post(admin, "receipt", line(site.phone, 2, to_location_id=site.bin_a, serials=["S3", ""]))
    assert set(errors_of(bad)) == {"$.lines[0].serials[1]"}
    assert state(admin, site) == before


def test_the_serials_of_a_line_must_match_its_quantity(admin: Api, site: Site) -> None:
    stock_in(admin, site)
    before = state(admin, site)
    result = post(admin, "receipt", line(site.phone, 3, to_location_id=site.bin_a, serials=["S5"]))
    errors = errors_of(result)
    assert list(errors) == ["$.lines[0].serials"]
    assert "one per unit" in errors["$.lines[0].serials"]
    empty = post(admin, "receipt", line(site.phone, 1, to_location_id=site.bin_a, serials=[]))
    assert list(errors_of(empty)) == ["$.lines[0].serials"]
    assert state(admin, site) == before


def test_receiving_a_serial_already_in_stock_is_a_serial_conflict(admin: Api, site: Site) -> None:
    stock_in(admin, site)
    before = state(admin, site)
    result = post(
        admin, "receipt", line(site.phone, 2, to_location_id=site.bin_b, serials=["S9", "S2"])
    )
    body = assert_problem(result, 409, "serial-conflict")
    assert (body["item_id"], body["serial"], body["location_id"]) == (
        site.phone,
        "S2",
        site.bin_a,
    )
    assert state(admin, site) == before


def test_moving_a_serial_from_where_it_is_not_is_409(admin: Api, site: Site) -> None:
    stock_in(admin, site)
    posted(
        admin,
        "transfer",
        line(site.phone, 1, from_location_id=site.bin_a, to_location_id=site.bin_b, serials=["S2"]),
    )
    before = state(admin, site)
    # S1 is at A, not at B (where S2 is).
    wrong_bin = post(
        admin,
        "transfer",
        line(site.phone, 1, from_location_id=site.bin_b, to_location_id=site.bin_a, serials=["S1"]),
    )
    body = assert_problem(wrong_bin, 409, "serial-conflict")
    assert (body["serial"], body["location_id"]) == ("S1", site.bin_a)
    # Never received: not in stock anywhere.
    unknown = post(
        admin, "shipment", line(site.phone, 1, from_location_id=site.bin_b, serials=["S404"])
    )
    body = assert_problem(unknown, 409, "serial-conflict")
    assert (body["serial"], body["location_id"]) == ("S404", None)
    assert state(admin, site) == before
    # Shipped: not in stock any more, so it cannot be shipped again.
    posted(admin, "shipment", line(site.phone, 1, from_location_id=site.bin_a, serials=["S1"]))
    before = state(admin, site)
    again = post(
        admin, "shipment", line(site.phone, 1, from_location_id=site.bin_b, serials=["S1"])
    )
    body = assert_problem(again, 409, "serial-conflict")
    assert (body["serial"], body["location_id"]) == ("S1", None)
    # From a bin holding none of the item at all: the serial's conflict too (not a shortage),
    # naming where the serial is.
    empty = post(
        admin, "shipment", line(site.phone, 1, from_location_id=site.bin_a, serials=["S2"])
    )
    body = assert_problem(empty, 409, "serial-conflict")
    assert (body["serial"], body["location_id"]) == ("S2", site.bin_b)
    assert state(admin, site) == before


@pytest.mark.parametrize(
    "expires_on",
    ["2026-02-30", 20260101, "20260101", "2026-1-1", "2026-01-31T00:00:00Z", "31/01/2026", ""],
)
def test_an_expiry_that_is_not_a_date_is_422(admin: Api, site: Site, expires_on: object) -> None:
    before = state(admin, site)
    result = post(
        admin,
        "receipt",
        line(site.milk, 1, to_location_id=site.bin_a, lot="L-1", expires_on=expires_on),
    )
    errors = errors_of(result)
    assert list(errors) == ["$.lines[0].expires_on"]
    assert errors["$.lines[0].expires_on"].startswith("must be a date like 2026-01-31")
    assert state(admin, site) == before


def test_a_lot_has_one_expiry_date_given_where_stock_comes_in(admin: Api, site: Site) -> None:
    stock_in(admin, site)
    before = state(admin, site)
    other_date = post(
        admin,
        "receipt",
        line(site.milk, 1, to_location_id=site.bin_a, lot="SOON", expires_on=LATER),
    )
    assert "expires 2026-06-30" in errors_of(other_date)["$.lines[0].expires_on"]
    outbound = post(
        admin,
        "transfer",
        line(
            site.milk,
            1,
            from_location_id=site.bin_a,
            to_location_id=site.bin_b,
            lot="SOON",
            expires_on=SOON,
        ),
    )
    assert list(errors_of(outbound)) == ["$.lines[0].expires_on"]
    assert state(admin, site) == before
    # Stock found by an adjustment may bring a new lot, with its date.
    found = posted(
        admin,
        "adjustment",
        line(site.milk, 2, to_location_id=site.bin_b, lot="FOUND", expires_on=LATER),
        reason="found",
    )
    assert found["lines"][0]["lot"] == "FOUND"
    assert admin.get(f"/v1/lots/{found['lines'][0]['lot_id']}").json["expires_on"] == LATER


def test_an_unknown_lot_on_a_shipment_is_422(admin: Api, site: Site) -> None:
    stock_in(admin, site)
    before = state(admin, site)
    result = post(
        admin, "shipment", line(site.milk, 1, from_location_id=site.bin_a, lot="NEVER-RECEIVED")
    )
    assert errors_of(result) == {"$.lines[0].lot": "item MILK has no lot NEVER-RECEIVED"}
    bad_code = post(admin, "shipment", line(site.milk, 1, from_location_id=site.bin_a, lot="-x"))
    assert list(errors_of(bad_code)) == ["$.lines[0].lot"]
    assert state(admin, site) == before


def test_insufficient_stock_of_a_lot_names_the_lot(admin: Api, site: Site) -> None:
    stock_in(admin, site)
    before = state(admin, site)
    # B holds 5 of LATER; SOON is at A only.
    result = post(admin, "shipment", line(site.milk, 1, from_location_id=site.bin_b, lot="SOON"))
    body = assert_problem(result, 409, "insufficient-stock")
    assert body["lot_id"] == lot_id(admin, site.milk, "SOON")
    assert (body["item_id"], body["location_id"]) == (site.milk, site.bin_b)
    assert (body["available"], body["requested"]) == (0, 1)
    untracked = post(admin, "shipment", line(site.bolt, 11, from_location_id=site.bin_b))
    assert assert_problem(untracked, 409, "insufficient-stock")["lot_id"] is None
    assert state(admin, site) == before


def test_tracking_changes_only_while_the_item_has_no_stock(
    admin: Api, manager: Api, site: Site
) -> None:
    stock_in(admin, site)
    before = state(admin, site)
    for item, tracking in ((site.milk, "none"), (site.phone, "lot"), (site.bolt, "serial")):
        refused = manager.patch(f"/v1/items/{item}", json={"tracking": tracking})
        assert (
            "tracking changes only" in assert_problem(refused, 409, "invalid-operation")["detail"]
        )
    assert list(errors_of(manager.patch(f"/v1/items/{site.bolt}", json={"tracking": "batch"}))) == [
        "$.tracking"
    ]
    assert state(admin, site) == before
    fresh = create_item(manager, "FRESH")
    changed = manager.patch(f"/v1/items/{fresh['id']}", json={"tracking": "lot"})
    assert changed.status_code == 200, changed.text
    assert (changed.json["tracking"], changed.json["version"]) == ("lot", 2)


# ---------------------------------------------------------------- reservations and counts


def test_a_fulfilment_names_the_lots_and_serials_it_ships(
    admin: Api, clerk: Api, site: Site
) -> None:
    stock_in(admin, site)

    def reserve(item: str, quantity: int) -> str:
        body = {"item_id": item, "warehouse_id": site.warehouse, "quantity": quantity}
        result = clerk.post("/v1/reservations", json=body)
        assert result.status_code == 201, result.text
        reservation_id: str = result.json["id"]
        return reservation_id

    milk, phone = reserve(site.milk, 3), reserve(site.phone, 1)
    before = state(admin, site)
    no_lot = clerk.post(
        f"/v1/reservations/{milk}/fulfilment",
        json={"lines": [{"location_id": site.bin_a, "quantity": 3}]},
    )
    assert list(errors_of(no_lot)) == ["$.lines[0].lot"]
    too_many = clerk.post(
        f"/v1/reservations/{phone}/fulfilment",
        json={"lines": [{"location_id": site.bin_a, "quantity": 1, "serials": ["S1", "S2"]}]},
    )
    assert list(errors_of(too_many)) == ["$.lines[0].serials"]
    assert state(admin, site) == before

    shipped = clerk.post(
        f"/v1/reservations/{milk}/fulfilment",
        json={
            "lines": [
                {"location_id": site.bin_a, "quantity": 2, "lot": "SOON"},
                {"location_id": site.bin_b, "quantity": 1, "lot": "LATER"},
            ],
            "reference": "SO-1",
        },
    )
    assert shipped.status_code == 201, shipped.text
    assert [(ln["lot"], ln["to_location_id"]) for ln in shipped.json["lines"]] == [
        ("SOON", CUSTOMER),
        ("LATER", CUSTOMER),
    ]
    sent = clerk.post(
        f"/v1/reservations/{phone}/fulfilment",
        json={"lines": [{"location_id": site.bin_a, "quantity": 1, "serials": ["S2"]}]},
    )
    assert sent.status_code == 201, sent.text
    assert sent.json["lines"][0]["serials"] == ["S2"]
    serial = clerk.get(f"/v1/items/{site.phone}/serials/S2").json
    assert serial["location_id"] is None
    assert clerk.get(f"/v1/reservations/{phone}").json["status"] == "fulfilled"
    soon = clerk.get(f"/v1/lots/{lot_id(clerk, site.milk, 'SOON')}").json
    assert [(lv["location_id"], lv["on_hand"]) for lv in soon["levels"]] == [(site.bin_a, 3)]


def test_counts_count_per_lot_and_per_serial(admin: Api, clerk: Api, site: Site) -> None:
    stock_in(admin, site)
    before = state(admin, site)
    missing_lot = clerk.post(
        "/v1/counts",
        json={"lines": [{"item_id": site.milk, "location_id": site.bin_a, "counted": 4}]},
    )
    assert list(errors_of(missing_lot)) == ["$.lines[0].lot"]
    bad_date = clerk.post(
        "/v1/counts",
        json={
            "lines": [
                {
                    "item_id": site.milk,
                    "location_id": site.bin_a,
                    "counted": 1,
                    "lot": "NEW",
                    "expires_on": "2026-13-01",
                }
            ]
        },
    )
    assert list(errors_of(bad_date)) == ["$.lines[0].expires_on"]
    conflict = clerk.post(
        "/v1/counts",
        json={
            "lines": [
                {
                    "item_id": site.milk,
                    "location_id": site.bin_a,
                    "lot": "SOON",
                    "counted": 4,
                    "expected_on_hand": 6,
                }
            ]
        },
    )
    body = assert_problem(conflict, 409, "count-conflict")
    assert body["conflicts"] == [
        {
            "item_id": site.milk,
            "location_id": site.bin_a,
            "expected_on_hand": 6,
            "on_hand": 5,
            "lot": "SOON",
        }
    ]
    assert state(admin, site) == before

    counted = clerk.post(
        "/v1/counts",
        json={
            "lines": [
                # SOON at A: 4 of 5; a lot not known yet found at B, with its date.
                {"item_id": site.milk, "location_id": site.bin_a, "lot": "SOON", "counted": 4},
                {
                    "item_id": site.milk,
                    "location_id": site.bin_b,
                    "lot": "NEW",
                    "expires_on": LATER,
                    "counted": 2,
                },
                # At A the ledger has S1 and S2; S2 and S3 are found.
                {
                    "item_id": site.phone,
                    "location_id": site.bin_a,
                    "counted": 2,
                    "serials": ["S2", "S3"],
                },
            ],
            "reference": "COUNT-1",
        },
    )
    assert counted.status_code == 201, counted.text
    movement = counted.json["movement"]
    assert movement["reason"] == "count"
    adjustments = {
        (ln["item_id"], ln["lot"], tuple(ln["serials"]), ln["from_location_id"], ln["quantity"])
        for ln in movement["lines"]
    }
    adjustment = "00000000-0000-7000-8000-000000000003"
    assert adjustments == {
        (site.milk, "SOON", (), site.bin_a, 1),
        (site.milk, "NEW", (), adjustment, 2),
        (site.phone, None, ("S1",), site.bin_a, 1),
        (site.phone, None, ("S3",), adjustment, 1),
    }
    phone = clerk.get(f"/v1/items/{site.phone}/stock").json
    assert [(s["serial"], s["location_id"]) for s in phone["serials"]] == [
        ("S2", site.bin_a),
        ("S3", site.bin_a),
    ]
    new_lot = clerk.get(f"/v1/lots/{lot_id(clerk, site.milk, 'NEW')}").json
    assert (new_lot["expires_on"], new_lot["levels"][0]["on_hand"]) == (LATER, 2)


# ---------------------------------------------------------------- traceability


def test_lots_are_listed_by_item_and_expiry_and_paged(
    world: World, admin: Api, viewer: Api, site: Site
) -> None:
    stock_in(admin, site)
    other = create_item(admin, "CHEESE", tracking="lot")
    posted(
        admin,
        "receipt",
        line(other["id"], 1, to_location_id=site.bin_a, lot="C-1", expires_on="2026-03-01"),
        line(other["id"], 1, to_location_id=site.bin_a, lot="C-2"),
    )
    codes = [lot["code"] for lot in viewer.get("/v1/lots").json["data"]]
    assert sorted(codes) == ["C-1", "C-2", "LATER", "OLD", "SOON"]
    of_item = viewer.get("/v1/lots", query_string=f"item_id={other['id']}").json["data"]
    assert {lot["code"] for lot in of_item} == {"C-1", "C-2"}
    # Strictly before the day; lots without an expiry date never match.
    expiring = viewer.get("/v1/lots", query_string="expires_before=2026-06-30").json["data"]
    assert {lot["code"] for lot in expiring} == {"OLD", "C-1"}
    both = viewer.get("/v1/lots", query_string=f"expires_before=2026-07-01&item_id={site.milk}")
    assert {lot["code"] for lot in both.json["data"]} == {"OLD", "SOON"}
    paged: list[str] = []
    query = "limit=2"
    while True:
        page = viewer.get("/v1/lots", query_string=query).json
        assert len(page["data"]) <= 2
        paged += [lot["code"] for lot in page["data"]]
        if page["next_cursor"] is None:
            break
        query = f"limit=2&cursor={page['next_cursor']}"
    assert paged == codes
    # Refusals name their parameter.
    bad = viewer.get("/v1/lots", query_string="expires_before=2026-02-30&item_id=nope&limit=0")
    assert set(errors_of(bad)) == {"$.expires_before", "$.item_id", "$.limit"}
    for day in ("20260101", "2026-1-1", "2026-01-01T00:00:00Z"):
        refused = viewer.get("/v1/lots", query_string=f"expires_before={day}")
        assert errors_of(refused)["$.expires_before"] == "must be a date like 2026-01-31"
    feed_cursor = viewer.get("/v1/movements").json["position"]
    assert set(errors_of(viewer.get("/v1/lots", query_string=f"cursor={feed_cursor}"))) == {
        "$.cursor"
    }
    assert_problem(world.client().get("/v1/lots"), 401, "unauthenticated")


def test_a_lot_shows_where_its_stock_is(world: World, admin: Api, viewer: Api, site: Site) -> None:
    stock_in(admin, site)
    soon = lot_id(admin, site.milk, "SOON")
    posted(
        admin,
        "transfer",
        line(site.milk, 2, from_location_id=site.bin_a, to_location_id=site.bin_b, lot="SOON"),
    )
    detail = viewer.get(f"/v1/lots/{soon}").json
    assert {k: v for k, v in detail.items() if k != "levels"} == {
        "id": soon,
        "item_id": site.milk,
        "code": "SOON",
        "expires_on": SOON,
    }
    assert sorted((lv["location_id"], lv["on_hand"]) for lv in detail["levels"]) == sorted(
        [(site.bin_a, 3), (site.bin_b, 2)]
    )
    assert all(lv["warehouse_id"] == site.warehouse for lv in detail["levels"])
    posted(admin, "shipment", line(site.milk, 5, from_location_id=site.bin_b, lot="LATER"))
    gone = viewer.get(f"/v1/lots/{lot_id(admin, site.milk, 'LATER')}").json
    assert gone["levels"] == []  # shipped entirely: the lot stays, without stock
    assert_problem(viewer.get(f"/v1/lots/{MISSING}"), 404, "not-found")
    assert_problem(viewer.get("/v1/lots/not-a-uuid"), 404, "not-found")
    assert_problem(world.client().get(f"/v1/lots/{soon}"), 401, "unauthenticated")


def test_a_recall_finds_every_movement_of_a_lot(admin: Api, clerk: Api, site: Site) -> None:
    stock_in(admin, site)
    soon = lot_id(admin, site.milk, "SOON")
    posted(
        clerk,
        "shipment",
        line(site.milk, 1, from_location_id=site.bin_a, lot="SOON"),
        reference="SO-ALICE",
    )
    posted(
        clerk,
        "shipment",
        line(site.milk, 2, from_location_id=site.bin_b, lot="LATER"),
        reference="SO-CAROL",
    )
    posted(
        clerk,
        "transfer",
        line(site.milk, 2, from_location_id=site.bin_a, to_location_id=site.bin_b, lot="SOON"),
        reference="MOVE-1",
    )
    posted(
        clerk,
        "shipment",
        line(site.milk, 1, from_location_id=site.bin_b, lot="SOON"),
        line(site.bolt, 1, from_location_id=site.bin_b),
        reference="SO-BOB",
    )
    movements = clerk.get("/v1/movements", query_string=f"lot_id={soon}").json["data"]
    assert [m["reference"] for m in movements] == ["PO-1", "SO-ALICE", "MOVE-1", "SO-BOB"]
    shipped = {
        m["reference"]: sum(ln["quantity"] for ln in m["lines"] if ln["lot_id"] == soon)
        for m in movements
        if m["kind"] == "shipment"
    }
    assert shipped == {"SO-ALICE": 1, "SO-BOB": 1}
    # Filters combine per movement: PO-1 has a line of the lot, and one (of LATER) into B.
    at_b = clerk.get("/v1/movements", query_string=f"lot_id={soon}&location_id={site.bin_b}")
    assert [m["reference"] for m in at_b.json["data"]] == ["PO-1", "MOVE-1", "SO-BOB"]
    # Paged with the feed's cursor like any other filter.
    first = clerk.get("/v1/movements", query_string=f"lot_id={soon}&limit=3").json
    rest = clerk.get(
        "/v1/movements", query_string=f"lot_id={soon}&cursor={first['next_cursor']}"
    ).json
    assert [m["reference"] for m in first["data"] + rest["data"]] == [
        m["reference"] for m in movements
    ]
    remaining = clerk.get(f"/v1/lots/{soon}").json["levels"]
    assert sorted((lv["location_id"], lv["on_hand"]) for lv in remaining) == sorted(
        [(site.bin_a, 2), (site.bin_b, 1)]
    )
    assert clerk.get("/v1/movements", query_string=f"lot_id={MISSING}").json["data"] == []
    assert list(errors_of(clerk.get("/v1/movements", query_string="lot_id=SOON"))) == ["$.lot_id"]


def test_a_serial_number_is_traced_to_where_it_is(
    world: World, admin: Api, viewer: Api, site: Site
) -> None:
    stock_in(admin, site)
    receipt = posted(
        admin, "receipt", line(site.phone, 1, to_location_id=site.bin_b, serials=["SN/2026/7"])
    )
    moved = posted(
        admin,
        "transfer",
        line(site.phone, 1, from_location_id=site.bin_a, to_location_id=site.bin_b, serials=["S1"]),
    )
    path = f"/v1/items/{site.phone}/serials/S1"
    traced = viewer.get(path).json
    assert (traced["serial"], traced["item_id"], traced["location_id"]) == (
        "S1",
        site.phone,
        site.bin_b,
    )
    assert [m["reference"] for m in traced["movements"]] == ["PO-1", None]
    assert traced["movements"][1] == moved
    shipped = posted(
        admin,
        "shipment",
        line(site.phone, 1, from_location_id=site.bin_b, serials=["S1"]),
        reference="SO-9",
    )
    traced = viewer.get(path).json
    assert traced["location_id"] is None
    assert [m["id"] for m in traced["movements"]][-1] == shipped["id"]
    # The same movements as the feed filtered by the serial.
    feed = viewer.get("/v1/movements", query_string=f"serial=S1&item_id={site.phone}").json
    assert [m["id"] for m in feed["data"]] == [m["id"] for m in traced["movements"]]
    # A "/" in a serial number is sent as it is, or encoded.
    for sent in ("SN/2026/7", "SN%2F2026%2F7"):
        slashed = viewer.get(f"/v1/items/{site.phone}/serials/{sent}")
        assert slashed.status_code == 200, slashed.text
        assert (slashed.json["serial"], slashed.json["location_id"]) == ("SN/2026/7", site.bin_b)
        assert [m["id"] for m in slashed.json["movements"]] == [receipt["id"]]
    assert_problem(viewer.get(f"/v1/items/{site.phone}/serials/S404"), 404, "not-found")
    assert_problem(viewer.get(f"/v1/items/{site.bolt}/serials/S1"), 404, "not-found")
    assert_problem(viewer.get(f"/v1/items/{MISSING}/serials/S1"), 404, "not-found")
    for bad in ("-S1", "S 1", "x" * 65, "S1%00"):
        result = viewer.get(f"/v1/items/{site.phone}/serials/{bad}")
        assert list(errors_of(result)) == ["$.serial"], bad
    assert_problem(world.client().get(path), 401, "unauthenticated")


# ---------------------------------------------------------------- picking


def pick(api: Api, item: str, warehouse: str, quantity: object) -> Any:
    return api.get(
        "/v1/picking", query_string=f"item_id={item}&warehouse_id={warehouse}&quantity={quantity}"
    )


def test_picking_goes_first_expired_first_out_and_skips_expired_lots(
    admin: Api, clerk: Api, viewer: Api, site: Site
) -> None:
    stock_in(admin, site)
    posted(admin, "receipt", line(site.milk, 4, to_location_id=site.bin_a, lot="NO-DATE"))
    # Available: SOON 5 (A), LATER 5 (B), NO-DATE 4 (A); OLD 3 (A) has expired.
    result = pick(viewer, site.milk, site.warehouse, 12)
    assert result.status_code == 200, result.text
    assert result.json == {
        "lines": [
            {
                "location_id": site.bin_a,
                "lot": "SOON",
                "expires_on": SOON,
                "serials": None,
                "quantity": 5,
            },
            {
                "location_id": site.bin_b,
                "lot": "LATER",
                "expires_on": LATER,
                "serials": None,
                "quantity": 5,
            },
            {
                "location_id": site.bin_a,
                "lot": "NO-DATE",
                "expires_on": None,
                "serials": None,
                "quantity": 2,
            },
        ]
    }
    # The expired lot is on hand but never proposed: 14 is all there is to pick.
    assert viewer.get(f"/v1/items/{site.milk}/stock").json["on_hand"] == 17
    short = assert_problem(pick(viewer, site.milk, site.warehouse, 15), 409, "insufficient-stock")
    assert (short["item_id"], short["location_id"]) == (site.milk, site.warehouse)
    assert (short["available"], short["requested"]) == (14, 15)
    # After reservations.
    reserved = clerk.post(
        "/v1/reservations",
        json={"item_id": site.milk, "warehouse_id": site.warehouse, "quantity": 10},
    )
    assert reserved.status_code == 201, reserved.text
    assert pick(viewer, site.milk, site.warehouse, 4).status_code == 200
    after = assert_problem(pick(viewer, site.milk, site.warehouse, 5), 409, "insufficient-stock")
    assert after["available"] == 4
    # Nothing was reserved or moved by asking.
    assert viewer.get(f"/v1/items/{site.milk}/stock").json["reserved"] == 10


def test_picking_serials_and_untracked_items_by_location_code(
    admin: Api, viewer: Api, site: Site
) -> None:
    stock_in(admin, site)
    posted(admin, "receipt", line(site.bolt, 3, to_location_id=site.bin_a))
    bolts = pick(viewer, site.bolt, site.warehouse, 5).json["lines"]
    assert [(ln["location_id"], ln["quantity"], ln["lot"]) for ln in bolts] == [
        (site.bin_a, 3, None),
        (site.bin_b, 2, None),
    ]
    phones = pick(viewer, site.phone, site.warehouse, 1).json["lines"]
    assert phones == [
        {
            "location_id": site.bin_a,
            "lot": None,
            "expires_on": None,
            "serials": ["S1"],
            "quantity": 1,
        }
    ]


def test_picking_refuses_what_it_cannot_answer(world: World, viewer: Api, site: Site) -> None:
    assert_problem(pick(viewer, MISSING, site.warehouse, 1), 404, "not-found")
    assert errors_of(pick(viewer, site.milk, site.bin_a, 1)) == {
        "$.warehouse_id": "must be a warehouse"
    }
    assert list(errors_of(pick(viewer, site.milk, MISSING, 1))) == ["$.warehouse_id"]
    none = viewer.get("/v1/picking")
    assert errors_of(none) == {
        "$.item_id": "is required",
        "$.warehouse_id": "is required",
        "$.quantity": "is required",
    }
    for quantity in (0, -1, 10**12 + 1, "two", "1.5", ""):
        assert list(errors_of(pick(viewer, site.milk, site.warehouse, quantity))) == [
            "$.quantity"
        ], quantity
    mixed = viewer.get("/v1/picking", query_string="item_id=x&quantity=0")
    assert set(errors_of(mixed)) == {"$.item_id", "$.warehouse_id", "$.quantity"}
    twice = viewer.get(
        "/v1/picking",
        query_string=f"item_id={site.milk}&warehouse_id={site.warehouse}&quantity=1&quantity=2",
    )
    assert errors_of(twice) == {"$.quantity": "must be given at most once"}
    assert_problem(pick(viewer, site.milk, site.warehouse, 1), 409, "insufficient-stock")
    assert_problem(pick(world.client(), site.milk, site.warehouse, 1), 401, "unauthenticated")


# ---------------------------------------------------------------- the document


def test_the_document_describes_lots_serials_and_picking(world: World) -> None:
    document = world.client().client.simulate_get("/openapi.json").json
    paths = document["paths"]
    tags = {tag["name"]: tag["description"] for tag in document["tags"]}
    assert "recalls" in tags["lots"]
    for path in ("/v1/lots", "/v1/lots/{lot_id}", "/v1/items/{item_id}/serials/{serial}"):
        assert paths[path]["get"]["tags"] == ["lots"], path
    picking = paths["/v1/picking"]["get"]
    assert picking["tags"] == ["lots"]
    parameters = {p["name"]: p for p in picking["parameters"] if "name" in p}
    assert {name: p["required"] for name, p in parameters.items()} == {
        "item_id": True,
        "warehouse_id": True,
        "quantity": True,
    }
    assert parameters["quantity"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 10**12,
    }
    assert {"404", "409", "422"} <= set(picking["responses"])
    listed = {p["name"]: p for p in paths["/v1/lots"]["get"]["parameters"] if "name" in p}
    assert listed["expires_before"]["schema"] == {"type": "string", "format": "date"}
    serial = {
        p["name"]: p
        for p in paths["/v1/items/{item_id}/serials/{serial}"]["get"]["parameters"]
        if "name" in p
    }["serial"]
    assert serial["in"] == "path"
    assert serial["schema"]["pattern"].startswith("^[A-Za-z0-9]")
    movements = {p["name"] for p in paths["/v1/movements"]["get"]["parameters"] if "name" in p}
    assert {"lot_id", "serial"} <= movements
    schemas = document["components"]["schemas"]
    assert schemas["LineRequest"]["properties"]["expires_on"]["anyOf"][0] == {
        "type": "string",
        "format": "date",
    }
    conflict = schemas["ConflictProblem"]["properties"]
    assert "urn:inventory-core:problem:serial-conflict" in conflict["type"]["enum"]
    assert {"serial", "lot_id"} <= set(conflict)
    assert "lot" in schemas["CountConflictLine"]["properties"]
    assert {"lots", "serials"} <= set(schemas["ItemStock"]["properties"])
