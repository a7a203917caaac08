"""The contract of the event outbox and feed (DESIGN §11): every state change records its
event in the same transaction, with the resource exactly as presented, and the feed serves each
event once, in order, within its retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from inventory_core.contract.adapter import ContractAdapter, Harness
from inventory_core.errors import CursorExpired, InsufficientStock
from inventory_core.events import Event, EventQuery, EventType
from inventory_core.feed import FEED_START
from inventory_core.ports import UnitOfWork
from inventory_core.present import present
from inventory_core.services.events import ListEvents, PurgeEvents
from inventory_core.services.items import ChangeItem, ItemChanges
from inventory_core.services.locations import ChangeLocation, LocationChanges
from inventory_core.services.movements import LineRequest, PostMovement
from inventory_core.services.reservations import (
    ExpireReservations,
    FulfilmentLine,
    FulfilReservation,
    ReleaseReservation,
    ReserveStock,
)

__all__ = ["EventContract"]


def _events(h: Harness, **query: Any) -> list[Event]:
    return list(h.inventory.execute(h.admin, ListEvents(EventQuery(**query), limit=500)).items)


def _types(h: Harness) -> list[str]:
    return [e.type.value for e in _events(h)]


class EventContract:
    """Subclass with a ``contract_adapter`` fixture (see :mod:`inventory_core.contract`)."""

    @pytest.fixture
    def h(self, contract_adapter: ContractAdapter) -> Harness:
        return Harness(contract_adapter)

    def _stocked(self, h: Harness, quantity: int, **item: object) -> tuple[UUID, UUID, UUID]:
        warehouse = h.warehouse()
        bin_ = h.bin(warehouse)
        sku = h.item(**item)
        h.inventory.execute(
            h.admin, PostMovement("receipt", [LineRequest(sku, quantity, to_location_id=bin_)])
        )
        return warehouse, bin_, sku

    def test_each_change_records_its_event_with_the_resource_as_presented(self, h: Harness) -> None:
        warehouse = h.warehouse()
        bin_ = h.bin(warehouse)
        sku = h.item()
        item = h.inventory.execute(h.admin, ChangeItem(sku, ItemChanges(name="Renamed")))
        location = h.inventory.execute(h.admin, ChangeLocation(bin_, LocationChanges(name="B")))
        movement = h.inventory.execute(
            h.admin, PostMovement("receipt", [LineRequest(sku, 5, to_location_id=bin_)])
        )
        reservation = h.inventory.execute(h.admin, ReserveStock(sku, warehouse, 2))
        released = h.inventory.execute(h.admin, ReleaseReservation(reservation.id))
        events = _events(h)
        assert [e.type for e in events] == [
            EventType.LOCATION_CREATED,
            EventType.LOCATION_CREATED,
            EventType.ITEM_CREATED,
            EventType.ITEM_UPDATED,
            EventType.LOCATION_UPDATED,
            EventType.MOVEMENT_POSTED,
            EventType.RESERVATION_CREATED,
            EventType.RESERVATION_RELEASED,
        ]
        assert events[3].data == present(item)
        assert events[4].data == present(location)
        assert events[5].data == present(movement)
        assert events[5].data["seq"] == movement.seq > 0
        assert events[6].data == present(reservation)
        assert events[7].data == present(released)
        assert events[7].data["status"] == "released"
        assert len({e.id for e in events}) == len(events)
        assert all(e.timestamp == h.clock.now() for e in events)

    def test_fulfilment_and_expiry_record_their_events(self, h: Harness) -> None:
        warehouse, bin_, sku = self._stocked(h, 10)
        reservation = h.inventory.execute(h.admin, ReserveStock(sku, warehouse, 3))
        shipment = h.inventory.execute(
            h.admin, FulfilReservation(reservation.id, [FulfilmentLine(bin_, 3)])
        )
        expiring = h.inventory.execute(
            h.admin,
            ReserveStock(sku, warehouse, 1, expires_at=h.clock.now() + timedelta(minutes=5)),
        )
        h.clock.advance(minutes=10)
        assert h.inventory.execute(None, ExpireReservations()) == 1
        events = _events(h, types=[t for t in EventType if t.value.startswith("reservation.")])
        assert [e.type.value for e in events] == [
            "reservation.created",
            "reservation.fulfilled",
            "reservation.created",
            "reservation.expired",
        ]
        assert events[1].data["id"] == str(reservation.id)
        assert events[1].data["status"] == "fulfilled"
        assert events[3].data["id"] == str(expiring.id)
        assert events[3].data["status"] == "expired"
        posted = _events(h, types=[EventType.MOVEMENT_POSTED])
        assert posted[-1].data == present(shipment)

    def test_a_refused_change_records_nothing(self, h: Harness) -> None:
        warehouse, bin_, sku = self._stocked(h, 2)
        before = _events(h)
        with pytest.raises(InsufficientStock):
            h.inventory.execute(
                h.admin, PostMovement("shipment", [LineRequest(sku, 3, from_location_id=bin_)])
            )
        with pytest.raises(InsufficientStock):
            h.inventory.execute(h.admin, ReserveStock(sku, warehouse, 3))
        assert _events(h) == before

    def test_an_event_commits_and_rolls_back_with_its_transaction(self, h: Harness) -> None:
        h.warehouse()
        before = _events(h)
        kept = Event(h.inventory.context.ids.new_id(), EventType.ITEM_UPDATED, h.clock.now(), {})
        lost = Event(h.inventory.context.ids.new_id(), EventType.ITEM_UPDATED, h.clock.now(), {})

        def record_and_fail(uow: UnitOfWork) -> None:
            with uow:
                uow.events.add(lost)
                raise RuntimeError("roll back")

        with pytest.raises(RuntimeError):
            record_and_fail(h.unit_of_work())
        with h.unit_of_work() as uow:
            uow.events.add(kept)
            with pytest.raises(RuntimeError):
                record_and_fail(uow)  # a nested block undoes just its own
        assert _events(h) == [*before, kept]

    def test_stock_below_reorder_is_recorded_when_available_crosses_the_point(
        self, h: Harness
    ) -> None:
        warehouse, bin_, sku = self._stocked(h, 10, reorder_point=5)

        def ship(quantity: int) -> None:
            h.inventory.execute(
                h.admin,
                PostMovement("shipment", [LineRequest(sku, quantity, from_location_id=bin_)]),
            )

        ship(4)  # 10 -> 6: still at or above 5
        assert EventType.STOCK_BELOW_REORDER.value not in _types(h)
        ship(2)  # 6 -> 4: crosses
        alerts = _events(h, types=[EventType.STOCK_BELOW_REORDER])
        assert [a.data for a in alerts] == [
            {
                "level": {
                    "item_id": str(sku),
                    "warehouse_id": str(warehouse),
                    "on_hand": 4,
                    "reserved": 0,
                    "available": 4,
                },
                "reorder_point": 5,
            }
        ]
        ship(1)  # already below: no new alert
        h.inventory.execute(
            h.admin, PostMovement("receipt", [LineRequest(sku, 10, to_location_id=bin_)])
        )
        h.inventory.execute(h.admin, ReserveStock(sku, warehouse, 9))  # 13 -> 4 available
        alerts = _events(h, types=[EventType.STOCK_BELOW_REORDER])
        assert len(alerts) == 2
        assert alerts[1].data["level"]["reserved"] == 9
        assert alerts[1].data["level"]["available"] == 4

    def test_an_item_without_a_reorder_point_never_alerts(self, h: Harness) -> None:
        _, bin_, sku = self._stocked(h, 3)
        h.inventory.execute(
            h.admin, PostMovement("shipment", [LineRequest(sku, 3, from_location_id=bin_)])
        )
        assert EventType.STOCK_BELOW_REORDER.value not in _types(h)

    def test_the_feed_pages_in_order_with_a_position_on_every_page(self, h: Harness) -> None:
        for _ in range(5):
            h.item()
        everything = _events(h)
        seen: list[Event] = []
        after = FEED_START
        while True:
            page = h.inventory.execute(h.admin, ListEvents(after=after, limit=2))
            seen += page.items
            after = page.position
            if page.next_position is None:
                break
            assert page.next_position == page.position
        assert seen == everything
        last = h.inventory.execute(h.admin, ListEvents(after=after))
        assert last.items == ()
        assert last.position == after
        h.item()
        assert [e.type for e in h.inventory.execute(h.admin, ListEvents(after=after)).items] == [
            EventType.ITEM_CREATED
        ]

    def test_types_filter_the_feed(self, h: Harness) -> None:
        self._stocked(h, 1)
        assert [e.type.value for e in _events(h, types=[EventType.MOVEMENT_POSTED])] == [
            "movement.posted"
        ]
        both = _events(h, types=[EventType.ITEM_CREATED, EventType.MOVEMENT_POSTED])
        assert [e.type.value for e in both] == ["item.created", "movement.posted"]

    def test_retention_purges_a_prefix_and_older_cursors_expire(self, h: Harness) -> None:
        h.item()
        early = h.inventory.execute(h.admin, ListEvents(limit=1))
        h.item()
        h.clock.advance(days=2)
        h.item()
        newest = _events(h)[-1]
        purged = h.inventory.execute(None, PurgeEvents(h.clock.now() - timedelta(days=1)))
        assert purged == 2
        assert _events(h) == [newest]
        with pytest.raises(CursorExpired):
            h.inventory.execute(h.admin, ListEvents(after=early.position))
        with h.unit_of_work() as uow:
            through = uow.events.purged_through()
        # Resuming exactly where the purge ended (or from the start) is fine.
        assert h.inventory.execute(h.admin, ListEvents(after=through)).items == (newest,)
        assert h.inventory.execute(h.admin, ListEvents()).items == (newest,)
        assert h.inventory.execute(None, PurgeEvents(h.clock.now() - timedelta(days=1))) == 0
