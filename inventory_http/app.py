"""The composition root of the HTTP API: :func:`create_app`.

Nothing is created at import time; every dependency comes in through :func:`create_app` (the
wiring in :mod:`inventory_http.wiring` picks the adapters) and reaches resources through their
constructors.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import falcon

from inventory_core.errors import InventoryError, Unavailable
from inventory_core.executor import Executor
from inventory_core.ports import LoginThrottle, SessionStore
from inventory_http import openapi
from inventory_http.bodies import BodyReader
from inventory_http.converter import make_converter
from inventory_http.dependencies import Dependencies, SessionCookie
from inventory_http.errors import (
    inventory_error_handler,
    serialize_problem,
    unexpected_error_handler,
)
from inventory_http.idempotency import REPLAYED_HEADER, IdempotentRunner
from inventory_http.logging import configure_logging
from inventory_http.metrics import Metrics, MetricsMiddleware, service_of
from inventory_http.middleware import (
    CSRF_HEADER,
    REQUEST_ID_HEADER,
    SECURE_COOKIE_NAME,
    RequestIdMiddleware,
    SessionMiddleware,
    cookie_name,
)
from inventory_http.resources.counts import CountsResource
from inventory_http.resources.events import EventsResource
from inventory_http.resources.health import HealthResource, ReadinessResource
from inventory_http.resources.items import ItemResource, ItemsResource, ItemStockResource
from inventory_http.resources.locations import LocationResource, LocationsResource
from inventory_http.resources.lots import (
    LotResource,
    LotsResource,
    PickingResource,
    SerialResource,
)
from inventory_http.resources.metrics import MetricsResource
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
from inventory_http.resources.tokens import TokenResource, TokensResource
from inventory_http.resources.users import PasswordResource, UserResource, UsersResource
from inventory_http.resources.webhooks import (
    DeliveriesResource,
    WebhookResource,
    WebhooksResource,
)
from inventory_http.responses import Renderer
from inventory_http.settings import Settings

__all__ = [
    "MAX_HEADER_FIELDS",
    "MAX_HEADER_FIELD_BYTES",
    "MAX_TARGET_BYTES",
    "RequestLimits",
    "create_app",
    "routes",
]

MAX_TARGET_BYTES = 4096
"""Longest request target (path and query, as sent) the app serves; longer is 414."""
MAX_HEADER_FIELDS = 100
"""Most header fields (distinct names) the app serves; more is 431."""
MAX_HEADER_FIELD_BYTES = 8190
"""Longest header field (``name: value``) the app serves; longer is 431."""


class RequestLimits:
    """Refuses oversized request targets (414) and header sets (431) as problem documents.

    gunicorn refuses them first, as an HTML page without this app's headers, once its own limits
    are passed; :func:`inventory_http.wsgi.gunicorn_options` sets those a little above these, so
    a request just over a limit reaches this middleware and gets a problem document (with
    ``X-Request-Id`` and ``nosniff``) instead. Runs before routing: an overlong path is a 414,
    not a 404.
    """

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        env = req.env
        # gunicorn's RAW_URI is the target as sent; elsewhere it may lack the query, or be
        # missing (then the decoded path stands in for it).
        target = env.get("RAW_URI") or env.get("PATH_INFO", "")
        query = env.get("QUERY_STRING", "")
        if query and "?" not in target:
            target += "?" + query
        if len(target) > MAX_TARGET_BYTES:
            raise falcon.HTTPUriTooLong(
                description=f"request targets are limited to {MAX_TARGET_BYTES} bytes"
            )
        fields = 0
        for key, value in env.items():
            if key.startswith("HTTP_"):
                name_length = len(key) - len("HTTP_")
            elif key in {"CONTENT_TYPE", "CONTENT_LENGTH"}:
                name_length = len(key)
            else:
                continue
            fields += 1
            if name_length + len(": ") + len(value) > MAX_HEADER_FIELD_BYTES:
                raise falcon.HTTPRequestHeaderFieldsTooLarge(
                    description=f"a header field is limited to {MAX_HEADER_FIELD_BYTES} bytes"
                )
        if fields > MAX_HEADER_FIELDS:
            raise falcon.HTTPRequestHeaderFieldsTooLarge(
                description=f"requests are limited to {MAX_HEADER_FIELDS} header fields"
            )


def routes(
    deps: Dependencies,
    readiness: Mapping[str, Callable[[], None]],
    document: OpenApiResource,
) -> list[tuple[str, object]]:
    """The route table: every route of DESIGN §3, §10, §11 and §12 with its resource (Falcon
    URI templates). The OpenAPI document is generated from this same table."""
    return [
        ("/v1/session", SessionResource(deps)),
        ("/v1/sessions", SessionsResource(deps)),
        ("/v1/users", UsersResource(deps)),
        ("/v1/users/me/password", PasswordResource(deps)),
        ("/v1/users/{user_id:uuid}", UserResource(deps)),
        ("/v1/tokens", TokensResource(deps)),
        ("/v1/tokens/{token_id:uuid}", TokenResource(deps)),
        ("/v1/items", ItemsResource(deps)),
        ("/v1/items/{item_id:uuid}", ItemResource(deps)),
        ("/v1/items/{item_id:uuid}/stock", ItemStockResource(deps)),
        # A serial number may hold a "/": the path converter takes the rest of the path.
        ("/v1/items/{item_id:uuid}/serials/{serial:path}", SerialResource(deps)),
        ("/v1/locations", LocationsResource(deps)),
        ("/v1/locations/{location_id:uuid}", LocationResource(deps)),
        ("/v1/stock", StockResource(deps)),
        ("/v1/availability", AvailabilityResource(deps)),
        ("/v1/picking", PickingResource(deps)),
        ("/v1/lots", LotsResource(deps)),
        ("/v1/lots/{lot_id:uuid}", LotResource(deps)),
        ("/v1/movements", MovementsResource(deps)),
        ("/v1/movements/{movement_id:uuid}", MovementResource(deps)),
        ("/v1/movements/{movement_id:uuid}/reversal", ReversalResource(deps)),
        ("/v1/reservations", ReservationsResource(deps)),
        ("/v1/reservations/{reservation_id:uuid}", ReservationResource(deps)),
        ("/v1/reservations/{reservation_id:uuid}/fulfilment", FulfilmentResource(deps)),
        ("/v1/counts", CountsResource(deps)),
        ("/v1/events", EventsResource(deps)),
        ("/v1/webhooks", WebhooksResource(deps)),
        ("/v1/webhooks/{webhook_id:uuid}", WebhookResource(deps)),
        ("/v1/webhooks/{webhook_id:uuid}/deliveries", DeliveriesResource(deps)),
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
    metrics: Metrics | None = None,
) -> falcon.App[falcon.Request, falcon.Response]:
    """The WSGI app of the reference API over the given use cases and stores.

    ``readiness`` maps a backing service's name ("postgres", "redis") to a callable that raises
    when the service does not answer; ``/readyz`` is 503 while any does. With
    ``settings.metrics``, ``GET /metrics`` serves ``metrics`` (a bare :class:`Metrics` when none
    is given: no pool or feed readings).
    """
    if settings.metrics and metrics is None:
        metrics = Metrics()
    if not settings.metrics:
        metrics = None
    configure_logging(settings.log_level)
    inventory.prepare_authentication()
    # RequestLimits comes after RequestIdMiddleware, whose response headers its 414/431 then get.
    middleware: list[Any] = [RequestIdMiddleware(settings), RequestLimits()]
    if metrics is not None:  # first in, last out: it times what the others do too
        middleware.insert(0, MetricsMiddleware(metrics))
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
    middleware.append(SessionMiddleware(settings, sessions, inventory=inventory, throttle=throttle))
    app = falcon.App(middleware=middleware)
    app.set_error_serializer(serialize_problem)
    app.add_error_handler(Exception, unexpected_error_handler)
    app.add_error_handler(InventoryError, inventory_error_handler)
    if metrics is not None:
        app.add_error_handler(Unavailable, _counting_unavailable(metrics))
    deps = Dependencies(
        inventory=inventory,
        sessions=sessions,
        throttle=throttle,
        bodies=BodyReader(make_converter(), settings.max_body_bytes),
        renderer=Renderer(),
        runner=IdempotentRunner(
            inventory,
            fingerprint_key=_fingerprint_key(settings),
            retention=timedelta(hours=settings.idempotency_retention_hours),
        ),
        cookie=SessionCookie(cookie_name(settings), settings.cookie_secure),
    )
    document = OpenApiResource()
    table = routes(deps, readiness or {}, document)
    if metrics is not None:
        table.append(("/metrics", MetricsResource(metrics)))
    document.serve(
        openapi.build_document(table, cookie_name=SECURE_COOKIE_NAME, csrf_header=CSRF_HEADER)
    )
    for template, resource in table:
        _serve_head_like_get(resource)
        app.add_route(template, resource)
    return app


def _counting_unavailable(metrics: Metrics) -> Callable[..., None]:
    """The error handler of ``Unavailable`` when metrics are on: count it by service, then
    answer as every other core error."""

    def handle(
        req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
    ) -> None:
        metrics.service_errors.labels(service_of(error)).inc()
        inventory_error_handler(req, resp, error, params)

    return handle


def _fingerprint_key(settings: Settings) -> bytes:
    """The idempotency HMAC key: the configured secret, else a random one for this process
    (the embedded default: one process, its records in its own memory)."""
    if settings.idempotency_secret is not None:
        return settings.idempotency_secret.encode()
    return secrets.token_bytes(32)


def _serve_head_like_get(resource: object) -> None:
    """Give a resource that serves GET a HEAD responder: the GET one itself.

    RFC 9110 asks HEAD to answer as GET without the body, and Falcon answers 405 unless the
    resource has ``on_head``. Being the same responder, it carries the same declaration, so
    the middleware authenticates HEAD exactly as GET; Falcon drops the body and keeps the
    headers (Content-Length, ETag, Content-Type). The OpenAPI document does not list HEAD.
    """
    get = getattr(resource, "on_get", None)
    if get is not None and getattr(resource, "on_head", None) is None:
        setattr(resource, "on_head", get)  # noqa: B010 -- an attribute no resource declares
