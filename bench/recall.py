"""Time the recall reads on a lot touched by 100,000 movements, against a throwaway database.

Method: create a fresh database (``inventory_bench_recall_<pid>``) on the server of
``--admin-url``, migrate it, create an admin, 2 warehouses of 10 bins each, 200 lot-tracked
items and the item under recall (not timed). Load, with ``inventory import-stock`` (the same
function the command calls), ``--movements`` receipts of the recalled lot, each its own
movement (each line names its own reference), and ``--noise`` lines of 2,000 other lots of the
other items, 1,000 lines per movement. Then time, each ``--repeats`` times, through the use cases
on a warm pool (what ``GET`` runs, without HTTP):

- ``ListMovements(lot_id=...)``: the first page (50 and 500 movements), a page in the middle
  and the last page -- ``GET /v1/movements?lot_id=``, the recall query;
- ``GetLot``: the lot with its levels -- ``GET /v1/lots/{id}``;
- ``ListLots(item_id=...)``.

Prints the median and the 95th percentile of each (target: under 50 ms), then drops the
database.

    python bench/recall.py [--movements 100000] [--noise 400000] [--repeats 50]
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
from collections.abc import Callable
from pathlib import Path

import psycopg
from _database import drop_database, reset_database, with_database

from inventory_core import (
    FEED_START,
    CreateItem,
    CreateLocation,
    Executor,
    GetLot,
    ListLots,
    ListMovements,
    LotQuery,
    MovementQuery,
    Pbkdf2PasswordHasher,
)
from inventory_core.services.users import ProvisionUser
from inventory_core.users import Actor, Role
from inventory_http.import_stock import import_stock
from inventory_pg import PgStore, apply_migrations

OTHER_ITEMS = 200
OTHER_LOTS = 2000
BINS_PER_WAREHOUSE = 10
RECALLED_SKU = "RECALL-1"
RECALLED_LOT = "L-2026-11-A"


def _write_csv(path: Path, movements: int, noise: int, bins: list[str]) -> None:
    rng = random.Random(7)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["sku", "location_code", "quantity", "reference", "lot", "expires_on"])
    for n in range(noise):
        # 1,000 lines per reference: one movement each
        item = rng.randrange(OTHER_ITEMS)
        writer.writerow(
            [
                f"LOT-ITEM-{item:03d}",
                rng.choice(bins),
                rng.randint(1, 50),
                f"BULK-{n // 1000:05d}" if n % 1000 == 0 else "",
                f"LOT-{item:03d}-{rng.randrange(OTHER_LOTS // OTHER_ITEMS)}",
                "",
            ]
        )
    for n in range(movements):
        writer.writerow(
            [RECALLED_SKU, rng.choice(bins), rng.randint(1, 20), f"PO-{n:06d}", RECALLED_LOT, ""]
        )
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _timed(label: str, repeats: int, call: Callable[[], object]) -> float:
    call()  # warm: plans and the pool
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    median = statistics.median(samples)
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"  {label:<44} median {median:7.2f} ms   p95 {p95:7.2f} ms")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movements", type=int, default=100_000)
    parser.add_argument("--noise", type=int, default=400_000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "INVENTORY_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a database URL of a role that may CREATE DATABASE (default: %(default)s)",
    )
    args = parser.parse_args()

    url = with_database(args.admin_url, f"inventory_bench_recall_{os.getpid()}")
    reset_database(url, admin=args.admin_url)
    try:
        apply_migrations(url)
        with PgStore.open(url, min_size=1, max_size=4) as store:
            inventory = Executor(store.unit_of_work, password_hasher=Pbkdf2PasswordHasher(1))
            admin: Actor = inventory.execute(
                None, ProvisionUser("admin", "bench-admin-password", Role.ADMIN)
            ).actor
            bins: list[str] = []
            for w in range(2):
                warehouse = inventory.execute(
                    admin, CreateLocation(f"WH{w}", "Warehouse", "warehouse")
                )
                for b in range(BINS_PER_WAREHOUSE):
                    code = f"WH{w}-BIN{b:02d}"
                    inventory.execute(admin, CreateLocation(code, "Bin", "internal", warehouse.id))
                    bins.append(code)
            for i in range(OTHER_ITEMS):
                inventory.execute(
                    admin, CreateItem(f"LOT-ITEM-{i:03d}", "Lotted item", tracking="lot")
                )
            recalled = inventory.execute(
                admin, CreateItem(RECALLED_SKU, "Recalled item", tracking="lot")
            )
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "stock.csv"
                _write_csv(path, args.movements, args.noise, bins)
                started = time.perf_counter()
                out = io.StringIO()
                status = import_stock(str(path), database_url=url, out=out, err=sys.stderr)
                if status != 0:
                    raise SystemExit(f"import-stock exited {status}: {out.getvalue()}")
                print(
                    f"loaded {args.movements:,} receipts of the lot and {args.noise:,} other "
                    f"lines in {time.perf_counter() - started:.1f} s: {out.getvalue().strip()}"
                )
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            lot = inventory.execute(admin, ListLots(LotQuery(item_id=recalled.id))).items[0]
            query = MovementQuery(lot_id=lot.id)
            first = inventory.execute(admin, ListMovements(query, limit=500))
            touched = 0
            middle = last = FEED_START
            page = first
            while True:  # page through it all once: how many, and where the middle is
                touched += len(page.items)
                if touched <= args.movements // 2:
                    middle = page.position
                if page.next_position is None:
                    break
                last = page.position
                page = inventory.execute(
                    admin, ListMovements(query, after=page.position, limit=500)
                )
            print(
                f"the lot is touched by {touched:,} movements; load average "
                f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; Python "
                f"{platform.python_version()}, {os.cpu_count()} CPUs"
            )
            if touched != args.movements:
                raise SystemExit(f"expected {args.movements:,} movements of the lot")
            medians = [
                _timed(
                    "ListMovements(lot_id) first 50",
                    args.repeats,
                    lambda: inventory.execute(admin, ListMovements(query, limit=50)),
                ),
                _timed(
                    "ListMovements(lot_id) first 500",
                    args.repeats,
                    lambda: inventory.execute(admin, ListMovements(query, limit=500)),
                ),
                _timed(
                    "ListMovements(lot_id) 500 from the middle",
                    args.repeats,
                    lambda: inventory.execute(admin, ListMovements(query, after=middle, limit=500)),
                ),
                _timed(
                    "ListMovements(lot_id) the last page",
                    args.repeats,
                    lambda: inventory.execute(admin, ListMovements(query, after=last, limit=500)),
                ),
                _timed(
                    "GetLot (levels in 20 bins)",
                    args.repeats,
                    lambda: inventory.execute(admin, GetLot(lot.id)),
                ),
                _timed(
                    "ListLots(item_id)",
                    args.repeats,
                    lambda: inventory.execute(admin, ListLots(LotQuery(item_id=recalled.id))),
                ),
            ]
            verdict = "met" if max(medians) < 50 else "NOT met"
            print(f"target: every median under 50 ms -- {verdict}")
    finally:
        drop_database(url, admin=args.admin_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
