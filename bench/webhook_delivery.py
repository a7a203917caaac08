"""Webhook delivery: deliveries per second per worker against a local receiver, measured.

    .venv/bin/python bench/webhook_delivery.py [--events 5000] [--concurrency 1 8 32]
                                               [--backlog-concurrency 1] [--processes 2]
                                               [--process-concurrency 8]
                                               [--database-url URL] [--log-level INFO]
                                               [--keep]

Against ``--database-url`` (default ``$INVENTORY_BENCH_DATABASE_URL``, else
postgresql://postgres@127.0.0.1:5432/h_e; the database is DROPPED and created again, then
migrated with ``inventory_pg.apply_migrations``), the script:

1. starts the receiver in a subprocess of its own: a small asyncio server on 127.0.0.1 that
   reads each request and answers ``200`` (empty body, ``Connection: close``) at once, counting
   what it got; its CPU is read from /proc, so it is neither in the worker's CPU nor in its way;
2. creates an admin, one webhook subscribed to ``item.created`` pointing at the receiver, and
   ``--events`` items with ``CreateItem`` through an :class:`Executor` on a ``PgStore`` (four
   threads), so ``--events`` committed ``item.created`` events;
3. for each ``--concurrency`` C: resets the queue (deletes the deliveries and their log, puts
   the dispatch position back at the start of the feed, VACUUM ANALYZE, CHECKPOINT), builds ONE
   worker in this process with ``inventory_http.wiring.build_worker`` (what ``inventory worker``
   runs: its pool, the ``WebhookSender``, lease 60 s, batch 50; ``webhook_allow_private``), fills
   its pool (C + 1 connections) before the clock starts, then calls ``run_once`` until every
   event was delivered: dispatch, claim, send on C threads, record;
4. for each ``--backlog-concurrency`` C, the same, except that every event is dispatched
   before the clock starts and ``webhook_deliveries`` ANALYZEd with that backlog in it (see
   below);
5. then the same as 3. with ``--processes`` worker processes (subprocesses of this script) at
   ``--process-concurrency`` each, sharing the queue; the clock stops when the first of them
   sees every delivery recorded.

Why 4.: the claim's plan depends on what the statistics say about pending deliveries. Analysed
while the queue is (nearly) empty -- as after 3.'s reset, or a production queue of delivered
rows hit by a burst -- the planner expects a handful of pending rows and takes a bitmap scan of
all of them plus a sort for ``LIMIT batch``: each claim costs O(backlog) (~9 ms with 3,000
pending, EXPLAIN ANALYZE), which a worker at concurrency 1 (claim limit 5) pays once per 5
deliveries. Analysed with the backlog in it, the claim is an ordered scan of the due index that
stops after the limit (~0.7 ms, the UPDATE included).

Per run: deliveries/s; the worker's CPU per delivery (``time.process_time``; the sum of the
processes for the multi-process run); PostgreSQL's per delivery (utime + stime in /proc of the
backends connected to the bench database at the end of the run: the pools' connections; the
server's shared processes -- WAL writer, checkpointer -- are left out); the receiver's; the
sender's request time (``duration_ms`` of the log: connect, send, answer) p50 and p99; and how
busy the machine was (/proc/stat), with the share of it that none of the worker, PostgreSQL or
the receiver used ("other": someone else's load). Each run checks that every delivery is
``delivered`` after exactly one attempt and that the receiver got exactly N requests.

Logging is configured as ``inventory worker`` does (JSON lines at ``--log-level``, INFO by
default: one line per delivery) but written to /dev/null. Prints a markdown table and writes
the JSON to bench/results/webhook_delivery.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _database import admin_url, database_name, drop_database, reset_database  # noqa: E402
from _proc import cpu_seconds, machine_busy_seconds  # noqa: E402

from inventory_core.events import EventType  # noqa: E402
from inventory_core.executor import Executor  # noqa: E402
from inventory_core.passwords import Pbkdf2PasswordHasher  # noqa: E402
from inventory_core.services.items import CreateItem  # noqa: E402
from inventory_core.services.users import ProvisionUser  # noqa: E402
from inventory_core.services.webhooks import CreateWebhook, DispatchEvents  # noqa: E402
from inventory_http.logging import configure_logging  # noqa: E402
from inventory_http.settings import Settings  # noqa: E402
from inventory_http.wiring import build_worker, webhook_url_check  # noqa: E402
from inventory_http.worker import DISPATCH_LIMIT, DeliveryWorker  # noqa: E402
from inventory_pg import PgStore, apply_migrations  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "webhook_delivery.json"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/h_e"
CPUS = os.cpu_count() or 1
DRAIN_TIMEOUT = 120.0
"""Seconds a run may take at most (a receiver that fails would make deliveries wait 5 s+)."""

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def uptime() -> str:
    done = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


# ---------------------------------------------------------------- the receiver (a subprocess)


class _Answering(asyncio.Protocol):
    """Reads one request (headers, then Content-Length bytes), answers 200 and closes."""

    count = 0

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        for line in bytes(self.buffer[:end]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return
        _Answering.count += 1
        assert self.transport is not None
        self.transport.write(ANSWER)
        self.transport.close()


def receiver_child() -> None:
    """Serve on 127.0.0.1 (a free port, printed first); each line on stdin is answered with the
    number of requests so far; EOF ends it."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Answering, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        done = asyncio.Event()

        def control() -> None:
            for _ in sys.stdin:
                print(_Answering.count, flush=True)
            loop.call_soon_threadsafe(done.set)

        threading.Thread(target=control, daemon=True).start()
        async with server:
            await done.wait()

    asyncio.run(serve())


