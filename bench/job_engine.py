"""Webhook delivery queue: procrastinate against our own tables (DESIGN §11), measured.

DESIGN §11 says to prefer an existing Postgres job engine (procrastinate) to a home-made queue
unless measurement says otherwise. This script is that measurement. Both engines run on the same
database, in one process, with no HTTP: the "send" of a job is a no-op, so what is measured is
the queue's own cost.

* **procrastinate** (its schema applied with ``App.schema_manager.apply_schema``):

  1. enqueue -- N application transactions, each an INSERT into a dummy table and a
     ``task.configure(connection=conn).defer(...)`` on the same psycopg connection, so the job
     commits (or rolls back) with the application's write: the transactional outbox. (A
     rolled-back transaction is checked to leave no job behind.)
  2. process -- procrastinate's own worker (``App.run_worker_async``, ``wait=False``, no
     LISTEN/NOTIFY) runs N no-op async jobs at concurrency 1 and 8: jobs/s. With
     ``--sync-task``, also a sync no-op task at concurrency 8 (procrastinate runs those on
     threads).
  3. crash -- a worker in a child process takes a job and is SIGKILLed mid-job. We look at the
     job's status, start a fresh worker to see whether it picks the job up by itself, then apply
     procrastinate's documented recovery (``JobManager.get_stalled_jobs`` + ``retry_job``, which
     an application has to schedule itself, e.g. as a periodic task) and time the recovery. The
     heartbeat timings are shortened (``--stale`` seconds instead of the 10 s / 30 s defaults).

* **our queue** (the tables of migration 0006, applied with ``inventory_pg.apply_migrations``;
  the SQL of ``inventory_pg.repositories.webhooks`` when that module has it, else the same shape
  written here):

  1. enqueue -- N application transactions, each an INSERT into the dummy table and the event
     INSERT of the outbox (``inventory_pg.repositories.events.INSERT_EVENT``); then ``dispatch``
     (one statement per 500 events) turns them into N deliveries for one subscribed webhook.
     Enqueue/s counts both parts.
  2. process -- 1 and 8 threads, one connection each, ``claim`` 50 (``UPDATE ... WHERE id IN
     (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 50) RETURNING``) and ``record`` each (conditional on
     the lease, with the attempt row): jobs/s. With ``--via-repository``, the same through
     ``PgStore`` and ``PgDeliveryRepository`` (units of work, ClaimedDelivery objects).
  3. crash -- a child process claims a delivery under a ``--lease`` second lease and is
     SIGKILLed; we poll ``claim`` until the delivery comes back, and check that the dead
     worker's lease can no longer record.

The engines alternate (enqueue, enqueue, process, process, at concurrency 1 then 8), so a
drifting load on a shared machine weighs on both alike; the JSON has the ratios pair by pair.
Also measured: the same N application transactions with the dummy INSERT alone (the baseline
an outbox adds to). Before each processing run the queue's tables are VACUUM ANALYZEd, as
autovacuum would have by then in steady state (without statistics on a freshly filled table,
procrastinate's fetch scans every pending job and drops to ~100 jobs/s). Processed jobs and
deliveries are deleted between runs. Everything is printed as a table and written to
bench/results/job_engine.json.

    .venv/bin/python bench/job_engine.py [--jobs 5000] [--database-url URL] [--lease 2]
                                         [--stale 2] [--sync-task] [--via-repository]

URL defaults to $INVENTORY_BENCH_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/h_d.
The database is DROPPED and created again at the start: point it at a throwaway one. procrastinate
is installed from bench/requirements-job-engine.txt when it is missing (it is not a dependency of
the project).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Json

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _database import reset_database  # noqa: E402

from inventory_pg import apply_migrations  # noqa: E402
from inventory_pg.repositories.events import INSERT_EVENT  # noqa: E402

REQUIREMENTS = ROOT / "bench" / "requirements-job-engine.txt"
RESULTS = ROOT / "bench" / "results" / "job_engine.json"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/h_d"
CLAIM_BATCH = 50
DISPATCH_BATCH = 500
EVENT_TYPE = "movement.posted"

# ---------------------------------------------------------------- procrastinate (lazy)


def ensure_procrastinate() -> str:
    """Install procrastinate into this interpreter's environment when it is missing; its
    version."""
    try:
        import procrastinate  # noqa: F401, PLC0415
    except ImportError:
        print(f"procrastinate is missing: pip install -r {REQUIREMENTS.relative_to(ROOT)}")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True
        )
    return importlib.metadata.version("procrastinate")


def build_app(connector: Any) -> Any:
    """A procrastinate App with the bench's tasks: ``noop`` (async), ``noop_sync`` (a thread
    each) and ``crashy`` (hangs on its first attempt, returns on a retry)."""
    import procrastinate  # noqa: PLC0415

    app = procrastinate.App(connector=connector)

    @app.task(name="noop", queue="bench")
    async def noop(event_id: str) -> None:
        return None

    @app.task(name="noop_sync", queue="bench_sync")
    def noop_sync(event_id: str) -> None:
        return None

    @app.task(name="crashy", queue="crash", pass_context=True)
    async def crashy(context: Any) -> None:
        if context.job.attempts == 0:
            print("started", flush=True)
            await asyncio.sleep(3600)

    return app


def sync_app(url: str) -> Any:
    from procrastinate import SyncPsycopgConnector  # noqa: PLC0415

    return build_app(SyncPsycopgConnector(conninfo=url, min_size=1, max_size=2))


def async_app(url: str) -> Any:
    from procrastinate import PsycopgConnector  # noqa: PLC0415

    # One connection per concurrent job, plus the fetch loop and the heartbeat.
    return build_app(PsycopgConnector(conninfo=url, min_size=10, max_size=12))


async def _run_worker(url: str, queue: str, concurrency: int, **options: Any) -> float:
    app = async_app(url)
    async with app.open_async():
        start = time.perf_counter()
        await app.run_worker_async(
            queues=[queue],
            concurrency=concurrency,
            wait=False,
            listen_notify=False,
            install_signal_handlers=False,
            **options,
        )
        return time.perf_counter() - start


def job_counts(conn: psycopg.Connection[Any], queue: str) -> dict[str, int]:
    rows = conn.execute(
        "SELECT status::text, count(*) FROM procrastinate_jobs WHERE queue_name = %s GROUP BY 1",
        [queue],
    ).fetchall()
    return {status: int(n) for status, n in rows}


def procrastinate_enqueue(url: str, task_name: str, jobs: int) -> float:
    """N application transactions, each a dummy INSERT and a defer on the same connection."""
    app = sync_app(url)
    task = app.tasks[task_name]
    with psycopg.connect(url, autocommit=True) as conn:
        start = time.perf_counter()
        for i in range(jobs):
            with conn.transaction():
                conn.execute("INSERT INTO bench_orders (note) VALUES (%s)", [f"order {i}"])
                task.configure(connection=conn).defer(event_id=str(uuid4()))
        return time.perf_counter() - start


def procrastinate_rollback_check(url: str) -> bool:
    """A defer inside a rolled-back application transaction leaves no job."""
    app = sync_app(url)
    with psycopg.connect(url, autocommit=True) as conn:
        before = conn.execute("SELECT count(*) FROM procrastinate_jobs").fetchone()
        try:
            with conn.transaction():
                conn.execute("INSERT INTO bench_orders (note) VALUES ('rolled back')")
                app.tasks["noop"].configure(connection=conn).defer(event_id=str(uuid4()))
                raise _Rollback
        except _Rollback:
            pass
        after = conn.execute("SELECT count(*) FROM procrastinate_jobs").fetchone()
    return before == after


class _Rollback(Exception):
    pass


def procrastinate_crash(url: str, stale: float) -> dict[str, Any]:
    """SIGKILL a worker mid-job; what becomes of the job, and what it takes to run it again."""
    app = sync_app(url)
    app.open()
    try:
        job_id = app.tasks["crashy"].defer()
    finally:
        app.close()
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            "procrastinate-worker",
            "--database-url",
            url,
            "--stale",
            str(stale),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    if line != "started":
        child.kill()
        raise RuntimeError(f"the procrastinate child worker said {line!r}")
    time.sleep(stale / 2)  # let it send a heartbeat or two
    os.kill(child.pid, signal.SIGKILL)
    killed = time.monotonic()
    child.wait()

    def status() -> str:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT status::text FROM procrastinate_jobs WHERE id = %s", [job_id]
            ).fetchone()
        assert row is not None
        return str(row[0])

    status_after_kill = status()
    # Past the heartbeat timeout, a fresh worker starts: it prunes the dead worker's row...
    time.sleep(max(0.0, killed + stale + 0.5 - time.monotonic()))
    asyncio.run(
        _run_worker(
            url, "crash", 1, stalled_worker_timeout=stale, update_heartbeat_interval=stale / 4
        )
    )
    status_after_new_worker = status()

    # ...but only the documented recipe (a task of the application's) puts the job back.
    async def retry_stalled() -> int:
        recipe_app = async_app(url)
        async with recipe_app.open_async():
            stalled = list(
                await recipe_app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stale)
            )
            for job in stalled:
                await recipe_app.job_manager.retry_job(job)
        return len(stalled)

    retried = asyncio.run(retry_stalled())
    asyncio.run(_run_worker(url, "crash", 1))
    recovered = time.monotonic() - killed
    final = status()
    return {
        "status_after_sigkill": status_after_kill,
        "status_after_a_new_worker_started": status_after_new_worker,
        "retried_automatically": status_after_new_worker != "doing",
        "stalled_jobs_found_by_get_stalled_jobs": retried,
        "status_after_retry_job_and_a_worker": final,
        "recovered_after_s_with_shortened_heartbeat": round(recovered, 2),
        "heartbeat_settings_used_s": {
            "update_heartbeat_interval": stale / 4,
            "stale_after": stale,
        },
        "defaults_s": {"update_heartbeat_interval": 10, "stalled_worker_timeout": 30},
        "what_the_app_must_do": (
            "schedule JobManager.get_stalled_jobs() + retry_job() itself (e.g. a periodic "
            "task); procrastinate has no built-in retry of stalled jobs. A retried job is "
            "not fenced: the old worker, if it was only partitioned, can still finish it."
        ),
    }


def procrastinate_child_worker(url: str, stale: float) -> None:
    asyncio.run(_child_worker(url, stale))


async def _child_worker(url: str, stale: float) -> None:
    app = async_app(url)
    async with app.open_async():
        await app.run_worker_async(
            queues=["crash"],
            concurrency=1,
            wait=True,
            listen_notify=False,
            install_signal_handlers=False,
            update_heartbeat_interval=stale / 4,
            stalled_worker_timeout=stale,
        )


def procrastinate_schema_objects(conn: psycopg.Connection[Any]) -> dict[str, int]:
    def count(query: str) -> int:
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else 0

    return {
        "tables": count(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename LIKE 'procrastinate%'"
        ),
        "functions": count("SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%'"),
        "types": count(
            "SELECT count(*) FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid "
            "WHERE t.typname LIKE 'procrastinate%' AND (t.typtype = 'e' OR c.relkind = 'c')"
        ),
        "indexes": count(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename LIKE 'procrastinate%'"
        ),
        "triggers": count("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'procrastinate%'"),
    }


# ---------------------------------------------------------------- our queue

# Same shape as inventory_pg.repositories.webhooks (DeliveryRepository), on migration 0006's
# tables; used when that module does not provide its own (see our_sql()).

DISPATCH = """
WITH pos AS (
    SELECT txn, seq FROM webhook_dispatch_position FOR UPDATE SKIP LOCKED
), batch AS (
    SELECT e.txn, e.seq, e.id, e.type FROM events e, pos
    WHERE (e.txn, e.seq) > (pos.txn, pos.seq)
      AND e.txn < (SELECT inventory_feed_horizon())
    ORDER BY e.txn, e.seq LIMIT %(limit)s
), made AS (
    INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, attempts,
                                    next_attempt_at, created_at)
    SELECT gen_random_uuid(), w.id, b.id, 'pending', 0, %(now)s, %(now)s
    FROM batch b JOIN webhooks w ON w.active AND b.type = ANY (w.types)
), last AS (
    SELECT txn, seq FROM batch ORDER BY txn DESC, seq DESC LIMIT 1
), moved AS (
    UPDATE webhook_dispatch_position p SET txn = last.txn, seq = last.seq FROM last
)
SELECT count(*) FROM batch
"""

CLAIM = """
UPDATE webhook_deliveries d
SET lease = gen_random_uuid(), lease_until = %(until)s
FROM webhooks w, events e
WHERE d.id IN (
    SELECT c.id FROM webhook_deliveries c JOIN webhooks cw ON cw.id = c.webhook_id
    WHERE c.status = 'pending' AND c.next_attempt_at <= %(now)s
      AND (c.lease_until IS NULL OR c.lease_until <= %(now)s) AND cw.active
    ORDER BY c.next_attempt_at, c.id
    LIMIT %(limit)s
    FOR UPDATE OF c SKIP LOCKED
)
  AND w.id = d.webhook_id AND e.id = d.event_id
