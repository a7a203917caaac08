"""docs/library.md runs as written: its python blocks, in order, in one namespace; and the
contract suite it shows passes on the adapter it builds."""

from __future__ import annotations

import re
import unittest
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from inventory_core.services.items import GetItemStock

pytest_plugins = ["pytester"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "library.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


@pytest.fixture(scope="module")
def namespace() -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "library_doc"}
    for number, block in enumerate(python_blocks(), start=1):
        code = compile(block, f"{DOC.name} (python block {number})", "exec")
        exec(code, ns)  # the documentation is the program under test
    return ns


def test_the_doc_has_the_expected_python_blocks() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 10
    assert all(block.strip() for block in blocks)
    text = DOC.read_text()
    assert text.count("```python") == len(blocks), "a python block the extractor missed"


def test_every_python_block_runs_in_order(namespace: dict[str, Any]) -> None:
    assert (
        namespace["inventory"]
        .execute(namespace["clerk"], GetItemStock(namespace["widget"].id))
        .on_hand
        == 40
    )
    assert [e.type for e in namespace["adapter"].published][-1] == "movement.posted"


def test_the_documented_contract_suite_passes_on_the_documented_adapter(
    namespace: dict[str, Any], pytester: pytest.Pytester
) -> None:
    contract_class = namespace["TestPublishingAdapter"]
    assert issubclass(contract_class, namespace["InventoryContract"])
    # Run the documented test class as pytest would (a module holding the doc's blocks).
    source = "\n".join(python_blocks())
    pytester.makepyfile(test_doc_contract=source)
    recorder = pytester.inline_run(
        "-p", "no:cacheprovider", "-W", "error", "-k", "TestPublishingAdapter and not StateMachine"
    )
    passed, skipped, failed = recorder.listoutcomes()
    assert not failed, [r.nodeid for r in failed]
    assert not skipped
    assert len(passed) >= 25
    # And the documented state machine, briefly.
    machine = namespace["TestPublishingStateMachine"]
    machine.settings = settings(machine.settings, max_examples=10, database=None)
    result = unittest.TextTestRunner(stream=_Null(), verbosity=0).run(machine("runTest"))
    assert result.wasSuccessful(), result.failures + result.errors


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        return None
