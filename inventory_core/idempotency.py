"""Idempotency records: the stored first response to a POST carrying an Idempotency-Key."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs

__all__ = ["IdempotencyClaim", "IdempotencyOutcome", "IdempotencyRecord"]


@attrs.frozen
class IdempotencyRecord:
    """What was answered the first time: replayed verbatim for the same (user, key)."""

    user_id: UUID
    key: str
    fingerprint: str
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]
    created_at: datetime


class IdempotencyOutcome(enum.StrEnum):
    """What ``IdempotencyStore.claim`` found."""

    NEW = "new"  # the key is ours now: run the request, then ``complete``
    REPLAY = "replay"  # a completed response with the same fingerprint exists
    MISMATCH = "mismatch"  # the key was used with a different request (HTTP 422)
    IN_PROGRESS = "in-progress"  # another request holds the key right now (HTTP 409)


@attrs.frozen
class IdempotencyClaim:
    outcome: IdempotencyOutcome
    record: IdempotencyRecord | None = None
