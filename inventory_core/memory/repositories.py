"""In-memory repositories. They run inside an InMemoryUnitOfWork, which holds the store's lock,
so each method can read and write the tables without further locking."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import attrs

from inventory_core.errors import (
    AlreadyExists,
    InsufficientStock,
    InvalidOperation,
    NotFound,
    VersionMismatch,
)
from inventory_core.events import Event, EventQuery
from inventory_core.feed import FEED_START, FeedPosition
from inventory_core.idempotency import IdempotencyClaim, IdempotencyOutcome, IdempotencyRecord
from inventory_core.items import Item
from inventory_core.locations import Location
from inventory_core.lots import LotLevel, SerialLevel, Tracking
from inventory_core.memory.levels import check_limit, next_on_hand
from inventory_core.memory.lots import LotLevels
from inventory_core.movements import Movement, Posted
from inventory_core.ports import (
    ItemQuery,
    LocationQuery,
    LocationStockQuery,
    LotLevelQuery,
    MovementQuery,
    ReservationQuery,
    SerialQuery,
    StockKey,
    WarehouseStockQuery,
)
from inventory_core.reservations import Reservation, ReservationStatus
from inventory_core.stock import (
    ItemLevels,
    LocationChange,
    LocationStock,
    LotChange,
    SerialChange,
    WarehouseChange,
    WarehouseStock,
)
from inventory_core.tokens import ApiToken
from inventory_core.users import User

if TYPE_CHECKING:
    from inventory_core.memory.store import InMemoryStore

T = TypeVar("T")
K = TypeVar("K")


def _page(rows: Iterable[T], key: Callable[[T], Any], after: Any, limit: int | None) -> list[T]:
    ordered = sorted(rows, key=key)
    if after is not None:
        ordered = [row for row in ordered if key(row) > after]
    return ordered if limit is None else ordered[:limit]


def _check_version(entity: str, key: UUID, stored: int | None, new: int) -> None:
    if stored is None:
        raise NotFound(entity, key)
    if new != stored + 1:
        raise VersionMismatch(entity, key, expected=new - 1, actual=stored)


class InMemoryItemRepository:
    """Items in an InMemoryStore."""

    def __init__(self, store: InMemoryStore) -> None:
        self._s = store

    def _check_unique(self, item: Item) -> None:
        owner = self._s.skus.get(item.sku)
        if owner is not None and owner != item.id:
            raise AlreadyExists("item", "sku", item.sku)
        for barcode in item.barcodes:
            owner = self._s.barcodes.get(barcode)
            if owner is not None and owner != item.id:
                raise AlreadyExists("item", "barcode", barcode)

    def _index(self, item: Item) -> None:
        self._s.skus.put(item.sku, item.id)
        for barcode in item.barcodes:
            self._s.barcodes.put(barcode, item.id)

    def add(self, item: Item) -> None:
        if item.id in self._s.items:
            raise AlreadyExists("item", "id", item.id)
        self._check_unique(item)
        self._s.items.put(item.id, item)
        self._index(item)

    def get(self, item_id: UUID) -> Item | None:
        return self._s.items.get(item_id)

    def get_many(self, item_ids: Collection[UUID]) -> dict[UUID, Item]:
        return {i: item for i in item_ids if (item := self._s.items.get(i)) is not None}

    def update(self, item: Item) -> None:
        old = self._s.items.get(item.id)
        _check_version("item", item.id, old.version if old else None, item.version)
        assert old is not None
        self._check_unique(item)
        self._s.skus.delete(old.sku)
        for barcode in old.barcodes:
            self._s.barcodes.delete(barcode)
        self._s.items.put(item.id, item)
        self._index(item)

    def list(self, query: ItemQuery, *, after: UUID | None, limit: int) -> list[Item]:
        text = query.text.casefold() if query.text else None

        def matches(item: Item) -> bool:
            return (
                (query.sku is None or item.sku == query.sku)
                and (query.barcode is None or query.barcode in item.barcodes)
                and (query.active is None or item.active == query.active)
                and (text is None or text in item.sku.casefold() or text in item.name.casefold())
            )

        return _page(filter(matches, self._s.items.values()), lambda i: i.id, after, limit)


class InMemoryLocationRepository:
    """Locations in an InMemoryStore (the virtual ones are seeded by the store)."""

    def __init__(self, store: InMemoryStore) -> None:
        self._s = store

    def add(self, location: Location) -> None:
        if location.id in self._s.locations:
            raise AlreadyExists("location", "id", location.id)
        if location.code in self._s.location_codes:
            raise AlreadyExists("location", "code", location.code)
        self._s.locations.put(location.id, location)
        self._s.location_codes.put(location.code, location.id)

    def get(self, location_id: UUID) -> Location | None:
        return self._s.locations.get(location_id)

    def get_many(self, location_ids: Collection[UUID]) -> dict[UUID, Location]:
        return {i: loc for i in location_ids if (loc := self._s.locations.get(i)) is not None}

    def update(self, location: Location) -> None:
        old = self._s.locations.get(location.id)
        _check_version("location", location.id, old.version if old else None, location.version)
        assert old is not None
        owner = self._s.location_codes.get(location.code)
        if owner is not None and owner != location.id:
            raise AlreadyExists("location", "code", location.code)
        self._s.location_codes.delete(old.code)
        self._s.location_codes.put(location.code, location.id)
        self._s.locations.put(location.id, location)
        if old.ancestor_ids != location.ancestor_ids:
            depth = len(old.ancestor_ids)
            for other in self._s.locations.values():
                if location.id in other.ancestor_ids:
                    tail = other.ancestor_ids[depth:]
                    self._s.locations.put(
                        other.id,
                        attrs.evolve(other, ancestor_ids=location.ancestor_ids + tail),
                    )

    def list(self, query: LocationQuery, *, after: UUID | None, limit: int) -> list[Location]:
        def matches(loc: Location) -> bool:
            return (
                (query.parent_id is None or loc.parent_id == query.parent_id)
                and (query.kind is None or loc.kind == query.kind)
                and (query.warehouse_id is None or loc.warehouse_id == query.warehouse_id)
            )

        return _page(filter(matches, self._s.locations.values()), lambda x: x.id, after, limit)


class InMemoryMovementRepository:
    """The ledger. Sequence numbers are dense: a rolled-back append gives its number back, and
    transactions are serialised, so seq order is commit order and is the feed's order too: a
    movement's feed position is (number of its transaction, seq)."""

    def __init__(self, store: InMemoryStore) -> None:
        self._s = store

    def append(
        self,
        movement: Movement,
        *,
        locations: Sequence[LocationChange] = (),
        warehouses: Sequence[WarehouseChange] = (),
        lots: Sequence[LotChange] = (),
        serials: Sequence[SerialChange] = (),
        tracking: Mapping[UUID, Tracking] | None = None,
        posted_event: Event | None = None,
    ) -> Posted:
        if movement.seq != 0:
            raise ValueError("append takes a movement whose seq is 0")
        if movement.id in self._s.movement_seqs:
            raise AlreadyExists("movement", "id", movement.id)
        if movement.reverses_id is not None and movement.reverses_id in self._s.reversals:
            raise AlreadyExists("movement", "reverses_id", movement.reverses_id)
        # Checked above, applied here (all or nothing), written below: a failure at any step
        # leaves nothing behind.
        levels = InMemoryStockRepository(self._s).apply(
            locations, warehouses, lots=lots, serials=serials, tracking=tracking
        )
        if movement.reverses_id is not None:
            self._s.reversals.put(movement.reverses_id, movement.id)
        seq = (self._s.counters.get("seq") or 0) + 1
        self._s.counters.put("seq", seq)
        stored = attrs.evolve(movement, seq=seq)
        self._s.movements.put(seq, stored)
        self._s.movement_seqs.put(stored.id, seq)
        self._s.movement_txns.put(seq, self._s.transaction_number)
        if posted_event is not None:
            # Replacing a key keeps its place: the data keeps the API's order of fields.
            data = {**posted_event.data, "seq": seq}
            InMemoryEventRepository(self._s).add(attrs.evolve(posted_event, data=data))
        return Posted(stored, tuple(levels))

    def get(self, movement_id: UUID) -> Movement | None:
        seq = self._s.movement_seqs.get(movement_id)
        return None if seq is None else self._s.movements.get(seq)

    def reversal_of(self, movement_id: UUID) -> Movement | None:
        reversal = self._s.reversals.get(movement_id)
        return None if reversal is None else self.get(reversal)

    def ledger(
        self, *, after: FeedPosition, limit: int, query: MovementQuery | None = None
    ) -> list[tuple[FeedPosition, Movement]]:
        # Transactions are serialised: nothing is ever held back.
        return self.list(query or MovementQuery(), after=after, limit=limit)

    def list(
        self, query: MovementQuery, *, after: FeedPosition, limit: int
    ) -> list[tuple[FeedPosition, Movement]]:
        head = self._s.counters.get("seq") or 0
        found: list[tuple[FeedPosition, Movement]] = []
        # Transactions are serialised, so feed order is seq order: start after after.seq.
        for seq in range(after.seq + 1, head + 1):
            movement = self._s.movements.get(seq)
            txn = self._s.movement_txns.get(seq)
            if movement is None or txn is None:
                continue
            position = FeedPosition(txn, seq)
            if position <= after:
                continue
            if query.item_id is not None and all(
                line.item_id != query.item_id for line in movement.lines
            ):
                continue
            if query.location_id is not None and all(
                query.location_id not in (line.from_location_id, line.to_location_id)
                for line in movement.lines
            ):
                continue
            if query.lot_id is not None and all(
                line.lot_id != query.lot_id for line in movement.lines
            ):
                continue
            if query.serial is not None and all(
                query.serial not in line.serials
                or (query.item_id is not None and line.item_id != query.item_id)
                for line in movement.lines
            ):
                continue
            found.append((position, movement))
            if len(found) >= limit:
                break
        return found


