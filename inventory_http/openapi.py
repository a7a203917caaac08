"""The OpenAPI 3.1 document of the API, built from data in code.

Request body schemas are derived from the DTOs of :mod:`inventory_http.dto` (so the document
cannot drift from what the converter accepts); response schemas are written out below; the table
:data:`OPERATIONS` lists every route with its parameters, responses and errors. A test checks
that the routes the app serves and the ones described here are the same set.
"""

from __future__ import annotations

import enum
import types
import typing
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from inventory_core.locations import LocationKind
from inventory_core.movements import AdjustmentReason, MovementKind
from inventory_core.reservations import ReservationStatus
from inventory_core.services._common import Unset
from inventory_core.users import Role
from inventory_http import dto
from inventory_http.converter import BOUNDS

__all__ = ["OPERATIONS", "Operation", "build_document", "dto_schema"]

# ---------------------------------------------------------------- request schemas from DTOs


def _type_schema(cls: Any) -> dict[str, Any]:
    if cls is str:
        return {"type": "string"}
    if cls is bool:
        return {"type": "boolean"}
    if cls is int:
        return {"type": "integer"}
    if cls in BOUNDS:
        low, high = BOUNDS[cls]
        return {"type": "integer", "minimum": low, "maximum": high}
    if cls is UUID:
        return {"type": "string", "format": "uuid"}
    if cls is datetime:
        return {"type": "string", "format": "date-time"}
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        return {"type": "string", "enum": [m.value for m in cls]}
    if attrs.has(cls):
        return dto_schema(cls)
    origin = typing.get_origin(cls)
    if origin in (tuple, list):
        return {"type": "array", "items": _type_schema(typing.get_args(cls)[0])}
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(cls) if a is not Unset]
        nullable = type(None) in args
        rest = [a for a in args if a is not type(None)]
        schema = (
            _type_schema(rest[0]) if len(rest) == 1 else {"anyOf": [_type_schema(a) for a in rest]}
        )
        return {"anyOf": [schema, {"type": "null"}]} if nullable else schema
    raise TypeError(f"no schema for {cls!r}")


