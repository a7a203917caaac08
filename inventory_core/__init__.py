"""inventory-core: an inventory domain library.

Items, warehouse trees, a double-entry append-only movement ledger, stock levels, reservations
with expiry, stocktakes, users and roles -- behind typing.Protocol ports, with real thread-safe
in-memory adapters and a contract test suite (``inventory_core.contract``) for your own adapters.

Start with an :class:`Executor` over :class:`InMemoryStore`, and give it commands::

    from inventory_core import Executor, InMemoryStore, ProvisionUser, Role
    inventory = Executor(InMemoryStore().unit_of_work)
    admin = inventory.execute(None, ProvisionUser("admin", "a long password", Role.ADMIN)).actor
"""

from inventory_core.clocks import ManualClock, SystemClock
from inventory_core.commands import Command
from inventory_core.counts import CountLine, CountResult
from inventory_core.errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConcurrencyConflict,
    CountConflict,
    CountConflictLine,
    FieldError,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidOperation,
    InventoryError,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    SerialConflict,
    Unavailable,
    ValidationError,
    VersionMismatch,
)
from inventory_core.executor import Answer, Executor, Response, command_fingerprint
from inventory_core.feed import FEED_START, FeedPage, FeedPosition
from inventory_core.ids import UuidV7Generator
from inventory_core.items import Item
from inventory_core.locations import (
    ADJUSTMENT_LOCATION_ID,
    CUSTOMER_LOCATION_ID,
    SUPPLIER_LOCATION_ID,
    Location,
    LocationKind,
)
from inventory_core.lots import Lot, LotDetail, LotLevel, SerialLevel, Tracking
from inventory_core.memory.store import InMemoryStore, InMemoryUnitOfWork
from inventory_core.movements import AdjustmentReason, Movement, MovementKind, MovementLine
from inventory_core.paging import Page
from inventory_core.passwords import Pbkdf2PasswordHasher
from inventory_core.ports import (
    ItemQuery,
    LocationQuery,
    LocationStockQuery,
    LotLevelQuery,
    LotQuery,
    MovementQuery,
    ReservationQuery,
    SerialQuery,
    WarehouseStockQuery,
)
from inventory_core.reservations import Reservation, ReservationStatus
from inventory_core.services.counts import CountStock
from inventory_core.services.items import (
    ChangeItem,
    CreateItem,
    GetItem,
    GetItemStock,
    ItemChanges,
    ItemStock,
    ListItems,
)
from inventory_core.services.locations import (
    ChangeLocation,
    CreateLocation,
    GetLocation,
    ListLocations,
    LocationChanges,
)
from inventory_core.services.lots import (
    GetLot,
    GetSerial,
    ListLots,
    PickLine,
    PickList,
    SerialHistory,
    SuggestPicking,
)
from inventory_core.services.movements import (
    GetMovement,
    LineRequest,
    ListMovements,
    PostMovement,
    ReverseMovement,
)
from inventory_core.services.reservations import (
    ExpireReservations,
    FulfilmentLine,
    FulfilReservation,
    GetReservation,
    ListReservations,
    ReleaseReservation,
    ReserveStock,
)
from inventory_core.services.stock import ListAvailability, ListLocationStock
from inventory_core.services.tokens import (
    AuthenticateToken,
    CreateToken,
    IssuedToken,
    ListTokens,
    RevokeToken,
)
from inventory_core.services.users import (
    Authenticate,
    ChangePassword,
    ChangeUser,
    CreateUser,
    GetUser,
    ListUsers,
    ProvisionUser,
    UserChanges,
)
from inventory_core.stock import LocationStock, WarehouseStock
from inventory_core.tokens import ApiToken
from inventory_core.unset import UNSET
from inventory_core.users import Actor, Role, User

__version__ = "0.1.0.dev0"

__all__ = [
    "ADJUSTMENT_LOCATION_ID",
    "CUSTOMER_LOCATION_ID",
    "FEED_START",
    "SUPPLIER_LOCATION_ID",
    "UNSET",
    "Actor",
    "AdjustmentReason",
    "AlreadyExists",
    "Answer",
    "ApiToken",
    "Authenticate",
    "AuthenticateToken",
    "AuthenticationFailed",
    "ChangeItem",
    "ChangeLocation",
    "ChangePassword",
    "ChangeUser",
    "Command",
    "ConcurrencyConflict",
    "CountConflict",
    "CountConflictLine",
    "CountLine",
    "CountResult",
    "CountStock",
    "CreateItem",
    "CreateLocation",
    "CreateToken",
    "CreateUser",
    "Executor",
    "ExpireReservations",
    "FeedPage",
    "FeedPosition",
    "FieldError",
    "FulfilReservation",
    "FulfilmentLine",
    "GetItem",
    "GetItemStock",
    "GetLocation",
    "GetLot",
    "GetMovement",
    "GetReservation",
    "GetSerial",
    "GetUser",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "InsufficientStock",
    "InvalidOperation",
    "InventoryError",
    "IssuedToken",
    "Item",
    "ItemChanges",
    "ItemQuery",
    "ItemStock",
    "LimitExceeded",
    "LineRequest",
    "ListAvailability",
    "ListItems",
    "ListLocationStock",
    "ListLocations",
    "ListLots",
    "ListMovements",
    "ListReservations",
    "ListTokens",
    "ListUsers",
    "Location",
    "LocationChanges",
    "LocationKind",
    "LocationQuery",
    "LocationStock",
    "LocationStockQuery",
    "Lot",
    "LotDetail",
    "LotLevel",
    "LotLevelQuery",
    "LotQuery",
    "ManualClock",
    "Movement",
    "MovementKind",
    "MovementLine",
    "MovementQuery",
    "NotFound",
    "Page",
    "Pbkdf2PasswordHasher",
    "PermissionDenied",
    "PickLine",
    "PickList",
    "PostMovement",
    "ProvisionUser",
    "ReleaseReservation",
    "Reservation",
    "ReservationQuery",
    "ReservationStatus",
    "ReserveStock",
    "Response",
    "ReverseMovement",
    "RevokeToken",
    "Role",
    "SerialConflict",
    "SerialHistory",
    "SerialLevel",
    "SerialQuery",
    "SuggestPicking",
    "SystemClock",
    "Tracking",
    "Unavailable",
    "User",
    "UserChanges",
    "UuidV7Generator",
    "ValidationError",
    "VersionMismatch",
    "WarehouseStock",
    "WarehouseStockQuery",
    "command_fingerprint",
]
