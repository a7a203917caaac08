"""Idempotency records: the first response to a POST with an Idempotency-Key, stored in the
same transaction as its effect."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from inventory_core.idempotency import IdempotencyClaim, IdempotencyOutcome, IdempotencyRecord
from inventory_pg.repositories._base import Repository

__all__ = ["PgIdempotencyStore"]

# A transaction-scoped advisory lock on a 64-bit hash of (user, key) marks the key as taken by
# the claiming transaction until it ends. ``try`` never waits: a key held by another running
# transaction is reported IN_PROGRESS at once. (The single-bigint key space; migrations use the
# two-int one, so they never collide.)
TRY_CLAIM = """
SELECT pg_try_advisory_xact_lock(hashtextextended(%(user_id)s::text || '/' || %(key)s, 0))
"""
# A separate statement after the lock: in READ COMMITTED it takes a new snapshot, so it sees a
# record committed by the transaction that held the lock until just now.
SELECT_RECORD = """
SELECT user_id, key, fingerprint, status, body, header_names, header_values, created_at
FROM idempotency_records WHERE user_id = %(user_id)s AND key = %(key)s
"""
INSERT_RECORD = """
INSERT INTO idempotency_records (user_id, key, fingerprint, status, body, header_names,
                                 header_values, created_at)
VALUES (%(user_id)s, %(key)s, %(fingerprint)s, %(status)s, %(body)s, %(header_names)s::text[],
        %(header_values)s::text[], %(created_at)s)
"""
PURGE_RECORDS = "DELETE FROM idempotency_records WHERE created_at < %(older_than)s"


def _record(row: tuple[Any, ...]) -> IdempotencyRecord:
    user_id, key, fingerprint, status, body, names, values, created = row
    return IdempotencyRecord(
        user_id=user_id,
        key=key,
        fingerprint=fingerprint,
        status=status,
        body=bytes(body),
        headers=tuple(zip(names, values, strict=True)),
        created_at=created,
    )


class PgIdempotencyStore(Repository):
    """Idempotency records in Postgres (IdempotencyStore)."""

    def claim(self, user_id: UUID, key: str, fingerprint: str) -> IdempotencyClaim:
        """Take ``(user_id, key)`` for this transaction, or report a stored record (REPLAY /
        MISMATCH) or another running transaction holding it (IN_PROGRESS). Never blocks; one
        round trip."""
        params = {"user_id": user_id, "key": key}
        locked, found = self._batch().run([(TRY_CLAIM, params), (SELECT_RECORD, params)])
        row = found.fetchone()
        if row is not None:
            record = _record(row)
            if record.fingerprint != fingerprint:
                return IdempotencyClaim(IdempotencyOutcome.MISMATCH, record)
            return IdempotencyClaim(IdempotencyOutcome.REPLAY, record)
        taken = locked.fetchone()
        if taken is not None and taken[0]:
            return IdempotencyClaim(IdempotencyOutcome.NEW)
        return IdempotencyClaim(IdempotencyOutcome.IN_PROGRESS)

    def complete(self, record: IdempotencyRecord) -> None:
        """Store the response for the key claimed in this transaction; AlreadyExists if a record
        is already stored (the transaction stays usable)."""
        self._batch().run(
            [
                (
                    INSERT_RECORD,
                    {
                        "user_id": record.user_id,
                        "key": record.key,
                        "fingerprint": record.fingerprint,
                        "status": record.status,
                        "body": record.body,
                        "header_names": [name for name, _ in record.headers],
                        "header_values": [value for _, value in record.headers],
                        "created_at": record.created_at,
                    },
                )
            ],
            atomic=True,
            values={"key": record.key},
        )

    def purge(self, older_than: datetime) -> int:
        """Delete records created before ``older_than``; returns how many."""
        (cursor,) = self._batch().run([(PURGE_RECORDS, {"older_than": older_than})])
        return cursor.rowcount