def dto_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema of a request DTO: its fields, which are required, no other keys."""
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        schema = _type_schema(hints[field.name])
        extra = field.metadata.get("schema", {})
        if "anyOf" in schema and extra:  # a nullable field: the hints describe the value
            schema = {"anyOf": [{**schema["anyOf"][0], **extra}, schema["anyOf"][1]]}
        else:
            schema = {**schema, **extra}
        properties[field.name] = schema
        if field.default is attrs.NOTHING:
            required.append(field.name)
    result: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        result["required"] = required
    return result


# ---------------------------------------------------------------- response schemas


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Any], *, closed: bool = True) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": not closed,
    }


_ID = {"type": "string", "format": "uuid"}
_OPT_ID = {"type": ["string", "null"], "format": "uuid"}
_TIME = {"type": "string", "format": "date-time"}
_OPT_TIME = {"type": ["string", "null"], "format": "date-time"}
_INT = {"type": "integer"}
_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}
_BOOL = {"type": "boolean"}


def _enum(cls: type[enum.Enum], *, nullable: bool = False) -> dict[str, Any]:
    values: list[Any] = [m.value for m in cls]
    return {"enum": [*values, None]} if nullable else {"type": "string", "enum": values}


def _collection(item: str) -> dict[str, Any]:
    return _obj({"data": {"type": "array", "items": _ref(item)}, "next_cursor": _OPT_STR})


_LOCATION_STOCK = _obj(
    {"item_id": _ID, "location_id": _ID, "warehouse_id": _OPT_ID, "on_hand": _INT}
)
_WAREHOUSE_STOCK = _obj(
    {"item_id": _ID, "warehouse_id": _ID, "on_hand": _INT, "reserved": _INT, "available": _INT}
)
_CONFLICT = _obj({"item_id": _ID, "location_id": _ID, "expected_on_hand": _INT, "on_hand": _INT})
_PROBLEM = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": _STR,
        "status": _INT,
        "detail": _STR,
    },
    "required": ["type", "title", "status", "detail"],
}

SCHEMAS: dict[str, Any] = {
    "Problem": _PROBLEM,
    "ValidationProblem": {
        "allOf": [
            _ref("Problem"),
            {
                "type": "object",
                "properties": {
                    "errors": {
                        "type": "array",
                        "items": _obj({"path": _STR, "message": _STR}),
                    }
                },
            },
        ]
    },
    "ConflictProblem": {
        "description": "409: a taken unique value (``field``), insufficient stock (item, "
        "location, available, requested), a count conflict (``conflicts``), an invalid "
        "operation, or an Idempotency-Key still in use.",
        "allOf": [
            _ref("Problem"),
            {
                "type": "object",
                "properties": {
                    "field": _STR,
                    "item_id": _ID,
                    "location_id": _ID,
                    "available": _INT,
                    "requested": _INT,
                    "conflicts": {"type": "array", "items": _CONFLICT},
                },
            },
        ],
    },
    "User": _obj(
        {
            "id": _ID,
            "username": _STR,
            "role": _enum(Role),
            "active": _BOOL,
            "version": _INT,
            "created_at": _TIME,
            "updated_at": _TIME,
        }
    ),
    "Session": _obj({"user": _ref("User"), "csrf_token": _STR, "expires_at": _TIME}),
    "SessionSummary": _obj(
        {
            "created_at": _TIME,
            "last_seen_at": _TIME,
            "expires_at": _TIME,
            "user_agent": _OPT_STR,
            "remember": _BOOL,
            "current": _BOOL,
        }
    ),
    "Item": _obj(
        {
            "id": _ID,
            "sku": _STR,
            "name": _STR,
            "unit": _STR,
            "barcodes": {"type": "array", "items": _STR},
            "reorder_point": {"type": ["integer", "null"]},
            "reorder_quantity": {"type": ["integer", "null"]},
            "active": _BOOL,
            "version": _INT,
            "created_at": _TIME,
            "updated_at": _TIME,
        }
    ),
    "Location": _obj(
        {
            "id": _ID,
            "code": _STR,
            "name": _STR,
            "kind": _enum(LocationKind),
            "parent_id": _OPT_ID,
            "warehouse_id": _OPT_ID,
            "active": _BOOL,
            "version": _INT,
            "created_at": _TIME,
            "updated_at": _TIME,
        }
    ),
    "Movement": _obj(
        {
            "id": _ID,
            "seq": _INT,
            "kind": _enum(MovementKind),
            "reason": _enum(AdjustmentReason, nullable=True),
            "reference": _OPT_STR,
            "note": _OPT_STR,
            "actor_id": _ID,
            "occurred_at": _TIME,
            "recorded_at": _TIME,
            "reverses_id": _OPT_ID,
            "reservation_id": _OPT_ID,
            "lines": {
                "type": "array",
                "items": _obj(
                    {
                        "item_id": _ID,
                        "quantity": _INT,
                        "from_location_id": _ID,
                        "to_location_id": _ID,
                    }
                ),
            },
        }
    ),
    "Reservation": _obj(
        {
            "id": _ID,
            "item_id": _ID,
            "warehouse_id": _ID,
            "quantity": _INT,
            "status": _enum(ReservationStatus),
            "reference": _OPT_STR,
            "expires_at": _OPT_TIME,
            "actor_id": _ID,
            "created_at": _TIME,
            "updated_at": _TIME,
        }
    ),
    "LocationStock": _LOCATION_STOCK,
    "WarehouseStock": _WAREHOUSE_STOCK,
    "ItemStock": _obj(
        {
            "item_id": _ID,
            "on_hand": _INT,
            "reserved": _INT,
            "available": _INT,
            "warehouses": {"type": "array", "items": _ref("WarehouseStock")},
            "locations": {"type": "array", "items": _ref("LocationStock")},
        }
    ),
    "CountResult": _obj(
        {
            "movement": {"anyOf": [_ref("Movement"), {"type": "null"}]},
            "conflicts": {"type": "array", "items": _CONFLICT},
        }
    ),
    "Health": _obj({"status": {"type": "string", "enum": ["ok"]}}),
    "Readiness": _obj(
        {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "checks": {
                "type": "object",
                "additionalProperties": {"type": "string", "enum": ["ok", "unavailable"]},
            },
        }
    ),
}
for _name in ("User", "SessionSummary", "Item", "Location", "Reservation"):
    SCHEMAS[_name + "Page"] = _collection(_name)
# A feed page also says where to resume from later, on every page (DESIGN §9).
SCHEMAS["MovementPage"] = _obj(
    {
        "data": {"type": "array", "items": _ref("Movement")},
        "next_cursor": _OPT_STR,
        "position": _STR,
    }
)
SCHEMAS["LocationStockPage"] = _collection("LocationStock")
SCHEMAS["WarehouseStockPage"] = _collection("WarehouseStock")


# ---------------------------------------------------------------- operations


@attrs.frozen
class Operation:
    """One route and method: what it takes, what it answers."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    ok: int
    response: str | None = None  # component schema of the success body
    body: type | None = None
    body_optional: bool = False
    query: tuple[str, ...] = ()
    auth: bool = True
    errors: tuple[int, ...] = ()
    etag: bool = False  # answers ETag; GET honours If-None-Match, PATCH If-Match
    location: bool = False


