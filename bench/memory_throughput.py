"""Movements per second through the use cases on the in-memory adapter.

Method: for each thread count, build a fresh InMemoryStore and Executor (ManualClock, so time
does not vary; a fixed random seed, so every run posts the same movements), with 8 warehouses of
4 bins and 64 items. Each thread does 500 untimed warm-up operations, then all threads wait on a
barrier and share the timed operations (--movements, the total, split evenly); the wall time
from the barrier to the last thread finishing gives operations/second. Each thread count is run
3 times (a fresh store each time) and the median is reported.

The movement mix is what a warehouse does: 40% shipments of 1-3 units, 30% receipts of 1-20
units, 20% transfers between two bins of one warehouse, 10% reservations (reserve_stock) -- each
through Executor.execute(PostMovement / ReserveStock) as an application would call them, so the
figure
includes role checks, validation, the unit of work, the availability guard and the ledger append.
A shipment refused for lack of stock still counts as an operation (it did all the work).

    python bench/memory_throughput.py [--threads 1 4 16] [--movements 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import threading
import time
from uuid import UUID

from inventory_core import (
    CreateItem,
    CreateLocation,
    Executor,
    InMemoryStore,
    InsufficientStock,
    LineRequest,
    ManualClock,
    Pbkdf2PasswordHasher,
    PostMovement,
    ReserveStock,
    Role,
)
from inventory_core.services.users import ProvisionUser
from inventory_core.users import Actor

SEED = 20260101
WAREHOUSES = 8
BINS_PER_WAREHOUSE = 4
ITEMS = 64
WARM_UP = 500  # per thread, untimed


class World:
    def __init__(self) -> None:
        self.clock = ManualClock()
        store = InMemoryStore(self.clock)
        self.inventory = Executor(
            store.unit_of_work,
            clock=self.clock,
            password_hasher=Pbkdf2PasswordHasher(iterations=1),  # not what is measured
        )
        self.actor: Actor = self.inventory.execute(
            None, ProvisionUser("bench", "bench-password-1", Role.ADMIN)
        ).actor
        self.warehouses: list[UUID] = []
        self.bins: list[list[UUID]] = []
        for w in range(WAREHOUSES):
            wh = self.inventory.execute(self.actor, CreateLocation(f"WH-{w}", "w", "warehouse")).id
            self.warehouses.append(wh)
            self.bins.append(
                [
                    self.inventory.execute(
                        self.actor, CreateLocation(f"WH-{w}-B{b}", "b", "internal", wh)
                    ).id
                    for b in range(BINS_PER_WAREHOUSE)
                ]
            )
        self.items = [
            self.inventory.execute(self.actor, CreateItem(f"SKU-{i}", "item")).id
            for i in range(ITEMS)
        ]
        for item in self.items:  # opening stock everywhere
            for bins in self.bins:
                self.inventory.execute(
                    self.actor,
                    PostMovement(
                        "receipt", [LineRequest(item, 50, to_location_id=b) for b in bins]
                    ),
                )


def operate(world: World, rng: random.Random) -> None:
    inventory, actor = world.inventory, world.actor
    item = rng.choice(world.items)
    w = rng.randrange(WAREHOUSES)
    bins = world.bins[w]
    roll = rng.random()
    try:
        if roll < 0.4:
            line = LineRequest(item, rng.randint(1, 3), from_location_id=rng.choice(bins))
            inventory.execute(actor, PostMovement("shipment", [line]))
        elif roll < 0.7:
            line = LineRequest(item, rng.randint(1, 20), to_location_id=rng.choice(bins))
            inventory.execute(actor, PostMovement("receipt", [line]))
        elif roll < 0.9:
            source, dest = rng.sample(bins, 2)
            line = LineRequest(item, 1, from_location_id=source, to_location_id=dest)
            inventory.execute(actor, PostMovement("transfer", [line]))
        else:
            inventory.execute(actor, ReserveStock(item, world.warehouses[w], 1))
    except InsufficientStock:
        pass


def run_once(threads: int, total: int) -> float:
    world = World()
    per_thread = total // threads
    barrier = threading.Barrier(threads + 1)
    done = threading.Barrier(threads + 1)

    def worker(n: int) -> None:
        rng = random.Random(SEED + n)
        for _ in range(WARM_UP):
            operate(world, rng)
        barrier.wait()
        for _ in range(per_thread):
            operate(world, rng)
        done.wait()

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    done.wait()
    elapsed = time.perf_counter() - start
    for t in workers:
        t.join()
    return per_thread * threads / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--movements", type=int, default=20_000, help="timed operations per run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()}, seed {SEED}, {args.movements} operations/run, "
        f"median of {args.runs} runs"
    )
    print()
    print("| threads | median ops/s | runs (ops/s) |")
    print("|--------:|-------------:|:-------------|")
    for threads in args.threads:
        rates = [run_once(threads, args.movements) for _ in range(args.runs)]
        runs = ", ".join(f"{r:,.0f}" for r in rates)
        print(f"| {threads} | {statistics.median(rates):,.0f} | {runs} |", flush=True)


if __name__ == "__main__":
    main()
