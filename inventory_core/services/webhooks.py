"""Webhook use cases: subscriptions (admin), their delivery log, and the worker's steps.

The admin commands manage :class:`~inventory_core.webhooks.Webhook` subscriptions. The trusted
ones are what a delivery worker runs, each in its own unit of work: :class:`DispatchEvents`
turns new events into deliveries, :class:`ClaimDeliveries` leases the due ones,
:class:`RecordDeliveryAttempt` logs what one attempt came to (and gives up on the delivery, and
deactivates its webhook, when the retry schedule is exhausted), and :class:`PurgeDeliveryLog`
keeps the log within its retention.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import attrs

from inventory_core._checks import accepts, check
from inventory_core.commands import Command, handles, handles_trusted
from inventory_core.errors import (
    ConcurrencyConflict,
    NotFound,
    ValidationError,
    VersionMismatch,
)
from inventory_core.events import EventType
from inventory_core.paging import Page, check_limit
from inventory_core.ports import UnitOfWork
from inventory_core.services._support import Providers, fetch_page
from inventory_core.signing import new_secret
from inventory_core.unset import UNSET, Unset
from inventory_core.users import Actor, Role
from inventory_core.webhooks import (
    WEBHOOK_DESCRIPTION,
    WEBHOOK_TYPES,
    WEBHOOK_URL,
    ClaimedDelivery,
    DeliveryAttempt,
    NewWebhook,
    Webhook,
)

__all__ = [
    "MAX_ERROR_LENGTH",
    "ChangeWebhook",
    "ClaimDeliveries",
    "CreateWebhook",
    "DeleteWebhook",
    "DispatchEvents",
    "GetWebhook",
    "ListDeliveryAttempts",
    "ListWebhooks",
    "PurgeDeliveryLog",
    "RecordDeliveryAttempt",
    "WebhookChanges",
]

MAX_ERROR_LENGTH = 500
"""An attempt's error text is cut to this many characters in the log (and in the reason a
webhook was deactivated for)."""


@attrs.frozen
class CreateWebhook(Command[NewWebhook]):
    """Subscribe a URL to event types. The answer holds the signing secret: the only time it is
    ever shown."""

    url: str = attrs.field(metadata=accepts(WEBHOOK_URL))
    """Where events are POSTed: an absolute http(s) URL of at most 2,000 characters, without a
    user name or password, whose host is a public internet address."""
    types: tuple[EventType, ...] = attrs.field(metadata=accepts(WEBHOOK_TYPES))
    """The event types to deliver to it: at least one, each once."""
    description: str | None = attrs.field(default=None, metadata=accepts(WEBHOOK_DESCRIPTION))
    """What the webhook is for (up to 500 characters)."""


@attrs.frozen
class ListWebhooks(Command[Page[Webhook, UUID]]):
    """Webhooks in creation order, after the webhook ``after``."""

    after: UUID | None = None
    """Only webhooks created after this one (the ``next_after`` of the previous page)."""
    limit: int = 50
    """The most webhooks on the page."""


@attrs.frozen
class GetWebhook(Command[Webhook]):
    """One webhook (never its secret); NotFound."""

    webhook_id: UUID
    """The webhook."""


@attrs.frozen
class WebhookChanges:
    """Fields to change on a webhook; fields left UNSET stay as they are."""

    url: str | Unset = attrs.field(default=UNSET, metadata=accepts(WEBHOOK_URL))
    """A new URL (checked like a new webhook's)."""
    types: tuple[EventType, ...] | Unset = attrs.field(
        default=UNSET, metadata=accepts(WEBHOOK_TYPES)
    )
    """The new list of event types (replaces the old one)."""
    description: str | Unset | None = attrs.field(
        default=UNSET, metadata=accepts(WEBHOOK_DESCRIPTION)
    )
    """A new description; ``null`` clears it."""
    active: bool | Unset = UNSET
    """``false`` stops deliveries; ``true`` resumes them, also after the system turned the
    webhook off (which clears ``deactivated_reason``)."""


@attrs.frozen
class ChangeWebhook(Command[Webhook]):
    """Apply ``changes`` to a webhook; with ``expected_version`` (HTTP If-Match) a stale edit is
    refused with VersionMismatch."""

    webhook_id: UUID
    """The webhook."""
    changes: WebhookChanges = attrs.field(factory=WebhookChanges)
    """What to change."""
    expected_version: int | None = None
    """The version the change applies to; ``None``: whatever is current."""


@attrs.frozen
class DeleteWebhook(Command[None]):
    """Delete a webhook, with its pending deliveries and its delivery log; NotFound."""

    webhook_id: UUID
    """The webhook."""


@attrs.frozen
class ListDeliveryAttempts(Command[Page[DeliveryAttempt, UUID]]):
    """A webhook's delivery log, newest attempt first; NotFound for an unknown webhook."""

    webhook_id: UUID
    """The webhook."""
    before: UUID | None = None
    """Only attempts older than this one (the ``next_after`` of the previous page)."""
    limit: int = 50
    """The most attempts on the page."""


@attrs.frozen
class DispatchEvents(Command[int]):
    """Worker step: turn up to ``limit`` new events of the feed into deliveries (one per active
    webhook subscribed to the event's type); the result is how many events were dispatched."""

    limit: int = 500
    """The most events to dispatch."""


@attrs.frozen
class ClaimDeliveries(Command[list[ClaimedDelivery]]):
    """Worker step: lease up to ``limit`` due deliveries to the caller, each for ``lease``."""

    lease: timedelta
    """How long the caller holds each delivery: well beyond one attempt's timeout."""
    limit: int
    """The most deliveries to claim."""


@attrs.frozen
class RecordDeliveryAttempt(Command[DeliveryAttempt | None]):
    """Worker step: log what one attempt of a claimed delivery came to, and move the delivery
    on (delivered, retried later, or given up). ``None`` when the lease was lost meanwhile
    (nothing is recorded: whoever holds the delivery now makes the attempt again)."""

    claimed: ClaimedDelivery
    """The delivery, as :class:`ClaimDeliveries` leased it."""
    attempted_at: datetime
    """When the request was sent."""
    status_code: int | None
    """The HTTP status the endpoint answered; ``None`` when no answer came."""
    error: str | None
    """Why no answer came (timeout, refused address, ...)."""
    duration_ms: int
    """How long the attempt took, in milliseconds."""


@attrs.frozen
class PurgeDeliveryLog(Command[int]):
    """Housekeeping: delete the log entries and finished deliveries older than
    ``older_than``; the result is how many rows went."""

    older_than: datetime
    """The cut-off time."""


def _url_check(providers: Providers, url: str) -> None:
    problem = providers.webhook_url_check(url)
    if problem is not None:
        raise ValidationError(problem, "$.url")


def _webhook(uow: UnitOfWork, webhook_id: UUID) -> Webhook:
    webhook = uow.webhooks.get(webhook_id)
    if webhook is None:
        raise NotFound("webhook", webhook_id)
    return webhook


@handles(CreateWebhook, role=Role.ADMIN)
def create_webhook(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: CreateWebhook
) -> NewWebhook:
    """Create a webhook with a new secret (``whsec_`` + base64 of 32 random bytes)."""
    check(command)
    _url_check(providers, command.url)
    now = providers.clock.now()
    secret = new_secret()
    webhook = Webhook(
        id=providers.ids.new_id(),
        url=command.url,
        types=command.types,
        secret=secret,
        created_at=now,
        updated_at=now,
        description=command.description,
    )
    uow.webhooks.add(webhook)
    return NewWebhook(webhook, secret)


@handles(ListWebhooks, role=Role.ADMIN)
def list_webhooks(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ListWebhooks
) -> Page[Webhook, UUID]:
    return fetch_page(
        lambda n: uow.webhooks.list(after=command.after, limit=n),
        lambda w: w.id,
        command.limit,
    )


@handles(GetWebhook, role=Role.ADMIN)
def get_webhook(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: GetWebhook
) -> Webhook:
    return _webhook(uow, command.webhook_id)


@handles(ChangeWebhook, role=Role.ADMIN)
def change_webhook(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ChangeWebhook
) -> Webhook:
    """Change the given fields. Values equal to the current ones change nothing: the webhook
    keeps its version and ``updated_at``. Turning it on clears ``deactivated_reason``."""
    check(command.changes)
    given = {
        k: v for k, v in attrs.asdict(command.changes, recurse=False).items() if v is not UNSET
    }
    webhook = _webhook(uow, command.webhook_id)
    expected = command.expected_version
    if expected is not None and expected != webhook.version:
        raise VersionMismatch("webhook", command.webhook_id, expected, webhook.version)
    if "url" in given and given["url"] != webhook.url:
        _url_check(providers, given["url"])
    if given.get("active") is True:
        given["deactivated_reason"] = None
    try:
        changed = attrs.evolve(webhook, **given)
    except TypeError as exc:  # a wrongly typed field from a library caller
        raise ValidationError(str(exc)) from exc
    if changed == webhook:
        # Nothing to change: no new version, so the ETag a client holds stays current.
        return webhook
    changed = attrs.evolve(changed, version=webhook.version + 1, updated_at=providers.clock.now())
    uow.webhooks.update(changed)
    return changed


@handles(DeleteWebhook, role=Role.ADMIN)
def delete_webhook(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: DeleteWebhook
) -> None:
    if not uow.webhooks.delete(command.webhook_id):
        raise NotFound("webhook", command.webhook_id)


@handles(ListDeliveryAttempts, role=Role.ADMIN)
def list_delivery_attempts(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ListDeliveryAttempts
) -> Page[DeliveryAttempt, UUID]:
    check_limit(command.limit)
    _webhook(uow, command.webhook_id)
    return fetch_page(
        lambda n: uow.deliveries.attempts(command.webhook_id, before=command.before, limit=n),
        lambda a: a.id,
        command.limit,
    )


def _positive_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("must be a positive integer", "$.limit")
    return limit


@handles_trusted(DispatchEvents)
def dispatch_events(providers: Providers, uow: UnitOfWork, command: DispatchEvents) -> int:
    """Dispatch new events (see DeliveryRepository.dispatch); the deliveries are due at once."""
    limit = _positive_limit(command.limit)
    return uow.deliveries.dispatch(now=providers.clock.now(), limit=limit)


@handles_trusted(ClaimDeliveries)
def claim_deliveries(
    providers: Providers, uow: UnitOfWork, command: ClaimDeliveries
) -> list[ClaimedDelivery]:
    """Lease the deliveries due now (see DeliveryRepository.claim)."""
    limit = _positive_limit(command.limit)
    if not isinstance(command.lease, timedelta) or command.lease <= timedelta(0):
        raise ValidationError("must be a positive duration", "$.lease")
    return uow.deliveries.claim(now=providers.clock.now(), lease=command.lease, limit=limit)


def _span(duration: timedelta) -> str:
    seconds = max(0, int(duration.total_seconds()))
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


def _last_failure(status_code: int | None, error: str | None) -> str:
    if status_code is not None:
        return f"HTTP {status_code}"
    return error or "no answer"


def _cut(error: str | None) -> str | None:
    if error is None or len(error) <= MAX_ERROR_LENGTH:
        return error
    return error[: MAX_ERROR_LENGTH - 1] + "…"


@handles_trusted(RecordDeliveryAttempt)
def record_delivery_attempt(
    providers: Providers, uow: UnitOfWork, command: RecordDeliveryAttempt
) -> DeliveryAttempt | None:
    """Log the attempt and move its delivery on: delivered on a 2xx, else pending until the
    retry schedule's next attempt -- or, when the schedule is exhausted, failed, and its webhook
    deactivated (with the reason) in the same transaction. None, and nothing recorded, when the
    lease was lost."""
    claimed = command.claimed
    delivery = claimed.delivery
    now = providers.clock.now()
    number = delivery.attempts + 1
    status_code, error = command.status_code, _cut(command.error)
    succeeded = status_code is not None and 200 <= status_code < 300
    next_attempt_at = None if succeeded else providers.retry_schedule.next_attempt_at(number, now)
    try:
        attempt = DeliveryAttempt(
            id=providers.ids.new_id(),
            webhook_id=delivery.webhook_id,
            event_id=delivery.event_id,
            event_type=claimed.event.type,
            attempt=number,
            attempted_at=command.attempted_at,
            status_code=status_code,
            error=error,
            duration_ms=command.duration_ms,
            next_attempt_at=next_attempt_at,
        )
    except TypeError as exc:  # a wrongly typed field from a library caller
        raise ValidationError(str(exc)) from exc
    if not uow.deliveries.record(claimed, attempt):
        return None
    if not succeeded and next_attempt_at is None:
        reason = (
            f"deliveries failed for {_span(command.attempted_at - delivery.created_at)}; "
            f"last: {_last_failure(status_code, error)}"
        )
        _deactivate(providers, uow, delivery.webhook_id, reason)
    return attempt


def _deactivate(providers: Providers, uow: UnitOfWork, webhook_id: UUID, reason: str) -> None:
    """Turn the webhook off, saying why -- unless it is already off (then whoever turned it off
    decided; a user's choice keeps its null reason) or gone."""
    webhook = uow.webhooks.get(webhook_id)
    if webhook is None or not webhook.active:
        return
    off = attrs.evolve(
        webhook,
        active=False,
        deactivated_reason=reason,
        version=webhook.version + 1,
        updated_at=providers.clock.now(),
    )
    try:
        uow.webhooks.update(off)
    except VersionMismatch as exc:
        # Changed since the read (an admin's PATCH, or another delivery giving up): rerun the
        # whole unit of work, which reads it again. The lease is still ours: nothing committed.
        raise ConcurrencyConflict(f"webhook {webhook_id} changed while it was deactivated") from exc


@handles_trusted(PurgeDeliveryLog)
def purge_delivery_log(providers: Providers, uow: UnitOfWork, command: PurgeDeliveryLog) -> int:
    """Delete old log entries and finished deliveries (see DeliveryRepository.purge)."""
    return uow.deliveries.purge(command.older_than)
