"""The event outbox and its feed (EventRepository).

An event is recorded with a deferred INSERT (:meth:`StatementBatch.defer`): it goes out with the
unit of work's next write or its COMMIT, so recording one costs no round trip. Its position is
(txn, seq) as in the movement ledger, and the listings serve only events below the snapshot's
xmin -- see :mod:`inventory_pg.repositories.movements` for why that keeps the feed complete.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from inventory_core.events import Event, EventQuery, EventType
from inventory_core.feed import FeedPosition
from inventory_pg.repositories._base import Repository

__all__ = ["PgEventRepository"]

INSERT_EVENT = """
INSERT INTO events (seq, txn, id, type, occurred_at, data)
VALUES (nextval('event_seq'), inventory_feed_txn(), %(id)s, %(type)s, %(occurred_at)s,
        %(data)s::json)
"""

LIST_EVENTS = """
SELECT txn::text::bigint, seq, id, type, occurred_at, data FROM events
WHERE (txn, seq) > (%(after_txn)s::text::xid8, %(after_seq)s)
  AND txn < (SELECT inventory_feed_horizon())
ORDER BY txn, seq LIMIT %(limit)s
"""

# The same, for some types only: one index range per type, merged in feed order.
LIST_EVENTS_OF_TYPES = """
SELECT txn::text::bigint, seq, id, type, occurred_at, data FROM events
WHERE type = ANY(%(types)s::text[])
  AND (txn, seq) > (%(after_txn)s::text::xid8, %(after_seq)s)
  AND txn < (SELECT inventory_feed_horizon())
ORDER BY txn, seq LIMIT %(limit)s
"""

# A prefix of the feed: everything up to the last event, among those already below the horizon
# (no transaction that could still add an event before it runs), recorded before the cut-off.
PURGE_EVENTS = """
WITH cut AS (
    SELECT txn, seq FROM events
    WHERE occurred_at < %(older_than)s AND txn < (SELECT inventory_feed_horizon())
    ORDER BY txn DESC, seq DESC LIMIT 1
), gone AS (
    DELETE FROM events e USING cut WHERE (e.txn, e.seq) <= (cut.txn, cut.seq)
    RETURNING 1
), mark AS (
    UPDATE event_feed_purged p SET txn = cut.txn, seq = cut.seq
    FROM cut WHERE (cut.txn, cut.seq) > (p.txn, p.seq)
)
SELECT count(*) FROM gone
"""

PURGED_THROUGH = "SELECT txn::text::bigint, seq FROM event_feed_purged"


def _entry(row: tuple[Any, ...]) -> tuple[FeedPosition, Event]:
    txn, seq, id_, type_, occurred_at, data = row
    return FeedPosition(txn, seq), Event(
        id=id_, type=EventType(type_), timestamp=occurred_at, data=data
    )


def event_params(event: Event) -> dict[str, Any]:
    """The parameters of INSERT_EVENT for ``event``."""
    return {
        "id": event.id,
        "type": event.type.value,
        "occurred_at": event.timestamp,
        # Compact text, as the API writes JSON; dumped here rather than by a psycopg Json
        # wrapper, which costs several times more to bind.
        "data": json.dumps(event.data, separators=(",", ":"), ensure_ascii=False),
    }


class PgEventRepository(Repository):
    """Events in Postgres (EventRepository)."""

    def add(self, event: Event) -> None:
        """Owe the INSERT to the transaction: it goes out with the next write or the COMMIT."""
        self._batch().defer((INSERT_EVENT, event_params(event)))

    def list(
        self, query: EventQuery, *, after: FeedPosition, limit: int
    ) -> list[tuple[FeedPosition, Event]]:
        params: dict[str, Any] = {"after_txn": after.txn, "after_seq": after.seq, "limit": limit}
        if query.types is None:
            return [_entry(row) for row in self._rows(LIST_EVENTS, params)]
        params["types"] = sorted(t.value for t in query.types)
        return [_entry(row) for row in self._rows(LIST_EVENTS_OF_TYPES, params)]

    def purge(self, older_than: datetime) -> int:
        ((count,),) = self._write(PURGE_EVENTS, {"older_than": older_than})
        return int(count)

    def purged_through(self) -> FeedPosition:
        ((txn, seq),) = self._rows(PURGED_THROUGH, {})
        return FeedPosition(txn, seq)
