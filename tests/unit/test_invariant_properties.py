"""Hypothesis property tests of the invariants of DESIGN §2 on the in-memory adapter.

Random sequences of operations run against the use cases and, side by side, against a small
reference model that says what each operation must do. After every operation: the outcome
(success or refusal) matches the model, stock matches the model, invariants 1-5 hold
(``check_invariants``), and a refused operation changed nothing at all (invariant 6).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import attrs
from hypothesis import example, given
from hypothesis import strategies as st

from inventory_core.contract.adapter import Harness, InMemoryContractAdapter
from inventory_core.contract.invariants import check_invariants, snapshot
from inventory_core.counts import CountLine
from inventory_core.errors import (
    CountConflict,
    InsufficientStock,
    InvalidOperation,
    ValidationError,
)
from inventory_core.locations import ADJUSTMENT_LOCATION_ID, CUSTOMER_LOCATION_ID
from inventory_core.locations import SUPPLIER_LOCATION_ID as SUPPLIER
from inventory_core.movements import AdjustmentReason
from inventory_core.ports import WarehouseStockQuery
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

REFUSALS = (InsufficientStock, InvalidOperation, ValidationError, CountConflict)
Line = tuple[UUID, int, UUID, UUID]  # item, quantity, from, to


@attrs.define
class ModelReservation:
    item: UUID
    warehouse: UUID
    quantity: int
    expires_at: datetime | None
    status: str = "active"

    def counts(self, now: datetime) -> bool:
        return self.status == "active" and (self.expires_at is None or self.expires_at > now)


class Model:
    """What the inventory must look like: on hand per (item, location) incl. virtual ones,
    reservations, and which movements can still be reversed."""

    def __init__(self, warehouse_of: dict[UUID, UUID | None]) -> None:
        self.warehouse_of = warehouse_of
        self.on_hand: dict[tuple[UUID, UUID], int] = defaultdict(int)
        self.reservations: dict[UUID, ModelReservation] = {}
        self.movements: dict[UUID, tuple[list[Line], bool]] = {}  # id -> lines, reversible

    def reserved(self, item: UUID, wh: UUID, now: datetime) -> int:
        return sum(
            r.quantity
            for r in self.reservations.values()
            if r.item == item and r.warehouse == wh and r.counts(now)
        )

    def wh_on_hand(self, item: UUID, wh: UUID) -> int:
        return sum(
            q for (i, loc), q in self.on_hand.items() if i == item and self.warehouse_of[loc] == wh
        )

    def available(self, item: UUID, wh: UUID, now: datetime) -> int:
        return self.wh_on_hand(item, wh) - self.reserved(item, wh, now)

    def _deltas(
        self, lines: list[Line]
    ) -> tuple[dict[tuple[UUID, UUID], int], dict[tuple[UUID, UUID], int]]:
        location_delta: dict[tuple[UUID, UUID], int] = defaultdict(int)
        wh_delta: dict[tuple[UUID, UUID], int] = defaultdict(int)
        for item, quantity, source, dest in lines:
            location_delta[(item, source)] -= quantity
            location_delta[(item, dest)] += quantity
            for loc, sign in ((source, -1), (dest, 1)):
                wh = self.warehouse_of[loc]
                if wh is not None:
                    wh_delta[(item, wh)] += sign * quantity
        return location_delta, wh_delta

    def lowered(
        self, lines: list[Line], reserved: dict[Any, int] | None = None
    ) -> list[tuple[UUID, UUID]]:
        """The (item, warehouse) keys whose availability these lines lower."""
        _, wh_delta = self._deltas(lines)
        reserved = reserved or {}
        return [
            key
            for key in set(wh_delta) | set(reserved)
            if wh_delta.get(key, 0) - reserved.get(key, 0) < 0
        ]

    def can_post(
        self,
        lines: list[Line],
        now: datetime,
        *,
        guard: bool,
        reserved: dict[Any, int] | None = None,
    ) -> bool:
        location_delta, wh_delta = self._deltas(lines)
        for (item, loc), delta in location_delta.items():
            if self.warehouse_of[loc] is not None and self.on_hand[(item, loc)] + delta < 0:
                return False
        reserved = reserved or {}
        for key in set(wh_delta) | set(reserved):
            lowers = wh_delta.get(key, 0) - reserved.get(key, 0)
            if guard and lowers < 0 and self.available(key[0], key[1], now) + lowers < 0:
                return False
        return True

    def expire_overdue(self, keys: list[tuple[UUID, UUID]], now: datetime) -> None:
        """Lazy expiry (docs/decisions.md): a successful write that lowers the availability of
        (item, warehouse) first marks that key's overdue reservations expired."""
        for r in self.reservations.values():
            if (r.item, r.warehouse) in keys and r.status == "active" and not r.counts(now):
                r.status = "expired"

    def post(self, movement_id: UUID, lines: list[Line], *, reversible: bool = True) -> None:
        for item, quantity, source, dest in lines:
            self.on_hand[(item, source)] -= quantity
            self.on_hand[(item, dest)] += quantity
        self.movements[movement_id] = (lines, reversible)