_PAGING = ("limit", "cursor")

OPERATIONS: tuple[Operation, ...] = (
    Operation("post", "/v1/session", "login", "Log in", "session", 201, "Session",
              dto.LoginBody, auth=False, errors=(401, 429)),
    Operation("get", "/v1/session", "getSession", "The current session", "session", 200,
              "Session"),
    Operation("delete", "/v1/session", "logout", "Log out", "session", 204),
    Operation("get", "/v1/sessions", "listSessions", "The caller's sessions", "session", 200,
              "SessionSummaryPage"),
    Operation("delete", "/v1/sessions", "logoutEverywhere", "End all the caller's sessions",
              "session", 204),
    Operation("post", "/v1/users", "createUser", "Create a user (admin)", "users", 201, "User",
              dto.CreateUserBody, errors=(409,)),
    Operation("get", "/v1/users", "listUsers", "Users (admin)", "users", 200, "UserPage",
              query=_PAGING),
    Operation("patch", "/v1/users/{user_id}", "changeUser", "Change a user (admin)", "users",
              200, "User", dto.ChangeUserBody, errors=(409,), etag=True),
    Operation("put", "/v1/users/me/password", "changePassword", "Change one's own password",
              "users", 204, None, dto.ChangePasswordBody, errors=(429,)),
    Operation("post", "/v1/items", "createItem", "Create an item (manager)", "items", 201,
              "Item", dto.CreateItemBody, errors=(409,), etag=True, location=True),
    Operation("get", "/v1/items", "listItems", "Items", "items", 200, "ItemPage",
              query=("sku", "barcode", "q", "active", *_PAGING)),
    Operation("get", "/v1/items/{item_id}", "getItem", "One item", "items", 200, "Item",
              etag=True),
    Operation("patch", "/v1/items/{item_id}", "changeItem", "Change an item (manager)",
              "items", 200, "Item", dto.ChangeItemBody, errors=(409,), etag=True),
    Operation("get", "/v1/items/{item_id}/stock", "getItemStock", "An item's stock",
              "stock", 200, "ItemStock"),
    Operation("post", "/v1/locations", "createLocation", "Create a location (manager)",
              "locations", 201, "Location", dto.CreateLocationBody, errors=(409,), etag=True,
              location=True),
    Operation("get", "/v1/locations", "listLocations", "Locations", "locations", 200,
              "LocationPage", query=("parent_id", "kind", "warehouse_id", *_PAGING)),
    Operation("get", "/v1/locations/{location_id}", "getLocation", "One location",
              "locations", 200, "Location", etag=True),
    Operation("patch", "/v1/locations/{location_id}", "changeLocation",
              "Change a location (manager)", "locations", 200, "Location",
              dto.ChangeLocationBody, errors=(409,), etag=True),
    Operation("get", "/v1/stock", "listStock", "On hand per item and location", "stock", 200,
              "LocationStockPage", query=("item_id", "location_id", "warehouse_id", *_PAGING)),
    Operation("get", "/v1/availability", "listAvailability",
              "On hand, reserved and available per item and warehouse", "stock", 200,
              "WarehouseStockPage", query=("item_id", "warehouse_id", "below_reorder", *_PAGING)),
    Operation("post", "/v1/movements", "postMovement", "Post a movement (clerk)", "movements",
              201, "Movement", dto.MovementBody, errors=(409,), location=True),
    Operation("get", "/v1/movements", "listMovements", "The ledger in seq order", "movements",
              200, "MovementPage", query=("item_id", "location_id", *_PAGING)),
    Operation("get", "/v1/movements/{movement_id}", "getMovement", "One movement",
              "movements", 200, "Movement"),
    Operation("post", "/v1/movements/{movement_id}/reversal", "reverseMovement",
              "Reverse a movement (manager)", "movements", 201, "Movement", dto.ReversalBody,
              body_optional=True, errors=(409,), location=True),
    Operation("post", "/v1/reservations", "reserveStock", "Reserve stock (clerk)",
              "reservations", 201, "Reservation", dto.ReservationBody, errors=(409,),
              location=True),
    Operation("get", "/v1/reservations", "listReservations", "Reservations", "reservations",
              200, "ReservationPage",
              query=("item_id", "warehouse_id", "status", "reference", *_PAGING)),
    Operation("get", "/v1/reservations/{reservation_id}", "getReservation", "One reservation",
              "reservations", 200, "Reservation"),
    Operation("delete", "/v1/reservations/{reservation_id}", "releaseReservation",
              "Release a reservation (clerk)", "reservations", 204, errors=(409,)),
    Operation("post", "/v1/reservations/{reservation_id}/fulfilment", "fulfilReservation",
              "Ship a reservation (clerk)", "reservations", 201, "Movement", dto.FulfilmentBody,
              errors=(409,), location=True),
    Operation("post", "/v1/counts", "postCount", "Post a stocktake (clerk)", "counts", 201,
              "CountResult", dto.CountBody, errors=(409,)),
    Operation("get", "/healthz", "health", "Liveness", "health", 200, "Health", auth=False),
    Operation("get", "/readyz", "readiness", "Readiness", "health", 200, "Readiness",
              auth=False, errors=(503,)),
    Operation("get", "/openapi.json", "openapi", "This document", "health", 200, None,
              auth=False),
)  # fmt: skip

