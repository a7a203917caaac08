"""Time ``inventory import-stock`` on a 100,000-line CSV against a throwaway database.

Method: create a fresh database (``inventory_bench_bulk_<pid>``) on the server of
``--admin-url``, migrate it, create an admin user, 2 warehouses of 10 bins each and 1,000 items
through the ordinary use cases (not timed). Write a CSV of ``--lines`` lines (random SKU, bin and
quantity 1-100, fixed seed; every tenth line names its own reference) in a temporary directory.
Then run the command's implementation in this process -- the same function ``inventory
import-stock`` calls: streaming CSV reading, COPY into the staging table, the checks in SQL and
the posting, committed -- and report the wall time from the call to its return. Runs ``--runs``
times, each import on top of the previous ones (so later runs also update existing level rows),
then checks that the levels still equal the ledger sums, and drops the database.

With ``--lots`` the 1,000 items are tracked by lot and every line names one of ``--lots-per-item``
lots of its item (5 by default: about 5,000 distinct lots), half the lines giving the lot's
expiry date (the same for every line of a lot): the first run creates the lots, later runs add
to them. The check then covers the per-lot levels too (lot levels == ledger sums per lot, and
location levels == the sums of their lots).

    python bench/bulk_import.py [--lines 100000] [--runs 3] [--lots [--lots-per-item 5]]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
from _database import drop_database, reset_database, with_database

from inventory_core import CreateItem, CreateLocation, Executor, Pbkdf2PasswordHasher
from inventory_core.services.users import ProvisionUser
from inventory_core.users import Role
from inventory_http.import_stock import import_stock
from inventory_pg import PgStore, apply_migrations

ITEMS = 1000
WAREHOUSES = 2
BINS_PER_WAREHOUSE = 10

# The ledger's projection, recomputed from the lines: any row printed is a broken invariant.
LEVELS_OFF_LEDGER = """
WITH ledger AS (
    SELECT item_id, location_id, sum(delta)::bigint AS on_hand FROM (
        SELECT item_id, to_location_id AS location_id, quantity AS delta FROM movement_lines
        UNION ALL
        SELECT item_id, from_location_id, -quantity FROM movement_lines
    ) d GROUP BY item_id, location_id
)
SELECT coalesce(l.item_id, s.item_id), coalesce(l.location_id, s.location_id)
FROM ledger l FULL JOIN location_stock s USING (item_id, location_id)
WHERE coalesce(l.on_hand, 0) <> coalesce(s.on_hand, 0)
"""

LOT_LEVELS_OFF_LEDGER = """
WITH ledger AS (
    SELECT item_id, location_id, lot_id, sum(delta)::bigint AS on_hand FROM (
        SELECT item_id, to_location_id AS location_id, lot_id, quantity AS delta
        FROM movement_lines WHERE lot_id IS NOT NULL
        UNION ALL
        SELECT item_id, from_location_id, lot_id, -quantity
        FROM movement_lines WHERE lot_id IS NOT NULL
    ) d GROUP BY item_id, location_id, lot_id
)
SELECT coalesce(l.item_id, s.item_id), coalesce(l.location_id, s.location_id),
       coalesce(l.lot_id, s.lot_id)
FROM ledger l FULL JOIN lot_stock s USING (item_id, location_id, lot_id)
WHERE coalesce(l.on_hand, 0) <> coalesce(s.on_hand, 0)
UNION ALL
SELECT s.item_id, s.location_id, NULL
FROM location_stock s
LEFT JOIN (SELECT item_id, location_id, sum(on_hand)::bigint AS on_hand FROM lot_stock
           GROUP BY item_id, location_id) l USING (item_id, location_id)
