"""The contract suite on the in-memory adapter."""

from __future__ import annotations

import pytest

from inventory_core.contract import (
    EventContract,
    InMemoryContractAdapter,
    InventoryContract,
    make_state_machine_test,
)


class TestInMemoryContract(InventoryContract):
    @pytest.fixture
    def contract_adapter(self) -> InMemoryContractAdapter:
        return InMemoryContractAdapter()


TestInMemoryStateMachine = make_state_machine_test(InMemoryContractAdapter)


class TestInMemoryEvents(EventContract):
    @pytest.fixture
    def contract_adapter(self) -> InMemoryContractAdapter:
        return InMemoryContractAdapter()
