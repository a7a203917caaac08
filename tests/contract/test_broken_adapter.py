"""The contract suite can fail: run it (inline, with pytester) against deliberately broken
in-memory adapters and check that the right contract tests and the state machine catch them,
while the same selection passes on the real adapter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType

import attrs
import pytest

from inventory_core.memory.store import InMemoryStore, InMemoryUnitOfWork
from inventory_core.movements import Movement, Posted
from inventory_core.ports import UnitOfWork
from inventory_core.stock import LocationChange, LotChange, SerialChange, WarehouseChange

pytest_plugins = ["pytester"]


# ---------------------------------------------------------------- the broken adapters


class _NoGuardStock:
    """A StockRepository that forgets to check availability: it drops ``guard_available``."""

    def __init__(self, real: object) -> None:
        self._real = real

    def apply(
        self, locations: Sequence[LocationChange], warehouses: Sequence[WarehouseChange]
    ) -> None:
        unguarded = [attrs.evolve(change, guard_available=False) for change in warehouses]
        self._real.apply(locations, unguarded)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


class _NoGuardUnitOfWork(InMemoryUnitOfWork):
    def __init__(self, store: InMemoryStore) -> None:
        super().__init__(store)
        self.stock = _NoGuardStock(self.stock)  # type: ignore[assignment]


class NoGuardAdapter:
    """Oversells: reservations and shipments are never refused for lack of availability (only
    a bin going negative still is)."""

    def fresh(self) -> Callable[[], UnitOfWork]:
        store = InMemoryStore()
        return lambda: _NoGuardUnitOfWork(store)


class _NoRollbackUnitOfWork(InMemoryUnitOfWork):
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(None, None, None)  # commits whatever happened


class NoRollbackAdapter:
    """Commits on every exit, even when the use case failed half way."""

    def fresh(self) -> Callable[[], UnitOfWork]:
        store = InMemoryStore()
        return lambda: _NoRollbackUnitOfWork(store)


class _LotBlindMovements:
    """A MovementRepository that keeps per-lot levels but never refuses one: it posts every
    lot change as if its location held no stock (only the location's own level is guarded)."""

    def __init__(self, real: object) -> None:
        self._real = real

    def append(
        self, movement: Movement, *, lots: Sequence[LotChange] = (), **changes: object
    ) -> Posted:
        blind = [attrs.evolve(change, holds_stock=False) for change in lots]
        return self._real.append(movement, lots=blind, **changes)  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


class _LotBlindUnitOfWork(InMemoryUnitOfWork):
    def __init__(self, store: InMemoryStore) -> None:
        super().__init__(store)
        self.movements = _LotBlindMovements(self.movements)  # type: ignore[assignment]


class LotBlindAdapter:
    """Lets a lot go negative at a location that has enough of the item in other lots."""

    def fresh(self) -> Callable[[], UnitOfWork]:
        store = InMemoryStore()
        return lambda: _LotBlindUnitOfWork(store)


class _SerialBlindMovements:
    """A MovementRepository that moves a serial from wherever it is, never where the movement
    says it leaves: no serial conflict is ever reported."""

    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._real, self._stock = uow.movements, uow.stock

    def append(
        self, movement: Movement, *, serials: Sequence[SerialChange] = (), **changes: object
    ) -> Posted:
        moved = []
        for change in serials:
            level = self._stock.serial(change.item_id, change.serial)
            where = None if level is None else level.location_id
            moved.append(attrs.evolve(change, from_location_id=where))
        return self._real.append(movement, serials=moved, **changes)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


class _SerialBlindUnitOfWork(InMemoryUnitOfWork):
    def __init__(self, store: InMemoryStore) -> None:
        super().__init__(store)
        self.movements = _SerialBlindMovements(self)  # type: ignore[assignment]


class SerialBlindAdapter:
    """Moves serial numbers from wherever they are: receiving one in stock, or shipping one
    from a location it is not at, goes through."""

    def fresh(self) -> Callable[[], UnitOfWork]:
        store = InMemoryStore()
        return lambda: _SerialBlindUnitOfWork(store)


# ---------------------------------------------------------------- running the suite on them

SUITE = """
import pytest
from hypothesis import HealthCheck, Phase, settings

from inventory_core.contract import InMemoryContractAdapter, InventoryContract
from inventory_core.contract import make_state_machine_test
from tests.contract.test_broken_adapter import (
    LotBlindAdapter,
    NoGuardAdapter,
    NoRollbackAdapter,
    SerialBlindAdapter,
)

ADAPTER = {adapter}


class TestContract(InventoryContract):
    @pytest.fixture
    def contract_adapter(self):
        return ADAPTER()


TestStateMachine = make_state_machine_test(ADAPTER, steps=30)
TestStateMachine.settings = settings(
    TestStateMachine.settings,
    max_examples={examples},
    database=None,
    derandomize=True,  # the same examples every run: a caught bug is always caught
    phases=[Phase.explicit, Phase.generate],  # no shrinking: failing is all we need to see
    suppress_health_check=list(HealthCheck),
)
"""


def run_suite(pytester: pytest.Pytester, adapter: str, examples: int = 100) -> dict[str, str]:
    """Run the contract suite against ``adapter`` inline; returns {test name: outcome}."""
    pytester.makepyfile(test_suite=SUITE.format(adapter=adapter, examples=examples))
    # The outer run's filterwarnings=error and --strict-markers are not inherited by the inner
    # session (it has its own rootdir and no pyproject); pass the same strictness explicitly.
    recorder = pytester.inline_run("-p", "no:cacheprovider", "-W", "error", "--strict-markers")
    outcomes: dict[str, str] = {}
    for report in recorder.getreports("pytest_runtest_logreport"):
        name = report.nodeid.split("::")[-1]
        if report.when == "call" or report.outcome != "passed":
            outcomes[name] = report.outcome
    collect_errors = [r for r in recorder.getreports("pytest_collectreport") if r.failed]
    assert not collect_errors, collect_errors
    return outcomes


AVAILABILITY_TESTS = {
    "test_reservations_hold_stock_until_released",
    "test_physical_losses_post_and_block_until_covered",
    "test_racing_reservations_never_oversell",
}
ROLLBACK_TESTS = {
    "test_a_failure_after_the_use_case_rolls_back_its_effect",
    "test_idempotency_records",
}


def test_the_real_adapter_passes_the_suite(pytester: pytest.Pytester) -> None:
    outcomes = run_suite(pytester, "InMemoryContractAdapter", examples=10)
    assert len(outcomes) > 30
    assert set(outcomes.values()) == {"passed"}, {
        k: v for k, v in outcomes.items() if v != "passed"
    }
    assert outcomes["runTest"] == "passed"  # the state machine ran


def test_an_adapter_that_ignores_the_availability_guard_fails(pytester: pytest.Pytester) -> None:
    outcomes = run_suite(pytester, "NoGuardAdapter")
    failed = {name for name, outcome in outcomes.items() if outcome == "failed"}
    assert failed >= AVAILABILITY_TESTS
    assert "runTest" in failed, "the state machine must catch an overselling adapter"
    assert outcomes["test_item_round_trip_and_unique_sku_and_barcode"] == "passed"
    assert outcomes["test_a_failure_after_the_use_case_rolls_back_its_effect"] == "passed"


def test_an_adapter_that_never_rolls_back_fails(pytester: pytest.Pytester) -> None:
    outcomes = run_suite(pytester, "NoRollbackAdapter")
    failed = {name for name, outcome in outcomes.items() if outcome == "failed"}
    assert failed >= ROLLBACK_TESTS
    assert "runTest" in failed, "the state machine must catch a half-done failed operation"
    assert outcomes["test_reservations_hold_stock_until_released"] == "passed"


LOT_TESTS = {
    "test_stock_of_a_lot_is_refused_per_lot",
    "test_racing_shipments_of_the_last_units_of_a_lot",
    "test_counts_count_per_lot",
}
SERIAL_TESTS = {
    "test_receiving_a_serial_in_stock_is_a_serial_conflict",
    "test_moving_a_serial_that_is_not_there_is_a_serial_conflict",
    "test_counts_count_serials",
    "test_racing_shipments_of_one_serial",
}
"""Tests of lots only, and of serials only."""


def test_an_adapter_that_lets_a_lot_go_negative_fails(pytester: pytest.Pytester) -> None:
    outcomes = run_suite(pytester, "LotBlindAdapter")
    failed = {name for name, outcome in outcomes.items() if outcome == "failed"}
    assert failed >= (LOT_TESTS - {"test_counts_count_per_lot"}) | {
        "test_fulfilment_names_its_lots_and_serials"
    }
    assert "runTest" in failed, "the state machine must catch a lot going negative"
    assert not failed & SERIAL_TESTS


def test_an_adapter_that_moves_serials_from_anywhere_fails(pytester: pytest.Pytester) -> None:
    outcomes = run_suite(pytester, "SerialBlindAdapter")
    failed = {name for name, outcome in outcomes.items() if outcome == "failed"}
    assert failed >= SERIAL_TESTS | {
        "test_reversals_move_lots_and_serials_back",
        "test_fulfilment_names_its_lots_and_serials",
    }
    assert "runTest" in failed, "the state machine must catch a serial in two places"
    assert not failed & LOT_TESTS
