"""The core's contract suite and state machine, unchanged, on the Postgres adapter."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from inventory_core.clocks import ManualClock
from inventory_core.contract import EventContract, InventoryContract, make_state_machine_test
from inventory_core.errors import AuthenticationFailed
from inventory_core.executor import Executor
from inventory_core.passwords import Pbkdf2PasswordHasher
from inventory_core.ports import UnitOfWork
from inventory_core.services.tokens import AuthenticateToken, CreateToken
from inventory_core.services.users import ProvisionUser
from inventory_core.tokens import new_token_secret
from inventory_core.users import Role
from inventory_pg import PgStore
from inventory_pg.repositories.tokens import FIND_BY_DIGEST
from inventory_pg.testing import open_test_store, reset_database
from inventory_pg.uow import PgUnitOfWork

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


class TestPgEvents(EventContract):
    @pytest.fixture
    def contract_adapter(self) -> PgContractAdapter:
        return PgContractAdapter()


# The same state machine as the in-memory adapter's, at the active profile's full example count
# (200 examples of up to 50 steps under CI): about a minute on a quiet 2-core machine.
TestPgStateMachine = make_state_machine_test(PgContractAdapter)


# ------------------------------------------------------------ API tokens: the cost of a lookup


@pytest.fixture
def pg_store(_module_store: PgStore) -> PgStore:
    return _module_store


def test_a_token_lookup_is_one_indexed_read(pg_store: PgStore) -> None:
    """Authenticating a bearer request costs one round trip, a read of the unique digest index
    joined with the user (no BEGIN, no COMMIT); only the once-a-minute ``last_used_at`` write
    adds its UPDATE (with the BEGIN) and the COMMIT."""
    reset_database(pg_store)
    used: list[PgUnitOfWork] = []

    def unit_of_work() -> PgUnitOfWork:
        uow = pg_store.unit_of_work()
        used.append(uow)
        return uow

    clock = ManualClock()
    inventory = Executor(
        unit_of_work, clock=clock, password_hasher=Pbkdf2PasswordHasher(iterations=1)
    )
    user = inventory.execute(None, ProvisionUser("integrator", "a-long-password-9", Role.CLERK))
    issued = inventory.execute(user.actor, CreateToken("erp"))

    used.clear()
    assert inventory.execute(None, AuthenticateToken(issued.secret)) == user.actor
    assert [uow.round_trips for uow in used] == [3]  # first use: read, UPDATE (+BEGIN), COMMIT
    used.clear()
    clock.advance(seconds=30)
    assert inventory.execute(None, AuthenticateToken(issued.secret)) == user.actor
    assert [uow.round_trips for uow in used] == [1]
    used.clear()
    with pytest.raises(AuthenticationFailed):
        inventory.execute(None, AuthenticateToken(new_token_secret()))
    assert [uow.round_trips for uow in used] == [1]

    # The read goes through the digest's unique index (seq scans off: the tables are tiny, and
    # the question is whether an index serves the lookup, not what the planner picks for 1 row).
    with pg_store.pool.connection() as conn, conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = conn.execute(
            "EXPLAIN (FORMAT JSON) " + FIND_BY_DIGEST, {"digest": issued.token.digest}
        ).fetchone()
    assert plan is not None
    assert "api_tokens_digest_key" in json.dumps(plan[0])
