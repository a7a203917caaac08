"""One declaration per route: what an operation takes, answers and needs.

A resource's responder is decorated with :func:`operation`. The declaration is the one source of
the route's request body type (read and structured before the responder runs), its filters and
paging (read strictly from the query string), its response type, and everything the OpenAPI
document says about it. The route table (:func:`inventory_http.app.routes`) pairs URI templates
with resources; the document walks that same table, so it describes exactly what is served.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import falcon

from inventory_core.commands import Command
from inventory_http.cursors import CursorKind
from inventory_http.query import Query

__all__ = ["Operation", "Paging", "operation", "operation_of"]

F = TypeVar("F", bound=Callable[..., None])


@attrs.frozen
class Paging:
    """Where a page starts (the keyset value of ``cursor``) and how long it is."""

    after: Any
    limit: int


@attrs.frozen
class Operation:
    """What one method of one route takes and answers. See :func:`operation`."""

    operation_id: str
    summary: str
    tag: str
    description: str
    status: int = 200
    body: type | None = None
    body_optional: bool = False
    from_path: tuple[str, ...] = ()
    query: type | None = None
    query_names: Mapping[str, str] = attrs.field(factory=dict)
    paged: CursorKind | None = None
    retired: Mapping[str, str] = attrs.field(factory=dict)
    response: Any = None
    headers: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()
    public: bool = False
    csrf_exempt: bool = False
    replayable: bool = False
    conditional: bool = False
    command: type | None = None
    example: Any = None
    media_type: str = "application/json"


def operation(
    operation_id: str,
    *,
    summary: str,
    tag: str,
    status: int = 200,
    body: type | None = None,
    body_optional: bool = False,
    from_path: tuple[str, ...] = (),
    query: type | None = None,
    query_names: Mapping[str, str] | None = None,
    paged: CursorKind | None = None,
    retired: Mapping[str, str] | None = None,
    response: Any = None,
    headers: tuple[str, ...] = (),
    errors: tuple[int, ...] = (),
    public: bool = False,
    csrf_exempt: bool = False,
    replayable: bool = False,
    conditional: bool = False,
    command: type | None = None,
    example: Any = None,
    media_type: str = "application/json",
) -> Callable[[F], F]:
    """Declare a responder's operation.

    - ``body``: the attrs class of the request body, passed to the responder as ``body``;
      ``from_path`` names its fields taken from the URL instead; ``body_optional``: may be empty.
    - ``query``: the filter class passed as ``query`` (``query_names`` renames parameters);
      ``paged``: the cursor kind, and the responder gets ``paging``; ``retired``: parameters
      refused with what to use instead.
    - ``response``: the type of the success body (``None``: no body); ``headers``: the response
      headers sent on success (``ETag``, ``Location``, ``Set-Cookie``); ``errors``: statuses
      beyond the ones every operation of its kind has.
    - ``public``: no session needed; ``csrf_exempt``: no ``X-CSRF-Token`` needed;
      ``replayable``: an ``Idempotency-Key`` replays the first answer; ``conditional``: ETag
      preconditions (``If-None-Match`` on GET, ``If-Match`` on PATCH).
    - ``command``: the core command run (its handler's role goes into the description);
      ``example``: a request body example (the test keeps it in docs/http-api.md);
      ``media_type``: of the success body when it is not JSON (the metrics' text).

    The responder's docstring is the operation's description.
    """

    def decorate(responder: F) -> F:
        op = Operation(
            operation_id=operation_id,
            summary=summary,
            tag=tag,
            description=inspect.cleandoc(responder.__doc__ or ""),
            status=status,
            body=body,
            body_optional=body_optional,
            from_path=from_path,
            query=query,
            query_names=dict(query_names or {}),
            paged=paged,
            retired=dict(retired or {}),
            response=response,
            headers=headers,
            errors=errors,
            public=public,
            csrf_exempt=csrf_exempt,
            replayable=replayable,
            conditional=conditional,
            command=command or (body if _is_command(body) else None),
            example=example,
            media_type=media_type,
        )

        @functools.wraps(responder)
        def respond(
            resource: Any, req: falcon.Request, resp: falcon.Response, **params: Any
        ) -> None:
            extra: dict[str, Any] = {}
            if op.body is not None:
                extra["body"] = resource.deps.bodies.read(
                    req,
                    op.body,
                    optional=op.body_optional,
                    from_path={name: params[name] for name in op.from_path},
                )
            if op.query is not None or op.paged is not None or op.retired:
                query = Query(req)
                if op.query is not None:
                    extra["query"] = query.filters(op.query, op.query_names)
                if op.paged is not None:
                    after = query.cursor(op.paged)
                    extra["paging"] = Paging(after, query.limit())
                for name, instead in op.retired.items():
                    query.retired(name, instead)
                query.check()
            responder(resource, req, resp, **params, **extra)

        respond.operation = op  # type: ignore[attr-defined]
        return respond  # type: ignore[return-value]

    return decorate


def _is_command(cls: type | None) -> bool:
    return isinstance(cls, type) and issubclass(cls, Command)


def operation_of(resource: object, method: str) -> Operation | None:
    """The declaration of ``resource``'s responder for ``method`` (``None``: not served)."""
    responder = getattr(resource, "on_" + method.lower(), None)
    return getattr(responder, "operation", None)