class Scenario:
    """One example: the harness, the model and the operations drawn for it."""

    def __init__(self) -> None:
        self.h = h = Harness(InMemoryContractAdapter())
        w1, w2 = h.warehouse(), h.warehouse()
        zone = h.bin(w1)
        self.warehouses = [w1, w2]
        self.bins = [zone, h.bin(zone), h.bin(w1), h.bin(w2), w2]  # a warehouse holds stock too
        self.items = [h.item(), h.item()]
        warehouse_of: dict[UUID, UUID | None] = {
            b: (w1 if i < 3 else w2) for i, b in enumerate(self.bins)
        }
        warehouse_of.update(
            {SUPPLIER: None, CUSTOMER_LOCATION_ID: None, ADJUSTMENT_LOCATION_ID: None}
        )
        self.model = Model(warehouse_of)
        self.reservation_ids: list[UUID] = []
        self.movement_ids: list[UUID] = []

    @property
    def now(self) -> datetime:
        return self.h.clock.now()

    def pick(self, values: list[UUID], index: int) -> UUID:
        return values[index % len(values)]

    def attempt(self, expected_ok: bool, operation: Callable[[], Any]) -> Any:
        before = snapshot(self.h)
        try:
            result = operation()
        except REFUSALS as refusal:
            assert not expected_ok, f"refused but the model allows it: {refusal!r}"  # noqa: PT017
            assert snapshot(self.h) == before, "invariant 6: a refused operation left a trace"
            return None
        assert expected_ok, "succeeded but the model refuses it"
        return result

    def check(self) -> None:
        check_invariants(self.h)
        with self.h.unit_of_work() as uow:
            keys = [(i, b) for i in self.items for b in self.model.warehouse_of]
            stored = uow.stock.on_hand(keys)
        assert stored == {k: self.model.on_hand[k] for k in keys}
        rows = self.h.inventory.execute(self.h.admin, ListAvailability(WarehouseStockQuery())).items
        for row in rows:
            assert row.available == self.model.available(row.item_id, row.warehouse_id, self.now)

    # ---------------------------------------------------------------- operations

    def movement(self, kind: str, item: int, a: int, b: int, qty: int, reason: str | None) -> None:
        item_id = self.pick(self.items, item)
        source, dest = self.pick(self.bins, a), self.pick(self.bins, b)
        guard = True
        if kind == "receipt":
            line, request = (
                (item_id, qty, SUPPLIER, dest),
                LineRequest(item_id, qty, to_location_id=dest),
            )
        elif kind == "shipment":
            line = (item_id, qty, source, CUSTOMER_LOCATION_ID)
            request = LineRequest(item_id, qty, from_location_id=source)
        elif kind == "transfer":
            if source == dest:
                return
            line = (item_id, qty, source, dest)
            request = LineRequest(item_id, qty, from_location_id=source, to_location_id=dest)
        else:
            assert reason is not None
            guard = not AdjustmentReason(reason).records_physical_reality
            if a % 2:  # outward
                line = (item_id, qty, source, ADJUSTMENT_LOCATION_ID)
                request = LineRequest(item_id, qty, from_location_id=source)
            else:
                line = (item_id, qty, ADJUSTMENT_LOCATION_ID, dest)
                request = LineRequest(item_id, qty, to_location_id=dest)
        ok = self.model.can_post([line], self.now, guard=guard)
        command = PostMovement(kind, [request], reason=reason if kind == "adjustment" else None)
        posted = self.attempt(ok, lambda: self.h.inventory.execute(self.h.admin, command))
        if posted is not None:
            if guard:
                self.model.expire_overdue(self.model.lowered([line]), self.now)
            self.model.post(posted.id, [line])
            self.movement_ids.append(posted.id)

    def reserve(self, item: int, wh: int, qty: int, expires_in: int | None) -> None:
        item_id, wh_id = self.pick(self.items, item), self.pick(self.warehouses, wh)
        expires = None if expires_in is None else self.now + timedelta(seconds=expires_in)
        ok = self.model.available(item_id, wh_id, self.now) >= qty
        command = ReserveStock(item_id, wh_id, qty, expires_at=expires)
        made = self.attempt(ok, lambda: self.h.inventory.execute(self.h.admin, command))
        if made is not None:
            self.model.expire_overdue([(item_id, wh_id)], self.now)
            self.model.reservations[made.id] = ModelReservation(item_id, wh_id, qty, expires)
            self.reservation_ids.append(made.id)

    def release(self, index: int) -> None:
        if not self.reservation_ids:
            return
        rid = self.pick(self.reservation_ids, index)
        reservation = self.model.reservations[rid]
        ok = reservation.counts(self.now)
        if self.attempt(
            ok, lambda: self.h.inventory.execute(self.h.admin, ReleaseReservation(rid))
        ):
            reservation.status = "released"

    def fulfil(self, index: int, at: int) -> None:
        if not self.reservation_ids:
            return
        rid = self.pick(self.reservation_ids, index)
        r = self.model.reservations[rid]
        in_wh = [b for b in self.bins if self.model.warehouse_of[b] == r.warehouse]
        source = self.pick(in_wh, at)
        line = (r.item, r.quantity, source, CUSTOMER_LOCATION_ID)
        key = (r.item, r.warehouse)
        ok = r.counts(self.now) and self.model.can_post(
            [line], self.now, guard=True, reserved={key: -r.quantity}
        )
        command = FulfilReservation(rid, [FulfilmentLine(source, r.quantity)])
        shipped = self.attempt(ok, lambda: self.h.inventory.execute(self.h.admin, command))
        if shipped is not None:
            self.model.expire_overdue(self.model.lowered([line], {key: -r.quantity}), self.now)
            r.status = "fulfilled"
            self.model.post(shipped.id, [line])
            self.movement_ids.append(shipped.id)

    def count(self, item: int, at: int, counted: int) -> None:
        item_id, where = self.pick(self.items, item), self.pick(self.bins, at)
        difference = counted - self.model.on_hand[(item_id, where)]
        command = CountStock([CountLine(item_id, where, counted)])
        result = self.attempt(True, lambda: self.h.inventory.execute(self.h.admin, command))
        if difference == 0:
            assert result.movement is None
            return
        line = (
            (item_id, difference, ADJUSTMENT_LOCATION_ID, where)
            if difference > 0
            else (item_id, -difference, where, ADJUSTMENT_LOCATION_ID)
        )
        self.model.post(result.movement.id, [line])
        self.movement_ids.append(result.movement.id)

    def reverse(self, index: int) -> None:
        if not self.movement_ids:
            return
        mid = self.pick(self.movement_ids, index)
        lines, reversible = self.model.movements[mid]
        mirrored = [(i, q, to, frm) for i, q, frm, to in lines]
        ok = reversible and self.model.can_post(mirrored, self.now, guard=True)
        reversal = self.attempt(
            ok, lambda: self.h.inventory.execute(self.h.admin, ReverseMovement(mid))
        )
        if reversal is not None:
            self.model.expire_overdue(self.model.lowered(mirrored), self.now)
            self.model.movements[mid] = (lines, False)
            self.model.post(reversal.id, mirrored, reversible=False)
            self.movement_ids.append(reversal.id)

    def wait(self, seconds: int) -> None:
        self.h.clock.advance(seconds)

    def expire(self) -> None:
        expired = self.h.inventory.execute(None, ExpireReservations())
        due = [
            r
            for r in self.model.reservations.values()
            if r.status == "active" and not r.counts(self.now)
        ]
        assert expired == len(due)
        for r in due:
            r.status = "expired"


