"""Bulk receipts (``inventory_pg.bulk`` and ``inventory import-stock``) against real PostgreSQL.

Each test starts from an emptied database. After every import the DESIGN §2 invariants are
checked with the contract suite's own checker, on top of the exact expected levels.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from uuid import UUID

import pytest

from inventory_core.contract.adapter import Harness
from inventory_core.contract.invariants import check_invariants, snapshot
from inventory_core.errors import InsufficientStock, LimitExceeded, ValidationError
from inventory_core.events import EventQuery, EventType
from inventory_core.feed import FEED_START
from inventory_core.locations import ADJUSTMENT_LOCATION_ID, SUPPLIER_LOCATION_ID
from inventory_core.movements import MAX_LINES, Movement, MovementKind
from inventory_core.ports import WarehouseStockQuery
from inventory_core.present import present
from inventory_core.services.events import ListEvents
from inventory_core.services.items import ChangeItem, CreateItem, ItemChanges
from inventory_core.services.locations import ChangeLocation, CreateLocation, LocationChanges
from inventory_core.services.movements import LineRequest, PostMovement
from inventory_core.stock import MAX_TOTAL, LocationChange, WarehouseChange
from inventory_core.users import Role
from inventory_http.import_stock import import_stock, read_rows
from inventory_pg import PgStore
from inventory_pg.bulk import ImportRefused, ImportResult, ImportRow, import_receipts
from inventory_pg.testing import FreshDatabaseAdapter

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]


class World:
    """A harness on the emptied database with two warehouses, bins and items of known codes."""

    def __init__(self, store: PgStore) -> None:
        self.store = store
        self.h = Harness(FreshDatabaseAdapter(store))
        inv, admin = self.h.inventory, self.h.admin
        self.locations: dict[str, UUID] = {}
        self.warehouse_of: dict[str, UUID] = {}
        for w in ("WA", "WB"):
            wh = inv.execute(admin, CreateLocation(w, "Warehouse", "warehouse")).id
            self.locations[w] = wh
            self.warehouse_of[w] = wh
            for b in range(3):
                code = f"{w}-B{b}"
                self.locations[code] = inv.execute(
                    admin, CreateLocation(code, "Bin", "internal", wh)
                ).id
                self.warehouse_of[code] = wh
        self.items = {
            sku: inv.execute(admin, CreateItem(sku, f"Item {sku}")).id
            for sku in ("A-1", "a-1", "B-2", "C-3", "D-4")
        }

    def import_rows(self, rows: list[ImportRow], **kw: object) -> ImportResult:
        return import_receipts(self.store, rows, actor_id=self.h.admin.user_id, **kw)  # type: ignore[arg-type]

    def on_hand(self, sku: str, location_id: UUID) -> int:
        key = (self.items[sku], location_id)
        with self.store.unit_of_work() as uow:
            return uow.stock.on_hand([key])[key]

    def warehouse_on_hand(self) -> dict[tuple[UUID, UUID], int]:
        with self.store.unit_of_work() as uow:
            rows = uow.stock.warehouse_levels(
                WarehouseStockQuery(), now=self.h.clock.now(), after=None, limit=None
            )
        return {(r.item_id, r.warehouse_id): r.on_hand for r in rows}

    def movements(self) -> list[Movement]:
        with self.store.unit_of_work() as uow:
            ledger = uow.movements.ledger(after=FEED_START, limit=100_000)
        return [movement for _, movement in ledger]

    def receipt(self, sku: str, code: str, quantity: int) -> int:
        movement = self.h.inventory.execute(
            self.h.admin,
            PostMovement(
                "receipt", [LineRequest(self.items[sku], quantity, None, self.locations[code])]
            ),
        )
        return movement.seq


@pytest.fixture
def world(pg_store: PgStore) -> World:
    return World(pg_store)


def _rows(n: int, *, start_line: int = 2) -> list[ImportRow]:
    skus = ["A-1", "a-1", "B-2", "C-3", "D-4"]
    bins = ["WA-B0", "WA-B1", "WA-B2", "WB-B0", "WB-B1", "WB", "WA"]
    refs = [None, None, "PO-7", None, "PO-8"]
    return [
        ImportRow(
            start_line + i, skus[i % 5], bins[i % 7], str(1 + (i * 37) % 500), refs[(i // 3) % 5]
        )
        for i in range(n)
    ]


# ---------------------------------------------------------------- posting


def test_import_posts_every_line_and_keeps_the_invariants(world: World) -> None:
    rows = _rows(3000)
    result = world.import_rows(rows, reference="BULK-1")

    total = sum(int(r.quantity or 0) for r in rows)
    assert (result.lines, result.units) == (3000, total)
    # Per reference (None -> BULK-1): runs of at most MAX_LINES lines.
    per_ref = Counter(r.reference or "BULK-1" for r in rows)
    expected_movements = sum(-(-n // MAX_LINES) for n in per_ref.values())
    assert result.movements == expected_movements
    assert (result.first_seq, result.last_seq) == (1, expected_movements)

    check_invariants(world.h)

    expected: Counter[tuple[str, str]] = Counter()
    for r in rows:
        assert r.sku is not None
        assert r.location_code is not None
        expected[(r.sku, r.location_code)] += int(r.quantity or 0)
    for (sku, code), qty in expected.items():
        assert world.on_hand(sku, world.locations[code]) == qty
    # Conservation: the supplier went down by exactly what came in, per item.
    for sku in world.items:
        received = sum(q for (s, _), q in expected.items() if s == sku)
        assert world.on_hand(sku, SUPPLIER_LOCATION_ID) == -received
    # Warehouse levels: the sum over each warehouse's tree.
    wh = world.warehouse_on_hand()
    for sku, item in world.items.items():
        for w in ("WA", "WB"):
            want = sum(q for (s, c), q in expected.items() if s == sku and c.startswith(w))
            assert wh.get((item, world.locations[w]), 0) == want


def test_the_ledger_says_what_the_file_said_in_file_order(world: World) -> None:
    rows = _rows(2500)
    result = world.import_rows(rows, reference="BULK-2")
    movements = world.movements()
    assert [m.id for m in movements] == list(result.movement_ids)
    assert [m.seq for m in movements] == list(range(result.first_seq, result.last_seq + 1))
    flattened = []
    for m in movements:
        assert m.kind is MovementKind.RECEIPT
        assert m.actor_id == world.h.admin.user_id
        assert 1 <= len(m.lines) <= MAX_LINES
        for line in m.lines:
            assert line.from_location_id == SUPPLIER_LOCATION_ID
            flattened.append((m.reference, line))
    # Every file line is one movement line; per reference, lines keep the file's order.
    assert len(flattened) == len(rows)
    inverse_items = {v: k for k, v in world.items.items()}
    inverse_locations = {v: k for k, v in world.locations.items()}
    for reference in {r.reference or "BULK-2" for r in rows}:
        from_file = [
            (r.sku, r.location_code, int(r.quantity or 0))
            for r in rows
            if (r.reference or "BULK-2") == reference
        ]
        from_ledger = [
            (
                inverse_items[line.item_id],
                inverse_locations[line.to_location_id],
                line.quantity,
            )
            for ref, line in flattened
            if ref == reference
        ]
        assert from_ledger == from_file
    # Movements are numbered in the order of their first line.
    first_refs = [m.reference for m in movements]
    assert first_refs[0] == "BULK-2"  # line 2 has no reference


def test_each_imported_movement_is_one_movement_posted_event_as_presented(world: World) -> None:
    result = world.import_rows(_rows(1200), reference="BULK-E")
    events = world.h.inventory.execute(
        world.h.admin, ListEvents(EventQuery(types=[EventType.MOVEMENT_POSTED]), limit=500)
    ).items
    assert [e.data for e in events] == [present(m) for m in world.movements()]
    assert [e.data["id"] for e in events] == [str(i) for i in result.movement_ids]
    refused = [ImportRow(2, "NO-SUCH-SKU", "X", "1")]
    with pytest.raises(ImportRefused):
        world.import_rows(refused)
    after = world.h.inventory.execute(world.h.admin, ListEvents(limit=500)).items
    assert [e.type for e in after].count(EventType.MOVEMENT_POSTED) == len(events)


def test_seqs_continue_the_ledger_and_levels_add_to_existing_stock(world: World) -> None:
    before = world.receipt("A-1", "WA-B0", 5)
    assert before == 1
    result = world.import_rows(
        [ImportRow(2, "A-1", "WA-B0", "7"), ImportRow(3, "B-2", "WB-B1", "1000000000000")]
    )
    assert (result.first_seq, result.last_seq, result.movements) == (2, 2, 1)
    assert result.units == 7 + 10**12
    assert world.receipt("A-1", "WA-B0", 1) == 3
    assert world.on_hand("A-1", world.locations["WA-B0"]) == 13
    assert world.on_hand("B-2", world.locations["WB-B1"]) == 10**12
    check_invariants(world.h)
    # The imported stock is real stock: it can be shipped.
    world.h.inventory.execute(
        world.h.admin,
        PostMovement(
            "shipment", [LineRequest(world.items["B-2"], 10**12, world.locations["WB-B1"])]
        ),
    )
    check_invariants(world.h)


def test_an_import_that_would_pass_the_json_safe_total_is_refused_whole(world: World) -> None:
    """Each row is bounded by CHECK constraints, but an item's total over warehouses has no row:
    the import checks it itself, and refuses the whole file with LimitExceeded."""
    item, wa_bin = world.items["A-1"], world.locations["WA-B0"]
    near = MAX_TOTAL - 10  # found stock (not received): the supplier's balance stays small
    with world.store.unit_of_work() as uow:
        uow.stock.apply(
            [
                LocationChange(item, wa_bin, near, True),
                LocationChange(item, ADJUSTMENT_LOCATION_ID, -near, False),
            ],
            [WarehouseChange(item, world.warehouse_of["WA-B0"], on_hand_delta=near)],
        )
    before = world.movements()
    with pytest.raises(LimitExceeded) as refused:
        world.import_rows([ImportRow(2, "B-2", "WB-B0", "5"), ImportRow(3, "A-1", "WB-B1", "11")])
    error = refused.value
    assert (error.item_id, error.location_id, error.level) == (item, None, "on_hand")
    assert (error.current, error.change, error.limit) == (near, 11, MAX_TOTAL)
    assert world.movements() == before  # nothing posted, B-2 included
    assert world.on_hand("B-2", world.locations["WB-B0"]) == 0
    result = world.import_rows([ImportRow(2, "A-1", "WB-B1", "10")])  # up to the bound is fine
    assert result.units == 10


def test_skus_are_compared_exactly(world: World) -> None:
    world.import_rows([ImportRow(2, "a-1", "WA-B0", "3")])
    assert world.on_hand("a-1", world.locations["WA-B0"]) == 3
    assert world.on_hand("A-1", world.locations["WA-B0"]) == 0


# ---------------------------------------------------------------- refusals


BAD_CSV = (
    "SKU, Location_Code ,quantity,reference\n"  # 1: header, any case and spaces
    "A-1,WA-B0,5,\n"  # 2 ok
    "NOPE,WA-B0,5,\n"  # 3 unknown SKU
    "A-1,NOWHERE,5,\n"  # 4 unknown location
    "A-1,SUPPLIER,5,\n"  # 5 virtual location
    "OLD,WA-B0,5,\n"  # 6 inactive item
    "A-1,WA-B2,5,\n"  # 7 inactive bin
    "A-1,WA-B0,0,\n"  # 8 quantity 0
    "A-1,WA-B0,1000000000001,\n"  # 9 above 10^12
    "A-1,WA-B0,1.5,\n"  # 10 not a whole number
    "A-1,WA-B0,-3,\n"  # 11 negative
    ",WA-B0,5,\n"  # 12 missing sku
    "A-1,,5,\n"  # 13 missing location
    "A-1,WA-B0,,\n"  # 14 missing quantity
    "A-1,WA-B0\n"  # 15 too few fields
    'A-1,"WA-\n'  # 16-17: a quoted field spanning two lines...
    'B0",5,\n'  # ...is one row starting on line 16: location "WA-\nB0" is unknown
    "\n"  # 18 blank: skipped
    'A-1,"WA-B0"x,5,\n'  # 19 malformed CSV
    "B-2,WB-B0,12,PO-1\n"  # 20 ok
    "B-2,WB-B0,12," + "R" * 201 + "\n"  # 21 reference too long
)
EXPECTED_BAD = [
    (3, "unknown SKU 'NOPE'"),
    (4, "unknown location 'NOWHERE'"),
    (5, "location 'SUPPLIER' does not hold stock"),
    (6, "item 'OLD' is inactive"),
    (7, "location 'WA-B2' is inactive"),
    (8, "quantity must be a whole number from 1 to 10^12, not '0'"),
    (9, "not '1000000000001'"),
    (10, "not '1.5'"),
    (11, "not '-3'"),
    (12, "sku is missing"),
    (13, "location_code is missing"),
    (14, "quantity is missing"),
    (15, "expected 4 fields, found 2"),
    (16, "unknown location 'WA-\\nB0'"),
    (19, "malformed CSV"),
    (21, "reference is longer than 200 characters"),
]


def _deactivate(world: World) -> None:
    inv, admin = world.h.inventory, world.h.admin
    world.items["OLD"] = inv.execute(admin, CreateItem("OLD", "Old item")).id
    inv.execute(admin, ChangeItem(world.items["OLD"], ItemChanges(active=False)))
    inv.execute(admin, ChangeLocation(world.locations["WA-B2"], LocationChanges(active=False)))


def test_bad_rows_are_reported_by_file_line_and_nothing_is_posted(world: World) -> None:
    _deactivate(world)
    world.receipt("A-1", "WA-B0", 5)
    before = snapshot(world.h)

    with pytest.raises(ImportRefused) as refused:
        world.import_rows(list(read_rows(io.BytesIO(BAD_CSV.encode()))))

    got = [(row.line, row.message) for row in refused.value.bad_rows]
    assert [line for line, _ in got] == [line for line, _ in EXPECTED_BAD]
    for (line, message), (_, expected) in zip(got, EXPECTED_BAD, strict=True):
        assert expected in message, (line, message)
    assert refused.value.total == len(EXPECTED_BAD)
    assert isinstance(refused.value, ValidationError)
    assert snapshot(world.h) == before
    # Not even a seq was used up.
    assert world.receipt("A-1", "WA-B0", 1) == 2
    check_invariants(world.h)


def test_one_bad_row_among_many_refuses_them_all(world: World) -> None:
    rows = _rows(2000)
    rows[1234] = rows[1234]._replace(quantity="12x")
    with pytest.raises(ImportRefused) as refused:
        world.import_rows(rows)
    assert [(r.line, r.message) for r in refused.value.bad_rows] == [
        (rows[1234].line, "quantity must be a whole number from 1 to 10^12, not '12x'")
    ]
    assert world.movements() == []
    assert world.on_hand("A-1", SUPPLIER_LOCATION_ID) == 0


def test_the_report_is_capped_but_counts_every_bad_row(world: World) -> None:
    rows = [ImportRow(n, "NOPE", "WA-B0", "1") for n in range(2, 1502)]
    with pytest.raises(ImportRefused) as refused:
        world.import_rows(rows)
    assert refused.value.total == 1500
    assert len(refused.value.bad_rows) == 1000
    assert refused.value.bad_rows[0].line == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"sku,location,quantity\nA-1,WA-B0,1\n", "unknown column(s) 'location'"),
        (b"sku,quantity\n", "missing column(s) location_code"),
        (b"sku,sku,location_code,quantity\n", "repeated column(s) sku"),
        (b'"sku,location_code,quantity\n', "header: malformed CSV"),
        (b"s\xffku,location_code,quantity\n", "header: not valid UTF-8"),
    ],
)
def test_a_bad_header_is_line_1(content: bytes, message: str) -> None:
    with pytest.raises(ImportRefused) as refused:
        read_rows(io.BytesIO(content))
    ((row,),) = [refused.value.bad_rows]
    assert row.line == 1
    assert message in row.message


def test_the_reader_handles_bom_crlf_and_bad_encoding() -> None:
    data = b"\xef\xbb\xbfsku,location_code,quantity\r\nA-1, WA-B0 ,5\r\nB-\xff,WA,1\r\n\r\nC,D,2"
    rows = list(read_rows(io.BytesIO(data)))
    assert rows == [
        ImportRow(2, "A-1", "WA-B0", "5"),
        ImportRow(3, None, None, None, problem="not valid UTF-8"),
        ImportRow(5, "C", "D", "2"),
    ]


def test_no_data_rows_and_bad_arguments_are_refused(world: World) -> None:
    with pytest.raises(ValidationError, match="no lines"):
        world.import_rows([])
    with pytest.raises(ValidationError, match="reference"):
        world.import_rows([ImportRow(2, "A-1", "WA-B0", "1")], reference="x" * 201)
    assert world.movements() == []


# ---------------------------------------------------------------- concurrency


def test_an_import_racing_ordinary_postings_keeps_seq_order_and_levels(world: World) -> None:
    world.receipt("A-1", "WA-B0", 1000)
    errors: list[BaseException] = []
    stop = threading.Event()

    def post_forever() -> None:
        inv, admin = world.h.inventory, world.h.admin
        try:
            while not stop.is_set():
                inv.execute(
                    admin,
                    PostMovement(
                        "transfer",
                        [
                            LineRequest(
                                world.items["A-1"],
                                1,
                                world.locations["WA-B0"],
                                world.locations["WB-B0"],
                            ),
                        ],
                    ),
                )
                inv.execute(
                    admin,
                    PostMovement(
                        "receipt",
                        [LineRequest(world.items["B-2"], 2, None, world.locations["WB-B1"])],
                    ),
                )
        except InsufficientStock:
            pass
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=post_forever) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        results = [world.import_rows(_rows(1500)) for _ in range(3)]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    movements = world.movements()
    seqs = [m.seq for m in movements]
    assert len(set(seqs)) == len(seqs)  # no duplicates (and no gaps to rely on)
    for r in results:
        # Each import's movements, in the feed, in file order and with increasing seqs.
        imported = [m for m in movements if m.id in set(r.movement_ids)]
        assert [m.id for m in imported] == list(r.movement_ids)
        assert [m.seq for m in imported] == sorted(m.seq for m in imported)
        assert (imported[0].seq, imported[-1].seq) == (r.first_seq, r.last_seq)
    check_invariants(world.h)


# ---------------------------------------------------------------- the command


def _run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INVENTORY_DATABASE_URL": database_url, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "inventory_http", "import-stock", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_the_command_posts_and_says_so(world: World, database_url: str, tmp_path: Path) -> None:
    world.receipt("C-3", "WB-B0", 1)
    path = tmp_path / "stock.csv"
    path.write_text("sku,location_code,quantity\nA-1,WA-B0,5\nB-2,WB-B1,7\nA-1,WA,30\n")

    done = _run_cli(database_url, str(path), "--reference", "PO-42")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        "posted 3 lines as 1 receipt movement (seq 2), 42 units"
    )
    assert done.stderr == ""  # no progress when stderr is not a terminal
    (movement,) = [m for m in world.movements() if m.seq == 2]
    assert movement.reference == "PO-42"
    assert movement.actor_id == world.h.admin.user_id
    assert world.on_hand("A-1", world.locations["WA"]) == 30
    check_invariants(world.h)


def test_the_command_refuses_bad_rows_with_exit_1(
    world: World, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("sku,location_code,quantity\nA-1,WA-B0,5\nZZZ,WA-B0,1\nA-1,WA-B0,many\n")

    done = _run_cli(database_url, str(path))

    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "line 3: unknown SKU 'ZZZ'",
        "line 4: quantity must be a whole number from 1 to 10^12, not 'many'",
        "refused: 2 bad rows, nothing posted",
    ]
    assert world.movements() == []


def test_the_command_exits_2_for_an_unknown_user(
    world: World, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("sku,location_code,quantity\nA-1,WA-B0,5\n")
    done = _run_cli(database_url, str(path), "--user", "ghost")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.splitlines()[-1] == (
        "inventory: error: no user named 'ghost' (give one with --user); nothing posted"
    )
    assert world.movements() == []


def _import(
    database_url: str, path: Path, *, reference: str | None = None, username: str = "admin"
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = import_stock(
        str(path),
        reference=reference,
        username=username,
        database_url=database_url,
        out=out,
        err=err,
    )
    return status, out.getvalue(), err.getvalue()


def test_many_lines_name_the_seq_range(world: World, database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "stock.csv"
    lines = ["sku,location_code,quantity"] + [f"D-4,WB-B1,{n % 9 + 1}" for n in range(2100)]
    path.write_text("\n".join(lines) + "\n")
    status, out, err = _import(database_url, path, username=" ADMIN ")
    units = sum(n % 9 + 1 for n in range(2100))
    assert status == 0, err
    assert out.splitlines()[-1] == (
        f"posted 2100 lines as 3 receipt movements (seq 1-3), {units} units"
    )
    check_invariants(world.h)


@pytest.mark.parametrize(
    ("setup", "kw", "message"),
    [
        ("viewer", {"username": "viewer-1"}, "needs at least the clerk role"),
        ("none", {"reference": "x" * 201}, "--reference refused: reference is longer than 200"),
        ("missing", {}, "cannot read"),
    ],
)
def test_usage_errors_exit_2(
    world: World,
    database_url: str,
    tmp_path: Path,
    setup: str,
    kw: dict[str, str],
    message: str,
) -> None:
    path = tmp_path / "stock.csv"
    if setup != "missing":
        path.write_text("sku,location_code,quantity\nA-1,WA-B0,5\n")
    if setup == "viewer":
        assert world.h.user(Role.VIEWER).role is Role.VIEWER  # named viewer-1 by the harness
    status, out, err = _import(
        database_url, path, reference=kw.get("reference"), username=kw.get("username", "admin")
    )
    assert status == 2, (out, err)
    last = err.splitlines()[-1]
    assert message in last
    assert last.endswith("nothing posted")
    assert world.movements() == []


def test_an_unreachable_database_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("sku,location_code,quantity\nA-1,WA-B0,5\n")
    status, _, err = _import("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2", path)
    assert status == 2
    assert "cannot reach the database" in err.splitlines()[-1]


def test_an_empty_file_is_refused_with_exit_1(
    world: World, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("sku,location_code,quantity\n\n")
    assert _import(database_url, path) == (
        1,
        "refused: the file has no data rows, nothing posted\n",
        "",
    )


def test_import_stock_in_process_reports_like_the_command(
    world: World, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("quantity,sku,location_code\n4,C-3,WA-B1\n")
    out, err = io.StringIO(), io.StringIO()
    status = import_stock(str(path), database_url=database_url, out=out, err=err)
    assert status == 0, err.getvalue()
    assert out.getvalue() == "posted 1 line as 1 receipt movement (seq 1), 4 units\n"
    assert world.on_hand("C-3", world.locations["WA-B1"]) == 4


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_and_cleared(
    world: World, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("sku,location_code,quantity\nA-1,WA-B0,5\nB-2,WA-B1,6\n")
    out, err = io.StringIO(), _Terminal()
    assert import_stock(str(path), database_url=database_url, out=out, err=err) == 0
    shown = err.getvalue()
    assert "\r\x1b[Kchecking 2 lines..." in shown
    assert "\r\x1b[Kposting 2 lines..." in shown
    assert shown.endswith("\r\x1b[K")  # the progress line is erased before the report
    assert out.getvalue() == "posted 2 lines as 1 receipt movement (seq 1), 11 units\n"
