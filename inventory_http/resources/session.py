"""Login sessions: ``/v1/session`` (this session) and ``/v1/sessions`` (all of the caller's)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import falcon

from inventory_core.errors import AuthenticationFailed, NotFound
from inventory_core.services.users import Authenticate, GetUser
from inventory_core.users import User
from inventory_http.dependencies import Resource, actor_of
from inventory_http.errors import Problem
from inventory_http.idempotency import idempotency_key
from inventory_http.middleware import client_address as _client_address
from inventory_http.operations import operation
from inventory_http.shapes import Collection, CurrentSession, LoginRequest, SessionSummary

__all__ = [
    "SessionResource",
    "SessionsResource",
    "client_address",
    "start_session",
    "throttled",
]

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
    """The address throttling counts against: the one the request-id middleware settled for the
    access log too (the peer, or behind ``INVENTORY_TRUSTED_PROXIES`` the client they name; see
    :func:`inventory_http.middleware.client_address`)."""
    settled = getattr(req.context, "client_address", None)
    return settled if isinstance(settled, str) else _client_address(req.remote_addr, None, ())


def start_session(
    resource: Resource, req: falcon.Request, resp: falcon.Response, user: User, *, remember: bool
) -> CurrentSession:
    """Create a session for ``user``, whose credentials were just checked, set its cookie, and
    return the login's answer.

    The user was read (and its password checked, which takes argon2's tens of milliseconds)
    before this; a deactivation, demotion or password reset may have landed since. So: read the
    user's revocation generation, *then* read the user again, and create the session with the
    role of that reading in that generation. A change that lands before the re-read shows in it;
    one that lands after has its revocation (made after the change) raise the generation, and
    the session dies at its first use (see :class:`~inventory_core.ports.SessionStore`). A
    re-read that finds the user inactive, or holding another password than the one checked, is
    401 ``authentication-failed``.
    """
    sessions = resource.deps.sessions
    generation = sessions.user_generation(user.id)
    try:
        current = resource.inventory.execute(user.actor, GetUser(user.id))
    except NotFound:
        current = None
    if current is None or not current.active or current.password_hash != user.password_hash:
        raise Problem(401, "authentication-failed", "invalid username or password")
    session_id, session = sessions.create(
        user_id=current.id,
        role=current.role,
        user_agent=req.user_agent,
        remember=remember,
        generation=generation,
    )
    max_age = None
    if remember:
        max_age = int((session.absolute_expires_at - session.created_at).total_seconds())
    resp.set_cookie(
        resource.deps.cookie.name,
        session_id,
        max_age=max_age,
        path="/",
        secure=resource.deps.cookie.secure,
        http_only=True,
        same_site="Lax",
    )
    return CurrentSession(current, session.csrf_token, session.expires_at)


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
        # Checked and counted as a failure in one step, so concurrent guesses cannot all pass
        # the check before any is counted; a success takes the count back.
        wait = throttle.begin_attempt(username=body.username, client=client)
        if wait is not None:
            raise throttled(wait)
        try:
            user = self.inventory.execute(None, Authenticate(body.username, body.password))
        except AuthenticationFailed:
            raise Problem(401, "authentication-failed", "invalid username or password") from None
        throttle.record_success(username=body.username, client=client)
        if req.context.session_id is not None:
            self.deps.sessions.destroy(req.context.session_id)
        self.render.send(resp, start_session(self, req, resp, user, remember=body.remember), 201)

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
        self.deps.sessions.revoke_user_sessions(actor.user_id)
        clear_cookie(self, resp)
        resp.status = 204
