"""A small demo warehouse for trying the API: ``inventory serve --demo``.

One warehouse (``MAIN``) with a receiving dock and four bins, five items with barcodes and reorder
points, a few receipts (one item left below its reorder point, so ``below_reorder=true`` has
something to show), one transfer and one active reservation. Everything goes through the
:class:`~inventory_core.executor.Executor`, so it obeys every rule of the domain and works
on any adapter.
"""

from __future__ import annotations

from uuid import UUID

import attrs

from inventory_core.executor import Executor
from inventory_core.locations import LocationKind
from inventory_core.movements import MovementKind
from inventory_core.services.items import CreateItem
from inventory_core.services.locations import CreateLocation
from inventory_core.services.movements import LineRequest, PostMovement
from inventory_core.services.reservations import ReserveStock
from inventory_core.users import Actor

__all__ = ["DEMO_WAREHOUSE_CODE", "DemoData", "load_demo"]

DEMO_WAREHOUSE_CODE = "MAIN"
"""The code of the demo warehouse."""

_BINS = (
    ("MAIN-DOCK", "Receiving dock"),
    ("MAIN-A-01", "Aisle A, bin 01"),
    ("MAIN-A-02", "Aisle A, bin 02"),
    ("MAIN-B-01", "Aisle B, bin 01"),
    ("MAIN-B-02", "Aisle B, bin 02"),
)

_ITEMS = (
    CreateItem(
        sku="WID-RED",
        name="Widget, red",
        barcodes=("4006381333931",),
        reorder_point=20,
        reorder_quantity=100,
    ),
    CreateItem(
        sku="WID-BLUE",
        name="Widget, blue",
        barcodes=("4006381333948",),
        reorder_point=20,
        reorder_quantity=100,
    ),
    CreateItem(
        sku="BOLT-M8x40",
        name="Hex bolt M8 x 40 mm",
        barcodes=("5901234123457",),
        reorder_point=500,
        reorder_quantity=2000,
    ),
    CreateItem(
        sku="CABLE-CAT6",
        name="Cat 6 network cable",
        unit="m",
        barcodes=("0012345678905",),
        reorder_point=100,
        reorder_quantity=305,
    ),
    CreateItem(
        sku="GLOVE-L",
        name="Work gloves, size L",
        unit="pair",
        barcodes=("9780201379624",),
        reorder_point=10,
        reorder_quantity=50,
    ),
)

# (reference, [(sku, quantity, bin code)])
_RECEIPTS = (
    ("PO-1001", [("WID-RED", 60, "MAIN-A-01"), ("WID-BLUE", 40, "MAIN-A-02")]),
    ("PO-1002", [("BOLT-M8x40", 1500, "MAIN-B-01"), ("CABLE-CAT6", 305, "MAIN-B-02")]),
    ("PO-1003", [("GLOVE-L", 6, "MAIN-DOCK")]),  # below its reorder point of 10
)


@attrs.frozen
class DemoData:
    """The ids of what :func:`load_demo` created, by code and SKU."""

    warehouse_id: UUID
    location_ids: dict[str, UUID]
    item_ids: dict[str, UUID]
    reservation_id: UUID


def load_demo(inventory: Executor, actor: Actor) -> DemoData:
    """Create the demo warehouse, items and movements as ``actor`` (a manager or admin).

    Meant for an empty store: raises :class:`~inventory_core.errors.AlreadyExists` when the demo
    codes or SKUs are already taken.
    """
    warehouse = inventory.execute(
        actor,
        CreateLocation(
            code=DEMO_WAREHOUSE_CODE, name="Main warehouse", kind=LocationKind.WAREHOUSE
        ),
    )
    locations = {DEMO_WAREHOUSE_CODE: warehouse.id}
    for code, name in _BINS:
        created = inventory.execute(
            actor,
            CreateLocation(
                code=code, name=name, kind=LocationKind.INTERNAL, parent_id=warehouse.id
            ),
        )
        locations[code] = created.id
    items = {command.sku: inventory.execute(actor, command).id for command in _ITEMS}
    for reference, lines in _RECEIPTS:
        inventory.execute(
            actor,
            PostMovement(
                kind=MovementKind.RECEIPT,
                reference=reference,
                lines=tuple(
                    LineRequest(
                        item_id=items[sku], quantity=quantity, to_location_id=locations[bin_code]
                    )
                    for sku, quantity, bin_code in lines
                ),
            ),
        )
    inventory.execute(
        actor,
        PostMovement(
            kind=MovementKind.TRANSFER,
            reference="MOVE-1",
            note="Split the red widgets over two bins",
            lines=(
                LineRequest(
                    item_id=items["WID-RED"],
                    quantity=10,
                    from_location_id=locations["MAIN-A-01"],
                    to_location_id=locations["MAIN-A-02"],
                ),
            ),
        ),
    )
    reservation = inventory.execute(
        actor,
        ReserveStock(
            item_id=items["WID-RED"],
            warehouse_id=warehouse.id,
            quantity=5,
            reference="SO-5001",
        ),
    )
    return DemoData(
        warehouse_id=warehouse.id,
        location_ids=locations,
        item_ids=items,
        reservation_id=reservation.id,
    )
