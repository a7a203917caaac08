"""The composition root of the HTTP API: :func:`create_app`.

Nothing is created at import time; every dependency comes in through :func:`create_app` (the
wiring in :mod:`inventory_http.wiring` picks the adapters) and reaches resources through their
constructors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import falcon

from inventory_core.errors import InventoryError
from inventory_core.executor import Executor
from inventory_core.ports import LoginThrottle, SessionStore
from inventory_http import openapi
from inventory_http.converter import make_converter
from inventory_http.errors import (
    inventory_error_handler,
    serialize_problem,
    unexpected_error_handler,
)
from inventory_http.idempotency import IDEMPOTENCY_HEADER, REPLAYED_HEADER, IdempotentRunner
from inventory_http.logging import configure_logging
from inventory_http.middleware import (
    CSRF_HEADER,
    REQUEST_ID_HEADER,
    RequestIdMiddleware,
    SessionMiddleware,
    cookie_name,
)
from inventory_http.resources._common import AppContext, Deps
from inventory_http.resources.counts import CountsResource
from inventory_http.resources.health import HealthResource, ReadinessResource
from inventory_http.resources.items import ItemResource, ItemsResource, ItemStockResource
from inventory_http.resources.locations import LocationResource, LocationsResource
from inventory_http.resources.movements import (
    MovementResource,
    MovementsResource,
    ReversalResource,
)
from inventory_http.resources.openapi import OpenApiResource
from inventory_http.resources.reservations import (
    FulfilmentResource,
    ReservationResource,
    ReservationsResource,
)
from inventory_http.resources.session import SessionResource, SessionsResource
from inventory_http.resources.stock import AvailabilityResource, StockResource
from inventory_http.resources.users import PasswordResource, UserResource, UsersResource
from inventory_http.settings import Settings

__all__ = ["create_app", "routes"]


def routes(
    ctx: AppContext, readiness: Mapping[str, Callable[[], None]], document: dict[str, object]
) -> list[tuple[str, object]]:
    """Every route of DESIGN §3 with its resource (Falcon URI templates)."""
    return [
        ("/v1/session", SessionResource(ctx)),
        ("/v1/sessions", SessionsResource(ctx)),
        ("/v1/users", UsersResource(ctx)),
        ("/v1/users/me/password", PasswordResource(ctx)),
        ("/v1/users/{user_id:uuid}", UserResource(ctx)),
        ("/v1/items", ItemsResource(ctx)),
        ("/v1/items/{item_id:uuid}", ItemResource(ctx)),
        ("/v1/items/{item_id:uuid}/stock", ItemStockResource(ctx)),
        ("/v1/locations", LocationsResource(ctx)),
        ("/v1/locations/{location_id:uuid}", LocationResource(ctx)),
        ("/v1/stock", StockResource(ctx)),
        ("/v1/availability", AvailabilityResource(ctx)),
        ("/v1/movements", MovementsResource(ctx)),
        ("/v1/movements/{movement_id:uuid}", MovementResource(ctx)),
        ("/v1/movements/{movement_id:uuid}/reversal", ReversalResource(ctx)),
        ("/v1/reservations", ReservationsResource(ctx)),
        ("/v1/reservations/{reservation_id:uuid}", ReservationResource(ctx)),
        ("/v1/reservations/{reservation_id:uuid}/fulfilment", FulfilmentResource(ctx)),
        ("/v1/counts", CountsResource(ctx)),
        ("/healthz", HealthResource()),
        ("/readyz", ReadinessResource(readiness)),
        ("/openapi.json", OpenApiResource(document)),
    ]


def create_app(
    settings: Settings,
    *,
    inventory: Executor,
    sessions: SessionStore,
    throttle: LoginThrottle,
    readiness: Mapping[str, Callable[[], None]] | None = None,
) -> falcon.App[falcon.Request, falcon.Response]:
    """The WSGI app of the reference API over the given use cases and stores.

    ``readiness`` maps a backing service's name ("postgres", "redis") to a callable that raises
    when the service does not answer; ``/readyz`` is 503 while any does.
    """
    configure_logging(settings.log_level)
    inventory.prepare_authentication()
    middleware: list[Any] = [RequestIdMiddleware(settings)]
    if settings.cors_origins:
        origins = list(settings.cors_origins)
        middleware.append(
            falcon.CORSMiddleware(
                allow_origins=origins,
                allow_credentials=origins,
                expose_headers=[
                    REQUEST_ID_HEADER,
                    REPLAYED_HEADER,
                    "ETag",
                    "Location",
                    "Retry-After",
                ],
            )
        )
    middleware.append(SessionMiddleware(settings, sessions))
    app = falcon.App(middleware=middleware)
    app.set_error_serializer(serialize_problem)
    app.add_error_handler(Exception, unexpected_error_handler)
    app.add_error_handler(InventoryError, inventory_error_handler)
    ctx = AppContext(
        inventory=inventory,
        sessions=sessions,
        throttle=throttle,
        deps=Deps(converter=make_converter(), max_body_bytes=settings.max_body_bytes),
        runner=IdempotentRunner(
            inventory, retention=timedelta(hours=settings.idempotency_retention_hours)
        ),
        cookie_name=cookie_name(settings),
        cookie_secure=settings.cookie_secure,
    )
    document = openapi.build_document(
        cookie_name=ctx.cookie_name, csrf_header=CSRF_HEADER, idempotency_header=IDEMPOTENCY_HEADER
    )
    for template, resource in routes(ctx, readiness or {}, document):
        app.add_route(template, resource)
    return app
