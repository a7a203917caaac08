"""The adapter contract suite, shipped so other teams can hold their own adapters to it.

It needs pytest and hypothesis (``pip install 'inventory-core[testing]'``). Subclass the test
classes in a test module of yours and give them one fixture, ``contract_adapter``, returning an
object with a ``fresh()`` method (see :class:`ContractAdapter`)::

    import pytest
    from inventory_core.contract import InventoryContract, make_state_machine_test

    class MyAdapter:
        def fresh(self):
            ...  # empty the store; return a callable making new units of work on it

    class TestMyAdapter(InventoryContract):
        @pytest.fixture
        def contract_adapter(self):
            return MyAdapter()

    TestMyAdapterStateMachine = make_state_machine_test(MyAdapter)

Importing this package does not import pytest until a suite is used.
"""

from __future__ import annotations

from inventory_core.contract.adapter import ContractAdapter, InMemoryContractAdapter
from inventory_core.contract.inventory import InventoryContract
from inventory_core.contract.state_machine import make_state_machine_test

__all__ = [
    "ContractAdapter",
    "InMemoryContractAdapter",
    "InventoryContract",
    "make_state_machine_test",
]
