"""Password rules (DESIGN §3): 8-128 characters, not a common password, not the username.
Also a stdlib PasswordHasher for library users without argon2 (the HTTP layer uses argon2id)."""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import hmac
import secrets
from importlib import resources

from inventory_core._checks import Rule
from inventory_core.errors import ValidationError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "NEW_PASSWORD",
    "Pbkdf2PasswordHasher",
    "check_password",
]

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


@functools.cache
def _common_passwords() -> frozenset[str]:
    data = resources.files("inventory_core").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


def _password_length(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if not MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH:
        return f"must be {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters long"
    return None


NEW_PASSWORD = Rule(
    _password_length,
    {"type": "string", "minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH},
)
"""The length of a new password (common ones and the username are refused too)."""


def check_password(password: str, *, username: str | None = None, path: str = "$.password") -> None:
    """Raise ValidationError unless ``password`` is acceptable for a new password."""
    NEW_PASSWORD.check(password, path)
    if password.casefold() in _common_passwords():
        raise ValidationError("is too common; choose another", path)
    if username is not None and password.casefold() == username.casefold():
        raise ValidationError("must not be the username", path)


class Pbkdf2PasswordHasher:
    """PBKDF2-HMAC-SHA256 from the standard library (OWASP: 600,000 iterations). For library users
    who cannot install argon2; the reference API uses argon2id."""

    algorithm = "pbkdf2_sha256"

    def __init__(self, iterations: int = 600_000) -> None:
        self.iterations = iterations

    def hash(self, password: str) -> str:
        salt = secrets.token_bytes(16)
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, self.iterations)
        return "$".join([self.algorithm, str(self.iterations), _b64(salt), _b64(digest)])

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            algorithm, iterations, salt, digest = password_hash.split("$")
            if algorithm != self.algorithm:
                return False
            expected = base64.b64decode(digest)
            actual = hashlib.pbkdf2_hmac(
                "sha256", password.encode(), base64.b64decode(salt), int(iterations)
            )
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(expected, actual)

    def needs_rehash(self, password_hash: str) -> bool:
        parts = password_hash.split("$")
        return len(parts) != 4 or parts[0] != self.algorithm or parts[1] != str(self.iterations)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
