"""Reading the event feed, and keeping it within its retention."""

from __future__ import annotations

from datetime import datetime

import attrs

from inventory_core.commands import Command, handles, handles_trusted
from inventory_core.errors import CursorExpired, ValidationError
from inventory_core.events import Event, EventQuery
from inventory_core.feed import FEED_START, FeedPage, FeedPosition
from inventory_core.ports import UnitOfWork
from inventory_core.services._support import Providers, fetch_page
from inventory_core.users import Actor, Role

__all__ = ["ListEvents", "PurgeEvents", "list_events", "purge_events"]


@attrs.frozen
class ListEvents(Command[FeedPage[Event]]):
    """The events after ``after`` in feed order: every change exactly once, in a stable order."""

    query: EventQuery = attrs.field(factory=EventQuery)
    after: FeedPosition = FEED_START
    limit: int = 50


@attrs.frozen
class PurgeEvents(Command[int]):
    """Housekeeping: delete the events recorded before ``older_than``; the result is how many."""

    older_than: datetime


@handles(ListEvents, role=Role.VIEWER)
def list_events(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ListEvents
) -> FeedPage[Event]:
    """Events after ``command.after``; CursorExpired when retention has already purged events
    after that position (resuming from it would skip them silently)."""
    if not isinstance(command.after, FeedPosition):
        raise ValidationError("must be a feed position", "$.after")
    if command.after != FEED_START and command.after < uow.events.purged_through():
        raise CursorExpired(
            "this cursor is older than the events the feed still keeps (see the retention "
            "setting): start again without a cursor and resync what you keep from the feed"
        )
    page = fetch_page(
        lambda n: uow.events.list(command.query, after=command.after, limit=n),
        lambda row: row[0],
        command.limit,
    )
    position = page.items[-1][0] if page.items else command.after
    return FeedPage(tuple(e for _, e in page.items), position, page.next_after)


@handles_trusted(PurgeEvents)
def purge_events(providers: Providers, uow: UnitOfWork, command: PurgeEvents) -> int:
    """Delete the oldest events, a prefix of the feed (see EventRepository.purge)."""
    return uow.events.purge(command.older_than)
