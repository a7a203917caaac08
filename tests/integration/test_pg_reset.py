"""``reset_database`` keeps a reused test database fast: it vacuums once resets have left many
dead rows, because autovacuum may be off (it is on the CI machine)."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from inventory_pg import testing
from inventory_pg.migrate import apply_migrations

pytestmark = pytest.mark.postgres

DEAD_ROWS_OF_LOCATIONS = (
    "SELECT n_dead_tup, vacuum_count FROM pg_stat_user_tables WHERE relname = 'locations'"
)


def _dead_rows_and_vacuums(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    row = conn.execute(DEAD_ROWS_OF_LOCATIONS).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_a_reset_vacuums_a_database_full_of_dead_rows(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_migrations(database_url)
    monkeypatch.setattr(testing, "VACUUM_AFTER_DEAD_ROWS", 300)
    with psycopg.connect(database_url, autocommit=True) as conn:
        testing.reset_database(conn)
        _, vacuums_before = _dead_rows_and_vacuums(conn)
        with conn.transaction():
            for _ in range(200):  # 3 virtual locations: 600 dead row versions
                conn.execute("UPDATE locations SET name = name")
        # This backend's counts reach the shared statistics when it goes idle.
        conn.execute("SELECT pg_stat_force_next_flush()")
        deadline = time.monotonic() + 30
        while _dead_rows_and_vacuums(conn)[0] < 300:
            assert time.monotonic() < deadline, "the dead rows never reached the statistics"
            time.sleep(0.05)

        testing.reset_database(conn)

        dead, vacuums = _dead_rows_and_vacuums(conn)
        assert vacuums == vacuums_before + 1
        assert dead < 300


def test_a_reset_inside_a_transaction_leaves_vacuum_for_later(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_migrations(database_url)
    monkeypatch.setattr(testing, "VACUUM_AFTER_DEAD_ROWS", 0)
    with psycopg.connect(database_url) as conn:
        _, vacuums_before = _dead_rows_and_vacuums(conn)
        conn.rollback()
        with conn.transaction():
            testing.reset_database(conn)  # VACUUM cannot run here: no error, no vacuum
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert _dead_rows_and_vacuums(conn)[1] == vacuums_before
