"""API tokens: long-lived bearer credentials for integrators (servers, ERPs, CI jobs).

A token's secret is shown once, when it is issued; the store keeps only its SHA-256. A SHA-256
is enough here (unlike passwords): the secret is 256 random bits, so there is nothing to guess
that a slow hash would protect, and a fast digest lets the lookup be one indexed read.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core.users import Role

__all__ = [
    "MAX_TOKEN_NAME",
    "TOKEN_NAME",
    "TOKEN_PATTERN",
    "TOKEN_PREFIX",
    "TOKEN_TOUCH_INTERVAL",
    "ApiToken",
    "looks_like_token",
    "new_token_secret",
    "token_digest",
]

TOKEN_PREFIX = "inv_"  # noqa: S105 -- a public prefix, not a secret
"""Every secret starts with this, so scanners (and people) recognise a leaked one."""

MAX_TOKEN_NAME = 100

TOKEN_SECRET_BYTES = 32
"""256 random bits: ``secrets.token_urlsafe(32)`` is 43 base64url characters."""

TOKEN_PATTERN = re.compile(r"^inv_[A-Za-z0-9_-]{43}$")
"""What every secret :func:`new_token_secret` makes looks like."""

TOKEN_TOUCH_INTERVAL = timedelta(seconds=60)
"""``last_used_at`` is written only when the stored value is older than this: a busy integrator
costs one write a minute, not one per request."""

_DIGEST_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def new_token_secret() -> str:
    """A new secret: ``inv_`` and 43 base64url characters (256 bits from the OS's CSPRNG)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_SECRET_BYTES)


def token_digest(secret: str) -> str:
    """The SHA-256 (hex) under which a secret is stored and looked up. Any string has one,
    malformed or not, so a caller treats every failure alike and never learns which it was."""
    # surrogatepass: a lone surrogate from a broken client must not raise (it is just a miss).
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_token(value: str) -> bool:
    """True when ``value`` has the shape of a secret (it may still be unknown or revoked)."""
    return isinstance(value, str) and TOKEN_PATTERN.fullmatch(value) is not None


def _token_name(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if not 1 <= len(value) <= MAX_TOKEN_NAME:
        return f"must be 1-{MAX_TOKEN_NAME} characters long"
    # Stricter than other text: a name is one line shown in listings and logs.
    if _NAME_CONTROL.search(value):
        return "must not contain control characters"
    return None


TOKEN_NAME = _checks.Rule(
    _token_name,
    {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_TOKEN_NAME,
        "pattern": "^[^\\u0000-\\u001f\\u007f]*$",
    },
)
"""A token's name: 1-100 characters, no control characters (tab and newline included)."""


def _digest(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _DIGEST_PATTERN.fullmatch(value):
        raise ValueError("a token digest is 64 lower-case hex digits (see token_digest)")


@attrs.frozen
class ApiToken:
    """A bearer token of one user. It acts as its user with the lower of its role and the
    user's current role, until it expires or is revoked (deleted)."""

    id: UUID
    """The token's id (time-ordered: listings show the oldest first)."""
    user_id: UUID
    """The user the token acts as."""
    name: str = attrs.field(validator=TOKEN_NAME)
    """What the token is for, such as the integration using it."""
    role: Role = attrs.field(converter=Role)
    """The most the token may do; it never does more than its user currently may."""
    digest: str = attrs.field(repr=False, validator=_digest, metadata=_checks.INTERNAL)
    created_at: datetime = attrs.field(validator=_checks.aware)
    """When the token was issued."""
    expires_at: datetime | None = attrs.field(default=None, validator=_checks.optional_aware)
    """When the token stops working; ``null``: never (until revoked)."""
    last_used_at: datetime | None = attrs.field(default=None, validator=_checks.optional_aware)
    """When the token last authenticated a request, to the minute; ``null``: never used."""

    def expired(self, now: datetime) -> bool:
        """True from ``expires_at`` on."""
        return self.expires_at is not None and self.expires_at <= now

    def touch_due(self, now: datetime) -> bool:
        """True when a use at ``now`` should be recorded (see TOKEN_TOUCH_INTERVAL)."""
        return self.last_used_at is None or now - self.last_used_at > TOKEN_TOUCH_INTERVAL
