"""The webhook contract suite on the in-memory and the Postgres adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from inventory_core.contract import InMemoryContractAdapter
from inventory_core.contract.webhooks import WebhookContract
from inventory_core.ports import UnitOfWork
from inventory_pg import PgStore
from inventory_pg.testing import open_test_store, reset_database

# What reset_database leaves of webhooks (it predates them): their tables, the events they
# refer to, and the dispatch position. Children first; no replica mode, so the cascades run.


def reset_webhooks(store: PgStore) -> None:
    """Empty the database, webhooks and their deliveries included."""
    reset_database(store)


class TestInMemoryWebhooks(WebhookContract):
    @pytest.fixture
    def contract_adapter(self) -> InMemoryContractAdapter:
        return InMemoryContractAdapter()


class PgWebhookAdapter:
    """The Postgres store, emptied for each test."""

    def __init__(self, store: PgStore) -> None:
        self.store = store

    def fresh(self) -> Callable[[], UnitOfWork]:
        reset_webhooks(self.store)
        return self.store.unit_of_work


@pytest.fixture(scope="module")
def webhook_pg_store(database_url: str) -> Iterator[PgStore]:
    # The concurrency tests run up to 6 dispatchers at once, besides the test's own calls.
    store = open_test_store(database_url, max_size=10)
    yield store
    store.close()


@pytest.mark.postgres
class TestPgWebhooks(WebhookContract):
    @pytest.fixture
    def contract_adapter(self, webhook_pg_store: PgStore) -> PgWebhookAdapter:
        return PgWebhookAdapter(webhook_pg_store)
