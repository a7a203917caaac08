"""Movements per second through the use cases on Postgres, against pgbench running the same SQL.

Method: migrate and empty the benchmark database (it is wiped: use a throwaway one), create one
warehouse with two bins and one item, and put 1,000,000 units in each bin so no movement is ever
refused. Then, for each thread count, two measurements of --duration seconds each:

* use cases: that many threads call ``Executor.execute(PostMovement)`` with transfers of 1-5 units
  between the two bins, in a random direction -- role check, validation, reads of the item and
  the bins, the conditional stock updates, the ledger append with its seq, the commit -- over a
  ``PgStore`` pool of one connection per thread;
* pgbench: as many clients run bench/pgbench_movement.sql (the SQL of one such transfer as the
  adapter sends it: two conditional level updates and the ledger append with seq, in one
  transaction) with ``-M prepared`` on the same rows.

Each measurement is preceded by an untimed warm-up of 2 seconds. The two sides alternate, --rounds
times per thread count (use cases, pgbench, use cases, ...), so a machine whose load drifts
affects both alike; the table gives the median movements/s of each side and the median of the
per-round ratios. Also printed: round trips per movement on both sides.

    python bench/pg_movements.py [--database-url URL] [--threads 1 4 16] [--duration 5]
                                 [--rounds 3]

URL defaults to $INVENTORY_BENCH_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/inventory_bench (created when missing). pgbench comes from
PATH or /usr/lib/postgresql/*/bin; when it is missing, postgresql-contrib is installed with
apt-get.
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inventory_core.clocks import SystemClock  # noqa: E402
from inventory_core.errors import ConcurrencyConflict  # noqa: E402
from inventory_core.executor import Executor  # noqa: E402
from inventory_core.passwords import Pbkdf2PasswordHasher  # noqa: E402
from inventory_core.services.items import CreateItem  # noqa: E402
from inventory_core.services.locations import CreateLocation  # noqa: E402
from inventory_core.services.movements import (  # noqa: E402
    LineRequest,
    PostMovement,
    post_movement,
)
from inventory_core.services.users import (  # noqa: E402
    ProvisionUser,
)
from inventory_core.users import Actor, Role  # noqa: E402
from inventory_pg import PgStore, apply_migrations  # noqa: E402
from inventory_pg.testing import reset_database  # noqa: E402

SCRIPT = ROOT / "bench" / "pgbench_movement.sql"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/inventory_bench"
OPENING_STOCK = 1_000_000
WARM_UP = 2.0
SEED = 20260101


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def ensure_database(url: str) -> None:
    """Create the benchmark database when it does not exist (connecting to 'postgres')."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not found:
            log(f"creating database {name}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def find_pgbench() -> str:
    found = shutil.which("pgbench") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)), None
    )
    if found:
        return found
    log("pgbench is missing: installing postgresql-contrib with apt-get")
    subprocess.run(["apt-get", "update", "-q"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "postgresql-contrib"], check=True)
    found = shutil.which("pgbench") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)), None
    )
    if not found:
        raise SystemExit("pgbench is still missing after installing postgresql-contrib")
    return found


class World:
    """One warehouse, two bins, one item with plenty of stock in both bins."""

    def __init__(self, store: PgStore) -> None:
        reset_database(store)
        self.inventory = Executor(
            store.unit_of_work,
            clock=SystemClock(),
            password_hasher=Pbkdf2PasswordHasher(iterations=1),  # not what is measured
        )
        self.actor: Actor = self.inventory.execute(
            None, ProvisionUser("bench", "bench-password-1", Role.ADMIN)
        ).actor
        inv, actor = self.inventory, self.actor
        wh = inv.execute(actor, CreateLocation("WH", "Warehouse", "warehouse")).id
        bins = sorted(
            inv.execute(actor, CreateLocation(f"B{n}", "Bin", "internal", wh)).id for n in (1, 2)
        )
        self.bin1, self.bin2 = bins
        self.item: UUID = inv.execute(actor, CreateItem("SKU-BENCH", "Item")).id
        inv.execute(
            actor,
            PostMovement(
                "receipt",
                [LineRequest(self.item, OPENING_STOCK, to_location_id=b) for b in bins],
            ),
        )

    def transfer(self, rng: random.Random) -> None:
        source, dest = (self.bin1, self.bin2) if rng.random() < 0.5 else (self.bin2, self.bin1)
        line = LineRequest(
            self.item, rng.randint(1, 5), from_location_id=source, to_location_id=dest
        )
        self.inventory.execute(self.actor, PostMovement("transfer", [line]))