WHERE s.on_hand <> coalesce(l.on_hand, 0)
"""
"""With --lots (every item tracked by lot): lot levels off the ledger, or location levels off
the sums of their lots."""


def _setup(url: str, *, tracking: str = "none") -> tuple[list[str], list[str]]:
    apply_migrations(url)
    with PgStore.open(url, min_size=1, max_size=2) as store:
        inventory = Executor(store.unit_of_work, password_hasher=Pbkdf2PasswordHasher(1))
        admin = inventory.execute(
            None, ProvisionUser("admin", "bench-admin-password", Role.ADMIN)
        ).actor
        bins: list[str] = []
        for w in range(WAREHOUSES):
            warehouse = inventory.execute(admin, CreateLocation(f"WH{w}", "Warehouse", "warehouse"))
            for b in range(BINS_PER_WAREHOUSE):
                code = f"WH{w}-BIN{b:02d}"
                inventory.execute(admin, CreateLocation(code, "Bin", "internal", warehouse.id))
                bins.append(code)
        skus = [f"SKU-{i:05d}" for i in range(ITEMS)]
        for sku in skus:
            inventory.execute(admin, CreateItem(sku, f"Item {sku}", tracking=tracking))
    return skus, bins


def _write_csv(
    path: Path, lines: int, skus: list[str], bins: list[str], *, lots_per_item: int = 0
) -> None:
    """``lots_per_item`` > 0: each line names one of that many lots of its item, every other
    line with the lot's expiry date."""
    rng = random.Random(42)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    lot_columns = ["lot", "expires_on"] if lots_per_item else []
    writer.writerow(["sku", "location_code", "quantity", "reference", *lot_columns])
    first_expiry = date(2027, 1, 1)
    for n in range(lines):
        reference = f"PO-{n // 10:05d}" if n % 10 == 0 else ""
        item = rng.randrange(len(skus))  # as rng.choice(skus) picks
        row: list[object] = [skus[item], rng.choice(bins), rng.randint(1, 100), reference]
        if lots_per_item:
            k = rng.randrange(lots_per_item)
            # The same date for every line of a lot: a function of the item and the lot.
            expiry = first_expiry + timedelta(days=(item * 7 + k * 31) % 900)
            row += [f"LOT-{k:02d}", expiry.isoformat() if n % 2 else ""]
        writer.writerow(row)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--lots",
        action="store_true",
        help="items tracked by lot: every line names a lot (and half of them its expiry date)",
    )
    parser.add_argument(
        "--lots-per-item",
        type=int,
        default=5,
        help="with --lots, how many lots each item has (default: %(default)s)",
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "INVENTORY_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a database URL of a role that may CREATE DATABASE (default: %(default)s)",
    )
    args = parser.parse_args()

    url = with_database(args.admin_url, f"inventory_bench_bulk_{os.getpid()}")
    reset_database(url, admin=args.admin_url)
    try:
        lots_per_item = args.lots_per_item if args.lots else 0
        skus, bins = _setup(url, tracking="lot" if args.lots else "none")
        times: list[float] = []
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "stock.csv"
            _write_csv(path, args.lines, skus, bins, lots_per_item=lots_per_item)
            lots = (
                f", tracked by lot ({lots_per_item} lots per item, at most "
                f"{lots_per_item * ITEMS:,} lots)"
                if args.lots
                else ""
            )
            print(
                f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
                f"{args.lines:,} lines, {path.stat().st_size / 1e6:.1f} MB, "
                f"{ITEMS} items{lots}, {len(bins)} bins; Python {platform.python_version()}, "
                f"{os.cpu_count()} CPUs"
            )
            for run in range(1, args.runs + 1):
                out = io.StringIO()
                stages: dict[str, float] = {}
                started = time.perf_counter()

                def record(stage: str, _count: int, stages: dict[str, float] = stages) -> None:
                    stages[stage] = time.perf_counter()

                status = import_stock(
                    str(path), database_url=url, out=out, err=sys.stderr, progress=record
                )
                elapsed = time.perf_counter() - started
                if status != 0:
                    print(out.getvalue(), file=sys.stderr)
                    raise SystemExit(f"run {run}: import-stock exited {status}")
                times.append(elapsed)
                print(f"run {run}: {elapsed:6.2f} s  {out.getvalue().strip()}")
                # "checking" is reported when the last row is loaded, "posting" when the checks
                # passed, "posted" before the COMMIT.
                checking, posting, posted = (stages[k] for k in ("checking", "posting", "posted"))
                print(
                    f"       connect+read+COPY {checking - started:5.2f} s, "
                    f"check {posting - checking:5.2f} s, post {posted - posting:5.2f} s, "
                    f"commit+close {started + elapsed - posted:5.2f} s"
                )
        with psycopg.connect(url) as conn:
            off = conn.execute(LEVELS_OFF_LEDGER).fetchall()
            if args.lots:
                off += conn.execute(LOT_LEVELS_OFF_LEDGER).fetchall()
        if off:
            raise SystemExit(f"levels differ from the ledger at {len(off)} rows: {off[:5]}")
        checked = "levels and lot levels == ledger sums" if args.lots else "levels == ledger sums"
        print(
            f"median {statistics.median(times):.2f} s, best {min(times):.2f} s for "
            f"{args.lines:,} lines ({args.lines / statistics.median(times):,.0f} lines/s); "
            f"{checked}"
        )
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        drop_database(url, admin=args.admin_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
