"""Fast parameter adaptation for the arrays the adapter sends on every movement.

psycopg's generic list dumper inspects the elements of every list to choose an array type,
which costs more client time than the rest of a small query. The adapter knows its arrays'
types, so it wraps them in these marker types, whose dumpers write the array literal directly
under a fixed type OID. :func:`inventory_pg.configure_connection` registers them; on a
connection without them psycopg falls back to its generic list dumper (they are lists), which
gives the same result, more slowly.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg.adapt import Dumper
from psycopg.postgres import types

__all__ = ["BigintArray", "UuidArray", "register_array_dumpers"]


class UuidArray(list[UUID]):
    """A list of UUIDs sent as ``uuid[]``."""


class BigintArray(list[int]):
    """A list of ints sent as ``bigint[]``."""


class _UuidArrayDumper(Dumper):
    oid = types["uuid"].array_oid

    def dump(self, obj: Any) -> bytes:
        # UUIDs print as hex and dashes only: nothing in an array literal needs quoting.
        return ("{" + ",".join(map(str, obj)) + "}").encode()


class _BigintArrayDumper(Dumper):
    oid = types["int8"].array_oid

    def dump(self, obj: Any) -> bytes:
        return ("{" + ",".join(map(str, map(int, obj))) + "}").encode()


def register_array_dumpers(conn: psycopg.Connection[Any]) -> None:
    """Register the fast array dumpers on one connection."""
    conn.adapters.register_dumper(UuidArray, _UuidArrayDumper)
    conn.adapters.register_dumper(BigintArray, _BigintArrayDumper)
