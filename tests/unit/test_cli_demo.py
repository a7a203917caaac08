"""The demo warehouse, loaded through the facade on the in-memory store."""

from __future__ import annotations

import uuid

import pytest

from inventory_core.errors import AlreadyExists
from inventory_core.memory.store import InMemoryStore
from inventory_core.passwords import Pbkdf2PasswordHasher
from inventory_core.ports import LocationStockQuery, WarehouseStockQuery
from inventory_core.service import Inventory
from inventory_core.users import Actor, Role
from inventory_http.demo import DEMO_WAREHOUSE_CODE, load_demo


@pytest.fixture
def inventory() -> Inventory:
    return Inventory(
        InMemoryStore().unit_of_work, password_hasher=Pbkdf2PasswordHasher(iterations=1000)
    )


ADMIN = Actor(uuid.uuid4(), Role.ADMIN)


def test_demo_builds_a_warehouse_with_stock_and_a_reservation(inventory: Inventory) -> None:
    demo = load_demo(inventory, ADMIN)

    warehouse = inventory.get_location(ADMIN, demo.warehouse_id)
    assert warehouse.code == DEMO_WAREHOUSE_CODE
    assert len(demo.location_ids) == 6
    assert len(demo.item_ids) == 5
    for sku, item_id in demo.item_ids.items():
        item = inventory.get_item(ADMIN, item_id)
        assert item.sku == sku
        assert item.barcodes
        assert item.reorder_point is not None

    red = inventory.item_stock(ADMIN, demo.item_ids["WID-RED"])
    assert (red.on_hand, red.reserved) == (60, 5)
    by_location = {level.location_id: level.on_hand for level in red.locations}
    assert by_location == {
        demo.location_ids["MAIN-A-01"]: 50,
        demo.location_ids["MAIN-A-02"]: 10,
    }
    reservation = inventory.get_reservation(ADMIN, demo.reservation_id)
    assert reservation.quantity == 5
    assert reservation.status.value == "active"

    levels = inventory.list_location_stock(ADMIN, LocationStockQuery(), limit=500).items
    assert sum(level.on_hand for level in levels) == 60 + 40 + 1500 + 305 + 6
    assert len(inventory.list_movements(ADMIN, limit=500).items) == 4


def test_demo_leaves_exactly_one_item_below_its_reorder_point(inventory: Inventory) -> None:
    demo = load_demo(inventory, ADMIN)
    below = inventory.list_availability(ADMIN, WarehouseStockQuery(below_reorder=True)).items
    assert [(row.item_id, row.available) for row in below] == [(demo.item_ids["GLOVE-L"], 6)]


def test_demo_refuses_to_load_twice(inventory: Inventory) -> None:
    load_demo(inventory, ADMIN)
    with pytest.raises(AlreadyExists):
        load_demo(inventory, ADMIN)
