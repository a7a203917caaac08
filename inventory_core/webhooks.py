"""Webhooks: subscriptions to events, delivered signed (Standard Webhooks), retried, logged.

A :class:`Webhook` names a URL and the event types it wants. Events reach it in two steps, both
on the storage adapter, so any number of workers share them:

1. **dispatch** turns each new event of the feed (in feed order, exactly once) into one
   :class:`Delivery` per active webhook subscribed to its type;
2. **claim** leases due deliveries to one worker at a time; the worker sends each and records
   the :class:`DeliveryAttempt`, which either ends the delivery or schedules the next try
   (:class:`~inventory_core.retries.RetrySchedule`). A worker that dies mid-delivery just lets
   its lease run out: the delivery is claimed again and the attempt made again (at least once;
   consumers de-duplicate by ``webhook-id``, the event id).

A webhook whose delivery has failed for the whole schedule is deactivated, and says why.
"""

from __future__ import annotations

import enum
from datetime import datetime
from urllib.parse import urlsplit
from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core.events import Event, EventType, event_types

__all__ = [
    "MAX_URL_LENGTH",
    "WEBHOOK_DESCRIPTION",
    "WEBHOOK_TYPES",
    "WEBHOOK_URL",
    "ClaimedDelivery",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStatus",
    "NewWebhook",
    "Webhook",
]

MAX_URL_LENGTH = 2000


def _url(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if not 1 <= len(value) <= MAX_URL_LENGTH:
        return f"must be 1-{MAX_URL_LENGTH} characters long"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        return "must be an absolute http or https URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http or https URL"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    return None


WEBHOOK_URL = _checks.Rule(
    _url,
    {"type": "string", "format": "uri", "maxLength": MAX_URL_LENGTH, "pattern": "^https?://"},
)
"""Where deliveries are POSTed: an absolute http(s) URL of at most 2,000 characters, without
credentials. (Whether its host may be reached is judged when it resolves, not here.)"""


def _types(value: object) -> str | tuple[str, str] | None:
    if not isinstance(value, tuple | list) or not value:
        return "must list at least one event type"
    known = {t.value for t in EventType}
    for index, entry in enumerate(value):
        if not isinstance(entry, str) or entry not in known:
            return f"[{index}]", f"must be one of {', '.join(sorted(known))}"
    if len(set(value)) != len(value):
        return "must not repeat a type"
    return None


WEBHOOK_TYPES = _checks.Rule(
    _types,
    {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": {"type": "string", "enum": sorted(t.value for t in EventType)},
    },
)
"""The event types a webhook receives: at least one, each once."""

WEBHOOK_DESCRIPTION = _checks.optional_text(500)
"""What the webhook is for (optional, up to 500 characters)."""


@attrs.frozen
class Webhook:
    """A subscription: events of ``types`` are POSTed to ``url``, signed with ``secret``."""

    id: UUID
    """The webhook's id."""
    url: str = attrs.field(validator=WEBHOOK_URL)
    """Where deliveries are POSTed."""
    types: tuple[EventType, ...] = attrs.field(converter=event_types)
    """The event types delivered to it."""
    secret: str = attrs.field(repr=False, metadata=_checks.INTERNAL)
    """The signing secret (``whsec_``...), shown only when the webhook is created."""
    created_at: datetime = attrs.field(validator=_checks.aware)
    """When it was created."""
    updated_at: datetime = attrs.field(validator=_checks.aware)
    """When it last changed."""
    description: str | None = attrs.field(default=None, validator=WEBHOOK_DESCRIPTION)
    """What it is for."""
    active: bool = True
    """Whether events are delivered to it. Turned off by the system when its deliveries keep
    failing (see ``deactivated_reason``); turn it back on with PATCH."""
    deactivated_reason: str | None = attrs.field(default=None)
    """Why the system turned it off; ``null`` while active or when a user turned it off."""
    version: int = attrs.field(default=1, validator=_checks.integer(1, 2**31 - 1))
    """Increases with every change (the ETag)."""

    @types.validator
    def _some_types(self, attribute: object, value: tuple[EventType, ...]) -> None:
        if not value:
            raise ValueError("a webhook receives at least one event type")

    @deactivated_reason.validator
    def _reason_only_when_off(self, attribute: object, value: str | None) -> None:
        if value is not None and self.active:
            raise ValueError("an active webhook has no deactivated_reason")


@attrs.frozen
class NewWebhook:
    """A webhook just created, and its signing secret: the only time the secret is shown."""

    webhook: Webhook
    """The webhook as it is stored (and listed)."""
    secret: str = attrs.field(repr=False)
    """``whsec_`` and the base64 of 32 random bytes: verify each delivery's
    ``webhook-signature`` with it (any Standard Webhooks library does)."""


class DeliveryStatus(enum.StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"
    """Waiting for its next attempt (``next_attempt_at``)."""
    DELIVERED = "delivered"
    """An attempt was answered with a 2xx."""
    FAILED = "failed"
    """Every attempt of the retry schedule failed; the webhook was deactivated."""


@attrs.frozen
class Delivery:
    """One event to one webhook, until it is delivered or given up."""

    id: UUID
    webhook_id: UUID
    event_id: UUID
    status: DeliveryStatus
    attempts: int = attrs.field(validator=_checks.integer(0, 2**31 - 1))
    """Attempts made so far."""
    next_attempt_at: datetime | None
    """When the next attempt is due (``None`` once delivered or failed)."""
    created_at: datetime


@attrs.frozen
class ClaimedDelivery:
    """A delivery leased to one worker: what it needs to make the next attempt. The lease
    ends at ``lease_until``; only the holder of ``lease`` may record the attempt's outcome."""

    delivery: Delivery
    event: Event
    url: str
    secret: str = attrs.field(repr=False)
    lease: UUID
    lease_until: datetime


@attrs.frozen
class DeliveryAttempt:
    """One attempt, as the delivery log shows it."""

    id: UUID
    """The attempt's id (time-ordered)."""
    webhook_id: UUID
    """The webhook it was made for."""
    event_id: UUID
    """The event delivered (its ``webhook-id``)."""
    event_type: EventType
    """The event's type."""
    attempt: int = attrs.field(validator=_checks.integer(1, 2**31 - 1))
    """1 for the first attempt of this event, 2 for the first retry, and so on."""
    attempted_at: datetime
    """When the request was sent."""
    status_code: int | None = attrs.field(validator=_checks.integer(100, 999).or_none())
    """The HTTP status the endpoint answered, ``null`` when none came back."""
    error: str | None
    """What went wrong when no answer came back (timeout, refused address, ...)."""
    duration_ms: int = attrs.field(validator=_checks.integer(0, 2**31 - 1))
    """How long the attempt took, in milliseconds."""
    next_attempt_at: datetime | None
    """When the next attempt is due; ``null`` when this one succeeded or was the last."""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
