"""A hypothesis state machine: random sequences of use cases, every invariant after each step."""

from __future__ import annotations

import unittest
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar
from uuid import UUID

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from inventory_core.contract.adapter import ContractAdapter, Harness
from inventory_core.contract.invariants import check_invariants, snapshot
from inventory_core.counts import CountLine
from inventory_core.errors import (
    CountConflict,
    InsufficientStock,
    InvalidOperation,
    ValidationError,
)
from inventory_core.movements import AdjustmentReason, Movement
from inventory_core.ports import WarehouseStockQuery
from inventory_core.reservations import Reservation
from inventory_core.services.counts import CountStock
from inventory_core.services.movements import LineRequest, PostMovement, ReverseMovement
from inventory_core.services.reservations import (
    ExpireReservations,
    FulfilmentLine,
    FulfilReservation,
    ReleaseReservation,
    ReserveStock,
)
from inventory_core.services.stock import ListAvailability

__all__ = ["make_state_machine_test"]

T = TypeVar("T")

EXPECTED_REFUSALS = (InsufficientStock, InvalidOperation, ValidationError, CountConflict)
quantities = st.integers(min_value=1, max_value=20)
indexes = st.integers(min_value=0, max_value=1_000)


def make_state_machine_test(
    adapter_factory: Callable[[], ContractAdapter], *, steps: int = 50
) -> type[unittest.TestCase]:
    """A TestCase running random operation sequences on a fresh store from ``adapter_factory``
    and checking invariants 1-6 after every step. Assign it to a ``Test...`` name in a test
    module; ``max_examples`` comes from the active hypothesis profile."""

    class InventoryStateMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.h = Harness(adapter_factory())
            self.movements: list[Movement] = []
            self.reservations: list[Reservation] = []

        @initialize()
        def build_two_warehouses(self) -> None:
            h = self.h
            self.warehouses = [h.warehouse(), h.warehouse()]
            zone = h.bin(self.warehouses[0])
            self.bins = [zone, h.bin(zone), h.bin(self.warehouses[0]), h.bin(self.warehouses[1])]
            self.items = [h.item(), h.item(), h.item()]

        # -------------------------------------------------------- helpers

        def _pick(self, values: list[T], index: int) -> T:
            return values[index % len(values)]

        def _attempt(self, operation: Callable[[], T]) -> T | None:
            """Run an operation; if the domain refuses it, nothing may have changed (inv. 6)."""
            before = snapshot(self.h)
            try:
                return operation()
            except EXPECTED_REFUSALS:
                assert snapshot(self.h) == before, "invariant 6: a failed operation left a trace"
                return None

        def _available(self, item: UUID, warehouse: UUID) -> int:
            rows = self.h.inventory.execute(
                self.h.admin,
                ListAvailability(WarehouseStockQuery(item_id=item, warehouse_id=warehouse)),
            ).items
            return rows[0].available if rows else 0

        def _warehouse_of(self, location: UUID) -> UUID:
            return self.warehouses[0] if location != self.bins[3] else self.warehouses[1]

        def _post(self, command: PostMovement, lowered: list[tuple[UUID, UUID]]) -> None:
            movement = self._attempt(lambda: self.h.inventory.execute(self.h.admin, command))
            if movement is not None:
                self.movements.append(movement)
                for item, warehouse in lowered:  # invariant 3: guarded ops never go negative
                    assert self._available(item, warehouse) >= 0

        # -------------------------------------------------------- rules

        @rule(item=indexes, location=indexes, quantity=quantities)
        def receive(self, item: int, location: int, quantity: int) -> None:
            line = LineRequest(
                self._pick(self.items, item),
                quantity,
                to_location_id=self._pick(self.bins, location),
            )
            self._post(PostMovement("receipt", [line]), [])

        @rule(item=indexes, location=indexes, quantity=quantities)
        def ship(self, item: int, location: int, quantity: int) -> None:
            item_id, source = self._pick(self.items, item), self._pick(self.bins, location)
            line = LineRequest(item_id, quantity, from_location_id=source)
            self._post(PostMovement("shipment", [line]), [(item_id, self._warehouse_of(source))])

        @rule(item=indexes, source=indexes, dest=indexes, quantity=quantities, also=st.booleans())
        def transfer(self, item: int, source: int, dest: int, quantity: int, also: bool) -> None:
            item_id = self._pick(self.items, item)
            frm, to = self._pick(self.bins, source), self._pick(self.bins, dest)
            lines = [LineRequest(item_id, quantity, from_location_id=frm, to_location_id=to)]
            if also:  # a second line in the opposite direction for another item
                lines.append(
                    LineRequest(
                        self._pick(self.items, item + 1), 1, from_location_id=to, to_location_id=frm
                    )
                )
            lowered = [(item_id, self._warehouse_of(frm))]
            if self._warehouse_of(frm) == self._warehouse_of(to):
                lowered = []
            self._post(PostMovement("transfer", lines), lowered)

        @rule(
            item=indexes,
            location=indexes,
            quantity=quantities,
            reason=st.sampled_from(list(AdjustmentReason)),
            outward=st.booleans(),
        )
        def adjust(
            self,
            item: int,
            location: int,
            quantity: int,
            reason: AdjustmentReason,
            outward: bool,
        ) -> None:
            item_id, at = self._pick(self.items, item), self._pick(self.bins, location)
            line = (
                LineRequest(item_id, quantity, from_location_id=at)
                if outward
                else LineRequest(item_id, quantity, to_location_id=at)
            )
            lowered = []
            if outward and not reason.records_physical_reality:
                lowered = [(item_id, self._warehouse_of(at))]
            self._post(PostMovement("adjustment", [line], reason=reason), lowered)

        @rule(
            item=indexes,
            warehouse=indexes,
            quantity=quantities,
            expires_in=st.none() | st.integers(min_value=1, max_value=120),
        )
        def reserve(self, item: int, warehouse: int, quantity: int, expires_in: int | None) -> None:
            item_id, wh = self._pick(self.items, item), self._pick(self.warehouses, warehouse)
            expires = (
                None if expires_in is None else self.h.clock.now() + timedelta(seconds=expires_in)
            )
            command = ReserveStock(item_id, wh, quantity, expires_at=expires)
            reservation = self._attempt(lambda: self.h.inventory.execute(self.h.admin, command))
            if reservation is not None:
                self.reservations.append(reservation)
                assert self._available(item_id, wh) >= 0

        @rule(index=indexes)
        def release(self, index: int) -> None:
            if self.reservations:
                reservation = self._pick(self.reservations, index)
                self._attempt(
                    lambda: self.h.inventory.execute(
                        self.h.admin, ReleaseReservation(reservation.id)
                    )
                )

        @rule(index=indexes, location=indexes, split=st.booleans())
        def fulfil(self, index: int, location: int, split: bool) -> None:
            if not self.reservations:
                return
            reservation = self._pick(self.reservations, index)
            in_warehouse = [
                b for b in self.bins if self._warehouse_of(b) == reservation.warehouse_id
            ]
            first = self._pick(in_warehouse, location)
            lines = [FulfilmentLine(first, reservation.quantity)]
            if split and reservation.quantity > 1 and len(in_warehouse) > 1:
                second = self._pick(in_warehouse, location + 1)
                lines = [FulfilmentLine(first, reservation.quantity - 1), FulfilmentLine(second, 1)]
            shipment = self._attempt(
                lambda: self.h.inventory.execute(
                    self.h.admin, FulfilReservation(reservation.id, lines)
                )
            )
            if shipment is not None:
                self.movements.append(shipment)

        @rule(
            item=indexes,
            location=indexes,
            counted=st.integers(min_value=0, max_value=30),
            expectation=st.sampled_from(["none", "right", "stale"]),
        )
        def count(self, item: int, location: int, counted: int, expectation: str) -> None:
            item_id, at = self._pick(self.items, item), self._pick(self.bins, location)
            with self.h.unit_of_work() as uow:
                current = uow.stock.on_hand([(item_id, at)])[(item_id, at)]
            expected = {"none": None, "right": current, "stale": current + 1}[expectation]
            command = CountStock([CountLine(item_id, at, counted, expected_on_hand=expected)])
            result = self._attempt(lambda: self.h.inventory.execute(self.h.admin, command))
            if expectation == "stale":
                assert result is None, "a stale count must be refused"
            elif result is not None and result.movement is not None:
                self.movements.append(result.movement)

        @rule(index=indexes)
        def reverse(self, index: int) -> None:
            if self.movements:
                movement = self._pick(self.movements, index)
                reversal = self._attempt(
                    lambda: self.h.inventory.execute(self.h.admin, ReverseMovement(movement.id))
                )
                if reversal is not None:
                    self.movements.append(reversal)

        @rule(seconds=st.integers(min_value=0, max_value=90))
        def let_time_pass(self, seconds: int) -> None:
            self.h.clock.advance(seconds)

        @rule()
        def expire(self) -> None:
            self.h.inventory.execute(None, ExpireReservations())

        @invariant()
        def invariants_hold(self) -> None:
            if hasattr(self, "items"):
                check_invariants(self.h)

    InventoryStateMachine.TestCase.settings = settings(
        settings.default, stateful_step_count=steps, deadline=None
    )
    return InventoryStateMachine.TestCase
