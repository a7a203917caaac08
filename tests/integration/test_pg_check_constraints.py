"""Every CHECK constraint of the schema refuses the row it exists to refuse.

Each case writes one row, valid but for one column, straight into the table (no adapter in
between) and expects that constraint's violation by name. A last test compares the cases with the
catalog, so a CHECK added by a migration without a case here fails, and so does a case whose
CHECK a migration dropped: removing a constraint cannot go unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import sql

from inventory_core.locations import SUPPLIER_LOCATION_ID
from inventory_pg.migrate import apply_migrations

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MOVEMENT_ID = UUID("00000000-0000-7000-8000-0000000000aa")
USER_ID = UUID("00000000-0000-7000-8000-0000000000bb")
WEBHOOK_ID = UUID("00000000-0000-7000-8000-0000000000cc")
EVENT_ID = UUID("00000000-0000-7000-8000-0000000000dd")
ITEM_ID = UUID("00000000-0000-7000-8000-0000000000ee")
LOT_ID = UUID("00000000-0000-7000-8000-0000000000ef")


def _valid_rows() -> dict[str, dict[str, Any]]:
    """One acceptable row per table: each case changes one column of one of them."""
    return {
        "items": {
            "id": uuid4(),
            "sku": f"CHECK-{uuid4().hex[:8]}",
            "name": "n",
            "unit": "each",
            "reorder_point": 1,
            "reorder_quantity": 1,
            "active": True,
            "version": 1,
            "created_at": NOW,
            "updated_at": NOW,
        },
        "locations": {
            "id": uuid4(),
            "code": f"CHECK-{uuid4().hex[:8]}",
            "name": "n",
            "kind": "warehouse",
            "parent_id": None,
            "ancestor_ids": [],
            "active": True,
            "version": 1,
            "created_at": NOW,
            "updated_at": NOW,
        },
        "users": {
            "id": uuid4(),
            "username": f"check-{uuid4().hex[:8]}",
            "role": "clerk",
            "password_hash": "x",
            "active": True,
            "version": 1,
            "created_at": NOW,
            "updated_at": NOW,
        },
        "reservations": {
            "id": uuid4(),
            "item_id": uuid4(),
            "warehouse_id": uuid4(),
            "quantity": 1,
            "status": "active",
            "actor_id": uuid4(),
            "created_at": NOW,
            "updated_at": NOW,
        },
        "movements": {
            "id": uuid4(),
            "seq": 10**15 + uuid4().int % 10**15,  # clear of what other tests left
            "txn": "1",
            "kind": "receipt",
            "reason": None,
            "actor_id": uuid4(),
            "occurred_at": NOW,
            "recorded_at": NOW,
            "reverses_id": None,
        },
        "movement_lines": {
            "movement_id": MOVEMENT_ID,
            "line_no": 0,
            "seq": 1,
            "txn": "1",
            "item_id": uuid4(),
            "quantity": 1,
            "from_location_id": SUPPLIER_LOCATION_ID,
            "to_location_id": uuid4(),
        },
        "location_stock": {
            "item_id": uuid4(),
            "location_id": uuid4(),
            "holds_stock": True,
            "on_hand": 0,
        },
        "lots": {"id": LOT_ID, "item_id": ITEM_ID, "code": "L1", "expires_on": None},
        "lot_stock": {
            "item_id": ITEM_ID,
            "location_id": uuid4(),
            "lot_id": LOT_ID,
            "holds_stock": True,
            "on_hand": 0,
        },
        "warehouse_stock": {
            "item_id": uuid4(),
            "warehouse_id": uuid4(),
            "on_hand": 0,
            "reserved": 0,
        },
        "feed_txn_offset": {"only_row": True, "txn_offset": 0},
        "api_tokens": {
            "id": uuid4(),
            "user_id": USER_ID,
            "name": "n",
            "role": "clerk",
            "digest": uuid4().hex * 2,  # 64 hex digits, like a SHA-256
            "created_at": NOW,
            "expires_at": None,
            "last_used_at": None,
        },
        "webhooks": {
            "id": uuid4(),
            "url": "https://hooks.example.com/inventory",
            "types": ["item.created", "stock.below_reorder"],
            "secret": "whsec_" + "A" * 43 + "=",
            "description": "d",
            "active": True,
            "deactivated_reason": None,
            "version": 1,
            "created_at": NOW,
            "updated_at": NOW,
        },
        "events": {
            "seq": 10**15 + uuid4().int % 10**15,  # clear of what other tests left
            "txn": "1",
            "id": EVENT_ID,
            "type": "item.created",
            "occurred_at": NOW,
            "data": "{}",
        },
        "webhook_deliveries": {
            "id": uuid4(),
            "webhook_id": WEBHOOK_ID,
            "event_id": EVENT_ID,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": NOW,
            "lease": None,
            "lease_until": None,
            "created_at": NOW,
            "finished_at": None,
        },
        "webhook_attempts": {
            "id": uuid4(),
            "webhook_id": WEBHOOK_ID,
            "event_id": EVENT_ID,
            "event_type": "item.created",
            "attempt": 1,
            "attempted_at": NOW,
            "status_code": 500,
            "error": None,
            "duration_ms": 0,
            "next_attempt_at": NOW,
        },
        "idempotency_records": {
            "user_id": uuid4(),
            "key": "k",
            "fingerprint": "f",
            "status": 201,
            "body": b"{}",
            "header_names": ["a"],
            "header_values": ["b"],
            "created_at": NOW,
        },
    }


# (constraint, table, the columns that break it and only it)
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("items_reorder_point_check", "items", {"reorder_point": -1}),
    ("items_reorder_quantity_check", "items", {"reorder_quantity": 0}),
    ("items_version_check", "items", {"version": 0}),
    ("locations_kind_check", "locations", {"kind": "shelf"}),
    ("locations_version_check", "locations", {"version": 0}),
    ("locations_parent_check", "locations", {"parent_id": SUPPLIER_LOCATION_ID}),
    (
        "locations_path_check",
        "locations",
        {"kind": "internal", "parent_id": SUPPLIER_LOCATION_ID, "ancestor_ids": []},
    ),
    ("users_role_check", "users", {"role": "owner"}),
    ("users_version_check", "users", {"version": 0}),
    ("reservations_quantity_check", "reservations", {"quantity": 0}),
    ("reservations_quantity_check", "reservations", {"quantity": 10**12 + 1}),
    ("reservations_status_check", "reservations", {"status": "pending"}),
    ("movements_seq_check", "movements", {"seq": 0}),
    ("movements_kind_check", "movements", {"kind": "theft"}),
    ("movements_reason_check", "movements", {"kind": "adjustment", "reason": "whim"}),
    ("movements_adjustment_reason_check", "movements", {"kind": "adjustment"}),
    ("movements_adjustment_reason_check", "movements", {"reason": "count"}),
    ("movements_reversal_check", "movements", {"kind": "reversal"}),
    ("movement_lines_quantity_check", "movement_lines", {"quantity": 0}),
    ("movement_lines_quantity_check", "movement_lines", {"quantity": 10**12 + 1}),
    (
        "movement_lines_sides_check",
        "movement_lines",
        {"to_location_id": SUPPLIER_LOCATION_ID},
    ),
    ("location_stock_on_hand_check", "location_stock", {"on_hand": -1}),
    # Lots and serials (migration 0007).
    ("items_tracking_check", "items", {"tracking": "bogus"}),
    ("lot_stock_on_hand_check", "lot_stock", {"on_hand": -1}),
    ("lot_stock_on_hand_limit_check", "lot_stock", {"on_hand": 2**53}),
    ("warehouse_stock_on_hand_check", "warehouse_stock", {"on_hand": -1}),
    ("warehouse_stock_reserved_check", "warehouse_stock", {"reserved": -1}),
    # JSON-safe levels (migration 0003): within 2^53 - 1 in magnitude, virtual ones both ways.
    ("location_stock_on_hand_limit_check", "location_stock", {"on_hand": 2**53}),
    (
        "location_stock_on_hand_limit_check",
        "location_stock",
        {"holds_stock": False, "on_hand": -(2**53)},
    ),
    ("warehouse_stock_on_hand_limit_check", "warehouse_stock", {"on_hand": 2**53}),
    ("warehouse_stock_reserved_limit_check", "warehouse_stock", {"reserved": 2**53}),
    ("idempotency_records_status_check", "idempotency_records", {"status": 99}),
    ("idempotency_records_headers_check", "idempotency_records", {"header_values": []}),
    ("feed_txn_offset_txn_offset_check", "feed_txn_offset", {"txn_offset": -1}),
    # API tokens (migration 0004).
    ("api_tokens_name_check", "api_tokens", {"name": ""}),
    ("api_tokens_name_check", "api_tokens", {"name": "x" * 101}),
    ("api_tokens_role_check", "api_tokens", {"role": "owner"}),
    # Only a SHA-256 is ever stored, never the secret itself.
    ("api_tokens_digest_check", "api_tokens", {"digest": "inv_" + "a" * 43}),
    ("api_tokens_digest_check", "api_tokens", {"digest": "A" * 64}),
    # Webhooks (migration 0006).
    ("webhooks_url_check", "webhooks", {"url": ""}),
    ("webhooks_url_check", "webhooks", {"url": "ftp://files.example.com/"}),
    ("webhooks_url_check", "webhooks", {"url": "https://hooks.example.com/" + "a" * 1975}),
    ("webhooks_types_check", "webhooks", {"types": []}),
    ("webhooks_types_check", "webhooks", {"types": ["item.deleted"]}),
    ("webhooks_types_check", "webhooks", {"types": ["item.created", None]}),
    # Only a secret of the shape signing makes: never, say, an API token.
    ("webhooks_secret_check", "webhooks", {"secret": "inv_" + "a" * 43}),
    ("webhooks_description_check", "webhooks", {"description": "d" * 501}),
    ("webhooks_description_check", "webhooks", {"description": "bell\x07"}),
    ("webhooks_deactivated_reason_check", "webhooks", {"deactivated_reason": "failing"}),
    ("webhooks_version_check", "webhooks", {"version": 0}),
    (
        "webhook_deliveries_status_check",
        "webhook_deliveries",
        {"status": "sent", "next_attempt_at": None, "finished_at": NOW},
    ),
    ("webhook_deliveries_attempts_check", "webhook_deliveries", {"attempts": -1}),
    # Pending means due some time and not finished; delivered or failed, the opposite.
    ("webhook_deliveries_pending_check", "webhook_deliveries", {"next_attempt_at": None}),
    ("webhook_deliveries_pending_check", "webhook_deliveries", {"finished_at": NOW}),
    ("webhook_deliveries_pending_check", "webhook_deliveries", {"status": "delivered"}),
    (
        "webhook_deliveries_pending_check",
        "webhook_deliveries",
        {"status": "failed", "next_attempt_at": None},
    ),
    ("webhook_deliveries_lease_check", "webhook_deliveries", {"lease": uuid4()}),
    ("webhook_deliveries_lease_check", "webhook_deliveries", {"lease_until": NOW}),
    ("webhook_attempts_attempt_check", "webhook_attempts", {"attempt": 0}),
    ("webhook_attempts_status_code_check", "webhook_attempts", {"status_code": 99}),
    ("webhook_attempts_status_code_check", "webhook_attempts", {"status_code": 1000}),
    ("webhook_attempts_duration_ms_check", "webhook_attempts", {"duration_ms": -1}),
]
# Held by the table's shape rather than by a row a client could send: one-row tables.
NOT_ROW_CHECKS = {
    "feed_txn_offset_only_row_check",
    "event_feed_purged_only_row_check",
    "webhook_dispatch_position_only_row_check",
}


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    apply_migrations(database_url)
    with psycopg.connect(database_url) as connection:
        yield connection


def _insert(conn: psycopg.Connection[Any], table: str, row: dict[str, Any]) -> None:
    conn.execute(
        sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, row)),
            sql.SQL(", ").join(sql.Placeholder() * len(row)),
        ),
        list(row.values()),
    )


@pytest.mark.parametrize(
    ("constraint", "table", "changes"),
    CASES,
    ids=[f"{constraint}-{sorted(changes)}" for constraint, _, changes in CASES],
)
def test_the_check_refuses_its_bad_row(
    conn: psycopg.Connection[Any], constraint: str, table: str, changes: dict[str, Any]
) -> None:
    rows = _valid_rows()
    try:
        with conn.transaction():
            # The unchanged row goes in: the case below fails for its one column alone.
            if table == "movement_lines":
                _insert(conn, "movements", {**rows["movements"], "id": MOVEMENT_ID})
            if table == "api_tokens":
                _insert(conn, "users", {**rows["users"], "id": USER_ID})
            if table in ("webhook_deliveries", "webhook_attempts"):
                _insert(conn, "webhooks", {**rows["webhooks"], "id": WEBHOOK_ID})
                _insert(conn, "events", rows["events"])
            if table == "lot_stock":  # its lot, and that lot's item, must exist
                _insert(conn, "items", {**rows["items"], "id": ITEM_ID})
                _insert(conn, "lots", rows["lots"])
            if table == "feed_txn_offset":
                conn.execute("DELETE FROM feed_txn_offset")  # its one row, back at the end
            _insert(conn, table, rows[table])
            second = _valid_rows()[table]
            if table == "movement_lines":
                second["line_no"] = 1
            if table == "lot_stock":
                second["location_id"] = uuid4()
            with pytest.raises(psycopg.errors.CheckViolation) as raised, conn.transaction():
                _insert(conn, table, {**second, **changes})
            assert raised.value.diag.constraint_name == constraint
            raise _RollBack
    except _RollBack:
        pass


class _RollBack(Exception):
    """Leaves nothing behind: every case runs in a transaction rolled back at its end."""


def test_every_check_of_the_schema_has_a_case(conn: psycopg.Connection[Any]) -> None:
    declared = {
        row[0]
        for row in conn.execute(
            "SELECT conname FROM pg_constraint"
            " WHERE contype = 'c' AND connamespace = 'public'::regnamespace"
        )
    }
    conn.rollback()
    tested = {constraint for constraint, _, _ in CASES} | NOT_ROW_CHECKS
    assert declared == tested
