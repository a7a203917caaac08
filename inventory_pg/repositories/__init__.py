"""The Postgres repositories, one module per aggregate, each with its SQL as module constants."""

from __future__ import annotations

from inventory_pg.repositories.events import PgEventRepository
from inventory_pg.repositories.idempotency import PgIdempotencyStore
from inventory_pg.repositories.items import PgItemRepository
from inventory_pg.repositories.locations import PgLocationRepository
from inventory_pg.repositories.lots import PgLotRepository
from inventory_pg.repositories.movements import PgMovementRepository
from inventory_pg.repositories.reservations import PgReservationRepository
from inventory_pg.repositories.stock import PgStockRepository
from inventory_pg.repositories.tokens import PgTokenRepository
from inventory_pg.repositories.users import PgUserRepository
from inventory_pg.repositories.webhooks import PgDeliveryRepository, PgWebhookRepository

__all__ = [
    "PgDeliveryRepository",
    "PgEventRepository",
    "PgIdempotencyStore",
    "PgItemRepository",
    "PgLocationRepository",
    "PgLotRepository",
    "PgMovementRepository",
    "PgReservationRepository",
    "PgStockRepository",
    "PgTokenRepository",
    "PgUserRepository",
    "PgWebhookRepository",
]
