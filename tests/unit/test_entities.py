"""Entity validation: the rules of DESIGN §2 that hold before any storage is involved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import attrs
import pytest

from inventory_core.counts import CountLine
from inventory_core.errors import (
    AlreadyExists,
    CountConflict,
    CountConflictLine,
    FieldError,
    InsufficientStock,
    InventoryError,
    LimitExceeded,
    NotFound,
    ValidationError,
    VersionMismatch,
)
from inventory_core.items import MAX_BARCODES, Item
from inventory_core.locations import (
    ADJUSTMENT_LOCATION_ID,
    CUSTOMER_LOCATION_ID,
    SUPPLIER_LOCATION_ID,
    VIRTUAL_LOCATION_IDS,
    Location,
    LocationKind,
    virtual_locations,
)
from inventory_core.movements import (
    MAX_LINES,
    AdjustmentReason,
    Movement,
    MovementKind,
    MovementLine,
    check_sides,
)
from inventory_core.reservations import Reservation, ReservationStatus
from inventory_core.stock import WarehouseChange, WarehouseStock
from inventory_core.users import Actor, Role, User, normalize_username

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def item(**fields: object) -> Item:
    values: dict[str, object] = {
        "id": uuid4(),
        "sku": "SKU-1",
        "name": "Widget",
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(fields)
    return Item(**values)  # type: ignore[arg-type]


def location(kind: str = "warehouse", **fields: object) -> Location:
    values: dict[str, object] = {
        "id": uuid4(),
        "code": "WH-1",
        "name": "Main",
        "kind": kind,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(fields)
    return Location(**values)  # type: ignore[arg-type]


def movement(kind: str = "receipt", **fields: object) -> Movement:
    values: dict[str, object] = {
        "id": uuid4(),
        "seq": 0,
        "kind": kind,
        "lines": [MovementLine(uuid4(), 1, SUPPLIER_LOCATION_ID, uuid4())],
        "actor_id": uuid4(),
        "occurred_at": NOW,
        "recorded_at": NOW,
    }
    values.update(fields)
    return Movement(**values)  # type: ignore[arg-type]


def path_of(excinfo: pytest.ExceptionInfo[ValidationError]) -> str:
    return excinfo.value.errors[0].path


# ---------------------------------------------------------------- SKU and codes


@pytest.mark.parametrize("sku", ["A", "a", "0", "abc-DEF_1.2/3", "X" * 64, "9" + "-" * 63])
def test_valid_skus(sku: str) -> None:
    assert item(sku=sku).sku == sku


@pytest.mark.parametrize(
    "sku", ["", "X" * 65, "-A", ".A", "_A", "/A", "A B", "A\n", "Ü", "A#", "A,B", " A", 42]
)
def test_invalid_skus(sku: object) -> None:
    with pytest.raises(ValidationError) as bad:
        item(sku=sku)
    assert path_of(bad) == "$.sku"


def test_location_code_follows_the_sku_rule() -> None:
    assert location(code="Z" * 64).code == "Z" * 64
    with pytest.raises(ValidationError) as bad:
        location(code="Z" * 65)
    assert path_of(bad) == "$.code"


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("name", "", "$.name"),
        ("name", "x" * 201, "$.name"),
        ("name", "bell\x07", "$.name"),
        ("name", 7, "$.name"),
        ("unit", "", "$.unit"),
        ("unit", "u" * 33, "$.unit"),
        ("reorder_point", -1, "$.reorder_point"),
        ("reorder_point", 10**12 + 1, "$.reorder_point"),
        ("reorder_point", True, "$.reorder_point"),
        ("reorder_quantity", 0, "$.reorder_quantity"),
        ("reorder_point", 1.5, "$.reorder_point"),
        ("created_at", datetime(2026, 1, 1), "$.created_at"),  # naive on purpose
        ("version", 0, "$.version"),
        ("barcodes", ("ok", "ok"), "$.barcodes"),
        ("barcodes", ("ok", "not ok"), "$.barcodes[1]"),
        ("barcodes", tuple(f"B{n}" for n in range(MAX_BARCODES + 1)), "$.barcodes"),
    ],
)
def test_item_field_rules(field: str, value: object, path: str) -> None:
    with pytest.raises(ValidationError) as bad:
        item(**{field: value})
    assert path_of(bad) == path


def test_item_defaults_and_accepted_edges() -> None:
    made = item(
        name="tab\tand\nnewline are fine",
        barcodes=["4006381333931"],
        reorder_point=0,
        reorder_quantity=10**12,
    )
    assert made.unit == "each"
    assert made.barcodes == ("4006381333931",)  # converted to a tuple
    assert (made.active, made.version) == (True, 1)


# ---------------------------------------------------------------- quantities


@pytest.mark.parametrize("quantity", [1, 2, 10**12])
def test_line_quantity_in_bounds(quantity: int) -> None:
    assert MovementLine(uuid4(), quantity, uuid4(), uuid4()).quantity == quantity


@pytest.mark.parametrize("quantity", [0, -1, 10**12 + 1, 1.0, True, "1", None])
def test_line_quantity_out_of_bounds(quantity: object) -> None:
    with pytest.raises(ValidationError) as bad:
        MovementLine(uuid4(), quantity, uuid4(), uuid4())  # type: ignore[arg-type]
    assert path_of(bad) == "$.quantity"


def test_line_sides_differ_and_mirror() -> None:
    here = uuid4()
    with pytest.raises(ValidationError):
        MovementLine(uuid4(), 1, here, here)
    line = MovementLine(uuid4(), 3, SUPPLIER_LOCATION_ID, here)
    mirrored = line.mirrored()
    assert (mirrored.from_location_id, mirrored.to_location_id) == (here, SUPPLIER_LOCATION_ID)
    assert (mirrored.item_id, mirrored.quantity) == (line.item_id, 3)


@pytest.mark.parametrize(("counted", "ok"), [(0, True), (10**12, True), (-1, False)])
def test_count_line_bounds(counted: int, ok: bool) -> None:
    if ok:
        assert CountLine(uuid4(), uuid4(), counted).counted == counted
    else:
        with pytest.raises(ValidationError):
            CountLine(uuid4(), uuid4(), counted)
    with pytest.raises(ValidationError):
        CountLine(uuid4(), uuid4(), 1, expected_on_hand=-1)


def test_reservation_quantity_and_expiry() -> None:
    def reservation(**fields: object) -> Reservation:
        values: dict[str, object] = {
            "id": uuid4(),
            "item_id": uuid4(),
            "warehouse_id": uuid4(),
            "quantity": 5,
            "status": "active",
            "actor_id": uuid4(),
            "created_at": NOW,
            "updated_at": NOW,
        }
        values.update(fields)
        return Reservation(**values)  # type: ignore[arg-type]

    with pytest.raises(ValidationError):
        reservation(quantity=0)
    with pytest.raises(ValidationError):
        reservation(expires_at=datetime(2026, 1, 2))  # naive on purpose
    open_ended = reservation()
    assert not open_ended.is_overdue(NOW + timedelta(days=999))
    due = reservation(expires_at=NOW + timedelta(seconds=10))
    assert not due.is_overdue(NOW + timedelta(seconds=9))
    assert due.is_overdue(NOW + timedelta(seconds=10))  # expires_at itself is overdue
    assert due.effective_status(NOW + timedelta(seconds=10)) is ReservationStatus.EXPIRED
    assert due.effective_status(NOW) is ReservationStatus.ACTIVE
    released = attrs.evolve(due, status=ReservationStatus.RELEASED)
    assert not released.is_overdue(NOW + timedelta(days=1))
    assert released.effective_status(NOW + timedelta(days=1)) is ReservationStatus.RELEASED


# ---------------------------------------------------------------- locations


def test_warehouse_is_a_root() -> None:
    warehouse = location()
    assert (warehouse.warehouse_id, warehouse.path) == (warehouse.id, (warehouse.id,))
    with pytest.raises(ValidationError) as bad:
        location(parent_id=uuid4(), ancestor_ids=())
    assert path_of(bad) == "$.parent_id"
    with pytest.raises(ValidationError):
        location(ancestor_ids=(uuid4(),))


def test_internal_location_needs_a_parent_and_a_consistent_path() -> None:
    wh, zone = uuid4(), uuid4()
    shelf = location("internal", code="S", parent_id=zone, ancestor_ids=(wh, zone))
    assert shelf.warehouse_id == wh
    assert shelf.path == (wh, zone, shelf.id)
    with pytest.raises(ValidationError, match="needs a parent"):
        location("internal", code="S")
    with pytest.raises(ValidationError, match="path must end with the parent"):
        location("internal", code="S", parent_id=zone, ancestor_ids=(wh,))
    with pytest.raises(ValidationError, match="path must end with the parent"):
        location("internal", code="S", parent_id=zone)


def test_location_cannot_be_its_own_ancestor() -> None:
    me = uuid4()
    with pytest.raises(ValidationError, match="own ancestor"):
        location("internal", id=me, code="S", parent_id=me, ancestor_ids=(me,))
    wh, parent = uuid4(), uuid4()
    with pytest.raises(ValidationError, match="own ancestor"):
        location("internal", id=me, code="S", parent_id=parent, ancestor_ids=(wh, me, parent))


@pytest.mark.parametrize("kind", ["supplier", "customer", "adjustment"])
def test_virtual_locations_are_system_defined(kind: str) -> None:
    with pytest.raises(ValidationError) as bad:
        location(kind)
    assert path_of(bad) == "$.kind"
    system = location(kind, id=VIRTUAL_LOCATION_IDS[LocationKind(kind)])
    assert system.kind.is_virtual
    assert not system.kind.holds_stock
    assert system.warehouse_id is None
    with pytest.raises(ValidationError):
        location(kind, id=VIRTUAL_LOCATION_IDS[LocationKind(kind)], parent_id=uuid4())


def test_unknown_location_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="'shelf' is not a valid LocationKind"):
        location("shelf")


def test_the_three_virtual_locations() -> None:
    seeded = virtual_locations(NOW)
    assert {(loc.id, loc.kind) for loc in seeded} == {
        (SUPPLIER_LOCATION_ID, LocationKind.SUPPLIER),
        (CUSTOMER_LOCATION_ID, LocationKind.CUSTOMER),
        (ADJUSTMENT_LOCATION_ID, LocationKind.ADJUSTMENT),
    }
    assert len({loc.code for loc in seeded}) == 3
    assert {k.holds_stock for k in (LocationKind.WAREHOUSE, LocationKind.INTERNAL)} == {True}


# ---------------------------------------------------------------- movements


def _locations() -> dict[str, Location]:
    wh = location(code="W")
    return {
        "warehouse": wh,
        "internal": location("internal", code="B", parent_id=wh.id, ancestor_ids=(wh.id,)),
        **{loc.kind.value: loc for loc in virtual_locations(NOW)},
    }


ALLOWED = {
    MovementKind.RECEIPT: {("supplier", "internal"), ("supplier", "warehouse")},
    MovementKind.SHIPMENT: {("internal", "customer"), ("warehouse", "customer")},
    MovementKind.TRANSFER: {
        ("internal", "internal"),
        ("internal", "warehouse"),
        ("warehouse", "internal"),
        ("warehouse", "warehouse"),
    },
    MovementKind.ADJUSTMENT: {
        ("internal", "adjustment"),
        ("warehouse", "adjustment"),
        ("adjustment", "internal"),
        ("adjustment", "warehouse"),
    },
}
KINDS = ["warehouse", "internal", "supplier", "customer", "adjustment"]


@pytest.mark.parametrize("kind", list(ALLOWED))
def test_movement_kinds_and_their_allowed_sides(kind: MovementKind) -> None:
    places = _locations()
    for source in KINDS:
        for destination in KINDS:
            if (source, destination) in ALLOWED[kind]:
                check_sides(kind, places[source], places[destination])
            else:
                with pytest.raises(ValidationError) as bad:
                    check_sides(kind, places[source], places[destination], path="$.lines[3]")
                assert path_of(bad) == "$.lines[3]"


def test_reversal_sides_need_one_stock_location() -> None:
    places = _locations()
    check_sides(MovementKind.REVERSAL, places["customer"], places["internal"])
    check_sides(MovementKind.REVERSAL, places["internal"], places["supplier"])
    with pytest.raises(ValidationError):
        check_sides(MovementKind.REVERSAL, places["supplier"], places["customer"])


def test_reason_only_on_adjustments() -> None:
    adjustment = movement(
        "adjustment",
        reason="loss",
        lines=[MovementLine(uuid4(), 1, uuid4(), ADJUSTMENT_LOCATION_ID)],
    )
    assert adjustment.reason == AdjustmentReason.LOSS
    with pytest.raises(ValidationError) as bad:
        movement("adjustment")
    assert path_of(bad) == "$.reason"
    for kind in ("receipt", "shipment", "transfer"):
        with pytest.raises(ValidationError):
            movement(kind, reason=AdjustmentReason.FOUND)


def test_reason_text_is_converted_to_the_enum() -> None:
    made = movement(
        "adjustment",
        reason="count",
        lines=[MovementLine(uuid4(), 1, uuid4(), ADJUSTMENT_LOCATION_ID)],
    )
    assert made.reason is AdjustmentReason.COUNT
    assert made.reason.records_physical_reality


def test_reverses_id_only_on_reversals() -> None:
    assert movement("reversal", reverses_id=uuid4()).kind is MovementKind.REVERSAL
    with pytest.raises(ValidationError):
        movement("reversal")
    with pytest.raises(ValidationError):
        movement("receipt", reverses_id=uuid4())


def test_movement_line_count_and_text_limits() -> None:
    line = MovementLine(uuid4(), 1, SUPPLIER_LOCATION_ID, uuid4())
    with pytest.raises(ValidationError) as bad:
        movement(lines=[])
    assert path_of(bad) == "$.lines"
    assert len(movement(lines=[line] * MAX_LINES).lines) == MAX_LINES
    with pytest.raises(ValidationError):
        movement(lines=[line] * (MAX_LINES + 1))
    assert movement(reference="r" * 200, note="n" * 2000).note == "n" * 2000
    with pytest.raises(ValidationError):
        movement(reference="r" * 201)
    with pytest.raises(ValidationError):
        movement(note="n" * 2001)
    with pytest.raises(ValidationError):
        movement(occurred_at=datetime(2026, 1, 1))  # naive on purpose


def test_physical_reality_reasons() -> None:
    physical = {r for r in AdjustmentReason if r.records_physical_reality}
    assert physical == {AdjustmentReason.COUNT, AdjustmentReason.DAMAGE, AdjustmentReason.LOSS}


# ---------------------------------------------------------------- stock and users


def test_warehouse_stock_available_and_change_delta() -> None:
    assert WarehouseStock(uuid4(), uuid4(), on_hand=3, reserved=5).available == -2
    assert (
        WarehouseChange(uuid4(), uuid4(), on_hand_delta=-4, reserved_delta=-4).available_delta == 0
    )
    assert WarehouseChange(uuid4(), uuid4(), reserved_delta=2).available_delta == -2


def test_roles_are_ordered() -> None:
    order = [Role.VIEWER, Role.CLERK, Role.MANAGER, Role.ADMIN]
    assert [r.rank for r in order] == [0, 1, 2, 3]
    for i, have in enumerate(order):
        for j, need in enumerate(order):
            assert have.allows(need) is (i >= j)
    assert Actor(uuid4(), "clerk").role is Role.CLERK
    with pytest.raises(ValueError, match="not a valid Role"):
        Actor(uuid4(), "superuser")


@pytest.mark.parametrize(
    ("given", "normal"),
    [("Alice", "alice"), ("  BOB@Example.COM ", "bob@example.com"), ("x.y_z-1", "x.y_z-1")],
)
def test_username_normalisation(given: str, normal: str) -> None:
    assert normalize_username(given) == normal


@pytest.mark.parametrize(
    "username", ["a", "Alice", "-bob", "bo b", "b" * 65, "bob!", "", "émile", "bob\n"]
)
def test_invalid_usernames(username: str) -> None:
    with pytest.raises(ValidationError) as bad:
        User(uuid4(), username, Role.VIEWER, "hash", NOW, NOW)
    assert path_of(bad) == "$.username"


def test_user_actor_and_password_hash_not_in_repr() -> None:
    user = User(uuid4(), "ab", "manager", "secret-hash", NOW, NOW)
    assert user.actor == Actor(user.id, Role.MANAGER)
    assert "secret-hash" not in repr(user)
    assert User(uuid4(), "b" * 64, Role.VIEWER, "h", NOW, NOW).username == "b" * 64


# ---------------------------------------------------------------- errors


def test_errors_carry_codes_and_details() -> None:
    item_id, where = UUID(int=1), UUID(int=2)
    short = InsufficientStock(item_id=item_id, location_id=where, available=1, requested=3)
    assert (short.code, short.available, short.requested) == ("insufficient-stock", 1, 3)
    assert str(item_id) in str(short)
    assert str(where) in short.message
    assert NotFound("item", item_id).code == "not-found"
    beyond = LimitExceeded(
        item_id=item_id,
        location_id=where,
        level="on_hand",
        current=2**53 - 2,
        change=5,
        limit=2**53 - 1,
    )
    assert (beyond.code, beyond.level, beyond.current, beyond.change) == (
        "limit-exceeded",
        "on_hand",
        2**53 - 2,
        5,
    )
    assert all(str(x) in beyond.message for x in (item_id, where, 2**53 - 1))
    total = LimitExceeded(
        item_id=item_id,
        location_id=None,
        level="reserved",
        current=1,
        change=2**53,
        limit=2**53 - 1,
    )
    assert total.location_id is None
    assert "reserved of item" in total.message
    assert "over all warehouses" in total.message
    dup = AlreadyExists("item", "sku", "A-1")
    assert (dup.field, dup.value, dup.message) == (
        "sku",
        "A-1",
        "item with sku 'A-1' already exists",
    )
    stale = VersionMismatch("item", item_id, expected=1, actual=2)
    assert (stale.code, stale.expected, stale.actual) == ("version-mismatch", 1, 2)
    conflict = CountConflict([CountConflictLine(item_id, where, 3, 4)])
    assert conflict.conflicts[0].on_hand == 4
    assert "1 counted line" in conflict.message
    many = ValidationError([FieldError("$.a", "bad"), FieldError("$.b", "worse")])
    assert many.message == "$.a: bad; $.b: worse"
    one = ValidationError("must be positive", "$.quantity")
    assert one.errors == (FieldError("$.quantity", "must be positive"),)
    for error in (short, dup, stale, conflict, many):
        assert isinstance(error, InventoryError)
    assert len({cls.code for cls in _error_classes()}) == len(_error_classes())


def _error_classes() -> list[type[InventoryError]]:
    found: list[type[InventoryError]] = []
    pending: list[type[InventoryError]] = [InventoryError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found
