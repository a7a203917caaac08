"""The core's contract suite and state machine, unchanged, on the Postgres adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from inventory_core.contract import InventoryContract, make_state_machine_test
from inventory_core.ports import UnitOfWork
from inventory_pg import PgStore
from inventory_pg.testing import open_test_store, reset_database

pytestmark = pytest.mark.postgres

# The state machine's TestCase is built at import time and cannot take fixtures, so the module's
# store lives here, set by the autouse fixture below for the duration of this module.
_store: PgStore | None = None


@pytest.fixture(scope="module", autouse=True)
def _module_store(database_url: str) -> Iterator[PgStore]:
    global _store  # noqa: PLW0603 -- see above: the state machine reads it
    # 24 threads race in the contract's concurrency tests: give each a connection.
    store = open_test_store(database_url, max_size=24)
    _store = store
    yield store
    _store = None
    store.close()


class PgContractAdapter:
    """The Postgres store as the contract suite sees it: ``fresh()`` empties the database."""

    def fresh(self) -> Callable[[], UnitOfWork]:
        """TRUNCATE every table and reseed the virtual locations (a few milliseconds)."""
        if _store is None:
            raise RuntimeError("the Postgres contract adapter is only usable inside its tests")
        reset_database(_store)
        return _store.unit_of_work


class TestPgContract(InventoryContract):
    @pytest.fixture
    def contract_adapter(self) -> PgContractAdapter:
        return PgContractAdapter()


# The same state machine as the in-memory adapter's, at the active profile's full example count
# (200 examples of up to 50 steps under CI): about a minute on a quiet 2-core machine.
TestPgStateMachine = make_state_machine_test(PgContractAdapter)