small = st.integers(min_value=0, max_value=9)
quantity = st.integers(min_value=1, max_value=12)
OPERATIONS = st.one_of(
    st.tuples(
        st.just("movement"),
        st.sampled_from(["receipt", "receipt", "shipment", "transfer", "adjustment"]),
        small,
        small,
        small,
        quantity,
        st.sampled_from([r.value for r in AdjustmentReason]),
    ),
    st.tuples(st.just("reserve"), small, small, quantity, st.none() | st.integers(1, 100)),
    st.tuples(st.just("release"), small),
    st.tuples(st.just("fulfil"), small, small),
    st.tuples(st.just("count"), small, small, st.integers(min_value=0, max_value=15)),
    st.tuples(st.just("reverse"), small),
    st.tuples(st.just("wait"), st.integers(min_value=0, max_value=60)),
    st.tuples(st.just("expire")),
)


def run(scenario: Scenario, operation: tuple[Any, ...]) -> None:
    name, *args = operation
    if name == "movement":
        kind, item, a, b, qty, reason = args
        scenario.movement(kind, item, a, b, qty, reason)
    else:
        getattr(scenario, name)(*args)


# Found by hypothesis in CI (issue 11): the second reservation lowers availability, so the
# overdue first one is expired lazily before the housekeeping job runs and finds nothing left.
LAZY_EXPIRY_BEFORE_HOUSEKEEPING = [
    ("movement", "receipt", 0, 0, 0, 5, "count"),
    ("reserve", 0, 0, 1, 1),
    ("movement", "receipt", 0, 0, 0, 3, "count"),
    ("wait", 1),
    ("movement", "receipt", 0, 0, 0, 2, "count"),
    ("reserve", 0, 0, 1, None),
    ("expire",),
]


