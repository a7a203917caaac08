"""bench/_ledger.py and bench/_charts.py, the helpers of ``bench/http_bench.py --ledger-sizes
--charts``: the grown ledger must be one the adapter itself could have written, or the scaling
figures measure something else."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

from inventory_core.contract.adapter import Harness
from inventory_core.contract.invariants import check_invariants
from inventory_core.services.items import GetItemStock
from inventory_core.services.movements import LineRequest, PostMovement
from inventory_pg import PgStore
from inventory_pg.testing import FreshDatabaseAdapter, open_test_store

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ledger: Any = _load("_ledger")


@pytest.fixture
def store(database_url: str) -> Iterator[PgStore]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if not (row and row[0]):
        reason = "growing the ledger turns foreign key triggers off, which needs a superuser"
        if os.environ.get("CI"):  # as for a missing service: CI must run it, not skip it
            pytest.fail(reason)
        pytest.skip(reason)
    store = open_test_store(database_url, max_size=4)
    yield store
    store.close()


@pytest.mark.postgres
def test_grown_ledger_keeps_every_invariant(store: PgStore, database_url: str) -> None:
    h = Harness(FreshDatabaseAdapter(store))
    bin1 = h.bin(h.warehouse())
    item = h.item()
    h.inventory.execute(
        h.admin, PostMovement("receipt", [LineRequest(item, 100, to_location_id=bin1)])
    )

    first = ledger.grow(database_url, 1_001, h.admin.user_id, bin1)
    second = ledger.grow(database_url, 2_502, h.admin.user_id, bin1)  # a batch mid-cycle

    assert (first.before, first.after, second.before, second.after) == (1, 1_001, 1_001, 2_502)
    with psycopg.connect(database_url) as conn:
        checked = ledger.check(conn)
        kinds: dict[str, int] = dict(
            conn.execute("SELECT kind, count(*) FROM movements GROUP BY kind").fetchall()
        )
    assert (checked.movements, checked.lines) == (2_502, 2_502)
    assert kinds == {"receipt": 627, "transfer": 625, "shipment": 625, "adjustment": 625}
    # The library reads every grown movement back and checks invariants 1-5 on its own.
    check_invariants(h)
    # The measured item is left alone: one receipt, one bin.
    stock = h.inventory.execute(h.admin, GetItemStock(item))
    assert [(level.location_id, level.on_hand) for level in stock.locations] == [(bin1, 100)]
    # Already that large: nothing to do.
    assert ledger.grow(database_url, 2_000, h.admin.user_id, bin1).after == 2_502


@pytest.mark.postgres
def test_check_fails_loudly_when_a_level_is_off(store: PgStore, database_url: str) -> None:
    h = Harness(FreshDatabaseAdapter(store))
    bin1 = h.bin(h.warehouse())
    ledger.grow(database_url, 400, h.admin.user_id, bin1)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE location_stock SET on_hand = on_hand + 1 "
            "WHERE ctid = (SELECT ctid FROM location_stock WHERE holds_stock LIMIT 1)"
        )
        with pytest.raises(ledger.LedgerBroken, match="1 location_stock rows differ"):
            ledger.check(conn)


def test_charts_are_written(tmp_path: Path) -> None:
    # matplotlib is a bench-only dependency; the nox tests session installs it for this test.
    charts: Any = _load("_charts")
    path = tmp_path / "chart.png"
    charts.draw(
        path,
        title="title",
        subtitle="subtitle",
        xlabel="connections",
        series={"GET": [charts.Point(1, 100, 5), charts.Point(4, 300, 9)]},
        log_y=True,
        p99_target_ms=25.0,
        ceilings=[charts.Ceiling("bare", 4, 1000, "GET")],
    )
    charts.draw(
        tmp_path / "ledger.png",
        title="t",
        subtitle="s",
        xlabel="movements",
        series={"POST": [charts.Point(10**4, 100, 50), charts.Point(10**6, 90, 60)]},
        log_y=False,
        powers_of_ten=True,
        extra=charts.Panel("in process", "ms", {"transfer p50": [(10**4, 3.0), (10**6, 3.1)]}),
    )
    for png in (path, tmp_path / "ledger.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
