"""The Postgres store (a connection pool) and its unit of work."""

from __future__ import annotations

import logging
import select
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg.types.numeric import Int8Dumper
from psycopg_pool import ConnectionPool

from inventory_core.errors import InventoryError
from inventory_pg._adapt import register_array_dumpers
from inventory_pg._batch import StatementBatch
from inventory_pg.errors import translate
from inventory_pg.repositories import (
    PgDeliveryRepository,
    PgEventRepository,
    PgIdempotencyStore,
    PgItemRepository,
    PgLocationRepository,
    PgLotRepository,
    PgMovementRepository,
    PgReservationRepository,
    PgStockRepository,
    PgTokenRepository,
    PgUserRepository,
    PgWebhookRepository,
)

__all__ = ["PgStore", "PgUnitOfWork", "check_connection", "configure_connection"]

logger = logging.getLogger(__name__)

PING = "SELECT 1"


def configure_connection(conn: psycopg.Connection[Any]) -> None:
    """Prepare a new pooled connection: autocommit (the unit of work writes BEGIN/COMMIT itself,
    pipelined with its statements), Python ints always sent as bigint (one prepared plan per
    statement instead of one per integer width), and the adapter's fast array dumpers. Use it
    as the ``configure`` of a pool you build yourself for :class:`PgStore`."""
    conn.autocommit = True
    conn.adapters.register_dumper(int, Int8Dumper)
    register_array_dumpers(conn)


