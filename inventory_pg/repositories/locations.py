"""Locations: warehouse trees with a materialized path, plus the three virtual locations."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from inventory_core.errors import NotFound, VersionMismatch
from inventory_core.locations import Location
from inventory_core.ports import LocationQuery
from inventory_pg._adapt import UuidArray
from inventory_pg.repositories._base import Repository

__all__ = ["PgLocationRepository"]

_COLUMNS = """
    id, code, name, kind, parent_id, ancestor_ids, active, version, created_at, updated_at
"""

SELECT_LOCATION = "SELECT" + _COLUMNS + "FROM locations WHERE id = %(id)s"
SELECT_LOCATIONS = "SELECT" + _COLUMNS + "FROM locations WHERE id = ANY(%(ids)s::uuid[])"
SELECT_VERSION = "SELECT version FROM locations WHERE id = %(id)s"

# ``warehouse_id`` (a generated column: the location itself for a warehouse, ancestor_ids[1] for
# an internal location) selects a warehouse's whole tree with one index lookup.
LIST_LOCATIONS = (
    "SELECT"
    + _COLUMNS
    + """FROM locations
WHERE (%(after)s::uuid IS NULL OR id > %(after)s::uuid)
  AND (%(parent_id)s::uuid IS NULL OR parent_id = %(parent_id)s::uuid)
  AND (%(kind)s::text IS NULL OR kind = %(kind)s::text)
  AND (%(warehouse_id)s::uuid IS NULL OR warehouse_id = %(warehouse_id)s::uuid)
ORDER BY id
LIMIT %(limit)s"""
)

INSERT_LOCATION = """
INSERT INTO locations (id, code, name, kind, parent_id, ancestor_ids, active, version,
                       created_at, updated_at)
VALUES (%(id)s, %(code)s, %(name)s, %(kind)s, %(parent_id)s, %(ancestor_ids)s::uuid[],
        %(active)s, %(version)s, %(created_at)s, %(updated_at)s)
"""

# One statement: the location and, when its path changed, every descendant's path -- the part
# above the moved location is replaced, the part from it downwards kept. Nothing changes on a
# version mismatch.
UPDATE_LOCATION = """
WITH updated AS (
    UPDATE locations
    SET code = %(code)s, name = %(name)s, parent_id = %(parent_id)s,
        ancestor_ids = %(ancestor_ids)s::uuid[], active = %(active)s, version = %(version)s,
        updated_at = %(updated_at)s
    WHERE id = %(id)s AND version = %(version)s::bigint - 1
    RETURNING id
), moved AS (
    UPDATE locations d
    SET ancestor_ids = %(ancestor_ids)s::uuid[]
                       || d.ancestor_ids[array_position(d.ancestor_ids, updated.id):]
    FROM updated
    WHERE d.ancestor_ids @> ARRAY[updated.id]
      AND d.ancestor_ids[:array_position(d.ancestor_ids, updated.id) - 1]
          IS DISTINCT FROM %(ancestor_ids)s::uuid[]
    RETURNING d.id
)
SELECT count(*) FROM updated
"""


def _params(location: Location) -> dict[str, Any]:
    return {
        "id": location.id,
        "code": location.code,
        "name": location.name,
        "kind": location.kind.value,
        "parent_id": location.parent_id,
        "ancestor_ids": list(location.ancestor_ids),
        "active": location.active,
        "version": location.version,
        "created_at": location.created_at,
        "updated_at": location.updated_at,
    }


def _location(row: tuple[Any, ...]) -> Location:
    id_, code, name, kind, parent_id, ancestors, active, version, created, updated = row
    return Location(
        id=id_,
        code=code,
        name=name,
        kind=kind,
        parent_id=parent_id,
        ancestor_ids=ancestors,
        active=active,
        version=version,
        created_at=created,
        updated_at=updated,
    )


class PgLocationRepository(Repository):
    """Locations in Postgres (LocationRepository)."""

    def add(self, location: Location) -> None:
        """Store a new location; AlreadyExists(field="id" | "code") changes nothing."""
        self._batch().run(
            [(INSERT_LOCATION, _params(location))],
            atomic=True,
            values={"id": location.id, "code": location.code},
        )

    def get(self, location_id: UUID) -> Location | None:
        """The location, or None."""
        rows = self._rows(SELECT_LOCATION, {"id": location_id})
        return _location(rows[0]) if rows else None

    def get_many(self, location_ids: Collection[UUID]) -> dict[UUID, Location]:
        """The locations that exist among ``location_ids``."""
        if not location_ids:
            return {}
        rows = self._rows(SELECT_LOCATIONS, {"ids": UuidArray(location_ids)})
        return {row[0]: _location(row) for row in rows}

    def update(self, location: Location) -> None:
        """Replace a location (version rule as for items) and rewrite its descendants' paths
        when its own changed. A failure changes nothing."""
        (cursor,) = self._batch().run(
            [(UPDATE_LOCATION, _params(location))], atomic=True, values={"code": location.code}
        )
        row = cursor.fetchone()
        if row and row[0]:
            return
        found = self._rows(SELECT_VERSION, {"id": location.id})
        if not found:
            raise NotFound("location", location.id)
        raise VersionMismatch(
            "location", location.id, expected=location.version - 1, actual=found[0][0]
        )

    def list(self, query: LocationQuery, *, after: UUID | None, limit: int) -> list[Location]:
        """Ascending id; ``warehouse_id`` selects the warehouse and its whole tree."""
        rows = self._rows(
            LIST_LOCATIONS,
            {
                "after": after,
                "parent_id": query.parent_id,
                "kind": query.kind.value if query.kind is not None else None,
                "warehouse_id": query.warehouse_id,
                "limit": limit,
            },
        )
        return [_location(row) for row in rows]
