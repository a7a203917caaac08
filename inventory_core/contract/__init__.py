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

Importing this package does not import pytest or hypothesis until a suite is used: the names
``InventoryContract`` and ``make_state_machine_test`` are loaded on first access, so
``inventory_core.contract.adapter`` and ``inventory_core.contract.invariants`` (the harness and
the invariant checks) work with only attrs installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from inventory_core.contract.adapter import ContractAdapter, InMemoryContractAdapter

if TYPE_CHECKING:
    from inventory_core.contract.events import EventContract
    from inventory_core.contract.inventory import InventoryContract
    from inventory_core.contract.state_machine import make_state_machine_test

__all__ = [
    "ContractAdapter",
    "EventContract",
    "InMemoryContractAdapter",
    "InventoryContract",
    "make_state_machine_test",
]

_LAZY = {
    "EventContract": "inventory_core.contract.events",
    "InventoryContract": "inventory_core.contract.inventory",
    "make_state_machine_test": "inventory_core.contract.state_machine",
}


def __getattr__(name: str) -> Any:
    """Load the pytest/hypothesis based suites only when they are asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
