"""Readings for monitoring: how far behind the newest movement the ledger is."""

from __future__ import annotations

from datetime import datetime

import psycopg

from inventory_core.errors import Unavailable
from inventory_pg.uow import PgStore

__all__ = ["NEWEST_RECORDED_AT", "newest_recorded_at"]

# The highest seq is the newest movement near enough (seqs grow as movements are appended), and
# the seq index answers it without a scan of a ledger of any size.
NEWEST_RECORDED_AT = "SELECT recorded_at FROM movements ORDER BY seq DESC LIMIT 1"


def newest_recorded_at(store: PgStore) -> datetime | None:
    """When the newest movement was recorded (``None`` for an empty ledger)."""
    try:
        with store.pool.connection() as conn:
            row = conn.execute(NEWEST_RECORDED_AT).fetchone()
    except psycopg.Error as exc:
        raise Unavailable(f"the database is unavailable: {exc}".strip()) from exc
    return None if row is None else row[0]