@given(st.lists(OPERATIONS, max_size=40))
@example(LAZY_EXPIRY_BEFORE_HOUSEKEEPING)
def test_random_operation_sequences_keep_every_invariant(operations: list[tuple[Any, ...]]) -> None:
    scenario = Scenario()
    for operation in operations:
        run(scenario, operation)
        scenario.check()


@given(
    st.lists(
        st.tuples(
            small, small, small, quantity, st.sampled_from(["receipt", "shipment", "transfer"])
        ),
        min_size=1,
        max_size=30,
    )
)
def test_multi_line_movements_are_all_or_nothing(
    lines: list[tuple[int, int, int, int, str]],
) -> None:
    """A movement of many lines (same kind) posts every line or none, even when only its last
    line lacks stock."""
    scenario = Scenario()
    scenario.movement("receipt", 0, 0, 0, 5, None)
    scenario.movement("receipt", 1, 3, 3, 5, None)
    kind = lines[0][4]
    model_lines: list[Line] = []
    requests: list[LineRequest] = []
    for item, a, b, qty, _ in lines:
        item_id = scenario.pick(scenario.items, item)
        source, dest = scenario.pick(scenario.bins, a), scenario.pick(scenario.bins, b)
        if kind == "receipt":
            model_lines.append((item_id, qty, SUPPLIER, dest))
            requests.append(LineRequest(item_id, qty, to_location_id=dest))
        elif kind == "shipment":
            model_lines.append((item_id, qty, source, CUSTOMER_LOCATION_ID))
            requests.append(LineRequest(item_id, qty, from_location_id=source))
        else:
            if source == dest:
                continue
            model_lines.append((item_id, qty, source, dest))
            requests.append(LineRequest(item_id, qty, from_location_id=source, to_location_id=dest))
    if not requests:
        return
    ok = scenario.model.can_post(model_lines, scenario.now, guard=True)
    command = PostMovement(kind, requests)
    posted = scenario.attempt(ok, lambda: scenario.h.inventory.execute(scenario.h.admin, command))
    if posted is not None:
        assert len(posted.lines) == len(requests)
        scenario.model.post(posted.id, model_lines)
    scenario.check()