class Receiver:
    """The receiver subprocess: its URL, its request count and its CPU."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", "receiver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self._in: IO[str] = self.proc.stdin
        self._out: IO[str] = self.proc.stdout
        self.port = int(self._out.readline())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def count(self) -> int:
        self._in.write("count\n")
        self._in.flush()
        return int(self._out.readline())

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._in.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- database


def prepare(url: str, receiver_url: str, events: int) -> dict[str, Any]:
    """Migrate, then an admin, the webhook and ``events`` items (so as many ``item.created``)."""
    reset_database(url)
    migrations = apply_migrations(url)
    store = PgStore.open(url, min_size=4, max_size=4, timeout=10)
    try:
        executor = Executor(
            store.unit_of_work,
            password_hasher=Pbkdf2PasswordHasher(iterations=1000),
            webhook_url_check=webhook_url_check(Settings(webhook_allow_private=True)),
        )
        admin = executor.execute(
            None, ProvisionUser(username="bench-admin", password="x" * 16, role="admin")
        ).actor
        executor.execute(
            admin,
            CreateWebhook(url=receiver_url, types=(EventType.ITEM_CREATED,), description="bench"),
        )
        started = time.perf_counter()

        def create(part: int) -> None:
            for n in range(part, events, 4):
                executor.execute(
                    admin, CreateItem(sku=f"BENCH-{n:06d}", name=f"Bench item {n}", unit="each")
                )

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(create, range(4)))
        seconds = time.perf_counter() - started
    finally:
        store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE type = 'item.created'").fetchone()
    assert row is not None
    assert row[0] == events, row
    return {
        "migrations": migrations,
        "items_created_per_s": round(events / seconds, 1),
        "event_type": EventType.ITEM_CREATED.value,
    }


def reset_queue(url: str) -> None:
    """No deliveries, no log, dispatch back at the start of the feed: every event is new again.
    Then VACUUM ANALYZE (as autovacuum would have by then) and a CHECKPOINT (no checkpoint of
    the previous run's writes in the middle of this one).

    webhook_dispatch_position is analysed too: never analysed (reltuples -1, as migration 0006
    leaves it until autovacuum has seen ~50 moves of its one row), the planner takes it for
    ~1,800 rows and runs dispatch as a scan of every retained event below the horizon, with the
    position only as a join filter -- 7.6 ms (EXPLAIN ANALYZE) at 5,000 events, on every step,
    even with nothing new. Analysed, it is an index range scan after the position (~0.4 ms)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM webhook_attempts")
        conn.execute("DELETE FROM webhook_deliveries")
        conn.execute("UPDATE webhook_dispatch_position SET txn = '0', seq = 0")
        conn.execute(
            "VACUUM ANALYZE webhook_deliveries, webhook_attempts, events, webhook_dispatch_position"
        )
        conn.execute("CHECKPOINT")


def delivered_count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"
    ).fetchone()
    return int(row[0]) if row else 0


def backend_pids(url: str) -> list[int]:
    """The server processes connected to the bench database (asked from another database, so
    the asking connection is not one of them)."""
    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [database_name(url)]
        ).fetchall()
    return [int(pid) for (pid,) in rows]


