"""argon2id password hashing for the reference API (the core's PasswordHasher port)."""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from inventory_core.passwords import Pbkdf2PasswordHasher

__all__ = ["Argon2PasswordHasher"]

# OWASP Password Storage Cheat Sheet, argon2id: m=19 MiB, t=2, p=1.
OWASP_TIME_COST = 2
OWASP_MEMORY_COST_KIB = 19_456
OWASP_PARALLELISM = 1


class Argon2PasswordHasher:
    """argon2id with the OWASP minimum parameters by default.

    Tests pass cheap parameters (``time_cost=1, memory_cost=8``); production keeps the defaults.
    Hashes made by the core's stdlib PBKDF2 hasher (a library user migrating to the API) still
    verify and are reported as needing a rehash, so the next login upgrades them to argon2id.
    """

    def __init__(
        self,
        *,
        time_cost: int = OWASP_TIME_COST,
        memory_cost: int = OWASP_MEMORY_COST_KIB,
        parallelism: int = OWASP_PARALLELISM,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._legacy = Pbkdf2PasswordHasher()

    def hash(self, password: str) -> str:
        """A new argon2id hash (PHC string format, salt included)."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """True on a match; False on a mismatch or an unreadable hash (never raises for those)."""
        if password_hash.startswith(Pbkdf2PasswordHasher.algorithm + "$"):
            return self._legacy.verify(password_hash, password)
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash is not argon2id with this hasher's parameters."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True
