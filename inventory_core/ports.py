"""Ports: the Protocols adapters implement (structurally; nothing needs to inherit).

Transaction semantics, stated once for every repository below: a repository is only usable inside
its unit of work's ``with`` block; everything it does there is one transaction, made durable
when the outermost block exits cleanly and discarded when it exits by an exception. Repositories
never commit.
Repositories raise only :mod:`inventory_core.errors` exceptions; a lost backing service is
:class:`~inventory_core.errors.Unavailable`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

import attrs

from inventory_core.events import Event, EventQuery
from inventory_core.feed import FeedPosition
from inventory_core.idempotency import IdempotencyClaim, IdempotencyRecord
from inventory_core.items import Item
from inventory_core.locations import Location, LocationKind
from inventory_core.lots import Lot, LotLevel, SerialLevel, Tracking
from inventory_core.movements import Movement, Posted
from inventory_core.reservations import Reservation, ReservationStatus
from inventory_core.sessions import Session
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
from inventory_core.users import Role, User
from inventory_core.webhooks import ClaimedDelivery, DeliveryAttempt, Webhook

__all__ = [
    "Clock",
    "DeliveryRepository",
    "EventRepository",
    "IdGenerator",
    "IdempotencyStore",
    "ItemQuery",
    "ItemRepository",
    "LocationQuery",
    "LocationRepository",
    "LocationStockQuery",
    "LoginThrottle",
    "LotLevelQuery",
    "LotQuery",
    "LotRepository",
    "MovementQuery",
    "MovementRepository",
    "PasswordHasher",
    "ReservationQuery",
    "ReservationRepository",
    "SerialQuery",
    "SessionStore",
    "StockKey",
    "StockRepository",
    "TokenRepository",
    "UnitOfWork",
    "UserRepository",
    "WarehouseStockQuery",
    "WebhookRepository",
]

StockKey = tuple[UUID, UUID]
"""(item_id, location_id) or (item_id, warehouse_id)."""


# ---------------------------------------------------------------- queries


@attrs.frozen
class ItemQuery:
    """Filters of an item listing; ``text`` matches SKU or name, case-insensitively."""

    sku: str | None = None
    """Only the item with this SKU."""
    barcode: str | None = None
    """Only the item with this barcode."""
    text: str | None = None
    """Only items whose SKU or name contains this, ignoring case."""
    active: bool | None = None
    """Only active (``true``) or inactive (``false``) items."""


@attrs.frozen
class LocationQuery:
    """Filters of a location listing."""

    parent_id: UUID | None = None
    """Only the locations directly inside this one."""
    kind: LocationKind | None = None
    """Only locations of this kind."""
    warehouse_id: UUID | None = None
    """Only this warehouse and the locations in its tree."""


@attrs.frozen
class MovementQuery:
    """A movement matches ``item_id`` / ``location_id`` when any of its lines does (either side)."""

    item_id: UUID | None = None
    """Only movements with a line of this item."""
    location_id: UUID | None = None
    """Only movements with a line from or to this location."""
    lot_id: UUID | None = None
    """Only movements with a line of this lot: where every unit of it went, for a recall."""
    serial: str | None = None
    """Only movements with a line listing this serial number (of any item, unless ``item_id``
    is given too)."""


@attrs.frozen
class LocationStockQuery:
    """Filters of the on-hand listing."""

    item_id: UUID | None = None
    """Only this item."""
    location_id: UUID | None = None
    """Only this location."""
    warehouse_id: UUID | None = None
    """Only locations in this warehouse's tree."""


@attrs.frozen
class LotQuery:
    """Filters of a lot listing."""

    item_id: UUID | None = None
    """Only lots of this item."""
    expires_before: date | None = None
    """Only lots whose ``expires_on`` is before this date (lots that do not expire never
    match)."""


@attrs.frozen
class LotLevelQuery:
    """Filters of the per-lot levels (non-zero, at stock-holding locations)."""

    item_id: UUID | None = None
    """Only lots of this item."""
    lot_id: UUID | None = None
    """Only this lot."""
    warehouse_id: UUID | None = None
    """Only locations in this warehouse's tree."""


@attrs.frozen
class SerialQuery:
    """Filters of the serial numbers in stock of one item."""

    item_id: UUID
    """The item."""
    location_id: UUID | None = None
    """Only serials at this location."""
    warehouse_id: UUID | None = None
    """Only serials in this warehouse's tree."""


