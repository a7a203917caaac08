"""Cross-cutting request handling: request ids, client addresses, access log, security headers,
sessions, API tokens, CSRF.

Each responder's :func:`~inventory_http.operations.operation` declaration says what it needs:
``public`` ones are served without a session (login, health, the OpenAPI document) and
``csrf_exempt`` ones need no ``X-CSRF-Token`` (only login).

Every other method needs a caller: either an ``Authorization: Bearer`` API token, or a live
session cookie (else 401). A request with an ``Authorization`` header is judged by it alone: its
cookies are ignored and it needs no CSRF token (a browser never adds the header by itself, so
there is no cross-site forgery to guard against). With the cookie, every unsafe method also needs
the session's CSRF token in ``X-CSRF-Token`` (else 403). The few routes about the session itself
(:data:`SESSION_ONLY_ROUTES`) refuse a token with 403 ``session-required``. A method the resource
does not serve is left to Falcon (405, or the default ``OPTIONS`` answer), so a CORS preflight
never needs a session.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import logging
import math
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import falcon

from inventory_core.errors import AuthenticationFailed, Unavailable
from inventory_core.executor import Executor
from inventory_core.ports import LoginThrottle, SessionStore
from inventory_core.services.tokens import AuthenticateToken
from inventory_core.tokens import looks_like_token
from inventory_core.users import Actor
from inventory_http.errors import Problem
from inventory_http.logging import request_id_var
from inventory_http.operations import operation_of
from inventory_http.settings import Settings

__all__ = [
    "BEARER_CHALLENGE",
    "CSRF_HEADER",
    "REQUEST_ID_HEADER",
    "SECURE_COOKIE_NAME",
    "SESSION_ONLY_ROUTES",
    "RequestIdMiddleware",
    "SessionMiddleware",
    "accepted_cookie_names",
    "client_address",
    "cookie_name",
    "route_of",
]

REQUEST_ID_HEADER = "X-Request-Id"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# A client's request id is echoed only if it is short and plain: it goes into every log line.
_REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_HSTS = "max-age=63072000; includeSubDomains"
_SLASHES = re.compile(r"/{2,}")

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address

access_log = logging.getLogger("inventory_http.access")

BEARER_CHALLENGE = "Bearer"
"""The ``WWW-Authenticate`` challenge of every 401 the middleware answers (RFC 9110 asks a 401 for
one): the scheme a client may authenticate with by itself; the cookie comes from a login."""

SESSION_ONLY_ROUTES = frozenset({"/v1/session", "/v1/sessions", "/v1/users/me/password"})
"""Routes about the cookie session itself (show it, end it, list the sessions, change the password,
which starts a new one): an API token is not a session, so a bearer request gets 403."""

_BEARER_FAILED = "the bearer token is not valid (malformed, unknown, revoked or expired)"


SECURE_COOKIE_NAME = "__Host-inventory_session"
"""The session cookie's name with Secure cookies, and the name the OpenAPI document gives."""
PLAIN_COOKIE_NAME = "inventory_session"


def cookie_name(settings: Settings) -> str:
    """The name the session cookie is set under: ``__Host-inventory_session`` when cookies are
    Secure (the prefix requires it), else ``inventory_session`` (plain-HTTP local use, where
    browsers refuse the prefix)."""
    return SECURE_COOKIE_NAME if settings.cookie_secure else PLAIN_COOKIE_NAME


def accepted_cookie_names(settings: Settings) -> tuple[str, ...]:
    """The names a session id is read from. With plain-HTTP cookies the documented secure name
    is accepted too, so a client generated from the document works in both modes; with Secure
    cookies only the prefixed name is, which keeps what the prefix guarantees (set by this
    host, over HTTPS)."""
    if settings.cookie_secure:
        return (SECURE_COOKIE_NAME,)
    return (PLAIN_COOKIE_NAME, SECURE_COOKIE_NAME)