class InMemoryStockRepository:
    """Stock levels. ``apply`` checks every change before writing any, so it is all or nothing;
    it judges them in the Postgres adapter's lock order (stock-holding locations, virtual ones,
    warehouses, item totals), so both name the same row when several are refused."""

    def __init__(self, store: InMemoryStore) -> None:
        self._s = store

    def apply(
        self,
        locations: Sequence[LocationChange],
        warehouses: Sequence[WarehouseChange],
        *,
        lots: Sequence[LotChange] = (),
        serials: Sequence[SerialChange] = (),
        tracking: Mapping[UUID, Tracking] | None = None,
    ) -> list[WarehouseStock]:
        location_deltas: dict[StockKey, int] = defaultdict(int)
        holds_stock: dict[StockKey, bool] = {}
        for change in locations:
            key = (change.item_id, change.location_id)
            location_deltas[key] += change.delta
            holds_stock[key] = holds_stock.get(key, False) or change.holds_stock
        # The Postgres lock order: stock-holding rows, their lots, serials, then virtual rows.
        per_lot = LotLevels(self._s)
        new_location_levels = self._location_levels(location_deltas, holds_stock, holding=True)
        new_lot_levels = per_lot.check_lots(lots, holding=True)
        new_serials = per_lot.check_serials(serials)
        new_location_levels |= self._location_levels(location_deltas, holds_stock, holding=False)
        new_lot_levels |= per_lot.check_lots(lots, holding=False)

        new_warehouse_levels: dict[StockKey, tuple[int, int]] = {}
        item_deltas: dict[UUID, tuple[int, int]] = {}
        for wh_change in sorted(warehouses, key=lambda c: (c.item_id, c.warehouse_id)):
            key = (wh_change.item_id, wh_change.warehouse_id)
            on_hand, reserved = (
                new_warehouse_levels.get(key) or self._s.warehouse_levels.get(key) or (0, 0)
            )
            new_on_hand = on_hand + wh_change.on_hand_delta
            new_reserved = reserved + wh_change.reserved_delta
            if new_reserved < 0:
                raise InvalidOperation(
                    f"reserved of item {key[0]} in warehouse {key[1]} would go negative"
                )
            if (
                wh_change.guard_available
                and wh_change.available_delta < 0
                and new_on_hand - new_reserved < 0
            ):
                raise InsufficientStock(
                    item_id=key[0],
                    location_id=key[1],
                    available=on_hand - reserved,
                    requested=-wh_change.available_delta,
                )
            if new_on_hand < 0:
                raise InsufficientStock(
                    item_id=key[0],
                    location_id=key[1],
                    available=on_hand,
                    requested=-wh_change.on_hand_delta,
                )
            check_limit(
                key[0],
                key[1],
                ("on_hand", on_hand, wh_change.on_hand_delta),
                ("reserved", reserved, wh_change.reserved_delta),
            )
            new_warehouse_levels[key] = (new_on_hand, new_reserved)
            total_on_hand, total_reserved = item_deltas.get(key[0], (0, 0))
            item_deltas[key[0]] = (
                total_on_hand + wh_change.on_hand_delta,
                total_reserved + wh_change.reserved_delta,
            )

        # An item's totals over all its warehouses are bounded where they grow (as on Postgres,
        # where only growing totals are checked: lowering cannot pass the limit).
        new_item_totals: dict[UUID, tuple[int, int]] = {}
        for item_id in sorted(item_deltas):
            on_hand_delta, reserved_delta = item_deltas[item_id]
            on_hand, reserved = self._s.item_totals.get(item_id) or (0, 0)
            grown = [
                (level, current, change)
                for level, current, change in (
                    ("on_hand", on_hand, on_hand_delta),
                    ("reserved", reserved, reserved_delta),
                )
                if change > 0
            ]
            check_limit(item_id, None, *grown)
            new_item_totals[item_id] = (on_hand + on_hand_delta, reserved + reserved_delta)
        per_lot.check_tracking(
            tracking, [item_id for item_id, (on_hand, _) in item_deltas.items() if on_hand > 0]
        )

        for key, level in new_location_levels.items():
            self._s.location_levels.put(key, level)
        for key, pair in new_warehouse_levels.items():
            self._s.warehouse_levels.put(key, pair)
        for item_id, totals in new_item_totals.items():
            self._s.item_totals.put(item_id, totals)
        per_lot.write(new_lot_levels, new_serials)
        return [
            WarehouseStock(*key, *new_warehouse_levels[key]) for key in sorted(new_warehouse_levels)
        ]

    def on_hand(self, keys: Collection[StockKey], *, lock: bool = False) -> dict[StockKey, int]:
        # The unit of work already holds the store lock, so ``lock`` needs nothing more here.
        return {key: self._s.location_levels.get(key) or 0 for key in keys}

    def _location_levels(
        self, deltas: Mapping[StockKey, int], holds_stock: Mapping[StockKey, bool], *, holding: bool
    ) -> dict[StockKey, int]:
        """The new levels of the stock-holding (or the virtual) location rows changed."""
        levels: dict[StockKey, int] = {}
        for key in sorted(k for k in deltas if holds_stock[k] == holding):
            levels[key] = next_on_hand(
                self._s.location_levels.get(key) or 0,
                deltas[key],
                holding=holding,
                item_id=key[0],
                location_id=key[1],
            )
        return levels

    def lot_on_hand(
        self, keys: Collection[tuple[UUID, UUID, UUID]]
    ) -> dict[tuple[UUID, UUID, UUID], int]:
        return {key: self._s.lot_levels.get(key) or 0 for key in keys}

    def lot_levels(
        self, query: LotLevelQuery, *, after: tuple[UUID, UUID] | None, limit: int | None
    ) -> list[LotLevel]:
        rows = LotLevels(self._s).lot_levels(query)
        return _page(rows, lambda r: (r.lot_id, r.location_id), after, limit)

    def serial_levels(
        self, query: SerialQuery, *, after: str | None, limit: int | None
    ) -> list[SerialLevel]:
        return _page(LotLevels(self._s).serial_levels(query), lambda r: r.serial, after, limit)

    def serial(self, item_id: UUID, serial: str) -> SerialLevel | None:
        return LotLevels(self._s).serial(item_id, serial)

    def has_stock(self, item_id: UUID) -> bool:
        return bool(self.location_levels(LocationStockQuery(item_id=item_id), after=None, limit=1))

    def location_levels(
        self, query: LocationStockQuery, *, after: StockKey | None, limit: int | None
    ) -> list[LocationStock]:
        rows: list[LocationStock] = []
        for (item_id, location_id), on_hand in self._s.location_levels.items():
            if on_hand == 0:
                continue
            if query.item_id is not None and item_id != query.item_id:
                continue
            if query.location_id is not None and location_id != query.location_id:
                continue
            location = self._s.locations.get(location_id)
            if location is None or not location.kind.holds_stock:
                continue
            if query.warehouse_id is not None and location.warehouse_id != query.warehouse_id:
                continue
            rows.append(LocationStock(item_id, location_id, location.warehouse_id, on_hand))
        return _page(rows, lambda r: (r.item_id, r.location_id), after, limit)

    def warehouse_levels(
        self,
        query: WarehouseStockQuery,
        *,
        now: datetime,
        after: StockKey | None,
        limit: int | None,
    ) -> list[WarehouseStock]:
        overdue: dict[StockKey, int] = defaultdict(int)
        for reservation in self._s.reservations.values():
            if reservation.is_overdue(now):
                overdue[(reservation.item_id, reservation.warehouse_id)] += reservation.quantity
        rows: list[WarehouseStock] = []
        for (item_id, warehouse_id), (on_hand, reserved) in self._s.warehouse_levels.items():
            if query.item_id is not None and item_id != query.item_id:
                continue
            if query.warehouse_id is not None and warehouse_id != query.warehouse_id:
                continue
            row = WarehouseStock(
                item_id, warehouse_id, on_hand, reserved - overdue[(item_id, warehouse_id)]
            )
            if query.below_reorder:
                item = self._s.items.get(item_id)
                if item is None or item.reorder_point is None:
                    continue
                if row.available >= item.reorder_point:
                    continue
            rows.append(row)
        return _page(rows, lambda r: (r.item_id, r.warehouse_id), after, limit)

    def item_levels(self, item_id: UUID, *, now: datetime) -> ItemLevels | None:
        if item_id not in self._s.items:
            return None
        levels = LotLevels(self._s)
        return ItemLevels(
            tuple(
                self.warehouse_levels(
                    WarehouseStockQuery(item_id=item_id), now=now, after=None, limit=None
                )
            ),
            tuple(
                self.location_levels(LocationStockQuery(item_id=item_id), after=None, limit=None)
            ),
            tuple(levels.lot_levels(LotLevelQuery(item_id=item_id))),
            tuple(levels.serial_levels(SerialQuery(item_id))),
        )