@attrs.frozen
class WarehouseStockQuery:
    """``below_reorder``: only rows whose available is below the item's ``reorder_point``."""

    item_id: UUID | None = None
    """Only this item."""
    warehouse_id: UUID | None = None
    """Only this warehouse."""
    below_reorder: bool = False
    """Only levels whose ``available`` is below the item's reorder point."""


@attrs.frozen
class ReservationQuery:
    """Filters of a reservation listing."""

    item_id: UUID | None = None
    """Only reservations of this item."""
    warehouse_id: UUID | None = None
    """Only reservations in this warehouse."""
    status: ReservationStatus | None = None
    """Only reservations with this stored status."""
    reference: str | None = None
    """Only reservations with this reference."""


# ---------------------------------------------------------------- repositories


class ItemRepository(Protocol):
    """Items. Listing order is ascending ``id`` (ids are time-ordered, so creation order)."""

    def add(self, item: Item) -> None:
        """Store a new item. Raises AlreadyExists(field="sku" | "barcode")."""
        ...

    def get(self, item_id: UUID) -> Item | None: ...

    def get_many(self, item_ids: Collection[UUID]) -> dict[UUID, Item]:
        """The items that exist among ``item_ids`` (missing ones are simply absent)."""
        ...

    def update(self, item: Item) -> None:
        """Replace an item. ``item.version`` must be the stored version + 1, else VersionMismatch
        (NotFound if absent). Raises AlreadyExists on a duplicate SKU or barcode."""
        ...

    def list(self, query: ItemQuery, *, after: UUID | None, limit: int) -> list[Item]: ...


class LocationRepository(Protocol):
    """Locations, including the three virtual ones, which every adapter provides from the start
    with the ids in :data:`inventory_core.locations.VIRTUAL_LOCATION_IDS`."""

    def add(self, location: Location) -> None:
        """Store a new location. Raises AlreadyExists(field="code")."""
        ...

    def get(self, location_id: UUID) -> Location | None: ...

    def get_many(self, location_ids: Collection[UUID]) -> dict[UUID, Location]: ...

    def update(self, location: Location) -> None:
        """Replace a location (version rule as for items). When its ``ancestor_ids`` change, the
        adapter rewrites the paths of all its descendants the same way. Raises AlreadyExists."""
        ...

    def list(self, query: LocationQuery, *, after: UUID | None, limit: int) -> list[Location]:
        """Ascending ``id``. ``warehouse_id`` selects the warehouse and its whole tree."""
        ...


class LotRepository(Protocol):
    """Lots of lot-tracked items; ``code`` is unique per item. Lots are never deleted."""

    def add(self, lot: Lot) -> None:
        """Store a new lot. Raises AlreadyExists(field="code") when the item has a lot of that
        code already (a concurrent first receipt of the same lot, say)."""
        ...

    def get(self, lot_id: UUID) -> Lot | None: ...

    def find(self, keys: Collection[tuple[UUID, str]]) -> dict[tuple[UUID, str], Lot]:
        """The lots that exist among ``(item_id, code)`` keys (missing ones are absent)."""
        ...

    def list(self, query: LotQuery, *, after: UUID | None, limit: int) -> list[Lot]:
        """Ascending ``id``, strictly after ``after``."""
        ...


