"""What the contract suite needs from an adapter, and a harness around it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from uuid import UUID

from inventory_core.clocks import ManualClock
from inventory_core.executor import Executor
from inventory_core.memory.store import InMemoryStore
from inventory_core.passwords import Pbkdf2PasswordHasher
from inventory_core.ports import (
    LocationStockQuery,
    LotLevelQuery,
    SerialQuery,
    UnitOfWork,
    WarehouseStockQuery,
)
from inventory_core.services.items import CreateItem
from inventory_core.services.locations import CreateLocation
from inventory_core.services.users import ProvisionUser
from inventory_core.stock import ItemLevels
from inventory_core.users import Actor, Role

__all__ = ["ContractAdapter", "Harness", "InMemoryContractAdapter", "race"]


class ContractAdapter(Protocol):
    """An adapter under test."""

    def fresh(self) -> Callable[[], UnitOfWork]:
        """Empty the store (only the three virtual locations remain) and return a factory of new
        units of work on it. Called once per test and once per state-machine example."""
        ...


class InMemoryContractAdapter:
    """The in-memory adapter, as the contract suite sees it."""

    def fresh(self) -> Callable[[], UnitOfWork]:
        return InMemoryStore().unit_of_work


class Harness:
    """An Executor on a fresh store with a manual clock, an admin actor and helpers to build
    the usual fixtures (warehouses, bins, items) in one line each."""

    def __init__(self, adapter: ContractAdapter) -> None:
        self.clock = ManualClock()
        self.unit_of_work = adapter.fresh()
        self.inventory = Executor(
            self.unit_of_work,
            clock=self.clock,
            # One iteration: hashing strength is not what the contract tests.
            password_hasher=Pbkdf2PasswordHasher(iterations=1),
        )
        self.admin: Actor = self.inventory.execute(
            None, ProvisionUser("admin", "contract-suite-admin-pw", Role.ADMIN)
        ).actor
        self._codes = 0

    def code(self, prefix: str) -> str:
        self._codes += 1
        return f"{prefix}-{self._codes}"

    def warehouse(self) -> UUID:
        return self.inventory.execute(
            self.admin, CreateLocation(self.code("WH"), "Warehouse", "warehouse")
        ).id

    def bin(self, parent: UUID) -> UUID:
        return self.inventory.execute(
            self.admin, CreateLocation(self.code("BIN"), "Bin", "internal", parent)
        ).id

    def item(self, **fields: object) -> UUID:
        command = CreateItem(sku=self.code("SKU"), name="Item", **fields)  # type: ignore[arg-type]
        return self.inventory.execute(self.admin, command).id

    def user(self, role: Role) -> Actor:
        return self.inventory.execute(
            None, ProvisionUser(self.code(role.value), "contract-suite-user-pw", role)
        ).actor


def race(workers: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(0)`` .. ``work(workers - 1)`` on as many threads, released together; returns
    what each returned or raised (an exception is collected, for the test to judge)."""
    barrier = threading.Barrier(workers)
    results: list[object] = [None] * workers

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work(n)
        except Exception as exc:  # collected and judged by the test
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def listed_levels(uow: UnitOfWork, item_id: UUID, now: datetime) -> ItemLevels:
    """An item's levels as the separate listings give them: what ``item_levels`` must equal."""
    return ItemLevels(
        tuple(
            uow.stock.warehouse_levels(
                WarehouseStockQuery(item_id=item_id), now=now, after=None, limit=None
            )
        ),
        tuple(
            uow.stock.location_levels(LocationStockQuery(item_id=item_id), after=None, limit=None)
        ),
        tuple(uow.stock.lot_levels(LotLevelQuery(item_id=item_id), after=None, limit=None)),
        tuple(uow.stock.serial_levels(SerialQuery(item_id), after=None, limit=None)),
    )
