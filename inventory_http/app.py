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
from inventory_http.bodies import BodyReader
from inventory_http.converter import make_converter, make_output_converter
from inventory_http.dependencies import Dependencies, SessionCookie
from inventory_http.errors import (
    inventory_error_handler,
    serialize_problem,
    unexpected_error_handler,
)
from inventory_http.idempotency import REPLAYED_HEADER, IdempotentRunner
from inventory_http.logging import configure_logging
from inventory_http.middleware import (
    CSRF_HEADER,
    REQUEST_ID_HEADER,
    SECURE_COOKIE_NAME,
    RequestIdMiddleware,
    SessionMiddleware,
    cookie_name,
)
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
from inventory_http.responses import Renderer
from inventory_http.settings import Settings

__all__ = ["create_app", "routes"]


def routes(
    deps: Dependencies,
    readiness: Mapping[str, Callable[[], None]],
    document: OpenApiResource,
) -> list[tuple[str, object]]:
    """The route table: every route of DESIGN §3 with its resource (Falcon URI templates). The
    OpenAPI document is generated from this same table."""
    return [
        ("/v1/session", SessionResource(deps)),
        ("/v1/sessions", SessionsResource(deps)),
        ("/v1/users", UsersResource(deps)),
        ("/v1/users/me/password", PasswordResource(deps)),
        ("/v1/users/{user_id:uuid}", UserResource(deps)),
        ("/v1/items", ItemsResource(deps)),
        ("/v1/items/{item_id:uuid}", ItemResource(deps)),
        ("/v1/items/{item_id:uuid}/stock", ItemStockResource(deps)),
        ("/v1/locations", LocationsResource(deps)),
        ("/v1/locations/{location_id:uuid}", LocationResource(deps)),
        ("/v1/stock", StockResource(deps)),
        ("/v1/availability", AvailabilityResource(deps)),
        ("/v1/movements", MovementsResource(deps)),
        ("/v1/movements/{movement_id:uuid}", MovementResource(deps)),
        ("/v1/movements/{movement_id:uuid}/reversal", ReversalResource(deps)),
        ("/v1/reservations", ReservationsResource(deps)),
        ("/v1/reservations/{reservation_id:uuid}", ReservationResource(deps)),
        ("/v1/reservations/{reservation_id:uuid}/fulfilment", FulfilmentResource(deps)),
        ("/v1/counts", CountsResource(deps)),
        ("/healthz", HealthResource()),
        ("/readyz", ReadinessResource(readiness)),
        ("/openapi.json", document),
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
    deps = Dependencies(
        inventory=inventory,
        sessions=sessions,
        throttle=throttle,
        bodies=BodyReader(make_converter(), settings.max_body_bytes),
        renderer=Renderer(make_output_converter()),
        runner=IdempotentRunner(
            inventory, retention=timedelta(hours=settings.idempotency_retention_hours)
        ),
        cookie=SessionCookie(cookie_name(settings), settings.cookie_secure),
    )
    document = OpenApiResource()
    table = routes(deps, readiness or {}, document)
    document.serve(
        openapi.build_document(table, cookie_name=SECURE_COOKIE_NAME, csrf_header=CSRF_HEADER)
    )
    for template, resource in table:
        app.add_route(template, resource)
    return app