def check_connection(conn: psycopg.Connection[Any]) -> None:
    """The pool's check on checkout, without a round trip for a healthy connection.

    An idle connection has nothing to read. One the server has closed -- restart, terminated
    backend, crash -- has: the server's FATAL message or end-of-file. So the socket is polled
    (without waiting), and only if something is there does the full check run a query, which
    raises for a dead connection so the pool replaces it. (A silently partitioned network is
    not detected by this, nor quickly by a query either.)
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


class PgStore:
    """Inventory state in PostgreSQL: a connection pool and a factory of units of work.

    Build it in the process that uses it (after any fork), never at import time::

        store = PgStore.open("postgresql://app@db/inventory", max_size=10)
        inventory = Inventory(store.unit_of_work)
        ...
        store.close()

    or hand it a pool you configured yourself: ``PgStore(pool)``. The schema must be migrated
    first (:func:`inventory_pg.apply_migrations`). Thread-safe; units of work are not (one per
    use case call).
    """

    def __init__(
        self, pool: ConnectionPool[Any], *, checkout_timeout: float = 30.0, owns_pool: bool = False
    ) -> None:
        self.pool = pool
        self.checkout_timeout = checkout_timeout
        self._owns_pool = owns_pool

    @classmethod
    def open(
        cls,
        conninfo: str,
        *,
        min_size: int = 2,
        max_size: int = 10,
        timeout: float = 30.0,
        max_idle: float = 600.0,
        name: str = "inventory",
    ) -> PgStore:
        """Create the pool (``open=False``), open it waiting until ``min_size`` connections are
        ready (Unavailable after ``timeout`` seconds), and return a store owning it. Every
        checkout runs :func:`check_connection`, so a connection the server dropped while it was
        idle is replaced instead of failing a use case."""
        pool: ConnectionPool[Any] = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            max_idle=max_idle,
            name=name,
            open=False,
            configure=configure_connection,
            check=check_connection,
        )
        try:
            pool.open(wait=True, timeout=timeout)
        except psycopg.Error as exc:
            pool.close()
            raise translate(exc) from exc
        return cls(pool, checkout_timeout=timeout, owns_pool=True)

    def unit_of_work(self) -> PgUnitOfWork:
        """A new unit of work on this store (make one per use case call)."""
        return PgUnitOfWork(self)

    def ping(self) -> None:
        """Check that the database answers (for readiness probes); Unavailable if not."""
        try:
            with self.pool.connection(timeout=self.checkout_timeout) as conn:
                conn.execute(PING)
        except psycopg.Error as exc:
            raise translate(exc) from exc

    def close(self) -> None:
        """Close the pool if this store opened it."""
        if self._owns_pool:
            self.pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _checkout(self) -> psycopg.Connection[Any]:
        try:
            conn: psycopg.Connection[Any] = self.pool.getconn(timeout=self.checkout_timeout)
        except psycopg.Error as exc:
            raise translate(exc) from exc
        if not conn.autocommit:  # a pool configured by the caller
            conn.autocommit = True
        return conn

    def _checkin(self, conn: psycopg.Connection[Any]) -> None:
        try:
            self.pool.putconn(conn)
        except Exception:  # a closed pool, or a connection the pool could not reset
            logger.warning("could not return a connection to the pool", exc_info=True)


class PgUnitOfWork:
    """One transaction on a :class:`PgStore` (UnitOfWork).

    The outermost ``with`` takes a pooled connection (checked on checkout); the first statement
    carries the BEGIN, a clean exit COMMITs, an exception ROLLs BACK and propagates, and the
    connection goes back to the pool. A nested ``with`` joins the transaction through a savepoint
    (sent only if it runs statements): if it exits by an exception, just its own work is undone and
    the outer block may go on. Each repository call is one network round trip (see
    :attr:`round_trips`). Repository methods that may fail on a constraint (adds and updates,
    idempotency ``complete``) and ``StockRepository.apply`` change nothing when they fail, so the
    transaction stays usable; any other database error leaves it aborted until the block exits.
    """

    def __init__(self, store: PgStore) -> None:
        self._store = store
        self._batch: StatementBatch | None = None
        self._depth = 0
        self._round_trips = 0
        self.items = PgItemRepository(self._current)
        self.locations = PgLocationRepository(self._current)
        self.lots = PgLotRepository(self._current)
        self.movements = PgMovementRepository(self._current)
        self.stock = PgStockRepository(self._current)
        self.reservations = PgReservationRepository(self._current)
        self.users = PgUserRepository(self._current)
        self.idempotency = PgIdempotencyStore(self._current)
        self.tokens = PgTokenRepository(self._current)
        self.events = PgEventRepository(self._current)
        self.webhooks = PgWebhookRepository(self._current)
        self.deliveries = PgDeliveryRepository(self._current)

    @property
    def round_trips(self) -> int:
        """Network round trips this unit of work has made so far: one per repository call and
        one for COMMIT or ROLLBACK (none when it only read). The pool's check on checkout makes
        none for a healthy connection."""
        batch = self._batch
        return self._round_trips + (batch.round_trips if batch else 0)

    @property
    def backend_pid(self) -> int | None:
        """The server process serving this unit of work while it is entered (for logs and
        diagnostics), else None."""
        return self._batch.conn.info.backend_pid if self._batch else None

    def _current(self) -> StatementBatch:
        if self._batch is None:
            raise RuntimeError("Postgres repositories are used only inside `with uow:`")
        return self._batch

    def _savepoint(self) -> str:
        return f"SAVEPOINT inventory_level_{self._depth}"

    def __enter__(self) -> Self:
        if self._batch is None:
            self._batch = StatementBatch(self._store._checkout())
        else:
            # Owed, not sent: it goes out with the block's first statement, if there is one.
            self._batch.pending.append(self._savepoint())
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        batch = self._current()
        self._depth -= 1
        if self._depth:
            self._leave_nested(batch, failed=exc_type is not None)
            return
        try:
            if exc_type is None:
                batch.commit()
            else:
                self._roll_back(batch)
        finally:
            self._round_trips += batch.round_trips
            self._batch = None
            if batch.broken:
                batch.conn.close()  # unknown state: the pool replaces it
            self._store._checkin(batch.conn)

    def _leave_nested(self, batch: StatementBatch, *, failed: bool) -> None:
        savepoint = self._savepoint()
        if batch.pending[-1:] == [savepoint]:
            # Still owed: the block ran no statement, so there is nothing to undo or release.
            batch.pending.pop()
            return
        name = savepoint.removeprefix("SAVEPOINT ")
        if failed:
            batch.pending += [f"ROLLBACK TO SAVEPOINT {name}", f"RELEASE SAVEPOINT {name}"]
        else:
            batch.pending.append(f"RELEASE SAVEPOINT {name}")

    @staticmethod
    def _roll_back(batch: StatementBatch) -> None:
        try:
            batch.rollback()
        except InventoryError:
            # The block is already leaving by an exception; that one is what the caller needs.
            logger.warning("rollback failed; discarding the connection", exc_info=True)
            batch.broken = True
