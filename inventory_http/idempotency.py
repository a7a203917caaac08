"""Safe retries for POST: the ``Idempotency-Key`` header (DESIGN §3).

A POST runs in one unit of work: claim the (user, key), run the use case in that unit of work,
render the response, store it. The stored response commits in the same transaction as the
effect, so a client that lost the answer and retries gets exactly that answer back
(``Idempotent-Replayed: true``), never a second effect. Only 2xx answers are stored: an error
changed nothing (the unit of work rolled back), so retrying it simply runs it again.

Without the header the request runs the same way, minus the claim and the record.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs
import falcon

from inventory_core.errors import ConcurrencyConflict, Unavailable, VersionMismatch
from inventory_core.idempotency import IdempotencyOutcome, IdempotencyRecord
from inventory_core.ports import UnitOfWork
from inventory_core.service import Inventory
from inventory_core.users import Actor
from inventory_http.errors import Problem

__all__ = [
    "IDEMPOTENCY_HEADER",
    "REPLAYED_HEADER",
    "IdempotentRunner",
    "Rendered",
    "fingerprint",
    "idempotency_key",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


@attrs.frozen
class Rendered:
    """A response ready to send (and to store for replay)."""

    status: int
    body: bytes
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    def send(self, resp: falcon.Response, *, replayed: bool = False) -> None:
        """Write this response into ``resp``."""
        resp.status = self.status
        if self.content_type is not None:
            resp.content_type = self.content_type
        if self.body:
            resp.data = self.body
        for name, value in self.headers:
            resp.set_header(name, value)
        if replayed:
            resp.set_header(REPLAYED_HEADER, "true")


def idempotency_key(req: falcon.Request) -> str | None:
    """The request's Idempotency-Key: 1-255 visible ASCII characters, else 400."""
    key = req.get_header(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " < ch <= "~" for ch in key):
        raise Problem(
            400,
            "invalid-idempotency-key",
            f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_LENGTH} visible ASCII characters",
        )
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same request": method, path and body, hashed."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no ambiguous joins
        digest.update(part)
    return digest.hexdigest()


class IdempotentRunner:
    """Runs a POST's use case inside one unit of work, with Idempotency-Key semantics.

    A :class:`~inventory_core.errors.ConcurrencyConflict` (not a VersionMismatch, which means the
    client's view is stale) retries the whole block, claim included, up to ``retries`` times.
    """

    def __init__(
        self,
        inventory: Inventory,
        *,
        retries: int = 3,
        retention: timedelta = timedelta(hours=24),
        purge_every: timedelta = timedelta(minutes=10),
    ) -> None:
        self._inventory = inventory
        self._retries = retries
        self._retention = retention
        self._purge_every = purge_every
        self._purge_lock = threading.Lock()
        self._last_purge: datetime | None = None

    def purge_if_due(self) -> int:
        """Delete records older than the retention period, at most once per ``purge_every`` per
        process; returns how many went. Called after POSTs, so records are cleaned up without
        a separate scheduler (every node does it; deleting is idempotent)."""
        now = self._inventory.clock.now()
        if not self._purge_lock.acquire(blocking=False):
            return 0  # another thread of this process is already purging
        try:
            if self._last_purge is not None and now - self._last_purge < self._purge_every:
                return 0
            self._last_purge = now
            with self._inventory.unit_of_work() as uow:
                return uow.idempotency.purge(now - self._retention)
        finally:
            self._purge_lock.release()

    def run(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        actor: Actor,
        action: Callable[[UnitOfWork], Rendered],
    ) -> None:
        """Answer ``req`` with ``action``'s response, or the stored one for a replayed key.

        The body must already have been read (``req.context.raw_body``)."""
        key = idempotency_key(req)
        body: bytes = getattr(req.context, "raw_body", b"")
        print_ = fingerprint(req.method, req.path, body)
        attempt = 0
        while True:
            uow = self._inventory.unit_of_work()
            try:
                with uow:
                    rendered, replayed = self._once(uow, actor, key, print_, action)
                break
            except VersionMismatch:
                raise
            except ConcurrencyConflict:
                attempt += 1
                if attempt > self._retries:
                    raise
        rendered.send(resp, replayed=replayed)
        if key is not None:
            # Housekeeping must never fail a request that has already succeeded.
            with contextlib.suppress(Unavailable):
                self.purge_if_due()

    def _once(
        self,
        uow: UnitOfWork,
        actor: Actor,
        key: str | None,
        print_: str,
        action: Callable[[UnitOfWork], Rendered],
    ) -> tuple[Rendered, bool]:
        if key is None:
            return action(uow), False
        claim = uow.idempotency.claim(actor.user_id, key, print_)
        if claim.outcome is IdempotencyOutcome.REPLAY and claim.record is not None:
            record = claim.record
            return Rendered(record.status, record.body, None, record.headers), True
        if claim.outcome is IdempotencyOutcome.MISMATCH:
            raise Problem(
                422,
                "idempotency-key-reused",
                f"this {IDEMPOTENCY_HEADER} was used for a different request",
                title="Unprocessable Content",
            )
        if claim.outcome is IdempotencyOutcome.IN_PROGRESS:
            raise Problem(
                409,
                "idempotency-key-in-use",
                f"a request with this {IDEMPOTENCY_HEADER} is still being processed; retry later",
                headers={"Retry-After": "1"},
            )
        rendered = action(uow)
        if 200 <= rendered.status < 300:
            headers = rendered.headers
            if rendered.content_type is not None:
                headers = (("Content-Type", rendered.content_type), *headers)
            uow.idempotency.complete(
                IdempotencyRecord(
                    user_id=actor.user_id,
                    key=key,
                    fingerprint=print_,
                    status=rendered.status,
                    body=rendered.body,
                    headers=headers,
                    created_at=self._inventory.clock.now(),
                )
            )
        return rendered, False
