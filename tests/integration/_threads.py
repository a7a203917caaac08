"""Threads released together, and waiting for one to block on a lock: for the race tests of
the Postgres adapter."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from inventory_pg import PgStore


def run_together(workers: int, work: Callable[[int], None], *, timeout: float = 120) -> None:
    """Run ``work(n)`` on ``workers`` threads released together; re-raise the first failure."""
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait(timeout)
            work(n)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(workers)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "workers did not finish in time"
    if errors:
        raise errors[0]


def wait_until_blocked(store: PgStore, pid: int | None, *, timeout: float = 10) -> None:
    """Wait until backend ``pid`` waits for a lock; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    with store.pool.connection() as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s::integer", (pid,)
            ).fetchone()
            if row is not None and row[0] == "Lock":
                return
            conn.execute("SELECT pg_sleep(0.01)")
    raise AssertionError(f"backend {pid} never waited for a lock")