class InMemoryReservationRepository:
    """Reservations in an InMemoryStore."""

    def __init__(self, store: InMemoryStore) -> None:
        self._s = store

    def add(self, reservation: Reservation) -> None:
        if reservation.id in self._s.reservations:
            raise AlreadyExists("reservation", "id", reservation.id)
        self._s.reservations.put(reservation.id, reservation)

    def get(self, reservation_id: UUID) -> Reservation | None:
        return self._s.reservations.get(reservation_id)

    def transition(
        self, reservation_id: UUID, *, to: ReservationStatus, now: datetime
    ) -> Reservation | None:
        current = self._s.reservations.get(reservation_id)
        if (
            current is None
            or current.status is not ReservationStatus.ACTIVE
            or current.is_overdue(now)
        ):
            return None
        changed = attrs.evolve(current, status=to, updated_at=now)
        self._s.reservations.put(reservation_id, changed)
        return changed

    def expire_due(
        self, now: datetime, *, keys: Collection[StockKey] | None = None
    ) -> list[Reservation]:
        wanted = None if keys is None else set(keys)
        expired: list[Reservation] = []
        for reservation in self._s.reservations.values():
            if not reservation.is_overdue(now):
                continue
            if wanted is not None and (reservation.item_id, reservation.warehouse_id) not in wanted:
                continue
            changed = attrs.evolve(reservation, status=ReservationStatus.EXPIRED, updated_at=now)
            self._s.reservations.put(reservation.id, changed)
            expired.append(changed)
        return sorted(expired, key=lambda r: r.id)

    def list(self, query: ReservationQuery, *, after: UUID | None, limit: int) -> list[Reservation]:
        def matches(r: Reservation) -> bool:
            return (
                (query.item_id is None or r.item_id == query.item_id)
                and (query.warehouse_id is None or r.warehouse_id == query.warehouse_id)
                and (query.status is None or r.status == query.status)
                and (query.reference is None or r.reference == query.reference)
            )

        return _page(filter(matches, self._s.reservations.values()), lambda r: r.id, after, limit)


