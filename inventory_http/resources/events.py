"""The event feed (DESIGN §11): every change, exactly once, in a stable order."""

from __future__ import annotations

import falcon

from inventory_core.events import Event, EventQuery
from inventory_core.feed import FEED_START, FeedPage
from inventory_core.services.events import ListEvents
from inventory_http.cursors import feed
from inventory_http.dependencies import Resource, actor_of
from inventory_http.operations import Paging, operation
from inventory_http.shapes import Feed

__all__ = ["EventsResource"]


class EventsResource(Resource):
    """``/v1/events``: the change feed offline clients and integrations sync from."""

    @operation(
        "listEvents",
        summary="Read the event feed",
        tag="events",
        query=EventQuery,
        paged="feed",
        response=Feed[Event],
        errors=(410,),
        command=ListEvents,
    )
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, query: EventQuery, paging: Paging
    ) -> None:
        """Every change after `cursor` in feed order, optionally only some `types`
        (comma-separated). Each event's `data` is the resource as its own `GET` shows it right
        after the change (for `stock.below_reorder`, the warehouse level and the reorder
        point). Keep each page's `position` and send it as `cursor` later: you get exactly what
        committed since, never an event missed or repeated. A cursor older than what the feed
        still keeps (`INVENTORY_EVENT_RETENTION_DAYS`) is 410 `cursor-expired`."""
        command = ListEvents(
            query, after=FEED_START if paging.after is None else paging.after, limit=paging.limit
        )
        result: FeedPage[Event] = self.inventory.execute(actor_of(req), command)
        self.render.send(resp, feed(result))
