"""RFC 9457 problem details for every failure the API answers.

Every error response is ``application/problem+json`` with ``type``, ``title``, ``status`` and
``detail``, plus members specific to the problem (``errors`` for 422, the stock figures for
``insufficient-stock``, where a serial number is for ``serial-conflict``, ``conflicts`` for a
count conflict). Falcon's own errors (unknown route, wrong method, bad headers) go through the
same serializer; domain errors are mapped by :func:`inventory_error_handler`; anything
unexpected becomes a 500 that names nothing internal.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import falcon

from inventory_core.errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConcurrencyConflict,
    CountConflict,
    CursorExpired,
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
from inventory_core.present import present

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "PROBLEM_TYPES",
    "PROBLEM_TYPE_PREFIX",
    "RETRY_AFTER_UNAVAILABLE",
    "Problem",
    "inventory_error_handler",
    "problem_for",
    "serialize_problem",
    "unexpected_error_handler",
]

log = logging.getLogger("inventory_http.errors")

PROBLEM_CONTENT_TYPE = "application/problem+json"

PROBLEM_TYPE_PREFIX = "urn:inventory-core:problem:"
"""Problem ``type`` URIs are URNs: stable identifiers clients can switch on, not pages."""

RETRY_AFTER_UNAVAILABLE = 5
"""Seconds a client is told to wait when a backing service is down."""

PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "bad-request": (400, "A header or the request line is malformed."),
    "malformed-json": (400, "The body is not valid UTF-8 JSON."),
    "invalid-idempotency-key": (400, "Idempotency-Key is not 1-255 visible ASCII characters."),
    "unauthenticated": (
        401,
        "No live session and no valid API token: log in first, or send a valid token as "
        "`Authorization: Bearer` (the same answer whatever was wrong with the token).",
    ),
    "authentication-failed": (401, "Wrong username or password (the same for unknown users)."),
    "permission-denied": (403, "The caller's role is too low for this."),
    "csrf-token-mismatch": (403, "An unsafe method without the session's X-CSRF-Token."),
    "session-required": (403, "About the cookie session itself: not for an API token."),
    "not-found": (404, "Nothing at this path, or no such resource."),
    "method-not-allowed": (405, "The path does not take this method; see Allow."),
    "already-exists": (409, "A unique value is taken; `field` names it."),
    "insufficient-stock": (
        409,
        "Not enough stock: `item_id`, `location_id`, `available` and `requested` say where; "
        "`lot_id` names the lot short of stock (`null` when the item is not tracked by lot).",
    ),
    "serial-conflict": (
        409,
        "A serial number is not where the request says it is: a receipt of one already in "
        "stock, or a move of one from a location it is not at. `item_id`, `serial` and "
        "`location_id` (where it is; `null`: not in stock) say which.",
    ),
    "count-conflict": (409, "Stock moved while counting; `conflicts` lists the lines."),
    "limit-exceeded": (
        409,
        "A stock level or total would pass 2^53 - 1 (or -(2^53 - 1)), the largest integer JSON "
        "clients read exactly; nothing was changed. `item_id`, `location_id` (a location or a "
        "warehouse; null: the item's total), `level`, `current`, `change` and `limit` say which.",
    ),
    "invalid-operation": (409, "The resource's state does not allow this (e.g. not active)."),
    "concurrency-conflict": (409, "A concurrent change got in the way; retry."),
    "idempotency-key-in-use": (409, "The first request with this key is still running; retry."),
    "version-mismatch": (412, "If-Match names no current version."),
    "cursor-expired": (
        410,
        "The cursor is older than the events the feed still keeps (retention): start again "
        "without a cursor and resync.",
    ),
    "content-too-large": (413, "The body is larger than the server accepts."),
    "request-uri-too-long": (414, "The request target (path and query) is longer than accepted."),
    "unsupported-media-type": (415, "The body is not application/json."),
    "validation-error": (422, "Invalid fields or parameters; `errors` lists each with its path."),
    "idempotency-key-reused": (422, "The key was used for a different request."),
    "too-many-attempts": (
        429,
        "Too many failed logins or bearer tokens; wait Retry-After seconds.",
    ),
    "request-header-fields-too-large": (431, "Too many header fields, or one too large."),
    "internal-error": (500, "The server failed; the request id is in its log."),
    "unavailable": (503, "A backing service is down; retry after Retry-After seconds."),
}
"""Every problem ``type`` the API answers (after :data:`PROBLEM_TYPE_PREFIX`): its status and
what it means. Clients can switch on them; the OpenAPI document lists them per status."""


class Problem(falcon.HTTPError):
    """An HTTP error rendered as a problem document.

    ``slug`` completes the ``type`` URI; ``extra`` holds the members specific to this problem.
    """

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str | None = None,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            status,
            title=title or HTTPStatus(status).phrase,
            description=detail,
            headers=dict(headers) if headers else None,
        )
        if PROBLEM_TYPES.get(slug, (None,))[0] != status:
            raise ValueError(f"{slug!r} is no registered problem type of status {status}")
        self.slug = slug
        self.extra = dict(extra or {})


_DETAILS = {
    404: "no resource at this path",
    405: "this method is not allowed here; see the Allow header",
    400: "the request is malformed",
}


def _slug_for_status(status: int) -> str:
    """The problem type of an error Falcon raised itself (unknown route, bad header)."""
    slug = HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    if PROBLEM_TYPES.get(slug, (None,))[0] == status:
        return slug
    return next((s for s, (code, _) in PROBLEM_TYPES.items() if code == status), "bad-request")


def serialize_problem(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    """Falcon error serializer: any HTTPError as ``application/problem+json``."""
    status = falcon.code_to_http_status(error.status)
    code = int(status.split(" ", 1)[0])
    phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else status
    if isinstance(error, Problem):
        slug, title = error.slug, error.title
    else:  # Falcon's own errors: its titles repeat the status line, so use the plain phrase
        slug, title = _slug_for_status(code), phrase
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + slug,
        "title": title,
        "status": code,
        "detail": error.description or _DETAILS.get(code, phrase),
    }
    if isinstance(error, Problem):
        body.update(error.extra)
    resp.data = json.dumps(body, separators=(",", ":")).encode()
    resp.content_type = PROBLEM_CONTENT_TYPE


def problem_for(error: InventoryError) -> Problem:
    """The problem an error of the core (or of an adapter) is answered with."""
    detail = error.message
    if isinstance(error, ValidationError):
        errors = [{"path": e.path, "message": e.message} for e in error.errors]
        return Problem(
            422,
            "validation-error",
            "the request has invalid fields",
            title="Unprocessable Content",
            extra={"errors": errors},
        )
    if isinstance(error, NotFound):
        return Problem(404, "not-found", detail)
    if isinstance(error, AlreadyExists):
        return Problem(409, "already-exists", detail, extra={"field": error.field})
    if isinstance(error, InsufficientStock):
        extra = {
            "item_id": str(error.item_id),
            "location_id": str(error.location_id),
            "available": error.available,
            "requested": error.requested,
            "lot_id": None if error.lot_id is None else str(error.lot_id),
        }
        return Problem(409, "insufficient-stock", detail, extra=extra)
    if isinstance(error, SerialConflict):
        extra = {
            "item_id": str(error.item_id),
            "serial": error.serial,
            "location_id": None if error.location_id is None else str(error.location_id),
        }
        return Problem(409, "serial-conflict", detail, extra=extra)
    if isinstance(error, LimitExceeded):
        extra = {
            "item_id": str(error.item_id),
            "location_id": None if error.location_id is None else str(error.location_id),
            "level": error.level,
            "current": error.current,
            "change": error.change,
            "limit": error.limit,
        }
        return Problem(409, "limit-exceeded", detail, extra=extra)
    if isinstance(error, CountConflict):
        # Each line as the schema of CountConflictLine shows it: every field, by present().
        conflicts = [present(c) for c in error.conflicts]
        return Problem(409, "count-conflict", detail, extra={"conflicts": conflicts})
    if isinstance(error, IdempotencyKeyReused):
        return Problem(
            422,
            "idempotency-key-reused",
            "this Idempotency-Key was used for a different request",
            title="Unprocessable Content",
        )
    if isinstance(error, IdempotencyKeyInUse):
        return Problem(
            409,
            "idempotency-key-in-use",
            "a request with this Idempotency-Key is still being processed; retry later",
            headers={"Retry-After": "1"},
        )
    if isinstance(error, VersionMismatch):
        return Problem(412, "version-mismatch", detail)
    if isinstance(error, ConcurrencyConflict):
        return Problem(
            409, "concurrency-conflict", "a concurrent change got in the way; retry the request"
        )
    if isinstance(error, InvalidOperation):
        return Problem(409, "invalid-operation", detail)
    if isinstance(error, CursorExpired):
        return Problem(410, "cursor-expired", detail, title="Gone")
    if isinstance(error, PermissionDenied):
        return Problem(403, "permission-denied", detail)
    if isinstance(error, AuthenticationFailed):
        return Problem(401, "authentication-failed", detail)
    if isinstance(error, Unavailable):
        # The client only learns "retry later"; operators need the cause. Adapter messages name
        # the service and the driver's error, never credentials.
        log.warning("backing service unavailable: %s", error.message)
        return Problem(
            503,
            "unavailable",
            "a backing service is unavailable; retry later",
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        )
    log.error("unmapped inventory error %s", type(error).__name__)
    return Problem(500, "internal-error", "the server failed to answer this request")


def inventory_error_handler(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
) -> None:
    """Falcon error handler for :class:`InventoryError`: re-raised as its :class:`Problem`."""
    assert isinstance(error, InventoryError)
    raise problem_for(error)


def unexpected_error_handler(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
) -> None:
    """Falcon error handler of last resort: log the traceback, answer a bare 500."""
    log.error(
        "unhandled %s while serving %s %s",
        type(error).__name__,
        req.method,
        req.path,
        exc_info=error,
    )
    raise Problem(500, "internal-error", "the server failed to answer this request")
