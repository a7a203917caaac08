"""In-memory lots, and the per-lot and per-serial levels under the location levels."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from inventory_core.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    SerialConflict,
)
from inventory_core.lots import Lot, LotLevel, SerialLevel, Tracking
from inventory_core.memory.levels import next_on_hand
from inventory_core.ports import LotLevelQuery, LotQuery, SerialQuery
from inventory_core.stock import LotChange, SerialChange

if TYPE_CHECKING:
    from inventory_core.memory.store import InMemoryStore

__all__ = ["InMemoryLotRepository", "LotLevels"]

LotKey = tuple[UUID, UUID, UUID]
"""(item_id, location_id, lot_id)."""
SerialKey = tuple[UUID, str]
"""(item_id, serial)."""


class InMemoryLotRepository:
    """Lots, unique per (item, code)."""

    def __init__(self, store: InMemoryStore) -> None:
        self._s = store

    def add(self, lot: Lot) -> None:
        if (lot.item_id, lot.code) in self._s.lot_codes:
            raise AlreadyExists("lot", "code", lot.code)
        self._s.lots.put(lot.id, lot)
        self._s.lot_codes.put((lot.item_id, lot.code), lot.id)

    def get(self, lot_id: UUID) -> Lot | None:
        return self._s.lots.get(lot_id)

    def find(self, keys: Collection[tuple[UUID, str]]) -> dict[tuple[UUID, str], Lot]:
        found: dict[tuple[UUID, str], Lot] = {}
        for key in keys:
            lot_id = self._s.lot_codes.get(key)
            lot = None if lot_id is None else self._s.lots.get(lot_id)
            if lot is not None:
                found[key] = lot
        return found

    def list(self, query: LotQuery, *, after: UUID | None, limit: int) -> list[Lot]:
        def matches(lot: Lot) -> bool:
            if query.item_id is not None and lot.item_id != query.item_id:
                return False
            if query.expires_before is not None and not (
                lot.expires_on is not None and lot.expires_on < query.expires_before
            ):
                return False
            return after is None or lot.id > after

        return sorted(filter(matches, self._s.lots.values()), key=lambda lot: lot.id)[:limit]


class LotLevels:
    """The per-lot and per-serial levels, for the stock repository: checking a call's changes
    (:meth:`check_lots`, :meth:`check_serials`, :meth:`check_tracking`), writing them, reading
    them."""

    def __init__(self, store: InMemoryStore) -> None:
        self._s = store

    def check_lots(self, changes: Sequence[LotChange], *, holding: bool) -> dict[LotKey, int]:
        """The new levels of the stock-holding (or the virtual) lot rows the changes touch;
        raises what the location rows would, naming the lot."""
        deltas: dict[LotKey, int] = defaultdict(int)
        for change in changes:
            if change.holds_stock == holding:
                deltas[(change.item_id, change.location_id, change.lot_id)] += change.delta
        levels: dict[LotKey, int] = {}
        for key in sorted(deltas):
            item_id, location_id, lot_id = key
            levels[key] = next_on_hand(
                self._s.lot_levels.get(key) or 0,
                deltas[key],
                holding=holding,
                item_id=item_id,
                location_id=location_id,
                lot_id=lot_id,
            )
        return levels

    def check_serials(self, changes: Sequence[SerialChange]) -> dict[SerialKey, UUID | None]:
        """Where the serials end up; SerialConflict for one not where a change says it is.
        Several changes of one serial apply in the order given."""
        places: dict[SerialKey, UUID | None] = {}
        for change in sorted(changes, key=lambda c: (c.item_id, c.serial)):
            key = (change.item_id, change.serial)
            now = places[key] if key in places else self._s.serials.get(key)
            if now != change.from_location_id:
                raise SerialConflict(item_id=change.item_id, serial=change.serial, location_id=now)
            places[key] = change.to_location_id
        return places

    def check_tracking(
        self, tracking: Mapping[UUID, Tracking] | None, raised: Collection[UUID]
    ) -> None:
        """ConcurrencyConflict when an item whose stock the call raises has another tracking
        than the one its lines were judged by."""
        for item_id in sorted(raised):
            item = self._s.items.get(item_id)
            expected = (tracking or {}).get(item_id)
            if item is not None and expected is not None and item.tracking is not expected:
                raise ConcurrencyConflict(f"the tracking of item {item_id} changed meanwhile")

    def write(self, lots: Mapping[LotKey, int], serials: Mapping[SerialKey, UUID | None]) -> None:
        for key, level in lots.items():
            self._s.lot_levels.put(key, level)
        for serial_key, location in serials.items():
            self._s.serials.put(serial_key, location)

    def lot_levels(self, query: LotLevelQuery) -> list[LotLevel]:
        rows: list[LotLevel] = []
        for (item_id, location_id, lot_id), on_hand in self._s.lot_levels.items():
            if on_hand == 0:
                continue
            if query.item_id is not None and item_id != query.item_id:
                continue
            if query.lot_id is not None and lot_id != query.lot_id:
                continue
            location = self._s.locations.get(location_id)
            lot = self._s.lots.get(lot_id)
            if location is None or location.warehouse_id is None or lot is None:
                continue  # a virtual location
            if query.warehouse_id is not None and location.warehouse_id != query.warehouse_id:
                continue
            rows.append(
                LotLevel(
                    lot_id, lot.code, lot.expires_on, location_id, location.warehouse_id, on_hand
                )
            )
        return sorted(rows, key=lambda r: (r.lot_id, r.location_id))

    def serial_levels(self, query: SerialQuery) -> list[SerialLevel]:
        rows: list[SerialLevel] = []
        for (item_id, serial), location_id in self._s.serials.items():
            if item_id != query.item_id or location_id is None:
                continue
            if query.location_id is not None and location_id != query.location_id:
                continue
            level = self.serial(item_id, serial)
            assert level is not None
            if query.warehouse_id is not None and level.warehouse_id != query.warehouse_id:
                continue
            rows.append(level)
        return sorted(rows, key=lambda r: r.serial)

    def serial(self, item_id: UUID, serial: str) -> SerialLevel | None:
        key = (item_id, serial)
        if key not in self._s.serials:
            return None
        location_id = self._s.serials.get(key)
        location = None if location_id is None else self._s.locations.get(location_id)
        return SerialLevel(serial, location_id, location.warehouse_id if location else None)
