"""The demo warehouse, loaded through the facade on the in-memory store."""

from __future__ import annotations

import uuid

import pytest

from inventory_core.errors import AlreadyExists
from inventory_core.executor import Executor
from inventory_core.memory.store import InMemoryStore
from inventory_core.passwords import Pbkdf2PasswordHasher
from inventory_core.ports import LocationStockQuery, WarehouseStockQuery
from inventory_core.services.items import GetItem, GetItemStock
from inventory_core.services.locations import GetLocation
from inventory_core.services.movements import ListMovements
from inventory_core.services.reservations import GetReservation
from inventory_core.services.stock import ListAvailability, ListLocationStock
from inventory_core.users import Actor, Role
from inventory_http.demo import DEMO_WAREHOUSE_CODE, load_demo


@pytest.fixture
def inventory() -> Executor:
    return Executor(
        InMemoryStore().unit_of_work, password_hasher=Pbkdf2PasswordHasher(iterations=1000)
    )


ADMIN = Actor(uuid.uuid4(), Role.ADMIN)


def test_demo_builds_a_warehouse_with_stock_and_a_reservation(inventory: Executor) -> None:
    demo = load_demo(inventory, ADMIN)

    warehouse = inventory.execute(ADMIN, GetLocation(demo.warehouse_id))
    assert warehouse.code == DEMO_WAREHOUSE_CODE
    assert len(demo.location_ids) == 6
    assert len(demo.item_ids) == 5
    for sku, item_id in demo.item_ids.items():
        item = inventory.execute(ADMIN, GetItem(item_id))
        assert item.sku == sku
        assert item.barcodes
        assert item.reorder_point is not None

    red = inventory.execute(ADMIN, GetItemStock(demo.item_ids["WID-RED"]))
    assert (red.on_hand, red.reserved) == (60, 5)
    by_location = {level.location_id: level.on_hand for level in red.locations}
    assert by_location == {
        demo.location_ids["MAIN-A-01"]: 50,
        demo.location_ids["MAIN-A-02"]: 10,
    }
    reservation = inventory.execute(ADMIN, GetReservation(demo.reservation_id))
    assert reservation.quantity == 5
    assert reservation.status.value == "active"

    levels = inventory.execute(ADMIN, ListLocationStock(LocationStockQuery(), limit=500)).items
    assert sum(level.on_hand for level in levels) == 60 + 40 + 1500 + 305 + 6
    assert len(inventory.execute(ADMIN, ListMovements(limit=500)).items) == 4


def test_demo_leaves_exactly_one_item_below_its_reorder_point(inventory: Executor) -> None:
    demo = load_demo(inventory, ADMIN)
    below = inventory.execute(
        ADMIN, ListAvailability(WarehouseStockQuery(below_reorder=True))
    ).items
    assert [(row.item_id, row.available) for row in below] == [(demo.item_ids["GLOVE-L"], 6)]


def test_demo_refuses_to_load_twice(inventory: Executor) -> None:
    load_demo(inventory, ADMIN)
    with pytest.raises(AlreadyExists):
        load_demo(inventory, ADMIN)