def use_cases(world: World, threads: int, duration: float) -> tuple[float, int]:
    """Movements/s over ``duration`` with ``threads`` threads (after a warm-up), and how many
    conflicts escaped the facade's retries (expected: none)."""
    counts = [0] * threads
    escaped = [0] * threads
    start_line = threading.Barrier(threads + 1)
    phase = {"measure": False, "stop": False}

    def worker(n: int) -> None:
        rng = random.Random(SEED + n)
        start_line.wait()
        while not phase["stop"]:
            try:
                world.transfer(rng)
            except ConcurrencyConflict:
                escaped[n] += 1
                continue
            if phase["measure"]:
                counts[n] += 1

    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for t in workers:
        t.start()
    start_line.wait()
    time.sleep(WARM_UP)  # the untimed warm-up: the workers are running
    phase["measure"] = True
    started = time.perf_counter()
    time.sleep(duration)  # the measured interval itself
    phase["measure"] = False
    elapsed = time.perf_counter() - started
    phase["stop"] = True
    for t in workers:
        t.join(60)
    return sum(counts) / elapsed, sum(escaped)


def pgbench(binary: str, url: str, world: World, clients: int, duration: float) -> float:
    """pgbench's tps running the movement script with ``clients`` clients."""
    parts = urlsplit(url)
    variables = {
        "item": world.item,
        "bin1": world.bin1,
        "bin2": world.bin2,
        "actor": world.actor.user_id,
    }
    command = [binary, "-n", "-M", "prepared", "-f", str(SCRIPT)]
    for name, value in variables.items():
        command += ["-D", f"{name}={value}"]
    command += ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    if parts.username:
        command += ["-U", parts.username]
    env = {**os.environ}
    if parts.password:
        env["PGPASSWORD"] = parts.password
    database = parts.path.lstrip("/")
    jobs = str(min(clients, os.cpu_count() or 1))
    subprocess.run(
        [*command, "-c", str(clients), "-j", jobs, "-T", str(max(1, round(WARM_UP))), database],
        check=True,
        capture_output=True,
        env=env,
        text=True,
    )
    done = subprocess.run(
        [*command, "-c", str(clients), "-j", jobs, "-T", str(round(duration)), database],
        check=True,
        capture_output=True,
        env=env,
        text=True,
    )
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    if not match:
        raise SystemExit(f"cannot read pgbench's result:\n{done.stdout}\n{done.stderr}")
    return float(match[1])


def round_trips(store: PgStore, world: World, movements: int = 200) -> float:
    """Round trips per transfer through the use case, as the unit of work counts them."""
    rng = random.Random(SEED)
    total = 0
    for _ in range(movements):
        uow = store.unit_of_work()
        source, dest = (world.bin1, world.bin2) if rng.random() < 0.5 else (world.bin2, world.bin1)
        line = LineRequest(world.item, 1, from_location_id=source, to_location_id=dest)
        with uow:  # the use case itself, in a unit of work of ours, to count its round trips
            post_movement(
                world.inventory.context, uow, world.actor, PostMovement("transfer", [line])
            )
        total += uow.round_trips
    return total / movements


def server_settings(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN"
            " ('server_version', 'synchronous_commit', 'fsync', 'shared_buffers')"
        ).fetchall()
    return dict(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("INVENTORY_BENCH_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per point")
    parser.add_argument("--rounds", type=int, default=3, help="alternations per thread count")
    args = parser.parse_args()

    ensure_database(args.database_url)
    apply_migrations(args.database_url)
    binary = find_pgbench()
    store = PgStore.open(args.database_url, min_size=1, max_size=max(args.threads))
    try:
        world = World(store)
        per_movement = round_trips(store, world)
        settings = server_settings(args.database_url)
        durability = ", ".join(
            f"{k}={settings.get(k)}" for k in ("synchronous_commit", "fsync", "shared_buffers")
        )
        print(
            f"python {platform.python_version()}, {os.cpu_count()} cores, PostgreSQL "
            f"{settings.get('server_version')} ({durability}), {args.duration:g} s per point "
            f"after {WARM_UP:g} s of warm-up, {args.rounds} alternating rounds"
        )
        print(
            f"round trips per movement: use case {per_movement:.1f} (reads of item and bins, "
            "levels and append in one batch, commit); pgbench 5 (BEGIN, 2 updates, append, "
            "COMMIT)"
        )
        print()
        print(
            "| threads / clients | use cases movements/s | pgbench tps | ratio | ratio per round |"
        )
        print(
            "|------------------:|----------------------:|------------:|------:|:----------------|"
        )
        for threads in args.threads:
            rates, tpss, escaped = [], [], 0
            for round_ in range(args.rounds):
                log(f"{threads} threads, round {round_ + 1}: use cases")
                rate, lost = use_cases(world, threads, args.duration)
                log(f"{threads} clients, round {round_ + 1}: pgbench")
                rates.append(rate)
                tpss.append(pgbench(binary, args.database_url, world, threads, args.duration))
                escaped += lost
            ratios = [r / t for r, t in zip(rates, tpss, strict=True)]
            note = f" ({escaped} conflicts escaped retries)" if escaped else ""
            print(
                f"| {threads} | {statistics.median(rates):,.0f}{note} "
                f"| {statistics.median(tpss):,.0f} | {statistics.median(ratios):.2f} "
                f"| {', '.join(f'{x:.2f}' for x in ratios)} |",
                flush=True,
            )
    finally:
        store.close()


if __name__ == "__main__":
    main()
