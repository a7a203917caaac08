"""The connection of one unit of work: statements in batches of one round trip each, with the
transaction control sent lazily along with them.

Every repository call is one batch: the transaction-control commands owed so far (``BEGIN``,
``SAVEPOINT``, ``RELEASE``, ``ROLLBACK TO``) and the call's statements go out together in
pipeline mode and come back after one Sync -- one network round trip per call. (A batch of a
single command skips pipeline mode, which costs a little extra client time.) The connection is in
autocommit mode so psycopg never sends a ``BEGIN`` of its own, which would cost a round trip of
its own; the batch writes the transaction's boundaries itself.

``BEGIN`` goes out with the first call that writes or locks. Plain reads before it run outside a
transaction block: under READ COMMITTED (the only level this adapter uses) every statement takes
its own snapshot anyway, and before the first write there is nothing of ours to see, so they read
exactly what they would inside the transaction -- and a unit of work that only reads needs no
COMMIT round trip at all.

A write whose result nobody waits for (an event of the outbox) can be *deferred*
(:meth:`StatementBatch.defer`): it joins the owed commands, in order, and goes out with the next
call or the COMMIT -- in the transaction, at no round trip of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, LiteralString
from uuid import UUID

import psycopg
from psycopg import pq

from inventory_core.errors import InvalidOperation
from inventory_pg.errors import translate

__all__ = ["Statement", "StatementBatch"]

Statement = tuple[LiteralString, Mapping[str, Any] | Sequence[Any]]
"""A SQL constant and its bound parameters."""

Owed = str | Statement
"""What a batch owes the server before its next statements: a transaction-control command, or a
deferred statement."""

BEGIN: LiteralString = "BEGIN"
COMMIT: LiteralString = "COMMIT"
ROLLBACK: LiteralString = "ROLLBACK"
CALL_SAVEPOINT = "inventory_call"
"""The savepoint around an atomic call; one at a time, so the name can be fixed."""
_RELEASE_CALL = f"RELEASE SAVEPOINT {CALL_SAVEPOINT}"
_UNDO_CALL = f"ROLLBACK TO SAVEPOINT {CALL_SAVEPOINT}"

_FAILED = (
    "the transaction failed earlier and was rolled back; "
    "leave the unit of work by its exception (or wrap the failing part in a nested `with`)"
)


_CURSOR_CACHE = "_inventory_cursors"
"""Where a connection keeps its reusable cursors (an attribute of the psycopg connection)."""
_BINDER = "_inventory_binder"
"""Where a connection keeps the client-side binding cursor of :meth:`StatementBatch.commit`."""


def _cursor_cache(conn: psycopg.Connection[Any]) -> list[psycopg.Cursor[Any]]:
    # Creating a psycopg cursor costs about a third of a small query's client time, so each
    # connection keeps the few cursors its batches need. A cycle conn <-> cursors is collected
    # with the connection; should a psycopg version forbid the attribute, a unit of work still
    # reuses its own.
    cache: list[psycopg.Cursor[Any]] | None = getattr(conn, _CURSOR_CACHE, None)
    if cache is None:
        cache = []
        with contextlib.suppress(AttributeError):
            setattr(conn, _CURSOR_CACHE, cache)
    return cache


class _BatchFailed(Exception):
    """A batch failed: the psycopg error, and the cursors of the control commands sent."""

    def __init__(self, error: psycopg.Error, control_cursors: list[psycopg.Cursor[Any]]) -> None:
        super().__init__(str(error))
        self.error = error
        self.control_cursors = control_cursors


class StatementBatch:
    """One pooled connection for the lifetime of a unit of work's outermost block."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.began = False
        """BEGIN has been sent: there is a transaction to commit or roll back."""
        self.broken = False
        """The transaction is in a state only a rollback can end (or the connection is gone)."""
        self.pending: list[Owed] = []
        """Transaction-control commands and deferred statements owed to the server, in order,
        sent before the next statements."""
        self.round_trips = 0
        self._cursors = _cursor_cache(conn)

    def _cursor(self, index: int) -> psycopg.Cursor[Any]:
        while len(self._cursors) <= index:
            self._cursors.append(self.conn.cursor())
        return self._cursors[index]

    def run(
        self,
        statements: Sequence[Statement],
        *,
        writes: bool = True,
        atomic: bool = False,
        keep_savepoint: bool = False,
        values: Mapping[str, object] | None = None,
        deltas: Mapping[tuple[UUID, UUID], int] | None = None,
    ) -> list[psycopg.Cursor[Any]]:
        """Send the owed control commands and ``statements`` in one round trip; return one cursor
        per statement, holding its result until the next call on this batch (cursors are
        reused). ``writes=False`` promises the statements neither write nor lock, so they may run
        before the transaction has begun.

        With ``atomic`` the statements are wrapped in a savepoint, so if one fails the batch leaves
        no trace and the transaction stays usable (the ``ROLLBACK TO`` is owed, sent with the next
        batch). Without it a failure leaves the transaction aborted, as PostgreSQL does. Errors
        are translated (``values``/``deltas`` help the translation, see :func:`translate`).

        ``keep_savepoint`` (with ``atomic``) leaves the savepoint open after a batch that raised no
        error, so the caller may still judge its results and undo the whole batch with
        :meth:`undo_call`; otherwise its RELEASE is owed and goes out with the next batch or the
        COMMIT, costing no round trip of its own.
        """
        if self.broken:
            raise InvalidOperation(_FAILED)
        control: list[Owed] = []
        if writes or self.began:
            control = list(self.pending)
            if not self.began:
                control.insert(0, BEGIN)
            if atomic:
                control.append(f"SAVEPOINT {CALL_SAVEPOINT}")
        epilogue = [_RELEASE_CALL] if atomic and not keep_savepoint else []
        try:
            _, cursors = self._send(control, statements, epilogue)
        except _BatchFailed as failed:
            self._after_failure(control, failed.control_cursors, atomic=atomic)
            raise translate(failed.error, values=values, deltas=deltas) from failed.error
        if control:
            self.began = True
            self.pending.clear()
        if atomic and keep_savepoint:
            self.pending.append(_RELEASE_CALL)
        return cursors

    def defer(self, statement: Statement) -> None:
        """Owe ``statement``: it runs, in the transaction, before the statements of the next
        call that writes, or with the COMMIT. For writes that return nothing anyone waits for
        and are never refused; should one fail after all, the transaction fails with it.
        Deferred inside a nested block, it is undone with that block."""
        if self.broken:
            raise InvalidOperation(_FAILED)
        self.pending.append(statement)

    def undo_call(self) -> None:
        """Undo the batch just run with ``atomic=True, keep_savepoint=True``: the ROLLBACK TO
        and RELEASE are owed, sent with the next batch (so undoing costs no round trip of its
        own); the batch's rows stay locked until then."""
        if self.pending[-1:] != [_RELEASE_CALL]:
            raise RuntimeError("undo_call follows a run(atomic=True, keep_savepoint=True) only")
        self.pending[-1:] = [_UNDO_CALL, _RELEASE_CALL]

    def commit(self) -> None:
        """Send the owed commands and COMMIT in one round trip. A transaction that failed
        earlier and was never rolled back to a savepoint cannot commit: InvalidOperation."""
        deferred = any(not isinstance(owed, str) for owed in self.pending)
        if not self.began and not deferred:
            return
        if self.broken:
            raise InvalidOperation(_FAILED)
        owed = list(self.pending)
        if not self.began:
            owed.insert(0, BEGIN)
        # COMMIT releases every savepoint itself: a RELEASE with no ROLLBACK TO owed after it
        # can be left out (often making the COMMIT a lone command, sent without pipeline mode).
        rolled_back_later = False
        for index in range(len(owed) - 1, -1, -1):
            command = owed[index]
            if isinstance(command, str) and command.startswith("ROLLBACK TO SAVEPOINT "):
                rolled_back_later = True
            elif (
                isinstance(command, str)
                and command.startswith("RELEASE SAVEPOINT ")
                and not rolled_back_later
            ):
                del owed[index]
        try:
            if deferred:
                status = self._commit_as_one_query(owed)
            else:
                control, _ = self._send([*owed, COMMIT], [], [])
                status = control[-1].statusmessage
        except _BatchFailed as failed:
            self.broken = True
            raise translate(failed.error) from failed.error
        self.began = False
        self.pending.clear()
        # COMMIT of a failed transaction is answered "ROLLBACK" (not an error) by the server.
        if status != "COMMIT":
            raise InvalidOperation(_FAILED)

    def _commit_as_one_query(self, owed: list[Owed]) -> str | None:
        """Send ``owed`` and COMMIT as ONE simple-protocol query ("...; ...; COMMIT").

        Deferred statements end most write transactions (an event recorded last), so this is a
        hot path: a pipeline of two commands costs several times the client time of a single
        query. psycopg binds the parameters on the client (``ClientCursor.mogrify``: proper
        literals, never string formatting of ours); the statements are few and small, so
        parsing them per call costs the server little. Returns the status of the last command."""
        binder = self._binder()
        parts = [
            command if isinstance(command, str) else binder.mogrify(*command) for command in owed
        ]
        self.round_trips += 1
        try:
            cursor = self._cursor(0).execute("; ".join([*parts, COMMIT]).encode(), prepare=False)
            while cursor.nextset():
                pass
        except psycopg.Error as exc:
            raise _BatchFailed(exc, []) from exc
        return cursor.statusmessage

    def _binder(self) -> psycopg.ClientCursor[Any]:
        binder: psycopg.ClientCursor[Any] | None = getattr(self.conn, _BINDER, None)
        if binder is None:
            binder = psycopg.ClientCursor(self.conn)
            with contextlib.suppress(AttributeError):
                setattr(self.conn, _BINDER, binder)
        return binder

    def rollback(self) -> None:
        """Roll the transaction back (one round trip; nothing if it never began)."""
        if not self.began:
            return
        try:
            self._send([ROLLBACK], [], [])
        except _BatchFailed as failed:
            self.broken = True
            raise translate(failed.error) from failed.error
        self.began = False
        self.broken = False
        self.pending.clear()

    def _send(
        self, control: list[Owed], statements: Sequence[Statement], epilogue: list[str]
    ) -> tuple[list[psycopg.Cursor[Any]], list[psycopg.Cursor[Any]]]:
        """One round trip: a plain execute for a lone command, else a pipeline."""
        self.round_trips += 1
        control_cursors: list[psycopg.Cursor[Any]] = []
        cursors: list[psycopg.Cursor[Any]] = []
        try:
            if len(control) + len(statements) + len(epilogue) == 1:
                if control:
                    control_cursors.append(self._control(0, control[0]))
                else:
                    ((sql, params),) = statements
                    cursors.append(self._cursor(0).execute(sql, params))
                return control_cursors, cursors
            with self.conn.pipeline():
                for command in control:
                    control_cursors.append(self._control(len(control_cursors), command))
                for sql, params in statements:
                    cursors.append(self._cursor(len(control) + len(cursors)).execute(sql, params))
                for n, command in enumerate(epilogue):
                    self._control(len(control) + len(statements) + n, command)
        except psycopg.Error as exc:
            raise _BatchFailed(exc, control_cursors) from exc
        return control_cursors, cursors

    def _control(self, index: int, command: Owed) -> psycopg.Cursor[Any]:
        if not isinstance(command, str):  # a deferred statement
            sql, params = command
            return self._cursor(index).execute(sql, params)
        # Control commands are built from constants and generated names only, never from input;
        # they are not prepared (nothing to gain, and it would crowd psycopg's prepare cache).
        return self._cursor(index).execute(command.encode(), prepare=False)

    def _after_failure(
        self, control: list[Owed], cursors: list[psycopg.Cursor[Any]], *, atomic: bool
    ) -> None:
        if self.conn.broken or self.conn.closed:
            self.broken = True
            return
        if not control:
            return  # a read outside the transaction, or a lone statement inside it
        done = len(cursors) == len(control) and all(
            cur.pgresult is not None and cur.pgresult.status == pq.ExecStatus.COMMAND_OK
            for cur in cursors
        )
        if done:
            # Everything owed went through; only the statements failed.
            self.began = True
            self.pending.clear()
            if atomic:
                self.pending += [_UNDO_CALL, _RELEASE_CALL]
        elif self.conn.info.transaction_status == pq.TransactionStatus.IDLE:
            # Not even BEGIN ran: nothing happened, the owed commands are still owed.
            self.began = False
        else:
            self.began = True
            self.broken = True