class MovementRepository(Protocol):
    """The append-only ledger. Nothing is ever updated or deleted."""

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
        """Store a movement given with ``seq == 0`` and return it with its ``seq`` (and the
        warehouse levels it changed, as :meth:`StockRepository.apply` returns them).

        ``posted_event`` is the ``movement.posted`` event of this append, its ``data`` the
        movement presented before it had a seq (``"seq": 0``): it is recorded as
        :meth:`EventRepository.add` would, with ``data["seq"]`` set to the seq assigned, and
        only if the append succeeds. (Taking it here lets an adapter send it with the append
        so the COMMIT that releases the locks of the level rows follows the append at once.)

        The seq is unique, and
        increasing within a transaction (not across transactions: nothing orders concurrent
        writers, see :meth:`list`). Raises AlreadyExists(field="reverses_id") when the reversed
        movement already has a reversal.

        ``locations``, ``warehouses``, ``lots``, ``serials`` and ``tracking`` are the stock
        changes the movement makes, applied together with the append exactly as
        :meth:`StockRepository.apply` would apply them: both
        happen or neither does. A refused change raises what ``apply`` raises, AlreadyExists is
        judged first, and after any of these errors neither the levels nor the ledger have
        changed and the transaction is still usable. Posting both in one call lets an adapter
        send them together (one round trip on Postgres), which keeps the rows it locks locked
        for as short a time as possible."""
        ...

    def get(self, movement_id: UUID) -> Movement | None: ...

    def reversal_of(self, movement_id: UUID) -> Movement | None:
        """The movement that reverses ``movement_id``, if any."""
        ...

    def ledger(
        self, *, after: FeedPosition, limit: int, query: MovementQuery | None = None
    ) -> list[tuple[FeedPosition, Movement]]:
        """Every movement committed so far (matching ``query`` when given, as :meth:`list`
        matches), in the feed's order, after ``after`` -- including
        those :meth:`list` still holds back while earlier transactions run. For audits and
        checks of a ledger at rest (the contract's invariants); a reader that resumes later must
        use :meth:`list`, as an entry may still commit before the last one returned here."""
        ...

    def list(
        self, query: MovementQuery, *, after: FeedPosition, limit: int
    ) -> list[tuple[FeedPosition, Movement]]:
        """The feed: movements with their positions, in ascending position, strictly after
        ``after``. Its promise (invariant 5): once a movement has been returned, no movement that
        commits later is ever placed before it. So the adapter returns a movement only when every
        transaction that could still commit one at an earlier position has ended (see
        :mod:`inventory_core.feed`), and a reader resuming after the last position it got never
        misses one nor sees one twice, however many writers run concurrently."""
        ...


class StockRepository(Protocol):
    """Stock levels: the projection of the ledger, changed only through :meth:`apply`."""

    def apply(
        self,
        locations: Sequence[LocationChange],
        warehouses: Sequence[WarehouseChange],
        *,
        lots: Sequence[LotChange] = (),
        serials: Sequence[SerialChange] = (),
        tracking: Mapping[UUID, Tracking] | None = None,
    ) -> list[WarehouseStock]:
        """Apply every change or none, and return the warehouse levels changed, as they are right
        after (stored ``reserved``: overdue reservations still count until expired), one per
        (item, warehouse) ascending -- what the use cases judge reorder points on.

        ``lots`` and ``serials`` are the per-lot and per-serial levels under the location
        changes (see :class:`LotChange`, :class:`SerialChange`): a lot change refused is
        InsufficientStock with its ``lot_id``, a serial not where it is said to be is
        SerialConflict. ``tracking`` is the tracking the caller judged each item's lines by:
        a call that raises an item's total on hand while its stored ``tracking`` is another
        (changed concurrently) raises ConcurrencyConflict, so stock never enters an item under
        rules it no longer has.

        Raises InsufficientStock (naming the item, the location or warehouse, what was available
        and what was requested) when a stock-holding location would
        go negative or a guarded warehouse change would leave ``available`` negative; raises
        InvalidOperation if ``reserved`` would go negative. Rows are touched in one global order
        (the adapter's; on Postgres see inventory_pg.repositories.stock) so concurrent callers
        cannot deadlock."""
        ...

    def on_hand(self, keys: Collection[StockKey], *, lock: bool = False) -> dict[StockKey, int]:
        """On hand per (item, location); absent rows count 0 and are included. With ``lock`` the
        rows stay locked against concurrent change until the transaction ends."""
        ...

    def lot_on_hand(
        self, keys: Collection[tuple[UUID, UUID, UUID]]
    ) -> dict[tuple[UUID, UUID, UUID], int]:
        """On hand per (item, location, lot); absent rows count 0 and are included. (Every lot
        change comes with a change of its (item, location) row, so ``on_hand(lock=True)`` of
        those keys holds these still too.)"""
        ...

    def lot_levels(
        self, query: LotLevelQuery, *, after: tuple[UUID, UUID] | None, limit: int | None
    ) -> list[LotLevel]:
        """Non-zero per-lot levels at stock-holding locations, ascending (lot_id, location_id),
        strictly after ``after``."""
        ...

    def serial_levels(
        self, query: SerialQuery, *, after: str | None, limit: int | None
    ) -> list[SerialLevel]:
        """The item's serial numbers in stock (at a stock-holding location), ascending serial,
        strictly after ``after``."""
        ...

    def serial(self, item_id: UUID, serial: str) -> SerialLevel | None:
        """Where a serial number of the item is (``location_id`` None: not in stock); None when
        no movement ever named it."""
        ...

    def has_stock(self, item_id: UUID) -> bool:
        """Whether any stock-holding location has on hand of the item. (Read after locking the
        item by updating it, this sees every movement that raised its stock and committed.)"""
        ...

    def location_levels(
        self, query: LocationStockQuery, *, after: StockKey | None, limit: int | None
    ) -> list[LocationStock]:
        """Non-zero levels at stock-holding locations, ascending (item_id, location_id)."""
        ...

    def warehouse_levels(
        self,
        query: WarehouseStockQuery,
        *,
        now: datetime,
        after: StockKey | None,
        limit: int | None,
    ) -> list[WarehouseStock]:
        """Warehouse levels that ever existed, ascending (item_id, warehouse_id). ``reserved``
        leaves out active reservations already overdue at ``now``."""
        ...

    def item_levels(self, item_id: UUID, *, now: datetime) -> ItemLevels | None:
        """All levels of one item in one consistent read: what :meth:`warehouse_levels`,
        :meth:`location_levels`, :meth:`lot_levels` and :meth:`serial_levels` give for
        ``item_id`` (same order, same rules), or None when there is no such item. Adapters
        answer it in one statement, so the lists always agree with each other even while
        movements of the item commit."""
        ...