def queue_check(url: str, events: int) -> dict[str, Any]:
    """What the run left: every delivery delivered after one attempt, and the send times."""
    with psycopg.connect(url, autocommit=True) as conn:
        statuses = dict(
            conn.execute(
                "SELECT status, count(*) FROM webhook_deliveries GROUP BY status"
            ).fetchall()
        )
        row = conn.execute(
            "SELECT count(*), max(attempt), count(*) FILTER (WHERE status_code = 200),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms)"
            " FROM webhook_attempts"
        ).fetchone()
    assert row is not None
    attempts, max_attempt, ok, p50, p99 = row
    problems = []
    if statuses != {"delivered": events}:
        problems.append(f"deliveries by status: {statuses}")
    if attempts != events or ok != events or max_attempt != 1:
        problems.append(f"{attempts} attempts ({ok} answered 200), max attempt {max_attempt}")
    if problems:
        raise RuntimeError("; ".join(problems))
    return {"send_p50_ms": float(p50), "send_p99_ms": float(p99)}


# ---------------------------------------------------------------- one worker


def worker_settings(url: str, log_level: str) -> Settings:
    # build_worker opens no Redis: the URL is only there because Settings pairs the two.
    return Settings(
        database_url=url,
        redis_url="redis://127.0.0.1:6379/0",
        webhook_allow_private=True,
        log_level=log_level,
    )


def quiet_logging(level: str) -> None:
    """Logging as ``inventory worker`` configures it (JSON lines at ``level``), into /dev/null."""
    configure_logging(level, open(os.devnull, "w"))  # noqa: SIM115 -- for the process's life


def fill_pool(worker: DeliveryWorker, connections: int) -> None:
    """Check out ``connections`` connections at once, so the pool has opened them all before the
    clock starts (it grows on demand from one)."""
    barrier = threading.Barrier(connections)

    def hold() -> None:
        with worker.executor.unit_of_work():
            barrier.wait(timeout=30)

    with ThreadPoolExecutor(max_workers=connections) as pool:
        list(pool.map(lambda _: hold(), range(connections)))


def drain(worker: DeliveryWorker, url: str, events: int) -> int:
    """``run_once`` until every event was delivered (by this worker or another); the attempts
    this one made."""
    made = 0
    deadline = time.monotonic() + DRAIN_TIMEOUT
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            step = worker.run_once()
            made += step
            if made >= events:
                return made
            if step == 0:
                if delivered_count(conn) >= events:
                    return made
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not all delivered after {DRAIN_TIMEOUT} s")
                time.sleep(0.002)


@contextlib.contextmanager
def built_worker(url: str, concurrency: int, log_level: str) -> Iterator[DeliveryWorker]:
    worker, closers = build_worker(worker_settings(url, log_level), concurrency=concurrency)
    try:
        fill_pool(worker, concurrency + 1)
        yield worker
    finally:
        for closer in reversed(closers):
            closer()


def worker_child(url: str, concurrency: int, events: int, log_level: str) -> None:
    """One worker process of the multi-process run: ``ready`` once built, waits for a line on
    stdin, drains, prints what it did as JSON, and waits for another line before it closes its
    pool (the parent reads the CPU of the pool's backends first)."""
    quiet_logging(log_level)
    with built_worker(url, concurrency, log_level) as worker:
        print("ready", flush=True)
        sys.stdin.readline()
        cpu = time.process_time()
        made = drain(worker, url, events)
        end = time.monotonic()
        cpu = time.process_time() - cpu
        report = {"attempts": made, "end": end, "cpu_s": cpu, "claim_limit": worker.claim_limit}
        print(json.dumps(report), flush=True)
        sys.stdin.readline()


# ---------------------------------------------------------------- measuring


