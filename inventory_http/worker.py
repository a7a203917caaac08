"""The webhook delivery worker: turns new events into deliveries and sends them, signed.

One :class:`DeliveryWorker` loops over three steps, each a trusted command of
:mod:`inventory_core.services.webhooks` run in its own unit of work:

1. **dispatch** new events of the feed into deliveries (one per subscribed, active webhook);
2. **claim** due deliveries, each leased to this worker (``lease``, 60 s by default);
3. **send** them at once on a thread pool of ``concurrency`` threads, and **record** each
   outcome, which ends the delivery or schedules its retry.

The work queue lives in the storage adapter, so any number of workers, in any number of
processes on any number of machines, share it: a delivery is leased to one worker at a time,
and a worker that dies just lets its leases run out (the next one makes the attempt again:
delivery is at least once, and consumers de-duplicate by ``webhook-id``).

The lease is what keeps one attempt from being sent twice at the same time, so it must
comfortably exceed the sender's timeout (10 s): an attempt is only started while its lease has
at least that long left (or half the lease, if the lease is shorter than the timeout), and a
worker claims no more deliveries than it can start in time.

``inventory worker`` runs one on Postgres; the embedded default runs one on a daemon thread of
its one process (:mod:`inventory_http.wiring`).
"""

from __future__ import annotations

import logging
import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from inventory_core.executor import Executor
from inventory_core.present import present, rfc3339
from inventory_core.services.events import PurgeEvents
from inventory_core.services.webhooks import (
    ClaimDeliveries,
    DispatchEvents,
    PurgeDeliveryLog,
    RecordDeliveryAttempt,
)
from inventory_core.signing import signed_headers
from inventory_core.webhooks import ClaimedDelivery
from inventory_http.outbound import WebhookSender
from inventory_http.responses import dump

__all__ = ["DISPATCH_LIMIT", "MAX_BACKOFF", "DeliveryWorker", "delivery_body"]

log = logging.getLogger(__name__)

DISPATCH_LIMIT = 500
"""Events turned into deliveries per dispatch (the loop comes back at once while there are more)."""

MAX_BACKOFF = 30.0
"""The longest wait, in seconds, between tries while the database is unavailable."""


def delivery_body(claimed: ClaimedDelivery) -> bytes:
    """The request body of a delivery: the event as ``GET /v1/events`` shows it (``id``,
    ``type``, ``timestamp``, ``data``), in the API's compact JSON -- the same bytes on every
    attempt, as they are made from the stored event alone."""
    return dump(present(claimed.event))


