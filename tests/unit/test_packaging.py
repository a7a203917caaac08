"""What ``pip install inventory-core`` promises: attrs is the only dependency, and importing the
core loads no driver, web framework or test tool."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import inventory_core.contract as contract
from inventory_core.contract.events import EventContract
from inventory_core.contract.inventory import InventoryContract
from inventory_core.contract.state_machine import make_state_machine_test

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("psycopg", "psycopg_pool", "redis", "falcon", "cattrs", "gunicorn", "argon2")


def run_clean(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (-I: no site dir of the user, no PYTHON* variables;
    the project root on sys.path so the working tree is what gets imported)."""
    prelude = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
    return subprocess.run(
        [sys.executable, "-I", "-c", prelude + code],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_import_inventory_core_loads_no_adapter_dependency() -> None:
    result = run_clean(
        "import inventory_core, inventory_core.memory.store, inventory_core.executor\n"
        f"loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set({FORBIDDEN!r}))\n"
        "print(loaded)\n"
        "assert inventory_core.__file__.startswith(sys.path[0])\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_import_inventory_core_loads_no_test_tool() -> None:
    result = run_clean(
        "import inventory_core\n"
        "print(sorted({'pytest', 'hypothesis', '_pytest'} & set(sys.modules)))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_contract_harness_and_invariants_work_without_pytest() -> None:
    """The package docstring promises the suites load pytest only when used; the harness and the
    invariant checks are useful (and documented) without the [testing] extra."""
    result = run_clean(
        "sys.modules['pytest'] = None; sys.modules['hypothesis'] = None  # as if not installed\n"
        "from inventory_core.contract import InMemoryContractAdapter\n"
        "from inventory_core.contract.adapter import Harness\n"
        "from inventory_core.contract.invariants import check_invariants\n"
        "h = Harness(InMemoryContractAdapter())\n"
        "check_invariants(h)\n"
        "import inventory_core.contract as c\n"
        "try:\n"
        "    c.InventoryContract\n"
        "except ImportError:\n"
        "    print('suite needs pytest')\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "suite needs pytest"


def test_contract_suite_names_resolve_when_pytest_is_installed() -> None:
    assert contract.InventoryContract is InventoryContract
    assert contract.make_state_machine_test is make_state_machine_test
    assert contract.EventContract is EventContract
    assert set(contract.__all__) <= set(dir(contract)) | {"InventoryContract", "EventContract"}
    with pytest.raises(AttributeError, match="NoSuchName"):
        contract.NoSuchName  # noqa: B018


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, requirement
    return match.group(0).lower().replace("_", "-")


def test_base_dependencies_are_exactly_attrs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert [_requirement_name(r) for r in project["dependencies"]] == ["attrs"]


def test_extras_hold_the_adapter_dependencies() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    names = {extra: {_requirement_name(r) for r in reqs} for extra, reqs in extras.items()}
    assert {"psycopg", "psycopg-pool"} <= names["pg"]
    assert "redis" in names["redis"]
    assert {"falcon", "gunicorn", "cattrs", "argon2-cffi"} <= names["http"]
    assert {"pytest", "hypothesis"} <= names["testing"]


def test_every_package_ships_py_typed() -> None:
    for package in ("inventory_core", "inventory_pg", "inventory_redis", "inventory_http"):
        if (ROOT / package).is_dir():
            assert (ROOT / package / "py.typed").is_file(), package


def test_the_pg_extra_brings_psycopgs_c_implementation() -> None:
    """``[pg]`` installs psycopg[binary] (its C implementation with its own libpq), and that is
    the implementation the adapter runs on here: the pure-Python one costs a third more CPU per
    request and needs a system libpq."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(re.match(r"psycopg\[binary\]", requirement) for requirement in extras["pg"])
    import psycopg  # noqa: PLC0415

    assert psycopg.pq.__impl__ in {"binary", "c"}, psycopg.pq.__impl__
