"""What resources are built from, and their base class."""

from __future__ import annotations

from typing import Protocol

import attrs
import falcon

from inventory_core.executor import Executor
from inventory_core.ports import LoginThrottle, SessionStore
from inventory_core.users import Actor
from inventory_http.bodies import BodyReader
from inventory_http.conditional import etag, not_modified
from inventory_http.errors import Problem
from inventory_http.idempotency import IdempotentRunner
from inventory_http.responses import Renderer

__all__ = ["Dependencies", "Resource", "SessionCookie", "actor_of"]


@attrs.frozen
class SessionCookie:
    """How the session cookie is set: its name and whether it is ``Secure``."""

    name: str
    secure: bool


@attrs.frozen
class Dependencies:
    """Everything resources need, handed to each resource's constructor by :func:`create_app`."""

    inventory: Executor
    sessions: SessionStore
    throttle: LoginThrottle
    bodies: BodyReader
    renderer: Renderer
    runner: IdempotentRunner
    cookie: SessionCookie


class Versioned(Protocol):
    """An entity whose ``version`` is its entity tag (items, locations, users)."""

    @property
    def version(self) -> int: ...


class Resource:
    """Base of the resources: keeps the dependencies. Each responder is declared with
    :func:`inventory_http.operations.operation`."""

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.inventory = deps.inventory
        self.render = deps.renderer

    def send_versioned(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        entity: Versioned,
        *,
        conditional: bool = False,
    ) -> None:
        """Send ``entity`` with its version as ``ETag``. With ``conditional`` (a GET), an
        ``If-None-Match`` naming that version gets 304 and no body."""
        resp.set_header("ETag", etag(entity.version))
        if conditional and not_modified(req, entity.version):
            resp.status = 304
            return
        self.render.send(resp, entity)


def actor_of(req: falcon.Request) -> Actor:
    """The authenticated actor (the session middleware guarantees one on non-public methods)."""
    actor = req.context.actor
    if not isinstance(actor, Actor):  # a responder declared public by mistake
        raise Problem(401, "unauthenticated", "log in first (POST /v1/session)")
    return actor