class InMemoryUserRepository:
    """Users in an InMemoryStore."""

    def __init__(self, store: InMemoryStore) -> None:
        self._s = store

    def add(self, user: User) -> None:
        if user.id in self._s.users:
            raise AlreadyExists("user", "id", user.id)
        if user.username in self._s.usernames:
            raise AlreadyExists("user", "username", user.username)
        self._s.users.put(user.id, user)
        self._s.usernames.put(user.username, user.id)

    def get(self, user_id: UUID) -> User | None:
        return self._s.users.get(user_id)

    def get_by_username(self, username: str) -> User | None:
        user_id = self._s.usernames.get(username)
        return None if user_id is None else self._s.users.get(user_id)

    def update(self, user: User) -> None:
        old = self._s.users.get(user.id)
        _check_version("user", user.id, old.version if old else None, user.version)
        assert old is not None
        owner = self._s.usernames.get(user.username)
        if owner is not None and owner != user.id:
            raise AlreadyExists("user", "username", user.username)
        self._s.usernames.delete(old.username)
        self._s.usernames.put(user.username, user.id)
        self._s.users.put(user.id, user)

    def list(self, *, after: UUID | None, limit: int) -> list[User]:
        return _page(self._s.users.values(), lambda u: u.id, after, limit)


class InMemoryTokenRepository:
    """API tokens in an InMemoryStore, indexed by digest."""

    def __init__(self, store: InMemoryStore) -> None:
        self._s = store

    def add(self, token: ApiToken) -> None:
        if token.id in self._s.tokens:
            raise AlreadyExists("token", "id", token.id)
        if token.digest in self._s.token_digests:
            raise AlreadyExists("token", "digest", "(secret)")
        self._s.tokens.put(token.id, token)
        self._s.token_digests.put(token.digest, token.id)

    def get(self, token_id: UUID) -> ApiToken | None:
        return self._s.tokens.get(token_id)

    def find(self, digest: str) -> tuple[ApiToken, User] | None:
        token_id = self._s.token_digests.get(digest)
        token = None if token_id is None else self._s.tokens.get(token_id)
        user = None if token is None else self._s.users.get(token.user_id)
        return None if token is None or user is None else (token, user)

    def list(self, user_id: UUID, *, after: UUID | None, limit: int) -> list[ApiToken]:
        mine = (t for t in self._s.tokens.values() if t.user_id == user_id)
        return _page(mine, lambda t: t.id, after, limit)

    def delete(self, token_id: UUID) -> bool:
        token = self._s.tokens.get(token_id)
        if token is None:
            return False
        self._s.token_digests.delete(token.digest)
        self._s.tokens.delete(token_id)
        return True

    def touch(self, token_id: UUID, when: datetime) -> None:
        token = self._s.tokens.get(token_id)
        if token is None or (token.last_used_at is not None and token.last_used_at >= when):
            return
        self._s.tokens.put(token_id, attrs.evolve(token, last_used_at=when))


