"""JSON-safe levels (issue 14, defect 7), below the use cases: the Postgres adapter plans the
check of an item's totals last and only where they grow, and a count splits a difference one
line cannot carry. The repository on both adapters, as a property:
tests/contract/test_json_safe_levels.py; the use cases: inventory_core/contract/inventory.py."""

from __future__ import annotations

from uuid import UUID

import pytest

from inventory_core._checks import MAX_QUANTITY
from inventory_core.locations import ADJUSTMENT_LOCATION_ID
from inventory_core.services.counts import _adjustment_lines
from inventory_core.stock import MAX_TOTAL, LocationChange, WarehouseChange
from inventory_pg.repositories.stock import ITEM_CHECK, ITEM_LOCK, plan_writes

ITEM = UUID(int=1)
A = UUID(int=11)
EAST, WEST = UUID(int=31), UUID(int=32)


def test_postgres_checks_an_items_totals_last_and_only_where_they_grow() -> None:
    grow = [WarehouseChange(ITEM, EAST, on_hand_delta=5), WarehouseChange(ITEM, WEST, -2)]
    writes, _ = plan_writes([LocationChange(ITEM, A, 5, True)], grow)
    assert [w.kind for w in writes] == ["location", "warehouse", "warehouse", "item lock", "item"]
    assert [w.sql for w in writes[-2:]] == [ITEM_LOCK, ITEM_CHECK]
    assert (writes[-1].params["on_hand_up"], writes[-1].params["reserved_up"]) == (True, False)
    assert all(w.params["limit"] == MAX_TOTAL for w in writes)
    # Between warehouses (the total stays) or down: no lock on the item, no check.
    across = [WarehouseChange(ITEM, EAST, on_hand_delta=-5), WarehouseChange(ITEM, WEST, 5)]
    assert [w.kind for w in plan_writes([], across)[0]] == ["warehouse", "warehouse"]
    released = [WarehouseChange(ITEM, EAST, reserved_delta=-5, guard_available=False)]
    assert [w.kind for w in plan_writes([], released)[0]] == ["warehouse"]
    reserved = [WarehouseChange(ITEM, EAST, reserved_delta=5)]
    item = plan_writes([], reserved)[0][-1]
    assert (item.kind, item.params["on_hand_up"], item.params["reserved_up"]) == (
        "item",
        False,
        True,
    )


@pytest.mark.parametrize(
    ("difference", "quantities"),
    [
        (0, []),
        (7, [7]),
        (-MAX_QUANTITY, [MAX_QUANTITY]),
        (-3 * MAX_QUANTITY, [MAX_QUANTITY] * 3),
        (-(2 * MAX_QUANTITY + 5), [MAX_QUANTITY, MAX_QUANTITY, 5]),
        (MAX_QUANTITY + 1, [MAX_QUANTITY, 1]),
        (-MAX_TOTAL, [MAX_QUANTITY] * (MAX_TOTAL // MAX_QUANTITY) + [MAX_TOTAL % MAX_QUANTITY]),
    ],
)
def test_a_count_difference_becomes_lines_one_line_can_carry(
    difference: int, quantities: list[int]
) -> None:
    lines = _adjustment_lines(ITEM, A, difference)
    assert [line.quantity for line in lines] == quantities
    sides = {(line.from_location_id, line.to_location_id) for line in lines}
    assert sides <= {(A, ADJUSTMENT_LOCATION_ID) if difference < 0 else (ADJUSTMENT_LOCATION_ID, A)}