class Meter:
    """CPU of PostgreSQL's backends, the receiver and the whole machine over one run."""

    def __init__(self, url: str, receiver: Receiver) -> None:
        self.url = url
        self.receiver = receiver

    def __enter__(self) -> Meter:
        self.pg_before = {pid: cpu_seconds(pid) for pid in backend_pids(self.url)}
        self.received_before = self.receiver.count()
        self.receiver_before = self.receiver.cpu()
        self.busy_before = machine_busy_seconds()
        self.load_before = load_average()
        self.start = time.monotonic()
        return self

    def stop(self, end: float | None = None) -> None:
        """The run ended (at ``end``, by time.monotonic(), if it was seen elsewhere)."""
        now = time.monotonic()
        self.seconds = (end if end is not None else now) - self.start
        self.busy = machine_busy_seconds() - self.busy_before
        self.wall = now - self.start
        self.receiver_cpu = self.receiver.cpu() - self.receiver_before
        pids = backend_pids(self.url)
        self.pg_cpu = sum(cpu_seconds(pid) - self.pg_before.get(pid, 0.0) for pid in pids)
        self.received = self.receiver.count() - self.received_before
        self.load_after = load_average()

    def __exit__(self, *exc: object) -> None:
        pass

    def result(
        self, name: str, processes: int, concurrency: int, events: int, worker_cpu: float
    ) -> dict[str, Any]:
        def per(seconds: float) -> float:
            return round(seconds * 1000 / events, 3)

        ours = worker_cpu + self.pg_cpu + self.receiver_cpu
        return {
            "run": name,
            "processes": processes,
            "concurrency": concurrency,
            "deliveries": events,
            "seconds": round(self.seconds, 3),
            "deliveries_per_s": round(events / self.seconds, 1),
            "worker_cpu_ms_per_delivery": per(worker_cpu),
            "pg_cpu_ms_per_delivery": per(self.pg_cpu),
            "receiver_cpu_ms_per_delivery": per(self.receiver_cpu),
            "worker_cores_busy": round(worker_cpu / self.seconds, 2),
            "pg_cores_busy": round(self.pg_cpu / self.seconds, 2),
            "receiver_cores_busy": round(self.receiver_cpu / self.seconds, 2),
            "machine_busy_share": round(self.busy / (self.wall * CPUS), 3),
            "other_load_share": round(max(0.0, self.busy - ours) / (self.wall * CPUS), 3),
            "received": self.received,
            "load_average_before_after": [self.load_before, self.load_after],
        }


