"""Login sessions: ``/v1/session`` (this session) and ``/v1/sessions`` (all of the caller's)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import falcon

from inventory_core.errors import AuthenticationFailed, NotFound
from inventory_core.services.users import Authenticate, GetUser
from inventory_http.dependencies import Resource, actor_of
from inventory_http.errors import Problem
from inventory_http.idempotency import idempotency_key
from inventory_http.operations import operation
from inventory_http.shapes import Collection, CurrentSession, LoginRequest, SessionSummary

__all__ = ["SessionResource", "SessionsResource", "client_address", "throttled"]

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


def clear_cookie(resource: Resource, resp: falcon.Response) -> None:
    """Tell the browser to drop the session cookie (same attributes, expired)."""
    resp.set_cookie(
        resource.deps.cookie.name,
        "",
        expires=_EPOCH,
        path="/",
        secure=resource.deps.cookie.secure,
        http_only=True,
        same_site="Lax",
    )


class SessionResource(Resource):
    """``/v1/session``: log in, describe the current session, log out."""

    @operation(
        "login",
        summary="Log in",
        tag="session",
        status=201,
        body=LoginRequest,
        response=CurrentSession,
        headers=("Set-Cookie",),
        errors=(401, 429),
        public=True,
        csrf_exempt=True,
        example={"username": "admin", "password": "correct-horse-battery-staple"},
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, body: LoginRequest) -> None:
        """Starts a new session (always a new id, replacing the one of a cookie sent along) and
        sets its cookie; the answer holds the `csrf_token` to send on unsafe requests. Wrong
        credentials are 401 `authentication-failed`; repeated failures are 429
        `too-many-attempts` with `Retry-After`. An `Idempotency-Key` is accepted but a login is
        never replayed."""
        # Accepted like on every POST, but a login is never replayed: a replay would have to
        # store the session id, and logging in twice is harmless.
        idempotency_key(req)
        client = client_address(req)
        throttle = self.deps.throttle
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
            self.deps.sessions.destroy(req.context.session_id)
        session_id, session = self.deps.sessions.create(
            user_id=user.id, role=user.role, user_agent=req.user_agent, remember=body.remember
        )
        max_age = None
        if body.remember:
            max_age = int((session.absolute_expires_at - session.created_at).total_seconds())
        resp.set_cookie(
            self.deps.cookie.name,
            session_id,
            max_age=max_age,
            path="/",
            secure=self.deps.cookie.secure,
            http_only=True,
            same_site="Lax",
        )
        self.render.send(resp, CurrentSession(user, session.csrf_token, session.expires_at), 201)

    @operation(
        "getSession",
        summary="Get the current session",
        tag="session",
        response=CurrentSession,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The session the cookie belongs to: its user, CSRF token and expiry, as the login
        answered them. A session whose user was deactivated or deleted ends here (401
        `unauthenticated`)."""
        actor = actor_of(req)
        try:
            user = self.inventory.execute(actor, GetUser(actor.user_id))
        except NotFound:
            user = None
        if user is None or not user.active:  # sessions of deactivated users end
            self.deps.sessions.destroy(req.context.session_id)
            raise Problem(401, "unauthenticated", "log in first (POST /v1/session)")
        session = req.context.session
        self.render.send(resp, CurrentSession(user, session.csrf_token, session.expires_at))

    @operation(
        "logout",
        summary="Log out",
        tag="session",
        status=204,
        headers=("Set-Cookie",),
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Ends this session on the server and clears the cookie (an empty value that expired
        in 1970, with the same attributes)."""
        actor_of(req)
        self.deps.sessions.destroy(req.context.session_id)
        clear_cookie(self, resp)
        resp.status = 204


class SessionsResource(Resource):
    """``/v1/sessions``: the caller's live sessions (never their ids); end them all."""

    @operation(
        "listSessions",
        summary="List the caller's sessions",
        tag="session",
        response=Collection[SessionSummary],
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The caller's live sessions, oldest first, in the collection shape (`next_cursor` is
        always `null`). `current` marks the session making the request; ids and CSRF tokens
        are never shown."""
        actor = actor_of(req)
        current = req.context.session.digest
        sessions = self.deps.sessions.list_user_sessions(actor.user_id)
        data = tuple(
            SessionSummary(
                created_at=s.created_at,
                last_seen_at=s.last_seen_at,
                expires_at=s.expires_at,
                user_agent=s.user_agent,
                remember=s.remember,
                current=s.digest == current,
            )
            for s in sessions
        )
        self.render.send(resp, Collection(data, None))

    @operation(
        "logoutEverywhere",
        summary="End all the caller's sessions",
        tag="session",
        status=204,
        headers=("Set-Cookie",),
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Logs out everywhere: every session of the caller ends, this one included, and the
        cookie is cleared."""
        actor = actor_of(req)
        self.deps.sessions.destroy_user_sessions(actor.user_id)
        clear_cookie(self, resp)
        resp.status = 204