class ReservationRepository(Protocol):
    """Reservations. Warehouse ``reserved`` levels are kept by the use cases through
    :meth:`StockRepository.apply`; this repository touches reservations only."""

    def add(self, reservation: Reservation) -> None: ...

    def get(self, reservation_id: UUID) -> Reservation | None: ...

    def transition(
        self, reservation_id: UUID, *, to: ReservationStatus, now: datetime
    ) -> Reservation | None:
        """Move an active, not overdue reservation to ``to`` and return it; ``None`` (and no
        change) when it is absent, no longer active, or overdue. Safe against concurrent callers:
        exactly one of two racing transitions wins."""
        ...

    def expire_due(
        self, now: datetime, *, keys: Collection[StockKey] | None = None
    ) -> list[Reservation]:
        """Mark every active reservation with ``expires_at <= now`` as expired (only those of
        the given (item, warehouse) keys when given) and return them as they now are."""
        ...

    def list(self, query: ReservationQuery, *, after: UUID | None, limit: int) -> list[Reservation]:
        """Ascending ``id``. Stored status is reported (an overdue one may still say active)."""
        ...


class UserRepository(Protocol):
    """Users; usernames are unique (already normalized to lower case by the core)."""

    def add(self, user: User) -> None:
        """Raises AlreadyExists(field="username")."""
        ...

    def get(self, user_id: UUID) -> User | None: ...

    def get_by_username(self, username: str) -> User | None: ...

    def update(self, user: User) -> None:
        """Version rule as for items."""
        ...

    def list(self, *, after: UUID | None, limit: int) -> list[User]: ...


class TokenRepository(Protocol):
    """API tokens, found by the SHA-256 digest of their secret (unique). Listing order is
    ascending ``id`` (time-ordered, so issue order). Revoking a token deletes it."""

    def add(self, token: ApiToken) -> None:
        """Store a new token. Raises AlreadyExists(field="digest") for a digest already stored
        (never in practice: secrets are 256 random bits)."""
        ...

    def get(self, token_id: UUID) -> ApiToken | None: ...

    def find(self, digest: str) -> tuple[ApiToken, User] | None:
        """The token with this digest and its user, read together (one indexed read on a
        database), or None. Says nothing about expiry or the user's active flag: the use case
        judges those."""
        ...

    def list(self, user_id: UUID, *, after: UUID | None, limit: int) -> list[ApiToken]:
        """The user's tokens, ascending ``id``, strictly after ``after``."""
        ...

    def delete(self, token_id: UUID) -> bool:
        """Delete the token; False when there was none."""
        ...

    def touch(self, token_id: UUID, when: datetime) -> None:
        """Set ``last_used_at`` to ``when`` unless it already is ``when`` or later (concurrent
        uses never move it back); nothing when the token is gone."""
        ...