def dispatch_all(worker: DeliveryWorker, url: str, events: int) -> None:
    """Turn every event into its delivery now (untimed), then ANALYZE the queue: the planner
    sees the backlog."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            worker.executor.execute(None, DispatchEvents(limit=DISPATCH_LIMIT))
            row = conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone()
            if row is not None and row[0] >= events:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"not all dispatched after {DRAIN_TIMEOUT} s")
            time.sleep(0.01)
        conn.execute("ANALYZE webhook_deliveries")


def run_in_process(
    url: str,
    receiver: Receiver,
    concurrency: int,
    events: int,
    log_level: str,
    *,
    backlog_stats: bool = False,
) -> dict[str, Any]:
    reset_queue(url)
    with built_worker(url, concurrency, log_level) as worker:
        if backlog_stats:
            dispatch_all(worker, url, events)
        with Meter(url, receiver) as meter:
            cpu = time.process_time()
            made = drain(worker, url, events)
            cpu = time.process_time() - cpu
            meter.stop()
        claim_limit = worker.claim_limit
    name = f"1 worker, in process, c={concurrency}"
    if backlog_stats:
        name += ", backlog analysed"
    result = meter.result(name, 1, concurrency, events, cpu)
    result["attempts_by_worker"] = [made]
    result["claim_limit"] = claim_limit
    result["queue_statistics"] = "backlog (pre-dispatched)" if backlog_stats else "empty queue"
    return result


def run_processes(
    url: str, receiver: Receiver, processes: int, concurrency: int, events: int, log_level: str
) -> dict[str, Any]:
    reset_queue(url)
    argv = [sys.executable, __file__, "--child", "worker", "--database-url", url]
    argv += ["--process-concurrency", str(concurrency), "--events", str(events)]
    argv += ["--log-level", log_level]
    children = [
        subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"a worker process said {line!r}")
        with Meter(url, receiver) as meter:
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            reports = []
            for child in children:
                assert child.stdout is not None
                reports.append(json.loads(child.stdout.readline()))
            meter.stop(end=min(r["end"] for r in reports))
        for child in children:
            assert child.stdin is not None
            child.stdin.write("exit\n")
            child.stdin.flush()
        for child in children:
            child.wait(timeout=30)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    cpu = sum(r["cpu_s"] for r in reports)
    name = f"{processes} worker processes, c={concurrency} each"
    result = meter.result(name, processes, concurrency, events, cpu)
    result["attempts_by_worker"] = [r["attempts"] for r in reports]
    result["queue_statistics"] = "empty queue"
    result["claim_limit"] = reports[0]["claim_limit"]
    return result


def measure(args: argparse.Namespace) -> dict[str, Any]:
    url = args.database_url
    n = args.events
    quiet_logging(args.log_level)
    uptime_before = uptime()
    log(f"uptime: {uptime_before}")
    receiver = Receiver()
    try:
        log(f"receiver on {receiver.url} (pid {receiver.proc.pid}); {n} events...")
        setup = prepare(url, receiver.url, n)
        log(f"  {setup['items_created_per_s']:.0f} items created/s")
        runs = []
        for concurrency in args.concurrency:
            run = run_in_process(url, receiver, concurrency, n, args.log_level)
            run.update(queue_check(url, n))
            check_received(run, n)
            runs.append(run)
            log(f"  {run['run']}: {run['deliveries_per_s']:.0f}/s")
        for concurrency in args.backlog_concurrency:
            run = run_in_process(url, receiver, concurrency, n, args.log_level, backlog_stats=True)
            run.update(queue_check(url, n))
            check_received(run, n)
            runs.append(run)
            log(f"  {run['run']}: {run['deliveries_per_s']:.0f}/s")
        if args.processes:
            run = run_processes(
                url, receiver, args.processes, args.process_concurrency, n, args.log_level
            )
            run.update(queue_check(url, n))
            check_received(run, n)
            runs.append(run)
            log(f"  {run['run']}: {run['deliveries_per_s']:.0f}/s")
    finally:
        receiver.close()
    if not args.keep:
        drop_database(url)
    with psycopg.connect(admin_url(url)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        server_settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                [["synchronous_commit", "fsync", "shared_buffers", "max_connections"]],
            ).fetchall()
        )
    return {
        "command": " ".join([".venv/bin/python", "bench/webhook_delivery.py", *sys.argv[1:]]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": CPUS,
            "uptime_before": uptime_before,
            "uptime_after": uptime(),
        },
        "postgres": str(row[0]) if row else "?",
        "postgres_settings": server_settings,
        "events": n,
        "log_level": args.log_level,
        "receiver": "asyncio server in a subprocess, 200 with an empty body, Connection: close",
        "worker": (
            "inventory_http.wiring.build_worker (WebhookSender, lease 60 s, batch 50); "
            "run_once in a loop until all delivered"
        ),
        "setup": setup,
        "runs": runs,
        "medians": {
            "worker_cpu_ms_per_delivery": statistics.median(
                r["worker_cpu_ms_per_delivery"] for r in runs
            ),
            "pg_cpu_ms_per_delivery": statistics.median(r["pg_cpu_ms_per_delivery"] for r in runs),
        },
    }


def check_received(run: dict[str, Any], events: int) -> None:
    if run["received"] != events:
        raise RuntimeError(f"{run['run']}: the receiver got {run['received']} requests")


def print_table(result: dict[str, Any]) -> None:
    header = (
        "run",
        "deliveries/s",
        "s",
        "worker CPU ms/dlv",
        "PG CPU ms/dlv",
        "receiver CPU ms/dlv",
        "cores busy: worker / PG / receiver",
        "send p50 / p99 ms",
        "machine busy (other)",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in result["runs"]:
        cells = (
            r["run"],
            f"{r['deliveries_per_s']:.0f}",
            f"{r['seconds']:.2f}",
            f"{r['worker_cpu_ms_per_delivery']:.2f}",
            f"{r['pg_cpu_ms_per_delivery']:.2f}",
            f"{r['receiver_cpu_ms_per_delivery']:.2f}",
            f"{r['worker_cores_busy']:.2f} / {r['pg_cores_busy']:.2f} / "
            f"{r['receiver_cores_busy']:.2f}",
            f"{r['send_p50_ms']:.0f} / {r['send_p99_ms']:.0f}",
            f"{r['machine_busy_share']:.0%} ({r['other_load_share']:.0%})",
        )
        print("| " + " | ".join(cells) + " |")
    machine = result["machine"]
    print()
    print(
        f"{result['events']} item.created events, one webhook; {machine['cpus']} CPUs, "
        f"Python {machine['python']}, PostgreSQL {result['postgres']}; "
        f"log level {result['log_level']} (to /dev/null)"
    )
    print(f"before: {machine['uptime_before']}")
    print(f"after:  {machine['uptime_after']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--processes", type=int, default=2, help="worker processes of the last run (0: none)"
    )
    parser.add_argument("--process-concurrency", type=int, default=8)
    parser.add_argument(
        "--backlog-concurrency",
        type=int,
        nargs="*",
        default=[1],
        help="also runs whose deliveries are dispatched and ANALYZEd before the clock starts",
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("INVENTORY_BENCH_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--keep", action="store_true", help="leave the database in place")
    parser.add_argument("--child", choices=["receiver", "worker"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "receiver":
        receiver_child()
        return
    if args.child == "worker":
        worker_child(args.database_url, args.process_concurrency, args.events, args.log_level)
        return
    result = measure(args)
    print()
    print_table(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