RETURNING d.id, d.webhook_id, d.event_id, d.attempts, d.lease, d.lease_until,
          e.type, e.occurred_at, e.data, w.url, w.secret
"""

RECORD = """
WITH moved AS (
    UPDATE webhook_deliveries
    SET status = %(status)s, attempts = %(attempt)s,
        next_attempt_at = %(next_attempt_at)s::timestamptz,
        lease = NULL, lease_until = NULL, finished_at = %(finished_at)s::timestamptz
    WHERE id = %(delivery_id)s AND lease = %(lease)s
    RETURNING id
)
INSERT INTO webhook_attempts (id, webhook_id, event_id, event_type, attempt, attempted_at,
                              status_code, error, duration_ms, next_attempt_at)
SELECT %(id)s, %(webhook_id)s, %(event_id)s, %(event_type)s::text, %(attempt)s,
       %(attempted_at)s, %(status_code)s::integer, %(error)s::text, %(duration_ms)s,
       %(next_attempt_at)s::timestamptz
FROM moved
RETURNING 1
"""


def our_sql() -> tuple[dict[str, str], str]:
    """The queue's SQL: inventory_pg.repositories.webhooks' own constants when it has them."""
    try:
        from inventory_pg.repositories import webhooks  # noqa: PLC0415
    except ImportError:
        return {"dispatch": DISPATCH, "claim": CLAIM, "record": RECORD}, "bench/job_engine.py"
    found = {
        key: getattr(webhooks, name)
        for key, name in (("dispatch", "DISPATCH"), ("claim", "CLAIM"), ("record", "RECORD"))
        if isinstance(getattr(webhooks, name, None), str)
    }
    if len(found) == 3:
        return found, "inventory_pg.repositories.webhooks"
    return {"dispatch": DISPATCH, "claim": CLAIM, "record": RECORD}, "bench/job_engine.py"


class OurQueue:
    """dispatch / claim / record through the SQL above, on the caller's connection."""

    def __init__(self, statements: dict[str, str]) -> None:
        self.sql = statements

    def dispatch(self, conn: psycopg.Connection[Any], limit: int = DISPATCH_BATCH) -> int:
        row = conn.execute(
            self.sql["dispatch"], {"now": datetime.now(UTC), "limit": limit}
        ).fetchone()
        return int(row[0]) if row else 0

    def claim(
        self, conn: psycopg.Connection[Any], *, lease: float, limit: int = CLAIM_BATCH
    ) -> list[dict[str, Any]]:
        """Claimed deliveries as rows by column name (id, webhook_id, event_id, attempts,
        lease, type, ...)."""
        now = datetime.now(UTC)
        with conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                self.sql["claim"],
                {"now": now, "until": now + timedelta(seconds=lease), "limit": limit},
            )
            return cursor.fetchall()

    def record(self, conn: psycopg.Connection[Any], claimed: dict[str, Any]) -> bool:
        """A successful attempt (204) of ``claimed``, under its lease."""
        now = datetime.now(UTC)
        row = conn.execute(
            self.sql["record"],
            {
                "id": uuid4(),
                "delivery_id": claimed["id"],
                "lease": claimed["lease"],
                "webhook_id": claimed["webhook_id"],
                "event_id": claimed["event_id"],
                "event_type": claimed["type"],
                "attempt": claimed["attempts"] + 1,
                "attempted_at": now,
                "status": "delivered",
                "status_code": 204,
                "error": None,
                "duration_ms": 0,
                "next_attempt_at": None,
                "due_at": None,
                "finished_at": now,
            },
        ).fetchone()
        return row is not None