class InMemoryIdempotencyStore:
    """Idempotency records. Transactions on the store are serialised, so a claim never sees
    another transaction in progress: a concurrent replay waits for the store lock, then finds the
    completed record."""

    def __init__(self, store: InMemoryStore) -> None:
        self._s = store

    def claim(self, user_id: UUID, key: str, fingerprint: str) -> IdempotencyClaim:
        record = self._s.idempotency.get((user_id, key))
        if record is None:
            return IdempotencyClaim(IdempotencyOutcome.NEW)
        if record.fingerprint != fingerprint:
            return IdempotencyClaim(IdempotencyOutcome.MISMATCH, record)
        return IdempotencyClaim(IdempotencyOutcome.REPLAY, record)

    def complete(self, record: IdempotencyRecord) -> None:
        key = (record.user_id, record.key)
        if key in self._s.idempotency:
            raise AlreadyExists("idempotency record", "key", record.key)
        self._s.idempotency.put(key, record)

    def purge(self, older_than: datetime) -> int:
        stale = [k for k, r in self._s.idempotency.items() if r.created_at < older_than]
        for key in stale:
            self._s.idempotency.delete(key)
        return len(stale)


class InMemoryEventRepository:
    """The outbox and event feed. As for the ledger, transactions are serialised, so an event's
    position is (number of its transaction, seq) and seq order is feed order."""

    def __init__(self, store: InMemoryStore) -> None:
        self._s = store

    def add(self, event: Event) -> None:
        seq = (self._s.counters.get("event_seq") or 0) + 1
        self._s.counters.put("event_seq", seq)
        self._s.events.put(seq, (FeedPosition(self._s.transaction_number, seq), event))

    def list(
        self, query: EventQuery, *, after: FeedPosition, limit: int
    ) -> list[tuple[FeedPosition, Event]]:
        head = self._s.counters.get("event_seq") or 0
        found: list[tuple[FeedPosition, Event]] = []
        for seq in range(after.seq + 1, head + 1):
            entry = self._s.events.get(seq)
            if entry is None or entry[0] <= after:
                continue
            if query.types is not None and entry[1].type not in query.types:
                continue
            found.append(entry)
            if len(found) >= limit:
                break
        return found

    def purge(self, older_than: datetime) -> int:
        entries = sorted(self._s.events.items())
        last = max(
            (n for n, (_, (_, event)) in enumerate(entries) if event.timestamp < older_than),
            default=None,
        )
        if last is None:
            return 0
        for seq, _ in entries[: last + 1]:
            self._s.events.delete(seq)
        position = entries[last][1][0]
        self._s.counters.put("events_purged_txn", position.txn)
        self._s.counters.put("events_purged_seq", position.seq)
        return last + 1

    def purged_through(self) -> FeedPosition:
        txn = self._s.counters.get("events_purged_txn")
        seq = self._s.counters.get("events_purged_seq")
        return FEED_START if txn is None or seq is None else FeedPosition(txn, seq)
