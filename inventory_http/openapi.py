"""The OpenAPI 3.1 document, generated from the route table and the operations it serves.

Every path, method, parameter, body and response comes from a route's
:func:`~inventory_http.operations.operation` declaration and from the attrs classes it names
(:mod:`inventory_http.schema`); nothing here restates a field. What is written here is what
every operation of a kind shares: the problem documents, the headers, the security schemes.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import attrs

from inventory_core.commands import registered_handlers
from inventory_core.errors import CountConflictLine
from inventory_core.users import Role
from inventory_http.errors import PROBLEM_TYPE_PREFIX, PROBLEM_TYPES
from inventory_http.middleware import SESSION_ONLY_ROUTES
from inventory_http.operations import Operation, operation_of
from inventory_http.query import DEFAULT_PAGE_SIZE, parameter_name
from inventory_http.schema import SchemaRegistry, field_docs

__all__ = ["build_document"]

METHODS = ("get", "post", "put", "patch", "delete")
UNSAFE = frozenset({"post", "put", "patch", "delete"})

TAGS = {
    "session": "Logging in and out, and the caller's sessions.",
    "users": "Accounts and roles (admin), and one's own password.",
    "tokens": "API tokens for integrators: `Authorization: Bearer`, no cookie, no CSRF token.",
    "items": "The catalogue of stocked things.",
    "locations": "Warehouses, the locations inside them, and the virtual locations.",
    "stock": "Levels: on hand per location, and on hand, reserved and available per warehouse.",
    "movements": "The append-only ledger: receipts, shipments, transfers, adjustments, reversals.",
    "events": "Every change, exactly once and in order: the feed offline copies sync from.",
    "webhooks": "Pushing events to your endpoints, signed (Standard Webhooks); admin only.",
    "lots": "Lots, serial numbers and expiry: where a lot or a serial number is and every "
    "movement of it (recalls), and where to pick first (first expired, first out).",
    "reservations": "Stock held for orders, released, expired or shipped.",
    "counts": "Stocktakes, posted as one adjustment.",
    "health": "Liveness, readiness and this document.",
}

_STATUS_TEXT = {
    304: "Not modified: `If-None-Match` names the current version.",
    400: "Malformed request: JSON, a header, or the Idempotency-Key.",
    401: "Not logged in (or the session ended), a bearer token that is not valid, or wrong "
    "credentials.",
    403: "The role is too low, or `X-CSRF-Token` is missing or wrong.",
    404: "No such resource.",
    409: "Conflict with the current state; the problem `type` says which.",
    412: "`If-Match` names no current version.",
    410: "Gone: the cursor is older than what the feed still keeps; start again without one.",
    413: "The body is too large.",
    415: "The body is not `application/json`.",
    422: "Invalid fields or parameters (`errors` names each path), or a reused Idempotency-Key.",
    429: "Too many failed attempts (logins, or bearer tokens from this address); wait "
    "`Retry-After` seconds.",
    503: "A backing service is unavailable; retry after `Retry-After` seconds.",
}

_RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "The request's id (echoed if the client sent a plain one); it is in "
        "every log line of the request.",
        "schema": {"type": "string"},
    },
    "ETag": {
        "description": 'The resource\'s version as a strong entity tag, e.g. `"3"`.',
        "schema": {"type": "string"},
    },
    "Location": {
        "description": "The path of the resource created.",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "WWW-Authenticate": {
        "description": "`Bearer`: an API token is one way to authenticate (a login the other).",
        "schema": {"type": "string"},
    },
    "Set-Cookie": {
        "description": "The session cookie: `HttpOnly`, `SameSite=Lax`, `Path=/`; named "
        "`__Host-inventory_session` and `Secure` unless the server runs with plain-HTTP cookies "
        "(then `inventory_session`).",
        "schema": {"type": "string"},
    },
}

_PARAMETERS: dict[str, dict[str, Any]] = {
    "RequestId": {
        "name": "X-Request-Id",
        "in": "header",
        "required": False,
        "description": "Your id for this request (1-128 of `A-Z a-z 0-9 . _ : -`); echoed back "
        "and logged. Generated when absent.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:\\-]{1,128}$"},
    },
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Makes retries safe: the first completed answer to a key is stored "
        "(24 h) and replayed with `Idempotent-Replayed: true`; the same key with another "
        "request is 422, and while the first is still running 409.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    },
    "IfNoneMatch": {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "The `ETag` you hold: 304 without a body while it is current.",
        "schema": {"type": "string"},
    },
    "IfMatch": {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": "The `ETag` you changed from: the change applies only to that version, "
        "else 412.",
        "schema": {"type": "string"},
    },
    "Limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Page size.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": DEFAULT_PAGE_SIZE},
    },
    "Cursor": {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "Where to start: a page's `next_cursor` (or, on a feed, a `position`).",
        "schema": {"type": "string", "minLength": 1},
    },
}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def problem_schema_name(status: int) -> str:
    """The component of the problems of one status, e.g. ``ConflictProblem``."""
    if status == 422:
        return "ValidationProblem"
    phrase = HTTPStatus(status).phrase.replace("-", " ").title().replace(" ", "")
    return phrase + "Problem"


def _problem_schemas(registry: SchemaRegistry) -> None:
    statuses = sorted({status for status, _ in PROBLEM_TYPES.values()})
    conflict_line = registry.schema(CountConflictLine, "response")
    for status in statuses:
        types = {slug: meaning for slug, (code, meaning) in PROBLEM_TYPES.items() if code == status}
        listed = "; ".join(f"`{slug}`: {meaning}" for slug, meaning in types.items())
        properties: dict[str, Any] = {
            "type": {
                "type": "string",
                "enum": [PROBLEM_TYPE_PREFIX + slug for slug in types],
                "description": "What went wrong, to switch on. " + listed,
            },
            "title": {"type": "string", "description": "A short summary of the problem type."},
            "status": {"type": "integer", "const": status, "description": "The HTTP status."},
            "detail": {"type": "string", "description": "What went wrong this time, for people."},
        }
        if status == 422:
            properties["errors"] = {
                "type": "array",
                "description": "Each invalid field or parameter.",
                "items": {
                    "type": "object",
                    "properties": {
                        "path": {
                            "type": "string",
                            "description": "Where, as a JSONPath: `$.lines[0].quantity`; "
                            "query parameters as `$.limit`.",
                        },
                        "message": {"type": "string", "description": "What is wrong there."},
                    },
                    "required": ["path", "message"],
                    "additionalProperties": False,
                },
            }
        if status == 409:
            properties |= {
                "field": {"type": "string", "description": "`already-exists`: the field taken."},
                "item_id": {
                    "type": "string",
                    "format": "uuid",
                    "description": "`insufficient-stock`, `serial-conflict`, `limit-exceeded`: "
                    "the item.",
                },
                "location_id": {
                    "anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}],
                    "description": "`insufficient-stock`: where it is short (a location or a "
                    "warehouse); `serial-conflict`: where the serial number is, `null` when it "
                    "is not in stock; `limit-exceeded`: the location or warehouse whose level "
                    "would pass the limit, `null` for the item's total over all warehouses.",
                },
                "lot_id": {
                    "anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}],
                    "description": "`insufficient-stock`: the lot short of stock; `null` when "
                    "the item is not tracked by lot.",
                },
                "serial": {
                    "type": "string",
                    "description": "`serial-conflict`: the serial number.",
                },
                "available": {
                    "type": "integer",
                    "description": "`insufficient-stock`: how much there is.",
                },
                "requested": {
                    "type": "integer",
                    "description": "`insufficient-stock`: how much was asked for.",
                },
                "level": {
                    "type": "string",
                    "enum": ["on_hand", "reserved"],
                    "description": "`limit-exceeded`: which level would pass the limit.",
                },
                "current": {
                    "type": "integer",
                    "description": "`limit-exceeded`: the level now.",
                },
                "change": {
                    "type": "integer",
                    "description": "`limit-exceeded`: the change that was refused.",
                },
                "limit": {
                    "type": "integer",
                    "description": "`limit-exceeded`: the bound, 2^53 - 1 (JSON-safe).",
                },
                "conflicts": {
                    "type": "array",
                    "items": conflict_line,
                    "description": "`count-conflict`: the lines that no longer match.",
                },
            }
        required = ["type", "title", "status", "detail"]
        registry.add(
            problem_schema_name(status),
            {
                "type": "object",
                "description": f"RFC 9457 problem details of a {status} answer.",
                "properties": properties,
                "required": required,
            },
        )


def _headers(names: Iterable[str]) -> dict[str, Any]:
    return {name: _ref("headers", name) for name in ("X-Request-Id", *names)}


def _error_response(status: int, *, csrf: bool, session_only: bool = False) -> dict[str, Any]:
    headers = ["Retry-After"] if status in {409, 429, 503} else []
    if status == 401:
        headers = ["WWW-Authenticate"]
    description = _STATUS_TEXT[status]
    if status == 403 and not csrf:  # only unsafe methods made with the cookie need the token
        description = "The role is too low for this."
    if status == 403 and session_only:
        description = (
            "`X-CSRF-Token` is missing or wrong, or the request was made with an API token "
            "(this needs the cookie session)."
            if csrf
            else "The request was made with an API token: this needs the cookie session."
        )
    return {
        "description": description,
        "headers": _headers(headers),
        "content": {
            "application/problem+json": {"schema": _ref("schemas", problem_schema_name(status))}
        },
    }


def _role(op: Operation) -> Role | None:
    if op.command is None:
        return None
    return registered_handlers()[op.command].role


def _description(op: Operation) -> str:
    role = _role(op)
    if op.public:
        who = "No session needed."
    elif role is None or role is Role.VIEWER:
        who = "Any logged-in user."
    else:
        who = f"Needs the `{role}` role or higher."
    return f"{op.description}\n\n{who}".strip()


def _path_parameters(
    template: str, op: Operation, registry: SchemaRegistry
) -> tuple[str, list[dict[str, Any]]]:
    parameters = []
    for name, converter in re.findall(r"\{(\w+):(\w+)\}", template):
        if converter != "uuid":
            parameters.append(_field_path_parameter(name, template, op, registry))
            continue
        thing = name.removesuffix("_id").replace("_", " ")
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": f"The {thing}'s id.",
                "schema": {"type": "string", "format": "uuid"},
            }
        )
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", template), parameters


def _field_path_parameter(
    name: str, template: str, op: Operation, registry: SchemaRegistry
) -> dict[str, Any]:
    """A path parameter that is not an id (a serial number): the field of that name of the
    operation's command gives its schema (its rule's pattern), and the description of that
    field -- else of the response's field of that name."""
    command = op.command
    if command is None or name not in attrs.fields_dict(command):
        raise TypeError(f"{template}: {name} is no field of the operation's command")
    field = attrs.fields_dict(command)[name]
    schema = registry.field_schema(field, typing.get_type_hints(command)[name], "request")
    described = [command, *([op.response] if attrs.has(op.response) else [])]
    description = next((field_docs(c)[name] for c in described if name in field_docs(c)), "")
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _query_parameters(op: Operation, registry: SchemaRegistry) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    if op.query is not None:
        hints = typing.get_type_hints(op.query)
        docs = field_docs(op.query)
        for field in attrs.fields(op.query):
            schema = registry.field_schema(field, hints[field.name], "request")
            parameter: dict[str, Any] = {
                "name": parameter_name(field.name, op.query_names),
                "in": "query",
                "required": field.default is attrs.NOTHING,
                "schema": schema,
            }
            if schema.get("type") == "array":  # a comma-separated list: types=a,b
                parameter |= {"style": "form", "explode": False}
            if field.name in docs:
                parameter["description"] = docs[field.name]
            parameters.append(parameter)
    if op.paged is not None:
        parameters += [_ref("parameters", "Limit"), _ref("parameters", "Cursor")]
    return parameters


