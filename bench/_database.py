"""Throwaway databases for the benchmarks: made fresh for a run, dropped after it."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


def with_database(url: str, name: str) -> str:
    """``url`` naming database ``name`` instead."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def database_name(url: str) -> str:
    """The database ``url`` names."""
    return urlsplit(url).path.lstrip("/")


def admin_url(url: str) -> str:
    """The ``postgres`` database of ``url``'s cluster: where to create and drop others."""
    return with_database(url, "postgres")


def reset_database(url: str, *, admin: str | None = None) -> None:
    """Drop the database ``url`` names (connections and all) and create it empty, connected
    through ``admin`` (default: :func:`admin_url`)."""
    name = sql.Identifier(database_name(url))
    with psycopg.connect(admin or admin_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop_database(url: str, *, admin: str | None = None) -> None:
    """Drop the database ``url`` names (connections and all), if it exists."""
    name = sql.Identifier(database_name(url))
    with psycopg.connect(admin or admin_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