class EventRepository(Protocol):
    """The outbox and the event feed (:mod:`inventory_core.events`). Events are kept in feed
    order by position, like the ledger, until retention purges the oldest."""

    def add(self, event: Event) -> None:
        """Record an event in the current transaction: it enters the feed when the transaction
        commits, and vanishes with it on rollback. An adapter may defer the write to the commit
        (it is never refused: ids are unique)."""
        ...

    def list(
        self, query: EventQuery, *, after: FeedPosition, limit: int
    ) -> list[tuple[FeedPosition, Event]]:
        """The feed after ``after``, with the promise of :meth:`MovementRepository.list`: once
        an event has been returned, none that commits later is placed before it."""
        ...

    def purge(self, older_than: datetime) -> int:
        """Delete the oldest events: a prefix of the feed, up to the last committed event whose
        ``timestamp`` is before ``older_than``. Returns how many; :meth:`purged_through` then
        tells where the feed now starts."""
        ...

    def purged_through(self) -> FeedPosition:
        """The position of the last event ever purged (FEED_START when none was): a reader
        whose position is before it may have missed events."""
        ...


class WebhookRepository(Protocol):
    """Webhook subscriptions. Listing order is ascending ``id``."""

    def add(self, webhook: Webhook) -> None: ...

    def get(self, webhook_id: UUID) -> Webhook | None: ...

    def update(self, webhook: Webhook) -> None:
        """Replace a webhook (version rule as for items; NotFound if absent)."""
        ...

    def delete(self, webhook_id: UUID) -> bool:
        """Delete the webhook with its pending deliveries and its delivery log; False when
        there was none."""
        ...

    def list(self, *, after: UUID | None, limit: int) -> list[Webhook]: ...


