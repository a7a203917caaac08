"""inventory-core: an inventory domain library.

Items, warehouse trees, a double-entry append-only movement ledger, stock levels, reservations
with expiry, stocktakes, users and roles -- behind typing.Protocol ports, with real thread-safe
in-memory adapters and a contract test suite (``inventory_core.contract``) for your own adapters.

Start with :class:`Inventory` over :class:`InMemoryStore`::

    from inventory_core import Inventory, InMemoryStore
    inventory = Inventory(InMemoryStore().unit_of_work)
"""

from inventory_core.clocks import ManualClock, SystemClock
from inventory_core.counts import CountLine, CountResult
from inventory_core.errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConcurrencyConflict,
    CountConflict,
    CountConflictLine,
    FieldError,
    InsufficientStock,
    InvalidOperation,
    InventoryError,
    NotFound,
    PermissionDenied,
    Unavailable,
    ValidationError,
    VersionMismatch,
)
from inventory_core.ids import UuidV7Generator
from inventory_core.items import Item
from inventory_core.locations import (
    ADJUSTMENT_LOCATION_ID,
    CUSTOMER_LOCATION_ID,
    SUPPLIER_LOCATION_ID,
    Location,
    LocationKind,
)
from inventory_core.memory.store import InMemoryStore, InMemoryUnitOfWork
from inventory_core.movements import AdjustmentReason, Movement, MovementKind, MovementLine
from inventory_core.paging import Page
from inventory_core.passwords import Pbkdf2PasswordHasher
from inventory_core.ports import (
    ItemQuery,
    LocationQuery,
    LocationStockQuery,
    MovementQuery,
    ReservationQuery,
    WarehouseStockQuery,
)
from inventory_core.reservations import Reservation, ReservationStatus
from inventory_core.service import Inventory
from inventory_core.services._common import UNSET
from inventory_core.services.counts import CountStock
from inventory_core.services.items import ChangeItem, CreateItem, ItemStock
from inventory_core.services.locations import ChangeLocation, CreateLocation
from inventory_core.services.movements import LineRequest, PostMovement, ReverseMovement
from inventory_core.services.reservations import FulfilmentLine, FulfilReservation, ReserveStock
from inventory_core.services.users import ChangeUser, CreateUser
from inventory_core.stock import LocationStock, WarehouseStock
from inventory_core.users import Actor, Role, User

__version__ = "0.1.0.dev0"

__all__ = [
    "ADJUSTMENT_LOCATION_ID",
    "CUSTOMER_LOCATION_ID",
    "SUPPLIER_LOCATION_ID",
    "UNSET",
    "Actor",
    "AdjustmentReason",
    "AlreadyExists",
    "AuthenticationFailed",
    "ChangeItem",
    "ChangeLocation",
    "ChangeUser",
    "ConcurrencyConflict",
    "CountConflict",
    "CountConflictLine",
    "CountLine",
    "CountResult",
    "CountStock",
    "CreateItem",
    "CreateLocation",
    "CreateUser",
    "FieldError",
    "FulfilReservation",
    "FulfilmentLine",
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "InsufficientStock",
    "InvalidOperation",
    "Inventory",
    "InventoryError",
    "Item",
    "ItemQuery",
    "ItemStock",
    "LineRequest",
    "Location",
    "LocationKind",
    "LocationQuery",
    "LocationStock",
    "LocationStockQuery",
    "ManualClock",
    "Movement",
    "MovementKind",
    "MovementLine",
    "MovementQuery",
    "NotFound",
    "Page",
    "Pbkdf2PasswordHasher",
    "PermissionDenied",
    "PostMovement",
    "Reservation",
    "ReservationQuery",
    "ReservationStatus",
    "ReserveStock",
    "ReverseMovement",
    "Role",
    "SystemClock",
    "Unavailable",
    "User",
    "UuidV7Generator",
    "ValidationError",
    "VersionMismatch",
    "WarehouseStock",
    "WarehouseStockQuery",
]