def _operation(  # noqa: PLR0915 -- one branch per thing an operation declares
    method: str, template: str, op: Operation, registry: SchemaRegistry
) -> tuple[str, dict[str, Any]]:
    path, parameters = _path_parameters(template, op, registry)
    parameters = [*parameters, *_query_parameters(op, registry), _ref("parameters", "RequestId")]
    if op.replayable:
        parameters.append(_ref("parameters", "IdempotencyKey"))
    if op.conditional:
        parameters.append(_ref("parameters", "IfNoneMatch" if method == "get" else "IfMatch"))

    success: dict[str, Any] = {"description": HTTPStatus(op.status).phrase}
    if op.response is not None:
        schema = registry.schema(op.response, "response")
        success["content"] = {"application/json": {"schema": schema}}
    elif op.media_type != "application/json":
        success["content"] = {op.media_type: {"schema": {"type": "string"}}}
    elif op.status != 204:
        success["content"] = {"application/json": {"schema": {"type": "object"}}}
    names = [*op.headers, *(["Idempotent-Replayed"] if op.replayable else [])]
    success["headers"] = _headers(names)
    responses: dict[str, Any] = {str(op.status): success}
    if op.conditional and method == "get":
        responses["304"] = {"description": _STATUS_TEXT[304], "headers": _headers(["ETag"])}

    statuses = {400, 503, *op.errors}
    session_only = template in SESSION_ONLY_ROUTES
    if not op.public:
        # 429: failed bearer tokens are throttled per address, whatever route they were sent to.
        statuses |= {401, 429}
        if session_only:
            statuses.add(403)
        role = _role(op)
        if (method in UNSAFE and not op.csrf_exempt) or (role not in {None, Role.VIEWER}):
            statuses.add(403)
    if "{" in template:
        statuses.add(404)
    if op.body is not None:
        statuses |= {413, 415, 422}
    if op.query is not None or op.paged is not None or op.retired:
        statuses.add(422)
    if op.replayable:
        statuses |= {409, 422}
    if op.conditional and method == "patch":
        statuses.add(412)
    if op.response is not None and getattr(op.response, "__name__", "") == "Readiness":
        statuses.discard(503)
        responses["503"] = {
            "description": "Some backing service does not answer.",
            "headers": _headers(["Retry-After"]),
            "content": {"application/json": {"schema": registry.schema(op.response, "response")}},
        }
    csrf = method in UNSAFE and not op.csrf_exempt
    for status in sorted(statuses):
        responses[str(status)] = _error_response(status, csrf=csrf, session_only=session_only)

    document: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": _description(op),
        "tags": [op.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if op.body is not None:
        exclude = frozenset(op.from_path)
        name = op.body.__name__
        if name not in registry.components:
            registry.add(name, registry.object_schema(op.body, "request", exclude=exclude))
        content: dict[str, Any] = {"schema": registry.ref(name)}
        if op.example is not None:
            content["example"] = op.example
        document["requestBody"] = {
            "required": not op.body_optional,
            "content": {"application/json": content},
        }
    document["security"] = _security(op, csrf=csrf, session_only=session_only)
    return path, document


def _security(op: Operation, *, csrf: bool, session_only: bool) -> list[dict[str, list[str]]]:
    """Who may call an operation: nobody needs to (public), or a bearer token *or* the session
    cookie (with the CSRF token on unsafe methods). The routes about the session itself take
    only the cookie: the middleware refuses a token there."""
    if op.public:
        return []
    cookie: dict[str, list[str]] = (
        {"sessionCookie": [], "csrfToken": []} if csrf else {"sessionCookie": []}
    )
    if session_only:
        return [cookie]
    return [{"bearerToken": []}, cookie]


def build_document(
    routes: Iterable[tuple[str, object]], *, cookie_name: str, csrf_header: str
) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document of the routes served."""
    registry = SchemaRegistry()
    _problem_schemas(registry)
    paths: dict[str, dict[str, Any]] = {}
    for template, resource in routes:
        for method in METHODS:
            op = operation_of(resource, method)
            if op is None:
                if hasattr(resource, f"on_{method}"):
                    raise TypeError(f"{method.upper()} {template} has no operation declaration")
                continue
            path, document = _operation(method, template, op, registry)
            paths.setdefault(path, {})[method] = document
    used_tags = {op["tags"][0] for ops in paths.values() for op in ops.values()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "inventory-core reference API",
            "version": "1",
            "description": "Stock ledger, reservations and stocktakes over JSON.\n\n"
            "Integrators send an API token (`POST /v1/tokens`, or `inventory create-token`) as "
            "`Authorization: Bearer <token>`, with no cookie and no CSRF token. Browsers log in "
            "with `POST /v1/session`; send the session cookie back, and on POST, PUT, "
            f"PATCH and DELETE also the session's `csrf_token` in `{csrf_header}`. Errors are "
            "RFC 9457 problem documents whose `type` is one of the values listed per status. "
            "Collections are pages: pass `next_cursor` as `cursor` for the next one.",
        },
        "servers": [{"url": "/", "description": "The server this document was fetched from."}],
        "tags": [{"name": n, "description": text} for n, text in TAGS.items() if n in used_tags],
        "paths": paths,
        "components": {
            "schemas": registry.components,
            "parameters": _PARAMETERS,
            "headers": _RESPONSE_HEADERS,
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "inv_…",
                    "description": "An API token (`inv_` and 43 base64url characters) from "
                    "`POST /v1/tokens` or `inventory create-token`, as `Authorization: Bearer "
                    "<token>`. It needs no CSRF token, and the request's cookies are ignored.",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": cookie_name,
                    "description": "The session cookie `POST /v1/session` sets. Its name is "
                    f"`{cookie_name}`; a server running with plain-HTTP cookies sets "
                    "`inventory_session` instead and accepts both names, so a client built "
                    "from this document works against either.",
                },
                "csrfToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": csrf_header,
                    "description": "The session's `csrf_token`, on every unsafe method made "
                    "with the cookie.",
                },
            },
        },
        "security": [{"bearerToken": []}, {"sessionCookie": []}],
    }