class DeliveryRepository(Protocol):
    """The deliveries of events to webhooks: a work queue on the adapter, shared by any number
    of workers (see :mod:`inventory_core.webhooks`), and the delivery log."""

    def dispatch(self, *, now: datetime, limit: int) -> int:
        """Turn up to ``limit`` events not yet dispatched into deliveries: in feed order, with
        the feed's completeness guard, one pending delivery (due at ``now``) per active webhook
        subscribed to the event's type; then remember how far dispatch got, in the same
        transaction. Returns how many events were dispatched. Concurrent dispatchers never
        dispatch one event twice: one waits for (or skips) the other."""
        ...

    def claim(self, *, now: datetime, lease: timedelta, limit: int) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` pending deliveries due at ``now`` (oldest due first) of active
        webhooks whose lease, if any, has run out, each until ``now + lease`` under a new lease
        id. A delivery leased to one caller is never returned to another before the lease ends,
        however many claim at once (they do not wait for each other, either)."""
        ...

    def record(self, claimed: ClaimedDelivery, attempt: DeliveryAttempt) -> bool:
        """Log ``attempt`` and move the delivery on -- delivered when it succeeded, else pending
        again at ``attempt.next_attempt_at``, or failed when that is ``None`` -- and release
        the lease. Only while ``claimed.lease`` still holds the delivery: False (and nothing
        recorded) when the lease was lost (ran out and was claimed again, or the webhook was
        deleted)."""
        ...

    def attempts(
        self, webhook_id: UUID, *, before: UUID | None, limit: int
    ) -> list[DeliveryAttempt]:
        """The webhook's delivery log, newest first (descending ``id``), strictly before
        ``before``."""
        ...

    def purge(self, older_than: datetime) -> int:
        """Delete log entries made before ``older_than`` and deliveries finished (delivered or
        failed) before it; returns how many rows went."""
        ...


class IdempotencyStore(Protocol):
    """Stored responses of POSTs with an Idempotency-Key, kept in the same transaction as their
    effect."""

    def claim(self, user_id: UUID, key: str, fingerprint: str) -> IdempotencyClaim:
        """Take ``(user_id, key)`` for the current transaction, or report what holds it: a stored
        record with the same fingerprint (REPLAY), a different one (MISMATCH), or another
        transaction that has claimed it and not finished (IN_PROGRESS). Does not block."""
        ...

    def complete(self, record: IdempotencyRecord) -> None:
        """Store the response for the key claimed in this transaction."""
        ...

    def purge(self, older_than: datetime) -> int:
        """Delete records created before ``older_than``; returns how many."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository.

    ``with uow:`` starts it; a clean exit commits, an exception rolls back and propagates. Entering
    a unit of work that is already entered joins the same transaction (only the outermost block
    commits), which lets a caller wrap a use case and its own writes (idempotency records) in one
    transaction. A unit of work belongs to one thread at a time; make one per use case call.
    """

    @property
    def items(self) -> ItemRepository: ...
    @property
    def locations(self) -> LocationRepository: ...
    @property
    def lots(self) -> LotRepository: ...
    @property
    def movements(self) -> MovementRepository: ...
    @property
    def stock(self) -> StockRepository: ...
    @property
    def reservations(self) -> ReservationRepository: ...
    @property
    def users(self) -> UserRepository: ...
    @property
    def idempotency(self) -> IdempotencyStore: ...
    @property
    def tokens(self) -> TokenRepository: ...
    @property
    def events(self) -> EventRepository: ...
    @property
    def webhooks(self) -> WebhookRepository: ...
    @property
    def deliveries(self) -> DeliveryRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


# ---------------------------------------------------------------- services


class Clock(Protocol):
    """Current time, timezone-aware UTC. Thread-safe."""

    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    """New unique ids, time-ordered (UUIDv7) so id order is creation order. Thread-safe."""

    def new_id(self) -> UUID: ...


class PasswordHasher(Protocol):
    """Password hashing (argon2id in the HTTP layer). Thread-safe; never logs the password."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool:
        """True on a match; False on a mismatch or an unreadable hash (never raises for those)."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...


class SessionStore(Protocol):
    """Server-side login sessions. Thread-safe; raises Unavailable when its backend is down.

    Session ids are 256-bit random strings; stores keep only a hash of them. A session expires at
    the earlier of its idle and absolute deadlines (see SessionPolicy), by the store's clock.

    Each user has a **revocation generation**, 0 until the first
    :meth:`revoke_user_sessions`, which raises it. A session belongs to the generation its login
    read *before* it looked at the user (role, active flag, password); it is returned only while
    that is still the user's generation. So a login that read the user before a revocation
    (which the caller makes after changing the user) can never leave a session that outlives it,
    whatever the interleaving.
    """

    def create(
        self,
        *,
        user_id: UUID,
        role: Role,
        user_agent: str | None,
        remember: bool,
        generation: int = 0,
    ) -> tuple[str, Session]:
        """Start a session; returns the raw session id (shown once, for the cookie) and it.

        ``generation`` is what :meth:`user_generation` answered before the caller read the user
        it authenticated (0 is right only for a user never revoked). When it is no longer the
        user's generation, a revocation came in between: the session is returned but not kept,
        so its id never works."""
        ...

    def get(self, session_id: str) -> Session | None:
        """The live session for a raw id, its idle deadline moved forward (never past the
        absolute one); ``None`` for an unknown, expired, revoked or malformed id."""
        ...

    def destroy(self, session_id: str) -> None: ...

    def user_generation(self, user_id: UUID) -> int:
        """The user's current revocation generation (0 before the first revocation)."""
        ...

    def revoke_user_sessions(self, user_id: UUID, *, keep: str | None = None) -> int:
        """Atomically raise the user's revocation generation and end every session of the user
        except the raw id ``keep`` (which moves to the new generation, so it stays usable).
        Returns how many live sessions ended. Call it after every change that must end
        sessions (role, active flag, password; logout everywhere)."""
        ...

    def list_user_sessions(self, user_id: UUID) -> list[Session]:
        """The user's live sessions, oldest first."""
        ...


class LoginThrottle(Protocol):
    """Limits login attempts per username and per client address. Thread-safe; Unavailable.

    A caller checking a password uses :meth:`begin_attempt` and, when the password was right,
    :meth:`record_success`: checking and counting are one atomic step, so concurrent attempts
    cannot all pass one check before any of them is counted."""

    def begin_attempt(self, *, username: str, client: str) -> float | None:
        """``None`` when an attempt is allowed now, and then it is already counted as a failure
        (``record_success`` takes it back); else the seconds to wait, and nothing is counted."""
        ...

    def retry_after(self, *, username: str, client: str) -> float | None:
        """Seconds to wait before the next attempt is allowed, or ``None`` if allowed now.
        Only a reading: a caller about to check a password uses ``begin_attempt`` instead."""
        ...

    def record_failure(self, *, username: str, client: str) -> None:
        """Count one failure (``begin_attempt`` already counts the attempts it allows)."""
        ...

    def record_success(self, *, username: str, client: str) -> None:
        """Forget this client's failures against this username (the attempt ``begin_attempt``
        counted included) and trust the pair."""
        ...
