"""A hypothesis state machine: random sequences of use cases, every invariant after each step.

Its items are three untracked ones, one tracked by lot and one by serial number: the same rules
move all of them (a tracked line names a lot or serials, chosen mostly among those where the
stock is, sometimes not), and two more change an item's tracking and ask for picking
suggestions. After every step the invariants hold per location, warehouse, lot and serial.
"""

from __future__ import annotations

import unittest
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar
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
    SerialConflict,
    ValidationError,
)
from inventory_core.lots import Tracking
from inventory_core.movements import AdjustmentReason, Movement
from inventory_core.ports import (
    LocationStockQuery,
    LotLevelQuery,
    LotQuery,
    SerialQuery,
    WarehouseStockQuery,
)
from inventory_core.reservations import Reservation
from inventory_core.services.counts import CountStock
from inventory_core.services.items import ChangeItem, ItemChanges
from inventory_core.services.lots import PickList, SuggestPicking
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

EXPECTED_REFUSALS = (
    InsufficientStock,
    InvalidOperation,
    ValidationError,
    CountConflict,
    SerialConflict,
)
quantities = st.integers(min_value=1, max_value=20)
indexes = st.integers(min_value=0, max_value=1_000)
choices = st.integers(min_value=0, max_value=255)
"""How a tracked line picks its lot or serials: mostly where the stock is, a quarter of the
time (``choice % 4 == 3``) anywhere (see ``_tracked``)."""

LOT_EXPIRY = {"L1": date(2026, 1, 2), "L2": None, "L3": date(2025, 12, 31)}
"""The lots of the lot-tracked item and the expiry date their receipts give (the harness's
clock starts on 1 January 2026: L3 has expired, L1 expires on the 2nd -- two ``next_day``
steps)."""
WRONG_EXPIRY = date(2027, 1, 1)
"""An expiry date a receipt sometimes gives instead: refused for a lot that has another."""
SERIALS = ("S1", "S2", "S3", "S4", "S5", "S6")
"""The serial numbers of the serial-tracked item."""