class DeliveryWorker:
    """Delivers webhooks: :meth:`run` until stopped, or one step at a time with :meth:`run_once`.

    ``executor`` runs the webhook commands (its clock is the worker's clock); ``sender`` makes
    the HTTP requests. ``concurrency`` requests are in flight at most; ``batch`` deliveries are
    claimed at most per step, each leased for ``lease``. When nothing was due the loop waits
    ``idle_wait`` seconds. Every ``housekeeping_every`` (by the executor's clock) it purges the
    events older than ``event_retention`` and the delivery log older than
    ``delivery_log_retention``.

    Call :meth:`close` when done, to end the thread pool.
    """

    def __init__(
        self,
        executor: Executor,
        sender: WebhookSender,
        *,
        concurrency: int = 8,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 50,
        idle_wait: float = 1.0,
        event_retention: timedelta,
        delivery_log_retention: timedelta,
        housekeeping_every: timedelta = timedelta(minutes=10),
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency is at least 1, not {concurrency}")
        if batch < 1:
            raise ValueError(f"batch is at least 1, not {batch}")
        if lease <= timedelta(0):
            raise ValueError(f"the lease is positive, not {lease}")
        if idle_wait <= 0:
            raise ValueError(f"idle_wait is a positive number of seconds, not {idle_wait}")
        self.executor = executor
        self.sender = sender
        self.concurrency = concurrency
        self.lease = lease
        self.batch = batch
        self.idle_wait = idle_wait
        self.event_retention = event_retention
        self.delivery_log_retention = delivery_log_retention
        self.housekeeping_every = housekeeping_every
        timeout = timedelta(seconds=sender.timeout)
        # An attempt starts only while its lease outlives it: then no other worker can claim the
        # delivery (and send it again) while this one is still waiting for the answer.
        self.min_lease_left = min(timeout, lease / 2)
        if lease < 2 * timeout:
            log.warning(
                "webhook worker lease shorter than twice the sender's timeout",
                extra={"lease_seconds": lease.total_seconds(), "timeout_seconds": sender.timeout},
            )
        # Claim no more than can be started while the lease still has min_lease_left: the
        # slowest case is every request before it taking the whole timeout.
        rounds = max(1, math.floor((lease - self.min_lease_left) / timeout))
        self.claim_limit = min(batch, concurrency * rounds)
        self._pool = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="webhook-delivery"
        )
        # run() puts its stop event here: once it is set, attempts not started yet are left
        # for their leases to run out (another worker, or the next run, makes them).
        self._stop = threading.Event()
        self._housekeeping_lock = threading.Lock()
        self._last_housekeeping: datetime | None = None

    # ------------------------------------------------------------ one step

    def run_once(self) -> int:
        """Dispatch new events, claim the due deliveries (up to ``batch``), send them
        concurrently and record each outcome; returns how many attempts were made.

        Raises what the database raises (Unavailable, ...) from dispatching or claiming; a
        failure to record one attempt is logged (its lease runs out, and it is made again)."""
        _, attempts = self._step()
        return attempts

    def _step(self) -> tuple[int, int]:
        """(events dispatched, attempts made)."""
        dispatched = self.executor.execute(None, DispatchEvents(limit=DISPATCH_LIMIT))
        claimed = self.executor.execute(
            None, ClaimDeliveries(lease=self.lease, limit=self.claim_limit)
        )
        if not claimed:
            return dispatched, 0
        futures: list[Future[bool]] = [self._pool.submit(self._deliver, c) for c in claimed]
        return dispatched, sum(1 for f in futures if f.result())

    def _deliver(self, claimed: ClaimedDelivery) -> bool:
        """Make one attempt and record it; whether the request was sent. Never raises."""
        delivery = claimed.delivery
        fields: dict[str, object] = {
            "webhook_id": str(delivery.webhook_id),
            "event_id": str(claimed.event.id),
            "event_type": claimed.event.type.value,
            "attempt": delivery.attempts + 1,
            "host": urlsplit(claimed.url).hostname,
        }
        try:
            now = self.executor.clock.now()
            if self._stop.is_set():
                # Not started: its lease runs out and it is claimed again (here or elsewhere).
                log.info("webhook attempt not started: the worker is stopping", extra=fields)
                return False
            if claimed.lease_until - now < self.min_lease_left:
                log.warning(
                    "webhook attempt not started: too little of its lease left", extra=fields
                )
                return False
            body = delivery_body(claimed)
            headers = signed_headers(
                claimed.secret, str(claimed.event.id), int(now.timestamp()), body
            )
            outcome = self.sender.send(claimed.url, headers, body)
        except Exception:  # a bug; the lease runs out and the delivery is tried again
            log.exception("webhook attempt could not be made", extra=fields)
            return False
        fields.update(
            status_code=outcome.status, error=outcome.error, duration_ms=outcome.duration_ms
        )
        try:
            recorded = self.executor.execute(
                None,
                RecordDeliveryAttempt(
                    claimed,
                    attempted_at=now,
                    status_code=outcome.status,
                    error=outcome.error,
                    duration_ms=outcome.duration_ms,
                ),
            )
        except Exception as error:  # the database went away: the attempt is made again later
            log.warning(
                "webhook attempt made but not recorded: %s", error, extra=fields, exc_info=True
            )
            return True
        if recorded is None:
            log.warning("webhook attempt made after its lease was lost", extra=fields)
        elif recorded.succeeded:
            log.info("webhook delivered", extra=fields)
        elif recorded.next_attempt_at is not None:
            fields["next_attempt_at"] = rfc3339(recorded.next_attempt_at)
            log.warning("webhook attempt failed; will retry", extra=fields)
        else:
            log.error("webhook attempt failed; giving up on this event", extra=fields)
        return True

    # ------------------------------------------------------------ housekeeping

    def housekeep_if_due(self) -> int:
        """Purge old events and the old delivery log, at most once per ``housekeeping_every``
        (the first call always runs); returns how many rows went (0 when not due)."""
        now = self.executor.clock.now()
        if not self._housekeeping_lock.acquire(blocking=False):
            return 0
        try:
            last = self._last_housekeeping
            if last is not None and now - last < self.housekeeping_every:
                return 0
            self._last_housekeeping = now
            # The log first: it may refer to the events.
            log_rows = self.executor.execute(
                None, PurgeDeliveryLog(older_than=now - self.delivery_log_retention)
            )
            events = self.executor.execute(None, PurgeEvents(older_than=now - self.event_retention))
        finally:
            self._housekeeping_lock.release()
        if log_rows or events:
            log.info(
                "purged old events and delivery log",
                extra={"events_purged": events, "delivery_log_rows_purged": log_rows},
            )
        return log_rows + events

    # ------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set, then finish the attempts in flight and return.

        Waits ``idle_wait`` when nothing was due; when the database fails (Unavailable or
        anything else) logs a warning and tries again after a backoff (1 s doubling up to
        :data:`MAX_BACKOFF`). Never raises."""
        self._stop = stop
        failures = 0
        log.info(
            "webhook worker started",
            extra={"concurrency": self.concurrency, "lease_seconds": self.lease.total_seconds()},
        )
        while not stop.is_set():
            try:
                self._housekeep_safely()
                dispatched, attempts = self._step()
            except Exception as error:
                failures += 1
                delay = min(MAX_BACKOFF, float(2 ** min(failures - 1, 10)))
                log.warning(
                    "webhook worker step failed (%s: %s); trying again in %g s",
                    type(error).__name__,
                    error,
                    delay,
                    exc_info=failures == 1,
                )
                stop.wait(delay)
                continue
            failures = 0
            if dispatched == 0 and attempts == 0:
                stop.wait(self.idle_wait)
        log.info("webhook worker stopped")

    def _housekeep_safely(self) -> None:
        try:
            self.housekeep_if_due()
        except Exception as error:  # tried again at the next interval
            log.warning("webhook worker housekeeping failed: %s", error, exc_info=True)

    def close(self) -> None:
        """Wait for the attempts in flight, then end the thread pool. Idempotent."""
        self._pool.shutdown(wait=True)