def _address(text: str) -> _Address | None:
    """An address as a proxy writes it into ``X-Forwarded-For`` (IPv4-mapped IPv6 as IPv4);
    ``None`` for anything else."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[_Network]
) -> str:
    """The address a request is counted against (login throttle) and logged under.

    The peer (the WSGI server's ``REMOTE_ADDR``), unless it is one of ``trusted_proxies``: then
    the right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy. Each proxy
    appends the address it got the request from, so entries right of that one were written by
    proxies we trust, and entries left of it by whoever the client is (who may write anything,
    so they are never used). A malformed entry where the client's should be ends the walk at the
    proxy that passed it on. Without trusted proxies the header is ignored altogether.
    """
    address = _address(peer) if peer else None
    if address is None:
        return peer or "unknown"
    if not trusted_proxies or not forwarded_for:
        return str(address)
    for entry in reversed(forwarded_for.split(",")):
        if not any(address in network for network in trusted_proxies):
            break  # not a proxy of ours: the client
        forwarded = _address(entry)
        if forwarded is None:
            break
        address = forwarded
    return str(address)


def route_of(req: falcon.Request) -> str:
    """The path a request is judged by: the URI template Falcon routed it to, or, when nothing
    matched, its path with repeated slashes collapsed. Never the raw path: Falcon routes
    ``//v1/session`` to ``/v1/session``, so a rule keyed on the raw path would miss it."""
    return req.uri_template or _SLASHES.sub("/", req.path)


class RequestIdMiddleware:
    """Request id, client address, security and cache headers, and one structured access-log
    line per request."""

    def __init__(self, settings: Settings) -> None:
        self._secure = settings.cookie_secure
        self._cors = bool(settings.cors_origins)
        self._trusted_proxies = tuple(ipaddress.ip_network(n) for n in settings.trusted_proxies)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Take the client's request id if it is well formed, else make one; settle the client
        address (``req.context.client_address``) once for the throttle and the log."""
        given = req.get_header(REQUEST_ID_HEADER)
        request_id = given if given and _REQUEST_ID_PATTERN.fullmatch(given) else uuid.uuid4().hex
        req.context.request_id = request_id
        req.context.started = time.perf_counter()
        req.context.request_id_token = request_id_var.set(request_id)
        req.context.client_address = client_address(
            req.remote_addr, req.get_header("X-Forwarded-For"), self._trusted_proxies
        )

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        """Headers every response carries, then the access-log line."""
        request_id = getattr(req.context, "request_id", None) or uuid.uuid4().hex
        resp.set_header(REQUEST_ID_HEADER, request_id)
        resp.set_header("X-Content-Type-Options", "nosniff")
        if self._secure:
            resp.set_header("Strict-Transport-Security", _HSTS)
        if self._cors:  # CORS headers echo the Origin: caches must key on it
            resp.append_header("Vary", "Origin")
        route = route_of(req)
        declared = operation_of(resource, req.method) if resource is not None else None
        if route.startswith("/v1/session") or (
            declared is not None and "Set-Cookie" in declared.headers
        ):
            # Session ids, CSRF tokens and session details: nothing may keep them.
            resp.set_header("Cache-Control", "no-store")
        elif route.startswith("/v1/") and resp.get_header("Cache-Control") is None:
            # Per-user data: a client may keep it but must revalidate (ETags make that cheap);
            # shared caches must not keep it at all.
            resp.set_header("Cache-Control", "private, no-cache")
        token = getattr(req.context, "request_id_token", None)
        if access_log.isEnabledFor(logging.INFO):
            self._log(req, resp)
        if token is not None:
            request_id_var.reset(token)

    @staticmethod
    def _log(req: falcon.Request, resp: falcon.Response) -> None:
        started = getattr(req.context, "started", None)
        actor = getattr(req.context, "actor", None)
        fields: dict[str, Any] = {
            "method": req.method,
            "path": req.path,
            "status": int(falcon.code_to_http_status(resp.status)[:3]),
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "client": getattr(req.context, "client_address", None) or req.remote_addr,
        }
        if isinstance(actor, Actor):
            fields["user_id"] = str(actor.user_id)
        access_log.info("request", extra=fields)


class SessionMiddleware:
    """Resolves the API token or the session cookie, and enforces authentication and CSRF (see
    module doc).

    On success ``req.context`` has ``actor``, and with a cookie ``session_id`` (the raw cookie
    value, never logged) and ``session``; with a token both are ``None``; on a public method all
    three may be ``None``.
    """

    def __init__(
        self,
        settings: Settings,
        sessions: SessionStore,
        *,
        inventory: Executor,
        throttle: LoginThrottle,
    ) -> None:
        self._cookies = accepted_cookie_names(settings)
        self._sessions = sessions
        self._inventory = inventory
        self._throttle = throttle

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Start every request anonymous."""
        req.context.session_id = None
        req.context.session = None
        req.context.actor = None

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        """Authenticate and check CSRF for the methods the resource serves."""
        method = req.method
        if getattr(resource, "on_" + method.lower(), None) is None:
            return  # Falcon answers (405, default OPTIONS); nothing to protect
        declared = operation_of(resource, method)
        public = declared is not None and declared.public
        authorization = req.get_header("Authorization")
        if authorization is not None and not public:
            # The header decides alone: cookies are not even read, so a request carrying both
            # acts as the token's user whatever session the browser holds.
            req.context.actor = self._bearer(req, authorization)
            if route_of(req) in SESSION_ONLY_ROUTES:
                raise Problem(
                    403,
                    "session-required",
                    "this needs a cookie session (POST /v1/session); an API token is not one",
                )
            return
        values = [v for name in self._cookies for v in req.get_cookie_values(name) or []]
        session = None
        if values:
            try:
                session = self._sessions.get(values[0])
            except Unavailable:
                # A public route (health, readiness, the document) must not fail just because
                # the caller sent a cookie while the session store is down: serve it anonymously.
                if not public:
                    raise
            if session is not None:
                req.context.session_id = values[0]
                req.context.session = session
                req.context.actor = Actor(user_id=session.user_id, role=session.role)
        if public:
            return
        if session is None:
            raise Problem(
                401,
                "unauthenticated",
                "log in first (POST /v1/session), or send an API token as Authorization: Bearer",
                headers={"WWW-Authenticate": BEARER_CHALLENGE},
            )
        if method in UNSAFE_METHODS and not (declared is not None and declared.csrf_exempt):
            token = req.get_header(CSRF_HEADER) or ""
            if not hmac.compare_digest(token.encode(), session.csrf_token.encode()):
                raise Problem(
                    403, "csrf-token-mismatch", f"send the session's csrf_token in {CSRF_HEADER}"
                )

    def _bearer(self, req: falcon.Request, authorization: str) -> Actor:
        """The actor of an ``Authorization`` header, or 401 (the same answer for every reason a
        token fails, so a caller learns nothing about which it was), or 429 while the client
        address is throttled.

        Failures are throttled like logins, per client address: the attempt is counted up
        front (one atomic step with the check, so concurrent guesses cannot all pass it) and a
        valid token takes its own count back. The throttle's "username" is a hash of the header
        rather than one name per address: a success only takes back the failures of that same
        header, so a caller holding one valid token cannot wipe the count of its guesses at
        others by interleaving requests with it. The per-"username" limit then slows one bad
        token repeated (a revoked token in a retry loop), the per-address one every guess.
        """
        client = _settled_client(req)
        header = hashlib.sha256(authorization.encode("utf-8", "surrogatepass")).hexdigest()
        attempt = f"bearer:{header}"
        wait = self._throttle.begin_attempt(username=attempt, client=client)
        if wait is not None:
            raise Problem(
                429,
                "too-many-attempts",
                "too many failed attempts; wait before trying again",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        scheme, _, secret = authorization.strip().partition(" ")
        secret = secret.strip()
        actor = None
        if scheme.lower() == "bearer" and looks_like_token(secret):
            try:
                actor = self._inventory.execute(None, AuthenticateToken(secret))
            except AuthenticationFailed:
                actor = None
            except Exception:
                # Not the token's fault (a backing service failed): take the count back.
                with contextlib.suppress(Unavailable):
                    self._throttle.record_success(username=attempt, client=client)
                raise
        if actor is None:
            raise Problem(
                401,
                "unauthenticated",
                _BEARER_FAILED,
                headers={"WWW-Authenticate": BEARER_CHALLENGE},
            )
        self._throttle.record_success(username=attempt, client=client)
        return actor


def _settled_client(req: falcon.Request) -> str:
    """The client address :class:`RequestIdMiddleware` settled (the peer without it)."""
    settled = getattr(req.context, "client_address", None)
    return settled if isinstance(settled, str) else client_address(req.remote_addr, None, ())
