"""Threads racing for the last units on the in-memory adapter never oversell."""

from __future__ import annotations

import threading
from collections import Counter
from uuid import UUID

from inventory_core.contract.adapter import Harness, InMemoryContractAdapter
from inventory_core.contract.invariants import check_invariants
from inventory_core.errors import InsufficientStock, InvalidOperation
from inventory_core.ports import WarehouseStockQuery
from inventory_core.services.movements import LineRequest, PostMovement
from inventory_core.services.reservations import FulfilmentLine, FulfilReservation, ReserveStock
from inventory_core.services.stock import ListAvailability
from inventory_core.users import Role

THREADS = 32
ATTEMPTS = 12  # per thread: 384 attempts for 3 items x 2 bins x 15 units = 90 units


def test_racing_reservations_and_shipments_never_oversell() -> None:
    h = Harness(InMemoryContractAdapter())
    wh = h.warehouse()
    bins = [h.bin(wh), h.bin(wh)]
    items = [h.item() for _ in range(3)]
    for item in items:
        for b in bins:
            h.inventory.execute(
                h.admin, PostMovement("receipt", [LineRequest(item, 15, to_location_id=b)])
            )
    clerk = h.user(Role.CLERK)
    barrier = threading.Barrier(THREADS)
    won: Counter[tuple[str, UUID]] = Counter()
    refused: Counter[str] = Counter()
    unexpected: list[BaseException] = []
    tally = threading.Lock()

    def worker(n: int) -> None:
        barrier.wait()
        for attempt in range(ATTEMPTS):
            item = items[(n + attempt) % len(items)]
            quantity = 1 + (n + attempt) % 3
            try:
                if (n + attempt) % 2:
                    h.inventory.execute(clerk, ReserveStock(item, wh, quantity))
                    outcome = "reserved"
                else:
                    source = bins[n % 2]
                    h.inventory.execute(
                        clerk,
                        PostMovement(
                            "shipment", [LineRequest(item, quantity, from_location_id=source)]
                        ),
                    )
                    outcome = "shipped"
            except InsufficientStock:
                with tally:
                    refused[item.hex] += 1
            except BaseException as exc:  # judged below, in the main thread
                with tally:
                    unexpected.append(exc)
            else:
                with tally:
                    won[(outcome, item)] += quantity

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert unexpected == []
    assert sum(refused.values()) > 0, "the race must run out of stock for the test to mean much"

    rows = {
        r.item_id: r
        for r in h.inventory.execute(
            h.admin, ListAvailability(WarehouseStockQuery(warehouse_id=wh))
        ).items
    }
    for item in items:
        row = rows[item]
        shipped, reserved = won[("shipped", item)], won[("reserved", item)]
        assert shipped + reserved <= 30, "oversold"
        assert row.on_hand == 30 - shipped
        assert row.reserved == reserved
        assert row.available == 30 - shipped - reserved >= 0
    check_invariants(h)


def test_racing_fulfilments_of_one_reservation_ship_once() -> None:
    h = Harness(InMemoryContractAdapter())
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    h.inventory.execute(h.admin, PostMovement("receipt", [LineRequest(item, 10, to_location_id=a)]))
    reservations = [h.inventory.execute(h.admin, ReserveStock(item, wh, 2)) for _ in range(4)]
    barrier = threading.Barrier(THREADS)
    shipped: list[UUID] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        reservation = reservations[n % len(reservations)]
        barrier.wait()
        try:
            h.inventory.execute(h.admin, FulfilReservation(reservation.id, [FulfilmentLine(a, 2)]))
        except InvalidOperation:  # the losers: the reservation is no longer active
            return
        with lock:
            shipped.append(reservation.id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(shipped) == sorted(r.id for r in reservations)
    (row,) = h.inventory.execute(h.admin, ListAvailability(WarehouseStockQuery(item_id=item))).items
    assert (row.on_hand, row.reserved, row.available) == (2, 0, 2)
    check_invariants(h)