_QUERY: dict[str, tuple[str, dict[str, Any]]] = {
    "limit": ("Page size", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
    "cursor": (
        "next_cursor of the previous page (for the movement feed: next_cursor, or the position "
        "of any page)",
        {"type": "string"},
    ),
    "sku": ("Exact SKU", {"type": "string"}),
    "barcode": ("Exact barcode", {"type": "string"}),
    "q": ("Text in SKU or name (case-insensitive)", {"type": "string"}),
    "active": ("Only (in)active ones", {"type": "boolean"}),
    "below_reorder": ("Only levels below the reorder point", {"type": "boolean"}),
    "item_id": ("Only this item", _ID),
    "location_id": ("Only this location", _ID),
    "warehouse_id": ("Only this warehouse", _ID),
    "parent_id": ("Only children of this location", _ID),
    "kind": ("Only this kind", _enum(LocationKind)),
    "status": ("Only this status", _enum(ReservationStatus)),
    "reference": ("Only this reference", {"type": "string"}),
}

_ERROR_TEXT = {
    304: "Not modified (If-None-Match matched)",
    400: "Malformed request (JSON, header or Idempotency-Key)",
    401: "Not logged in, or bad credentials",
    403: "Role too low, or missing/wrong X-CSRF-Token",
    404: "No such resource",
    409: "Conflict",
    412: "If-Match does not name the current version",
    413: "Body too large",
    415: "Body is not application/json",
    422: "Invalid fields or parameters, or Idempotency-Key reused for another request",
    429: "Too many attempts; see Retry-After",
    503: "A backing service is unavailable; see Retry-After",
}


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


def _error_response(status: int) -> dict[str, Any]:
    schema = {422: "ValidationProblem", 409: "ConflictProblem"}.get(status, "Problem")
    response: dict[str, Any] = {
        "description": _ERROR_TEXT[status],
        "content": {"application/problem+json": {"schema": _ref(schema)}},
    }
    if status in {429, 503, 409}:
        response["headers"] = {"Retry-After": _header("Seconds to wait", {"type": "string"})}
    return response


def _operation(op: Operation, names: dict[str, str]) -> dict[str, Any]:  # noqa: PLR0915
    parameters: list[dict[str, Any]] = []
    for segment in op.path.split("/"):
        if segment.startswith("{"):
            name = segment.strip("{}")
            parameters.append({"name": name, "in": "path", "required": True, "schema": _ID})
    for name in op.query:
        description, schema = _QUERY[name]
        parameters.append(
            {"name": name, "in": "query", "required": False, "description": description,
             "schema": schema}
        )  # fmt: skip
    if op.method == "post":
        parameters.append(
            {
                "name": names["idempotency"],
                "in": "header",
                "required": False,
                "description": "Makes retries safe: the first completed answer is replayed",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                           "pattern": "^[!-~]+$"},
            }
        )  # fmt: skip
    if op.etag and op.method in {"get", "patch"}:
        header = "If-None-Match" if op.method == "get" else "If-Match"
        parameters.append(
            {"name": header, "in": "header", "required": False, "schema": {"type": "string"}}
        )

    ok: dict[str, Any] = {"description": "Success"}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": _ref(op.response)}}
    elif op.path == "/openapi.json":
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    headers: dict[str, Any] = {}
    if op.etag:
        headers["ETag"] = _header("The version, as a strong entity tag")
    if op.location:
        headers["Location"] = _header("Where the created resource lives")
    if op.method == "post" and op.auth:
        headers["Idempotent-Replayed"] = _header("true when this is a stored answer replayed")
    if op.operation_id == "login":
        headers["Set-Cookie"] = _header("The session cookie (HttpOnly, SameSite=Lax)")
    if headers:
        ok["headers"] = headers
    responses: dict[str, Any] = {str(op.ok): ok}

    statuses = {400, 503, *op.errors}
    if op.auth:
        statuses |= {401, 403}
    if op.query or op.body is not None or op.method == "post":
        statuses.add(422)
    if "{" in op.path:
        statuses.add(404)
    if op.body is not None:
        statuses |= {413, 415}
    if op.method == "post" and op.auth:
        statuses.add(409)
    if op.etag and op.method == "patch":
        statuses.add(412)
    if op.etag and op.method == "get":
        responses["304"] = {"description": _ERROR_TEXT[304]}
    if op.response == "Readiness":
        statuses.discard(503)
        responses["503"] = {
            "description": "Some backing service does not answer",
            "content": {"application/json": {"schema": _ref("Readiness")}},
        }
    for status in sorted(statuses):
        responses[str(status)] = _error_response(status)

    operation: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if op.body is not None:
        operation["requestBody"] = {
            "required": not op.body_optional,
            "content": {"application/json": {"schema": dto_schema(op.body)}},
        }
    if not op.auth:
        operation["security"] = []
    elif op.method != "get":
        operation["security"] = [{"sessionCookie": [], "csrfToken": []}]
    return operation


def build_document(
    *, cookie_name: str, csrf_header: str, idempotency_header: str
) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    names = {"idempotency": idempotency_header}
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, names)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "inventory-core reference API",
            "version": "1",
            "description": "Stock ledger, reservations and stocktakes over JSON. Log in with "
            "POST /v1/session; send the session cookie, and on unsafe methods the csrf_token "
            f"in {csrf_header}. Errors are RFC 9457 problem documents.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": cookie_name},
                "csrfToken": {"type": "apiKey", "in": "header", "name": csrf_header},
            },
        },
        "security": [{"sessionCookie": []}],
    }
