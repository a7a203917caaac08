"""Migrations on a real server: applied once, recorded, safe to run concurrently, and the
schema they build holds what the domain needs (virtual locations, an append-only ledger)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import LiteralString

import psycopg
import pytest

from inventory_core.errors import InvalidOperation, Unavailable
from inventory_core.locations import virtual_locations
from inventory_pg import (
    MigrationError,
    applied_migrations,
    apply_migrations,
    available_migrations,
    translate,
)

pytestmark = pytest.mark.postgres


def test_migrations_apply_once_and_rerun_is_a_no_op(empty_schema: str) -> None:
    assert applied_migrations(empty_schema) == []
    names = [m.name for m in available_migrations()]
    assert names[0] == "0001_initial"
    assert apply_migrations(empty_schema) == names
    assert apply_migrations(empty_schema) == []
    assert applied_migrations(empty_schema) == names


def test_concurrent_runs_apply_each_migration_exactly_once(empty_schema: str) -> None:
    runners = 6
    barrier = threading.Barrier(runners)
    results: list[object] = [None] * runners

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = apply_migrations(empty_schema)
        except Exception as exc:  # judged below
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(runners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(len(r) for r in results if isinstance(r, list)) == [0] * (runners - 1) + [
        len(available_migrations())
    ]
    with psycopg.connect(empty_schema) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
    assert [r[0] for r in rows] == [m.version for m in available_migrations()]


def test_an_edited_applied_migration_is_refused(empty_schema: str) -> None:
    apply_migrations(empty_schema)
    with psycopg.connect(empty_schema, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        with pytest.raises(MigrationError, match="has changed"):
            apply_migrations(conn)


def test_a_connection_inside_a_transaction_is_migrated_within_it(empty_schema: str) -> None:
    with psycopg.connect(empty_schema) as conn:
        conn.execute("SELECT 1")  # a transaction is open now
        assert apply_migrations(conn) == [m.name for m in available_migrations()]
        conn.rollback()
        assert applied_migrations(conn) == []


def test_migrations_seed_the_virtual_locations(empty_schema: str) -> None:
    apply_migrations(empty_schema)
    with psycopg.connect(empty_schema) as conn:
        rows = conn.execute(
            "SELECT id, code, name, kind, parent_id, ancestor_ids, holds_stock FROM locations"
        ).fetchall()
    expected = {
        (loc.id, loc.code, loc.name, loc.kind.value, None, (), False)
        for loc in virtual_locations(datetime.now(UTC))
    }
    assert {(*r[:5], tuple(r[5]), r[6]) for r in rows} == expected


def test_the_ledger_refuses_updates_and_deletes(empty_schema: str) -> None:
    apply_migrations(empty_schema)
    now = datetime.now(UTC)
    movement = uuid.uuid4()
    with psycopg.connect(empty_schema, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO movements (id, seq, txn, kind, actor_id, occurred_at, recorded_at)"
            " VALUES (%s, 1, inventory_feed_txn(), 'receipt', %s, %s, %s)",
            (movement, uuid.uuid4(), now, now),
        )
        statements: tuple[LiteralString, ...] = (
            "UPDATE movements SET note = 'edited'",
            "DELETE FROM movements",
        )
        for statement in statements:
            with pytest.raises(psycopg.errors.RestrictViolation) as refused:
                conn.execute(statement)
            assert isinstance(translate(refused.value), InvalidOperation)
        count = conn.execute("SELECT count(*) FROM movements").fetchone()
    assert count == (1,)


def test_an_unreachable_server_is_unavailable() -> None:
    with pytest.raises(Unavailable):
        apply_migrations("postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2")


def test_api_tokens_have_unique_digests_and_go_with_their_user(empty_schema: str) -> None:
    apply_migrations(empty_schema)
    now = datetime.now(UTC)
    user = uuid.uuid4()
    insert_token = (
        "INSERT INTO api_tokens (id, user_id, name, role, digest, created_at)"
        " VALUES (%s, %s, 'ci', 'clerk', %s, %s)"
    )
    with psycopg.connect(empty_schema, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (id, username, role, password_hash, active, version, created_at,"
            " updated_at) VALUES (%s, 'integrator', 'clerk', 'x', true, 1, %s, %s)",
            (user, now, now),
        )
        conn.execute(insert_token, (uuid.uuid4(), user, "a" * 64, now))
        with pytest.raises(psycopg.errors.UniqueViolation) as duplicate:
            conn.execute(insert_token, (uuid.uuid4(), user, "a" * 64, now))
        assert duplicate.value.diag.constraint_name == "api_tokens_digest_key"
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(insert_token, (uuid.uuid4(), uuid.uuid4(), "b" * 64, now))
        conn.execute("DELETE FROM users WHERE id = %s", (user,))
        count = conn.execute("SELECT count(*) FROM api_tokens").fetchone()
    assert count == (0,)
