"""The core's contract suite and state machine, unchanged, on the Postgres adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import settings

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


# Every step of an example costs a dozen round trips here (the invariants are re-read from the
# database after each one), so Postgres runs fewer examples than the in-memory adapter, which
# explores the operation space at the profile's full count; the Postgres runs are there to catch
# what only a real database does differently.
PG_STATE_MACHINE_EXAMPLES = 12

TestPgStateMachine = make_state_machine_test(PgContractAdapter)
_settings: settings = TestPgStateMachine.settings  # type: ignore[attr-defined]
TestPgStateMachine.settings = settings(  # type: ignore[attr-defined]
    _settings, max_examples=min(_settings.max_examples, PG_STATE_MACHINE_EXAMPLES)
)