def make_state_machine_test(
    adapter_factory: Callable[[], ContractAdapter], *, steps: int = 50
) -> type[unittest.TestCase]:
    """A TestCase running random operation sequences on a fresh store from ``adapter_factory``
    and checking invariants 1-6 -- per location and warehouse, and per lot and serial number --
    after every step. Assign it to a ``Test...`` name in a test module; ``max_examples`` comes
    from the active hypothesis profile."""

    class InventoryStateMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.h = Harness(adapter_factory())
            self.movements: list[Movement] = []
            self.reservations: list[Reservation] = []
            self.refusal: Exception | None = None
            """What the last ``_attempt`` was refused with."""

        @initialize(here=indexes, there=indexes, quantity=quantities)
        def build_two_warehouses(self, here: int, there: int, quantity: int) -> None:
            h = self.h
            self.warehouses = [h.warehouse(), h.warehouse()]
            zone = h.bin(self.warehouses[0])
            self.bins = [zone, h.bin(zone), h.bin(self.warehouses[0]), h.bin(self.warehouses[1])]
            self.items = [
                h.item(),
                h.item(),
                h.item(),
                h.item(tracking=Tracking.LOT),
                h.item(tracking=Tracking.SERIAL),
            ]
            self.tracking = dict.fromkeys(self.items, Tracking.NONE)
            self.tracking[self.items[3]] = Tracking.LOT
            self.tracking[self.items[4]] = Tracking.SERIAL
            self._stock_the_tracked_items(here, there, quantity)

        def _stock_the_tracked_items(self, here: int, there: int, quantity: int) -> None:
            """Start with some stock of the tracked items (two lots and two serials at one bin, a
            lot that has expired and a serial at another), so their rules find some."""
            at, elsewhere = self._pick(self.bins, here), self._pick(self.bins, there)
            lotted, serial = self.items[3], self.items[4]
            lines = [
                LineRequest(
                    lotted, quantity, to_location_id=at, lot="L1", expires_on=LOT_EXPIRY["L1"]
                ),
                LineRequest(lotted, 21 - quantity, to_location_id=at, lot="L2"),
                LineRequest(
                    lotted, 3, to_location_id=elsewhere, lot="L3", expires_on=LOT_EXPIRY["L3"]
                ),
                LineRequest(serial, 2, to_location_id=at, serials=SERIALS[:2]),
                LineRequest(serial, 1, to_location_id=elsewhere, serials=SERIALS[2:3]),
            ]
            receipt = self.h.inventory.execute(self.h.admin, PostMovement("receipt", lines))
            self.movements.append(receipt)

        # -------------------------------------------------------- helpers

        def _pick(self, values: list[T], index: int) -> T:
            return values[index % len(values)]

        def _attempt(self, operation: Callable[[], T]) -> T | None:
            """Run an operation; if the domain refuses it, nothing may have changed (inv. 6)."""
            before = snapshot(self.h)
            self.refusal = None
            try:
                return operation()
            except EXPECTED_REFUSALS as exc:
                assert snapshot(self.h) == before, "invariant 6: a failed operation left a trace"
                self.refusal = exc
                return None

        def _available(self, item: UUID, warehouse: UUID) -> int:
            rows = self.h.inventory.execute(
                self.h.admin,
                ListAvailability(WarehouseStockQuery(item_id=item, warehouse_id=warehouse)),
            ).items
            return rows[0].available if rows else 0

        def _tracked(
            self,
            item: UUID,
            quantity: int,
            source: UUID | None,
            choice: int,
            *,
            exact: bool = False,
        ) -> tuple[int, dict[str, Any]]:
            """The quantity and the lot or serials of a line of ``item`` from ``source``
            (``None``: stock comes in). Honest three times in four: a lot at the source (taking
            all of it, one unit more, or ``quantity``), serials at the source (or not in stock
            for stock coming in, as many as there are unless ``exact``); else any of the item's
            lots or any serials, which the rules may refuse."""
            tracking = self.tracking[item]
            honest, which = choice % 4 != 3, choice // 4
            if tracking is Tracking.LOT:
                if source is None:
                    code = list(LOT_EXPIRY)[which % 3]
                    expiry = (LOT_EXPIRY[code],) * 3 + (None, WRONG_EXPIRY)
                    return quantity, {"lot": code, "expires_on": expiry[which // 3 % 5]}
                with self.h.unit_of_work() as uow:
                    there = [
                        level
                        for level in uow.stock.lot_levels(
                            LotLevelQuery(item_id=item), after=None, limit=None
                        )
                        if level.location_id == source
                    ]
                    codes = [lot.code for lot in uow.lots.list(LotQuery(item), after=None, limit=9)]
                if honest and there:
                    level = there[which % len(there)]
                    if not exact:
                        quantity = (level.on_hand, level.on_hand + 1, quantity)[which // 8 % 3]
                    return quantity, {"lot": level.code}
                codes = codes or list(LOT_EXPIRY)
                return quantity, {"lot": codes[which % len(codes)]}
            if tracking is Tracking.SERIAL:
                with self.h.unit_of_work() as uow:
                    in_stock = {
                        level.serial: level.location_id
                        for level in uow.stock.serial_levels(
                            SerialQuery(item), after=None, limit=None
                        )
                    }
                pool = list(SERIALS[which % 6 :] + SERIALS[: which % 6])
                preferred = [s for s in pool if in_stock.get(s) == source]
                if honest and preferred:
                    pool = preferred + [s for s in pool if s not in preferred]
                    if not exact:
                        quantity = min(quantity, len(preferred))
                serials = pool[: min(quantity, len(pool))]
                return len(serials), {"serials": serials}
            return quantity, {}

        def _source(self, item: UUID, location: int, choice: int) -> UUID:
            """Where a line of ``item`` takes stock from: for a tracked item, three times in
            four a bin holding some of it (when one does), else any bin."""
            if self.tracking[item] is not Tracking.NONE and choice % 4 != 3:
                with self.h.unit_of_work() as uow:
                    holding = [
                        level.location_id
                        for level in uow.stock.location_levels(
                            LocationStockQuery(item_id=item), after=None, limit=None
                        )
                    ]
                if holding:
                    return self._pick(holding, location)
            return self._pick(self.bins, location)

        def _line(
            self,
            item: UUID,
            quantity: int,
            source: UUID | None,
            destination: UUID | None,
            choice: int,
        ) -> LineRequest:
            quantity, tracked = self._tracked(item, quantity, source, choice)
            return LineRequest(item, quantity, source, destination, **tracked)

        def _foreseen(
            self, line: LineRequest, lowered: list[tuple[UUID, UUID]]
        ) -> tuple[type[Exception] | None, UUID | None] | None:
            """What must become of a movement whose one line takes ``line.quantity`` of a
            tracked item out of ``line.from_location_id``, when the location and the warehouses
            it lowers have enough: posted (``(None, None)``), or refused for the lot (with its
            id) or the serials. ``None`` when something else may refuse it."""
            item, source, wanted = line.item_id, line.from_location_id, line.quantity
            if source in (None, line.to_location_id) or self.tracking[item] is Tracking.NONE:
                return None
            outcome: tuple[type[Exception] | None, UUID | None]
            with self.h.unit_of_work() as uow:
                if uow.stock.on_hand([(item, source)])[(item, source)] < wanted:
                    return None
                if line.lot is not None:
                    lot = uow.lots.find([(item, line.lot)]).get((item, line.lot))
                    if lot is None:
                        return ValidationError, None
                    key = (item, source, lot.id)
                    there = uow.stock.lot_on_hand([key])[key]
                    outcome = (InsufficientStock, lot.id) if there < wanted else (None, None)
                else:
                    at = {
                        level.serial
                        for level in uow.stock.serial_levels(
                            SerialQuery(item, location_id=source), after=None, limit=None
                        )
                    }
                    fits = set(line.serials or ()) <= at
                    outcome = (None, None) if fits else (SerialConflict, None)
            if any(self._available(i, w) < wanted for i, w in lowered):
                return None
            return outcome

        def _warehouse_of(self, location: UUID) -> UUID:
            return self.warehouses[0] if location != self.bins[3] else self.warehouses[1]

        def _post(self, command: PostMovement, lowered: list[tuple[UUID, UUID]]) -> None:
            """Post ``command``; ``lowered``: the (item, warehouse) keys whose availability it
            lowers under the guard, which must stay >= 0. A movement of one outbound tracked
            line is held to what :meth:`_foreseen` says."""
            foreseen = None
            if len(command.lines) == 1:
                foreseen = self._foreseen(command.lines[0], lowered)
            movement = self._attempt(lambda: self.h.inventory.execute(self.h.admin, command))
            if foreseen is not None:
                error, lot_id = foreseen
                if error is None:
                    assert movement is not None, f"refused: {self.refusal!r}"
                else:
                    assert isinstance(self.refusal, error), f"{error}: {self.refusal!r}"
                    if lot_id is not None:
                        assert self.refusal.lot_id == lot_id, self.refusal  # type: ignore[attr-defined]
            if movement is not None:
                self.movements.append(movement)
                for item, warehouse in lowered:  # invariant 3: guarded ops never go negative
                    assert self._available(item, warehouse) >= 0

        # -------------------------------------------------------- rules

        @rule(item=indexes, location=indexes, quantity=quantities, choice=choices)
        def receive(self, item: int, location: int, quantity: int, choice: int) -> None:
            item_id, to = self._pick(self.items, item), self._pick(self.bins, location)
            line = self._line(item_id, quantity, None, to, choice)
            self._post(PostMovement("receipt", [line]), [])

        @rule(item=indexes, location=indexes, quantity=quantities, choice=choices)
        def ship(self, item: int, location: int, quantity: int, choice: int) -> None:
            item_id = self._pick(self.items, item)
            source = self._source(item_id, location, choice)
            line = self._line(item_id, quantity, source, None, choice)
            self._post(PostMovement("shipment", [line]), [(item_id, self._warehouse_of(source))])

        @rule(
            item=indexes,
            source=indexes,
            dest=indexes,
            quantity=quantities,
            also=st.booleans(),
            choice=choices,
        )
        def transfer(
            self, item: int, source: int, dest: int, quantity: int, *, also: bool, choice: int
        ) -> None:
            item_id = self._pick(self.items, item)
            frm, to = self._source(item_id, source, choice), self._pick(self.bins, dest)
            if frm == to and choice % 4 != 3:  # mostly somewhere else (the same is refused)
                to = self._pick(self.bins, self.bins.index(to) + 1)
            lines = [self._line(item_id, quantity, frm, to, choice)]
            if also:  # a second line in the opposite direction for another item
                lines.append(self._line(self._pick(self.items, item + 1), 1, to, frm, choice // 2))
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
            choice=choices,
        )
        def adjust(
            self,
            item: int,
            location: int,
            quantity: int,
            *,
            reason: AdjustmentReason,
            outward: bool,
            choice: int,
        ) -> None:
            item_id = self._pick(self.items, item)
            at = (
                self._source(item_id, location, choice)
                if outward
                else self._pick(self.bins, location)
            )
            line = (
                self._line(item_id, quantity, at, None, choice)
                if outward
                else self._line(item_id, quantity, None, at, choice)
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

        @rule(index=indexes, location=indexes, split=st.booleans(), choice=choices)
        def fulfil(self, index: int, location: int, split: bool, choice: int) -> None:
            if not self.reservations:
                return
            reservation = self._pick(self.reservations, index)
            item = reservation.item_id
            in_warehouse = [
                b for b in self.bins if self._warehouse_of(b) == reservation.warehouse_id
            ]
            first = self._pick(in_warehouse, location)
            parts = [(first, reservation.quantity)]
            if split and reservation.quantity > 1 and len(in_warehouse) > 1:
                second = self._pick(in_warehouse, location + 1)
                parts = [(first, reservation.quantity - 1), (second, 1)]
            lines = []
            for n, (at, quantity) in enumerate(parts):
                _, tracked = self._tracked(item, quantity, at, choice >> n, exact=True)
                tracked.pop("expires_on", None)
                lines.append(FulfilmentLine(at, quantity, **tracked))
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
            choice=choices,
        )
        def count(
            self, item: int, location: int, counted: int, expectation: str, choice: int
        ) -> None:
            item_id, at = self._pick(self.items, item), self._pick(self.bins, location)
            tracking, tracked = self.tracking[item_id], dict[str, Any]()
            with self.h.unit_of_work() as uow:
                current = uow.stock.on_hand([(item_id, at)])[(item_id, at)]
                if tracking is Tracking.LOT:  # a lot there, mostly; else any
                    there = [
                        level
                        for level in uow.stock.lot_levels(
                            LotLevelQuery(item_id=item_id), after=None, limit=None
                        )
                        if level.location_id == at
                    ]
                    code = list(LOT_EXPIRY)[choice // 4 % 3]
                    if choice % 4 and there:
                        code = there[choice // 4 % len(there)].code
                    lot = uow.lots.find([(item_id, code)]).get((item_id, code))
                    current = 0
                    if lot is not None:
                        current = uow.stock.lot_on_hand([(item_id, at, lot.id)])[
                            (item_id, at, lot.id)
                        ]
                    tracked = {"lot": code}
                    if choice // 64 % 2 and counted:
                        tracked["expires_on"] = LOT_EXPIRY[code]
                elif tracking is Tracking.SERIAL:  # some of those there, and maybe another
                    here = [
                        level.serial
                        for level in uow.stock.serial_levels(
                            SerialQuery(item_id, location_id=at), after=None, limit=None
                        )
                    ]
                    current = len(here)
                    found = [s for n, s in enumerate(here) if not choice >> (n % 8) & 1]
                    if choice % 3 == 0:
                        extra = SERIALS[choice % 6]
                        found += [] if extra in found else [extra]
                    counted = len(found)
                    tracked = {"serials": found}
            expected = {"none": None, "right": current, "stale": current + 1}[expectation]
            command = CountStock(
                [CountLine(item_id, at, counted, expected_on_hand=expected, **tracked)]
            )
            result = self._attempt(lambda: self.h.inventory.execute(self.h.admin, command))
            if expectation == "stale":
                assert result is None, "a stale count must be refused"
                assert isinstance(self.refusal, CountConflict | ValidationError), self.refusal
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

        @rule(index=indexes, of_serials=st.booleans())
        def lose_what_is_not_there(self, index: int, of_serials: bool) -> None:
            """Losses always post, except of stock that is not there: one unit more than a lot
            has at a location, or a serial that is at another location."""
            if of_serials:
                self._lose_a_serial_from_elsewhere(index)
            else:
                self._overdraw_a_lot(index)

        def _overdraw_a_lot(self, location: int) -> None:
            """A loss of one unit more than a lot has at a location that holds more of the item
            in other lots: refused for that lot (InsufficientStock naming it)."""
            item = self.items[3]
            if self.tracking[item] is not Tracking.LOT:
                return
            with self.h.unit_of_work() as uow:
                levels = uow.stock.lot_levels(LotLevelQuery(item_id=item), after=None, limit=None)
            at: dict[UUID, int] = {}
            for level in levels:
                at[level.location_id] = at.get(level.location_id, 0) + level.on_hand
            short = [level for level in levels if at[level.location_id] > level.on_hand]
            if not short:
                return
            level = self._pick(short, location)
            line = LineRequest(item, level.on_hand + 1, level.location_id, lot=level.code)
            self._post(PostMovement("adjustment", [line], reason=AdjustmentReason.LOSS), [])
            assert isinstance(self.refusal, InsufficientStock), self.refusal
            assert (self.refusal.lot_id, self.refusal.location_id) == (
                level.lot_id,
                level.location_id,
            )
            assert (self.refusal.available, self.refusal.requested) == (
                level.on_hand,
                level.on_hand + 1,
            )

        def _lose_a_serial_from_elsewhere(self, index: int) -> None:
            """A loss, at a location holding some of the item, of a serial in stock at another:
            a serial conflict naming where it is."""
            item = self.items[4]
            if self.tracking[item] is not Tracking.SERIAL:
                return
            with self.h.unit_of_work() as uow:
                levels = uow.stock.serial_levels(SerialQuery(item), after=None, limit=None)
            places = sorted({level.location_id for level in levels if level.location_id})
            if len(places) < 2:
                return
            serial = self._pick(levels, index)
            source = next(place for place in places if place != serial.location_id)
            line = LineRequest(item, 1, source, serials=[serial.serial])
            self._post(PostMovement("adjustment", [line], reason=AdjustmentReason.LOSS), [])
            assert isinstance(self.refusal, SerialConflict), self.refusal
            assert (self.refusal.serial, self.refusal.location_id) == (
                serial.serial,
                serial.location_id,
            )

        @rule(item=indexes, tracking=st.sampled_from(list(Tracking)))
        def retrack(self, item: int, tracking: Tracking) -> None:
            item_id = self._pick(self.items, item)
            with self.h.unit_of_work() as uow:
                stocked = bool(
                    uow.stock.location_levels(
                        LocationStockQuery(item_id=item_id), after=None, limit=1
                    )
                )
            command = ChangeItem(item_id, ItemChanges(tracking=tracking))
            changed = self._attempt(lambda: self.h.inventory.execute(self.h.admin, command))
            if stocked and tracking is not self.tracking[item_id]:
                assert isinstance(self.refusal, InvalidOperation), "tracking changed with stock"
            else:
                assert changed is not None, f"refused: {self.refusal!r}"
                self.tracking[item_id] = changed.tracking

        @rule(item=indexes, warehouse=indexes, quantity=st.integers(min_value=1, max_value=8))
        def pick(self, item: int, warehouse: int, quantity: int) -> None:
            """A picking suggestion covers exactly ``quantity`` with stock that is there,
            unexpired, first expired first out, then by location code; or is refused when the
            unexpired stock less reservations does not cover it."""
            item_id, wh = self._pick(self.items, item), self._pick(self.warehouses, warehouse)
            picked: PickList | None = None
            try:
                picked = self.h.inventory.execute(
                    self.h.admin, SuggestPicking(item_id, wh, quantity)
                )
            except InsufficientStock as exc:
                refused = exc
            now = self.h.clock.now()
            # What may be picked: (location, lot) -> (on hand, expiry, serials)
            stock: dict[tuple[UUID, str | None], tuple[int, date | None, tuple[str, ...]]] = {}
            with self.h.unit_of_work() as uow:
                tracking = self.tracking[item_id]
                if tracking is Tracking.LOT:
                    for lot in uow.stock.lot_levels(
                        LotLevelQuery(item_id=item_id, warehouse_id=wh), after=None, limit=None
                    ):
                        if lot.expires_on is None or lot.expires_on >= now.date():
                            stock[(lot.location_id, lot.code)] = (lot.on_hand, lot.expires_on, ())
                elif tracking is Tracking.SERIAL:
                    for serial in uow.stock.serial_levels(
                        SerialQuery(item_id, warehouse_id=wh), after=None, limit=None
                    ):
                        assert serial.location_id is not None
                        n, _, serials = stock.get((serial.location_id, None), (0, None, ()))
                        stock[(serial.location_id, None)] = (n + 1, None, (*serials, serial.serial))
                else:
                    for level in uow.stock.location_levels(
                        LocationStockQuery(item_id=item_id, warehouse_id=wh), after=None, limit=None
                    ):
                        stock[(level.location_id, None)] = (level.on_hand, None, ())
                codes = {
                    loc.id: loc.code
                    for loc in uow.locations.get_many({loc for loc, _ in stock}).values()
                }
                levels = uow.stock.warehouse_levels(
                    WarehouseStockQuery(item_id=item_id, warehouse_id=wh),
                    now=now,
                    after=None,
                    limit=None,
                )
            reserved = levels[0].reserved if levels else 0
            coverable = max(0, sum(n for n, _, _ in stock.values()) - reserved)
            if quantity > coverable:
                assert picked is None, f"proposed {quantity}, {coverable} can be picked"
                assert (refused.available, refused.requested) == (coverable, quantity)
                return
            assert picked is not None, f"refused {quantity}, {coverable} can be picked"

            def order(key: tuple[UUID, str | None]) -> tuple[object, ...]:
                expires = stock[key][1]
                return (expires is None, expires or date.max, codes[key[0]], key[1] or "")

            keys = [(line.location_id, line.lot) for line in picked.lines]
            assert sum(line.quantity for line in picked.lines) == quantity
            assert len(set(keys)) == len(keys), f"a location and lot proposed twice: {keys}"
            assert keys == sorted(keys, key=order), f"not first expired first out: {picked}"
            for n, (key, line) in enumerate(zip(keys, picked.lines, strict=True)):
                assert key in stock, f"proposed what is not there (or has expired): {line}"
                on_hand, expires, serials = stock[key]
                assert 0 < line.quantity <= on_hand, line
                assert line.quantity == on_hand or n == len(keys) - 1, "a pick left stock"
                assert line.expires_on == expires, line
                if tracking is Tracking.SERIAL:
                    assert line.serials is not None
                    assert len(line.serials) == line.quantity, line
                    assert set(line.serials) <= set(serials), line
            skipped = [k for k in stock if k not in keys and order(k) < order(keys[-1])]
            assert not skipped, f"stock to be picked first was skipped: {skipped}"

        @rule()
        def next_day(self) -> None:
            self.h.clock.advance(days=1)

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