def outbox_transactions(url: str, jobs: int, *, with_event: bool) -> float:
    """N application transactions: a dummy INSERT, and the outbox's event INSERT."""
    with psycopg.connect(url, autocommit=True) as conn:
        start = time.perf_counter()
        for i in range(jobs):
            with conn.transaction():
                conn.execute("INSERT INTO bench_orders (note) VALUES (%s)", [f"order {i}"])
                if with_event:
                    conn.execute(
                        INSERT_EVENT,
                        {
                            "id": uuid4(),
                            "type": EVENT_TYPE,
                            "occurred_at": datetime.now(UTC),
                            "data": Json({"order": i}),
                        },
                    )
        return time.perf_counter() - start


def our_enqueue(url: str, queue: OurQueue, jobs: int) -> dict[str, float]:
    """The outbox transactions, then dispatch until every event has its delivery. Dispatch
    takes only events below the oldest running transaction of the whole server (the feed's
    guard), so a long transaction elsewhere on a shared server holds it back: it retries."""
    app_seconds = outbox_transactions(url, jobs, with_event=True)
    with psycopg.connect(url, autocommit=True) as conn:
        start = time.perf_counter()
        dispatched = 0
        while dispatched < jobs:
            n = queue.dispatch(conn)
            dispatched += n
            if n == 0:
                if time.perf_counter() - start > 60:
                    raise RuntimeError(f"dispatch stuck at {dispatched} of {jobs} events")
                time.sleep(0.005)
        dispatch_seconds = time.perf_counter() - start
    return {"app_seconds": app_seconds, "dispatch_seconds": dispatch_seconds}


