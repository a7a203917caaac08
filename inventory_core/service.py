"""The application facade: one method per use case.

``Inventory`` holds the unit-of-work factory and the services every use case needs; each method
runs one use case in a new unit of work and retries it (a bounded number of times) when the
adapter reports a :class:`~inventory_core.errors.ConcurrencyConflict`. Pass ``uow=`` to run a use
case inside a unit of work you have already entered instead (no retry: the caller owns it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

from inventory_core.clocks import SystemClock
from inventory_core.counts import CountResult
from inventory_core.errors import ConcurrencyConflict, VersionMismatch
from inventory_core.ids import UuidV7Generator
from inventory_core.items import Item
from inventory_core.locations import Location
from inventory_core.movements import Movement
from inventory_core.paging import Page
from inventory_core.passwords import Pbkdf2PasswordHasher
from inventory_core.ports import (
    Clock,
    IdGenerator,
    ItemQuery,
    LocationQuery,
    LocationStockQuery,
    MovementQuery,
    PasswordHasher,
    ReservationQuery,
    StockKey,
    UnitOfWork,
    WarehouseStockQuery,
)
from inventory_core.reservations import Reservation
from inventory_core.services import counts, items, locations, movements, reservations, stock, users
from inventory_core.services._common import ServiceContext
from inventory_core.stock import LocationStock, WarehouseStock
from inventory_core.users import Actor, User

__all__ = ["Inventory"]

T = TypeVar("T")


class Inventory:
    """Every use case of the inventory, over one storage adapter.

    >>> from inventory_core.memory.store import InMemoryStore
    >>> inventory = Inventory(InMemoryStore().unit_of_work)
    """

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        password_hasher: PasswordHasher | None = None,
        conflict_retries: int = 3,
    ) -> None:
        self._unit_of_work = unit_of_work
        self.context = ServiceContext(
            clock=clock or SystemClock(),
            ids=ids or UuidV7Generator(),
            password_hasher=password_hasher or Pbkdf2PasswordHasher(),
        )
        self._retries = conflict_retries

    @property
    def clock(self) -> Clock:
        return self.context.clock

    def prepare_authentication(self) -> None:
        """Compute now the dummy hash that unknown-user logins are verified against, so even the
        first such login after start takes the same time as a wrong password (servers call this
        at start; it costs one password hash)."""
        users.warm_dummy_hash(self.context.password_hasher)

    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work from the adapter, for callers that wrap use cases (``uow=``)."""
        return self._unit_of_work()

    def _run(self, uow: UnitOfWork | None, use_case: Callable[[UnitOfWork], T]) -> T:
        if uow is not None:
            return use_case(uow)
        attempt = 0
        while True:
            try:
                return use_case(self._unit_of_work())
            except VersionMismatch:
                raise  # the caller's view is stale: retrying cannot help
            except ConcurrencyConflict:
                attempt += 1
                if attempt > self._retries:
                    raise

    # ------------------------------------------------------------ items

    def create_item(
        self, actor: Actor, command: items.CreateItem, *, uow: UnitOfWork | None = None
    ) -> Item:
        """Create an item (manager). AlreadyExists on a taken SKU or barcode."""
        return self._run(uow, lambda u: items.create_item(self.context, u, actor, command))

    def get_item(self, actor: Actor, item_id: UUID, *, uow: UnitOfWork | None = None) -> Item:
        """One item (viewer). NotFound."""
        return self._run(uow, lambda u: items.get_item(u, actor, item_id))

    def list_items(
        self,
        actor: Actor,
        query: ItemQuery | None = None,
        *,
        after: UUID | None = None,
        limit: int = 50,
        uow: UnitOfWork | None = None,
    ) -> Page[Item, UUID]:
        """Items matching ``query`` in creation order (viewer)."""
        return self._run(
            uow,
            lambda u: items.list_items(u, actor, query or ItemQuery(), after=after, limit=limit),
        )

    def change_item(
        self,
        actor: Actor,
        item_id: UUID,
        changes: items.ChangeItem,
        *,
        expected_version: int | None = None,
        uow: UnitOfWork | None = None,
    ) -> Item:
        """Change an item (manager); VersionMismatch when ``expected_version`` is stale."""
        return self._run(
            uow,
            lambda u: items.change_item(
                self.context, u, actor, item_id, changes, expected_version=expected_version
            ),
        )

    def item_stock(
        self, actor: Actor, item_id: UUID, *, uow: UnitOfWork | None = None
    ) -> items.ItemStock:
        """An item's totals, warehouse levels and location levels (viewer)."""
        return self._run(uow, lambda u: items.item_stock(self.context, u, actor, item_id))

    # ------------------------------------------------------------ locations

    def create_location(
        self, actor: Actor, command: locations.CreateLocation, *, uow: UnitOfWork | None = None
    ) -> Location:
        """Create a warehouse or an internal location (manager)."""
        return self._run(uow, lambda u: locations.create_location(self.context, u, actor, command))

    def get_location(
        self, actor: Actor, location_id: UUID, *, uow: UnitOfWork | None = None
    ) -> Location:
        """One location (viewer)."""
        return self._run(uow, lambda u: locations.get_location(u, actor, location_id))

    def list_locations(
        self,
        actor: Actor,
        query: LocationQuery | None = None,
        *,
        after: UUID | None = None,
        limit: int = 50,
        uow: UnitOfWork | None = None,
    ) -> Page[Location, UUID]:
        """Locations matching ``query`` (viewer)."""
        return self._run(
            uow,
            lambda u: locations.list_locations(
                u, actor, query or LocationQuery(), after=after, limit=limit
            ),
        )

    def change_location(
        self,
        actor: Actor,
        location_id: UUID,
        changes: locations.ChangeLocation,
        *,
        expected_version: int | None = None,
        uow: UnitOfWork | None = None,
    ) -> Location:
        """Change a location (manager)."""
        return self._run(
            uow,
            lambda u: locations.change_location(
                self.context, u, actor, location_id, changes, expected_version=expected_version
            ),
        )

    # ------------------------------------------------------------ movements

    def post_movement(
        self, actor: Actor, command: movements.PostMovement, *, uow: UnitOfWork | None = None
    ) -> Movement:
        """Post a receipt, shipment, transfer or adjustment (clerk)."""
        return self._run(uow, lambda u: movements.post_movement(self.context, u, actor, command))

    def reverse_movement(
        self,
        actor: Actor,
        movement_id: UUID,
        command: movements.ReverseMovement | None = None,
        *,
        uow: UnitOfWork | None = None,
    ) -> Movement:
        """Post the reversal of a movement (manager), at most once per movement."""
        return self._run(
            uow,
            lambda u: movements.reverse_movement(self.context, u, actor, movement_id, command),
        )

    def get_movement(
        self, actor: Actor, movement_id: UUID, *, uow: UnitOfWork | None = None
    ) -> Movement:
        """One movement (viewer)."""
        return self._run(uow, lambda u: movements.get_movement(u, actor, movement_id))

    def list_movements(
        self,
        actor: Actor,
        query: MovementQuery | None = None,
        *,
        after: int = 0,
        limit: int = 50,
        uow: UnitOfWork | None = None,
    ) -> Page[Movement, int]:
        """The ledger in ``seq`` order after ``after`` (viewer)."""
        return self._run(
            uow,
            lambda u: movements.list_movements(
                u, actor, query or MovementQuery(), after=after, limit=limit
            ),
        )

    # ------------------------------------------------------------ stock

    def list_location_stock(
        self,
        actor: Actor,
        query: LocationStockQuery | None = None,
        *,
        after: StockKey | None = None,
        limit: int = 50,
        uow: UnitOfWork | None = None,
    ) -> Page[LocationStock, StockKey]:
        """Non-zero on hand per (item, location) (viewer)."""
        return self._run(
            uow,
            lambda u: stock.list_location_stock(
                u, actor, query or LocationStockQuery(), after=after, limit=limit
            ),
        )

    def list_availability(
        self,
        actor: Actor,
        query: WarehouseStockQuery | None = None,
        *,
        after: StockKey | None = None,
        limit: int = 50,
        uow: UnitOfWork | None = None,
    ) -> Page[WarehouseStock, StockKey]:
        """On hand, reserved and available per (item, warehouse) (viewer)."""
        return self._run(
            uow,
            lambda u: stock.list_availability(
                self.context, u, actor, query or WarehouseStockQuery(), after=after, limit=limit
            ),
        )

    # ------------------------------------------------------------ reservations

    def reserve_stock(
        self, actor: Actor, command: reservations.ReserveStock, *, uow: UnitOfWork | None = None
    ) -> Reservation:
        """Reserve available stock in a warehouse (clerk)."""
        return self._run(uow, lambda u: reservations.reserve_stock(self.context, u, actor, command))

    def release_reservation(
        self, actor: Actor, reservation_id: UUID, *, uow: UnitOfWork | None = None
    ) -> Reservation:
        """Release an active reservation (clerk)."""
        return self._run(
            uow,
            lambda u: reservations.release_reservation(self.context, u, actor, reservation_id),
        )

    def fulfil_reservation(
        self,
        actor: Actor,
        reservation_id: UUID,
        command: reservations.FulfilReservation,
        *,
        uow: UnitOfWork | None = None,
    ) -> Movement:
        """Ship a reservation from named locations and consume it (clerk)."""
        return self._run(
            uow,
            lambda u: reservations.fulfil_reservation(
                self.context, u, actor, reservation_id, command
            ),
        )

    def get_reservation(
        self, actor: Actor, reservation_id: UUID, *, uow: UnitOfWork | None = None
    ) -> Reservation:
        """One reservation as of now (viewer)."""
        return self._run(
            uow, lambda u: reservations.get_reservation(self.context, u, actor, reservation_id)
        )

    def list_reservations(
        self,
        actor: Actor,
        query: ReservationQuery | None = None,
        *,
        after: UUID | None = None,
        limit: int = 50,
        uow: UnitOfWork | None = None,
    ) -> Page[Reservation, UUID]:
        """Reservations as of now (viewer)."""
        return self._run(
            uow,
            lambda u: reservations.list_reservations(
                self.context, u, actor, query or ReservationQuery(), after=after, limit=limit
            ),
        )

    def expire_reservations(self, *, uow: UnitOfWork | None = None) -> int:
        """Housekeeping: mark overdue reservations expired. Returns how many."""
        return self._run(uow, lambda u: reservations.expire_reservations(self.context, u))

    # ------------------------------------------------------------ counts

    def count_stock(
        self, actor: Actor, command: counts.CountStock, *, uow: UnitOfWork | None = None
    ) -> CountResult:
        """Post a stocktake (clerk); CountConflict when stock moved while counting."""
        return self._run(uow, lambda u: counts.count_stock(self.context, u, actor, command))

    # ------------------------------------------------------------ users

    def provision_user(self, command: users.CreateUser, *, uow: UnitOfWork | None = None) -> User:
        """Create a user with no role check: for trusted operators only (CLI, bootstrap)."""
        return self._run(uow, lambda u: users.provision_user(self.context, u, command))

    def create_user(
        self, actor: Actor, command: users.CreateUser, *, uow: UnitOfWork | None = None
    ) -> User:
        """Create a user (admin)."""
        return self._run(uow, lambda u: users.create_user(self.context, u, actor, command))

    def get_user(self, actor: Actor, user_id: UUID, *, uow: UnitOfWork | None = None) -> User:
        """One user (admin, or the user themself)."""
        return self._run(uow, lambda u: users.get_user(u, actor, user_id))

    def list_users(
        self,
        actor: Actor,
        *,
        after: UUID | None = None,
        limit: int = 50,
        uow: UnitOfWork | None = None,
    ) -> Page[User, UUID]:
        """All users (admin)."""
        return self._run(uow, lambda u: users.list_users(u, actor, after=after, limit=limit))

    def change_user(
        self,
        actor: Actor,
        user_id: UUID,
        changes: users.ChangeUser,
        *,
        expected_version: int | None = None,
        uow: UnitOfWork | None = None,
    ) -> User:
        """Change a user's role, active flag or password (admin)."""
        return self._run(
            uow,
            lambda u: users.change_user(
                self.context, u, actor, user_id, changes, expected_version=expected_version
            ),
        )

    def change_password(
        self,
        actor: Actor,
        current_password: str,
        new_password: str,
        *,
        uow: UnitOfWork | None = None,
    ) -> User:
        """Change one's own password, proving the current one."""
        return self._run(
            uow,
            lambda u: users.change_password(self.context, u, actor, current_password, new_password),
        )

    def authenticate(self, username: str, password: str, *, uow: UnitOfWork | None = None) -> User:
        """The user with these credentials, or AuthenticationFailed (same for every cause)."""
        return self._run(uow, lambda u: users.authenticate(self.context, u, username, password))
