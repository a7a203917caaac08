"""Login sessions: ``/v1/session`` (this session) and ``/v1/sessions`` (all of the caller's)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import falcon

from inventory_core.errors import AuthenticationFailed, NotFound
from inventory_core.services.users import Authenticate, GetUser
from inventory_core.sessions import Session
from inventory_core.users import User
from inventory_http.dto import LoginBody
from inventory_http.errors import Problem
from inventory_http.idempotency import idempotency_key
from inventory_http.resources import _views as views
from inventory_http.resources._common import Resource, actor_of, read_body, send_json

__all__ = ["SessionResource", "SessionsResource", "throttled"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def throttled(retry_after: float) -> Problem:
    """The 429 answered while login attempts are throttled."""
    return Problem(
        429,
        "too-many-attempts",
        "too many failed attempts; wait before trying again",
        headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
    )


def client_address(req: falcon.Request) -> str:
    """The address throttling counts against: the peer address as the WSGI server saw it (a
    deployment behind a proxy sets gunicorn's ``forwarded_allow_ips`` so this is the client)."""
    return req.remote_addr or "unknown"


def _session_body(user: User, session: Session) -> dict[str, Any]:
    return {
        "user": views.user(user),
        "csrf_token": session.csrf_token,
        "expires_at": views.time(session.expires_at),
    }


class SessionResource(Resource):
    """``POST`` logs in, ``GET`` describes the current session, ``DELETE`` logs out."""

    public_methods = frozenset({"POST"})
    csrf_exempt_methods = frozenset({"POST"})

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Log in: a new session (new id, always) and its cookie, or 401 / 429."""
        body = read_body(req, self.ctx.deps, LoginBody)
        # Accepted like on every POST, but a login is never replayed: a replay would have to
        # store the session id, and logging in twice is harmless.
        idempotency_key(req)
        client = client_address(req)
        throttle = self.ctx.throttle
        wait = throttle.retry_after(username=body.username, client=client)
        if wait is not None:
            raise throttled(wait)
        try:
            user = self.inventory.execute(None, Authenticate(body.username, body.password))
        except AuthenticationFailed:
            throttle.record_failure(username=body.username, client=client)
            raise Problem(401, "authentication-failed", "invalid username or password") from None
        throttle.record_success(username=body.username, client=client)
        if req.context.session_id is not None:
            self.ctx.sessions.destroy(req.context.session_id)
        session_id, session = self.ctx.sessions.create(
            user_id=user.id, role=user.role, user_agent=req.user_agent, remember=body.remember
        )
        max_age = None
        if body.remember:
            max_age = int((session.absolute_expires_at - session.created_at).total_seconds())
        resp.set_cookie(
            self.ctx.cookie_name,
            session_id,
            max_age=max_age,
            path="/",
            secure=self.ctx.cookie_secure,
            http_only=True,
            same_site="Lax",
        )
        send_json(resp, _session_body(user, session), 201)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The current session: its user, CSRF token and expiry."""
        actor = actor_of(req)
        try:
            user = self.inventory.execute(actor, GetUser(actor.user_id))
        except NotFound:
            user = None
        if user is None or not user.active:  # sessions of deactivated users end
            self.ctx.sessions.destroy(req.context.session_id)
            raise Problem(401, "unauthenticated", "log in first (POST /v1/session)")
        send_json(resp, _session_body(user, req.context.session))

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Log out: the session ends server-side and the cookie is cleared."""
        actor_of(req)
        self.ctx.sessions.destroy(req.context.session_id)
        clear_cookie(self, resp)
        resp.status = 204


def clear_cookie(resource: Resource, resp: falcon.Response) -> None:
    """Tell the browser to drop the session cookie (same attributes, expired)."""
    resp.set_cookie(
        resource.ctx.cookie_name,
        "",
        expires=_EPOCH,
        path="/",
        secure=resource.ctx.cookie_secure,
        http_only=True,
        same_site="Lax",
    )


class SessionsResource(Resource):
    """``GET`` lists the caller's live sessions (never their ids); ``DELETE`` ends them all."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The caller's sessions, oldest first; ``current`` marks this one."""
        actor = actor_of(req)
        current = req.context.session.digest
        sessions = self.ctx.sessions.list_user_sessions(actor.user_id)
        data = [views.session_summary(s, current=s.digest == current) for s in sessions]
        send_json(resp, {"data": data, "next_cursor": None})

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Log out everywhere, this session included."""
        actor = actor_of(req)
        self.ctx.sessions.destroy_user_sessions(actor.user_id)
        clear_cookie(self, resp)
        resp.status = 204
