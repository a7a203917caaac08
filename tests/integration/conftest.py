"""Postgres fixtures for the integration tests (``database_url`` comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inventory_pg import PgStore
from inventory_pg.testing import open_test_store, reset_database


@pytest.fixture(scope="session")
def pg_store(database_url: str) -> Iterator[PgStore]:
    """A store on the migrated test database, shared by the session's tests."""
    store = open_test_store(database_url, max_size=16)
    yield store
    store.close()


@pytest.fixture
def pg(pg_store: PgStore) -> PgStore:
    """The shared store on an emptied database (only the virtual locations)."""
    reset_database(pg_store)
    return pg_store
