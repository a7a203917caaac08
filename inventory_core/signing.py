"""Webhook signing per the Standard Webhooks specification (https://www.standardwebhooks.com/).

Every webhook request carries three headers:

* ``webhook-id``: the message id (our event id); the same on every retry, so a consumer can
  de-duplicate by it.
* ``webhook-timestamp``: when this attempt was signed, in integer seconds since the Unix epoch; a
  consumer refuses timestamps far from its clock (the reference libraries allow 5 minutes), which
  bounds how long a captured request can be replayed.
* ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` under the
  endpoint's secret. The id and timestamp are signed with the body so that neither can be swapped.

A secret is ``whsec_`` and the base64 of its key bytes (we make 32 random bytes); the key is the
decoded bytes, not the text. Any Standard Webhooks library verifies what this module signs
(``standardwebhooks.webhooks.Webhook(secret).verify(body, headers)``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

__all__ = [
    "SECRET_PREFIX",
    "SIGNATURE_VERSION",
    "new_secret",
    "signature",
    "signed_headers",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 -- the public prefix of every secret, not a secret
"""Every webhook secret starts with this (so scanners, and people, recognise a leaked one)."""

SIGNATURE_VERSION = "v1"
"""The scheme's version tag: ``v1`` is HMAC-SHA256 with a shared secret."""

SECRET_BYTES = 32
"""256 random bits per secret."""

# The specification asks for keys of 24 to 64 bytes; anything outside is a mistake, not a key.
_MIN_KEY_BYTES = 24
_MAX_KEY_BYTES = 64

# The id goes out as a header value and into the signed text: visible ASCII only, so it can
# neither break the header (CR/LF) nor differ between what we sign and what the consumer reads.
_MSG_ID = re.compile(r"[\x21-\x7e]+")


def new_secret() -> str:
    """A new endpoint secret: ``whsec_`` and the base64 of 32 bytes from the OS's CSPRNG."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    """The HMAC key a secret stands for; ValueError when the secret is not ``whsec_`` + base64."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    # Other implementations write secrets without '=' padding; accept both spellings.
    encoded += "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is 'whsec_' followed by standard base64") from exc
    if not _MIN_KEY_BYTES <= len(key) <= _MAX_KEY_BYTES:
        raise ValueError(
            f"a webhook secret's key is {_MIN_KEY_BYTES} to {_MAX_KEY_BYTES} bytes, not {len(key)}"
        )
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``.

    Raises ValueError for a malformed secret, an empty or non-printable id, or a timestamp that is
    not a non-negative integer.
    """
    key = _key(secret)
    if not isinstance(msg_id, str) or not _MSG_ID.fullmatch(msg_id):
        raise ValueError("a webhook message id is non-empty visible ASCII (no spaces)")
    # bool is an int, but True as a timestamp is a bug, not 1970-01-01T00:00:01Z.
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("a webhook timestamp is whole seconds since the Unix epoch")
    if not isinstance(body, bytes):
        raise TypeError("a webhook body is bytes (sign exactly what is sent)")
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt to send ``body``.

    Sign again on every attempt (with that attempt's timestamp): consumers refuse old timestamps.
    """
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, msg_id, timestamp, body),
    }
