"""The connection of one unit of work: statements in pipelined batches, transaction control
sent lazily with them.

Every repository call is one batch: the transaction-control commands owed so far (``BEGIN``,
``SAVEPOINT``, ``RELEASE``, ``ROLLBACK TO``) and the call's statements go out together in
pipeline mode and come back after one Sync, i.e. one network round trip per call. The connection
is in autocommit mode so psycopg never injects a ``BEGIN`` of its own (which would cost a round
trip of its own); the session writes the transaction's boundaries itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, LiteralString
from uuid import UUID

import psycopg
from psycopg import pq

from inventory_core.errors import InvalidOperation
from inventory_pg.errors import translate

__all__ = ["Session", "Statement"]

Statement = tuple[LiteralString, Mapping[str, Any] | Sequence[Any]]
"""A SQL constant and its bound parameters."""

BEGIN: LiteralString = "BEGIN"
COMMIT: LiteralString = "COMMIT"
ROLLBACK: LiteralString = "ROLLBACK"
CALL_SAVEPOINT = "inventory_call"
"""The savepoint around an atomic call; one at a time, so the name can be fixed."""


class Session:
    """One pooled connection for the lifetime of a unit of work's outermost block."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.began = False
        """BEGIN has been sent: there is a transaction to commit or roll back."""
        self.broken = False
        """The transaction is in a state only a rollback can end (or the connection is gone)."""
        self.pending: list[str] = []
        """Transaction-control commands owed to the server, sent before the next statements."""
        self.round_trips = 0

    def run(
        self,
        statements: Sequence[Statement],
        *,
        atomic: bool = False,
        values: Mapping[str, object] | None = None,
        deltas: Mapping[tuple[UUID, UUID], int] | None = None,
    ) -> list[psycopg.Cursor[Any]]:
        """Send the owed control commands and ``statements`` in one round trip; return one cursor
        per statement, holding its result.

        With ``atomic`` the statements are wrapped in a savepoint, so if one fails the batch leaves
        no trace and the transaction stays usable (the ``ROLLBACK TO`` is owed, sent with the next
        batch). Without it a failure leaves the transaction aborted, as PostgreSQL does. Errors
        are translated (``values``/``deltas`` help the translation, see :func:`translate`).
        """
        if self.broken:
            raise InvalidOperation(_FAILED)
        control = list(self.pending)
        if not self.began:
            control.insert(0, BEGIN)
        if atomic:
            control.append(f"SAVEPOINT {CALL_SAVEPOINT}")
        control_cursors: list[psycopg.Cursor[Any]] = []
        cursors: list[psycopg.Cursor[Any]] = []
        self.round_trips += 1
        try:
            with self.conn.pipeline():
                for command in control:
                    control_cursors.append(self._control(command))
                for sql, params in statements:
                    cur = self.conn.cursor()
                    cur.execute(sql, params)
                    cursors.append(cur)
                if atomic:
                    self._control(f"RELEASE SAVEPOINT {CALL_SAVEPOINT}")
        except psycopg.Error as exc:
            self._after_failure(control, control_cursors, atomic=atomic)
            raise translate(exc, values=values, deltas=deltas) from exc
        self.began = True
        self.pending.clear()
        return cursors

    def _control(self, command: str) -> psycopg.Cursor[Any]:
        cur = self.conn.cursor()
        # Control commands are built from constants and generated names only, never from input;
        # they are not prepared (nothing to gain, and it would crowd psycopg's prepare cache).
        cur.execute(command.encode(), prepare=False)
        return cur

    def _after_failure(
        self, control: list[str], cursors: list[psycopg.Cursor[Any]], *, atomic: bool
    ) -> None:
        if self.conn.broken or self.conn.closed:
            self.broken = True
            return
        done = len(cursors) == len(control) and all(
            cur.pgresult is not None and cur.pgresult.status == pq.ExecStatus.COMMAND_OK
            for cur in cursors
        )
        status = self.conn.info.transaction_status
        if done:
            # Everything owed went through; only the statements failed.
            self.began = True
            self.pending.clear()
            if atomic:
                self.pending += [
                    f"ROLLBACK TO SAVEPOINT {CALL_SAVEPOINT}",
                    f"RELEASE SAVEPOINT {CALL_SAVEPOINT}",
                ]
        elif status == pq.TransactionStatus.IDLE:
            # Not even BEGIN ran: nothing happened, the owed commands are still owed.
            self.began = False
        else:
            self.began = True
            self.broken = True

    def commit(self) -> None:
        """Send the owed commands and COMMIT in one round trip. A transaction that failed
        earlier and was never rolled back to a savepoint cannot commit: InvalidOperation."""
        if not self.began:
            return
        if self.broken:
            raise InvalidOperation(_FAILED)
        control = [*self.pending, COMMIT]
        self.round_trips += 1
        try:
            with self.conn.pipeline():
                cursors = [self._control(command) for command in control]
        except psycopg.Error as exc:
            self.broken = True
            raise translate(exc) from exc
        self.began = False
        self.pending.clear()
        # COMMIT of a failed transaction is answered "ROLLBACK" (not an error) by the server.
        if cursors[-1].statusmessage != "COMMIT":
            raise InvalidOperation(_FAILED)

    def rollback(self) -> None:
        """Roll the transaction back (one round trip; nothing if it never began)."""
        if not self.began:
            return
        self.round_trips += 1
        try:
            self.conn.execute(ROLLBACK, prepare=False)
        except psycopg.Error as exc:
            self.broken = True
            raise translate(exc) from exc
        self.began = False
        self.broken = False
        self.pending.clear()


_FAILED = (
    "the transaction failed earlier and was rolled back; "
    "leave the unit of work by its exception (or wrap the failing part in a nested `with`)"
)