def our_process(url: str, queue: OurQueue, threads: int, lease: float) -> tuple[float, int]:
    done = [0] * threads
    lost = [0] * threads
    errors: list[BaseException] = []

    def drain(index: int) -> None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                while claimed := queue.claim(conn, lease=lease):
                    for delivery in claimed:
                        # the "send": a no-op
                        if queue.record(conn, delivery):
                            done[index] += 1
                        else:
                            lost[index] += 1
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=drain, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    assert sum(lost) == 0, lost
    return elapsed, sum(done)


def our_process_via_repository(url: str, threads: int, lease: float) -> tuple[float, int]:
    """The same loop through the adapter itself (PgStore, a unit of work per step,
    PgDeliveryRepository.claim/record with ClaimedDelivery and DeliveryAttempt objects): what
    the worker pays on top of the SQL, like procrastinate's worker does."""
    from inventory_core.ids import UuidV7Generator  # noqa: PLC0415
    from inventory_core.webhooks import DeliveryAttempt  # noqa: PLC0415
    from inventory_pg import PgStore  # noqa: PLC0415

    ids = UuidV7Generator()
    done = [0] * threads
    errors: list[BaseException] = []
    store = PgStore.open(url, min_size=threads, max_size=threads + 1)

    def drain(index: int) -> None:
        try:
            while True:
                with store.unit_of_work() as uow:
                    claimed = uow.deliveries.claim(
                        now=datetime.now(UTC), lease=timedelta(seconds=lease), limit=CLAIM_BATCH
                    )
                if not claimed:
                    return
                for delivery in claimed:
                    attempt = DeliveryAttempt(
                        id=ids.new_id(),
                        webhook_id=delivery.delivery.webhook_id,
                        event_id=delivery.delivery.event_id,
                        event_type=delivery.event.type,
                        attempt=delivery.delivery.attempts + 1,
                        attempted_at=datetime.now(UTC),
                        status_code=204,
                        error=None,
                        duration_ms=0,
                        next_attempt_at=None,
                    )
                    with store.unit_of_work() as uow:
                        if uow.deliveries.record(delivery, attempt):
                            done[index] += 1
        except BaseException as exc:
            errors.append(exc)

    try:
        workers = [threading.Thread(target=drain, args=(i,)) for i in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - start
    finally:
        store.close()
    if errors:
        raise errors[0]
    return elapsed, sum(done)


def our_crash(url: str, queue: OurQueue, lease: float) -> dict[str, Any]:
    our_enqueue(url, queue, 1)
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            "our-claim",
            "--database-url",
            url,
            "--lease",
            str(lease),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    if not line:
        child.kill()
        raise RuntimeError("the claiming child said nothing")
    delivery_id, old_lease = (UUID(part) for part in line.split())
    os.kill(child.pid, signal.SIGKILL)
    killed = time.monotonic()
    child.wait()
    with psycopg.connect(url, autocommit=True) as conn:
        claimed_at_once = queue.claim(conn, lease=lease)
        again: list[dict[str, Any]] = []
        while not again and time.monotonic() - killed < lease + 10:
            time.sleep(0.02)
            again = [c for c in queue.claim(conn, lease=lease) if c["id"] == delivery_id]
        reclaimed = time.monotonic() - killed
        assert again, "the delivery never came back"
        stale = {**again[0], "lease": old_lease}
        old_lease_records = queue.record(conn, stale)
        new_lease_records = queue.record(conn, again[0])
    return {
        "lease_s": lease,
        "claimable_right_after_sigkill": bool(claimed_at_once),
        "reclaimed_after_s": round(reclaimed, 2),
        "retried_automatically": True,
        "dead_workers_lease_can_record": old_lease_records,
        "new_lease_records": new_lease_records,
        "what_the_app_must_do": (
            "nothing: the next claim after lease_until takes it (lease 60 s in the worker); "
            "record is fenced by the lease id"
        ),
    }


def our_child_claim(url: str, lease: float) -> None:
    queue = OurQueue(our_sql()[0])
    with psycopg.connect(url, autocommit=True) as conn:
        claimed = queue.claim(conn, lease=lease, limit=1)
    print(f"{claimed[0]['id']} {claimed[0]['lease']}", flush=True)
    time.sleep(3600)


# ---------------------------------------------------------------- database


def _procrastinate_dir() -> Path:
    import procrastinate  # noqa: PLC0415

    return Path(procrastinate.__file__).parent


def prepare(url: str) -> dict[str, Any]:
    reset_database(url)
    migrations = apply_migrations(url)
    app = sync_app(url)
    app.open()
    try:
        started = time.perf_counter()
        app.schema_manager.apply_schema()
        schema_seconds = time.perf_counter() - started
    finally:
        app.close()
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_orders (id bigserial PRIMARY KEY, note text NOT NULL)")
        conn.execute(
            "INSERT INTO webhooks (id, url, types, secret, active, version, created_at,"
            " updated_at) VALUES (%s, 'https://example.test/hook', %s, %s, true, 1, %s, %s)",
            [uuid4(), [EVENT_TYPE], "whsec_" + "A" * 43 + "=", now, now],
        )
        objects = procrastinate_schema_objects(conn)
    return {
        "our_migrations": migrations,
        "procrastinate_schema_objects": objects,
        "procrastinate_schema_apply_s": round(schema_seconds, 3),
        "procrastinate_migration_files": len(
            list(_procrastinate_dir().glob("sql/migrations/*.sql"))
        ),
    }


# ---------------------------------------------------------------- main


def vacuum_analyze(url: str, *tables: str) -> None:
    """What autovacuum would have done by then: without statistics on a table that was empty
    when last analysed, the planner scans every pending row per fetch (procrastinate drops to
    ~100 jobs/s at 5,000 jobs)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for table in tables:
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))


def per_second(jobs: int, seconds: float) -> float:
    return round(jobs / seconds, 1)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    url = args.database_url
    n = args.jobs
    version = ensure_procrastinate()
    setup = prepare(url)
    statements, sql_source = our_sql()
    queue = OurQueue(statements)

    print(f"procrastinate {version}; our SQL from {sql_source}; {n} jobs per measurement")
    load_before = os.getloadavg()
    rollback_ok = procrastinate_rollback_check(url)

    # The engines alternate, one measurement each in turn, so a load that drifts (a shared
    # machine) weighs on both alike; the ratios are taken pair by pair. CPU: this process's
    # (the client side: the worker, or our threads), per job.
    pc: dict[str, Any] = {"enqueue_s": [], "process": {}, "cpu_ms_per_job": {}}
    ours: dict[str, Any] = {"enqueue": [], "process": {}, "cpu_ms_per_job": {}}
    baseline: list[float] = []
    for concurrency in (1, 8):
        baseline.append(outbox_transactions(url, n, with_event=False))
        pc["enqueue_s"].append(procrastinate_enqueue(url, "noop", n))
        ours["enqueue"].append(our_enqueue(url, queue, n))
        vacuum_analyze(url, "procrastinate_jobs", "procrastinate_events")
        vacuum_analyze(url, "webhook_deliveries", "webhook_attempts", "events")

        cpu = time.process_time()
        seconds = asyncio.run(_run_worker(url, "bench", concurrency))
        cpu = time.process_time() - cpu
        with psycopg.connect(url, autocommit=True) as conn:
            counts = job_counts(conn, "bench")
            conn.execute("DELETE FROM procrastinate_jobs")
        assert counts == {"succeeded": n}, counts
        pc["process"][f"async_c{concurrency}"] = per_second(n, seconds)
        pc["cpu_ms_per_job"][f"async_c{concurrency}"] = round(cpu * 1000 / n, 3)

        cpu = time.process_time()
        seconds, done = our_process(url, queue, concurrency, lease=60.0)
        cpu = time.process_time() - cpu
        assert done == n, (done, n)
        ours["process"][f"c{concurrency}"] = per_second(n, seconds)
        ours["cpu_ms_per_job"][f"c{concurrency}"] = round(cpu * 1000 / n, 3)
        print(
            f"  concurrency {concurrency}: procrastinate "
            f"{pc['process'][f'async_c{concurrency}']} jobs/s, ours "
            f"{ours['process'][f'c{concurrency}']} jobs/s"
        )
        if args.via_repository:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("DELETE FROM webhook_attempts")
                conn.execute(
                    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0,"
                    " next_attempt_at = created_at, finished_at = NULL"
                )
            vacuum_analyze(url, "webhook_deliveries", "webhook_attempts")
            cpu = time.process_time()
            seconds, done = our_process_via_repository(url, concurrency, lease=60.0)
            cpu = time.process_time() - cpu
            assert done == n, (done, n)
            key = f"repository_c{concurrency}"
            ours["process"][key] = per_second(n, seconds)
            ours["cpu_ms_per_job"][key] = round(cpu * 1000 / n, 3)
            print(f"  ours through PgDeliveryRepository, c{concurrency}: {ours['process'][key]}")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM webhook_attempts")
            conn.execute("DELETE FROM webhook_deliveries")
    if args.sync_task:
        procrastinate_enqueue(url, "noop_sync", n)
        vacuum_analyze(url, "procrastinate_jobs", "procrastinate_events")
        seconds = asyncio.run(_run_worker(url, "bench_sync", 8))
        with psycopg.connect(url, autocommit=True) as conn:
            counts = job_counts(conn, "bench_sync")
            conn.execute("DELETE FROM procrastinate_jobs")
        assert counts == {"succeeded": n}, counts
        pc["process"]["sync_c8"] = per_second(n, seconds)
        print(f"  procrastinate, sync task on threads, c8: {pc['process']['sync_c8']} jobs/s")

    pc_crash = procrastinate_crash(url, args.stale)
    our_crash_result = our_crash(url, queue, args.lease)

    pc_enqueue = statistics.median(pc["enqueue_s"])
    our_app = statistics.median(e["app_seconds"] for e in ours["enqueue"])
    our_dispatch = statistics.median(e["dispatch_seconds"] for e in ours["enqueue"])
    return {
        "command": " ".join([".venv/bin/python", "bench/job_engine.py", *sys.argv[1:]]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1m_before_after": [load_before[0], os.getloadavg()[0]],
        },
        "postgres": _server_version(url),
        "jobs": n,
        "procrastinate_version": version,
        "our_sql_from": sql_source,
        "setup": setup,
        "baseline_app_transactions_per_s": per_second(n, statistics.median(baseline)),
        "procrastinate": {
            "enqueue_per_s": per_second(n, pc_enqueue),
            "enqueue_how": (
                "task.configure(connection=conn).defer(...) inside the caller's psycopg "
                "transaction: the external-connection option of Task.configure runs "
                "SELECT procrastinate_defer_jobs_v1(...) on that connection, and the caller "
                "commits"
            ),
            "enqueue_rolled_back_with_the_transaction": rollback_ok,
            "process_per_s": pc["process"],
            "client_cpu_ms_per_job": pc["cpu_ms_per_job"],
            "crash": pc_crash,
        },
        "ours": {
            "enqueue_per_s": per_second(n, our_app + our_dispatch),
            "app_transactions_per_s": per_second(n, our_app),
            "dispatch_per_s": per_second(n, our_dispatch),
            "process_per_s": ours["process"],
            "client_cpu_ms_per_job": ours["cpu_ms_per_job"],
            "crash": our_crash_result,
        },
        "ours_over_procrastinate": {
            "enqueue_per_round": [
                round(p / (o["app_seconds"] + o["dispatch_seconds"]), 2)
                for p, o in zip(pc["enqueue_s"], ours["enqueue"], strict=True)
            ],
            "process_c1": round(ours["process"]["c1"] / pc["process"]["async_c1"], 2),
            "process_c8": round(ours["process"]["c8"] / pc["process"]["async_c8"], 2),
        },
    }


def _server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def print_table(result: dict[str, Any]) -> None:
    pc, ours = result["procrastinate"], result["ours"]
    crash = pc["crash"]
    rows = [
        ("engine", "enqueue/s", "process/s c=1", "process/s c=8", "crash recovery"),
        (
            f"procrastinate {result['procrastinate_version']}",
            f"{pc['enqueue_per_s']:.0f}",
            f"{pc['process_per_s']['async_c1']:.0f}",
            f"{pc['process_per_s']['async_c8']:.0f}"
            + (
                f" (sync task: {pc['process_per_s']['sync_c8']:.0f})"
                if "sync_c8" in pc["process_per_s"]
                else ""
            ),
            f"stays '{crash['status_after_a_new_worker_started']}'; manual "
            f"get_stalled_jobs+retry_job ({crash['recovered_after_s_with_shortened_heartbeat']}"
            f" s with {crash['heartbeat_settings_used_s']['stale_after']} s heartbeat timeout)",
        ),
        (
            "ours (tables)",
            f"{ours['enqueue_per_s']:.0f} (txn {ours['app_transactions_per_s']:.0f}, "
            f"dispatch {ours['dispatch_per_s']:.0f})",
            f"{ours['process_per_s']['c1']:.0f}",
            f"{ours['process_per_s']['c8']:.0f}",
            f"automatic: reclaimed {ours['crash']['reclaimed_after_s']} s after SIGKILL "
            f"(lease {ours['crash']['lease_s']} s); old lease fenced: "
            f"{not ours['crash']['dead_workers_lease_can_record']}",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print(f"baseline (dummy INSERT only): {result['baseline_app_transactions_per_s']:.0f} txn/s")


def main(argv: list[str] | None = None) -> None:
    # The bench defines its App in __main__ on purpose (its worker runs here too).
    logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("INVENTORY_BENCH_DATABASE_URL", DEFAULT_URL),
    )
    parser.add_argument("--lease", type=float, default=2.0, help="our lease in the crash test")
    parser.add_argument(
        "--stale", type=float, default=2.0, help="procrastinate's heartbeat timeout, crash test"
    )
    parser.add_argument(
        "--via-repository",
        action="store_true",
        help="also run our queue through PgStore / PgDeliveryRepository (Python objects)",
    )
    parser.add_argument(
        "--sync-task",
        action="store_true",
        help="also run procrastinate with a sync task (on threads) at concurrency 8",
    )
    parser.add_argument(
        "--child", choices=["procrastinate-worker", "our-claim"], help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child == "procrastinate-worker":
        procrastinate_child_worker(args.database_url, args.stale)
        return
    if args.child == "our-claim":
        our_child_claim(args.database_url, args.lease)
        return
    result = measure(args)
    print()
    print_table(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
