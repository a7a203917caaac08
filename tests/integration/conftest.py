"""Postgres fixtures for the integration tests (``database_url`` comes from tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from inventory_pg import PgStore
from inventory_pg.testing import open_test_store, reset_database


@pytest.fixture(scope="session")
def pg_store(database_url: str) -> Iterator[PgStore]:
    """A store on the migrated test database, shared by the session's tests."""
    store = open_test_store(database_url, max_size=16)
    yield store
    store.close()


@pytest.fixture
def pg(pg_store: PgStore) -> PgStore:
    """The shared store on an emptied database (only the virtual locations)."""
    reset_database(pg_store)
    return pg_store


def with_search_path(url: str, schema: str) -> str:
    """``url`` with its search_path set to ``schema``."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@pytest.fixture
def empty_schema(database_url: str) -> Iterator[str]:
    """A URL whose search_path is a new, empty schema (dropped afterwards): a fresh database
    for the migrations without needing the CREATEDB privilege."""
    schema = f"migration_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield with_search_path(database_url, schema)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
