"""Safe retries for POST: the ``Idempotency-Key`` header (DESIGN §3).

The executor does the work (:meth:`~inventory_core.executor.Executor.execute_once`): in one unit
of work it claims the (user, key), runs the command, renders the response and stores it, so the
stored response commits in the same transaction as the effect and a client that lost the answer
and retries gets exactly that answer back (``Idempotent-Replayed: true``), never a second effect.
Only 2xx answers are stored: an error changed nothing (the unit of work rolled back), so
retrying it simply runs it again. This module reads the header and fingerprints the request.

The fingerprint is a keyed HMAC-SHA256, never a plain hash: the body of ``POST /v1/users`` holds
the new user's password, and a fast unkeyed hash of it, kept for a day, can be reversed with a
word list by whoever reads the records. The key (``INVENTORY_IDEMPOTENCY_SECRET``) is not
stored with them, so the records alone give nothing to guess against.

Without the header the command runs the same way, minus the claim and the record, and its
response is rendered after the commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

import falcon

from inventory_core.commands import Command
from inventory_core.errors import Unavailable
from inventory_core.executor import Executor, Response
from inventory_core.users import Actor
from inventory_http.errors import Problem

__all__ = [
    "IDEMPOTENCY_HEADER",
    "REPLAYED_HEADER",
    "IdempotentRunner",
    "fingerprint",
    "idempotency_key",
    "send",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255

R = TypeVar("R")


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


def fingerprint(key: bytes, method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same request": method, path and body, under an HMAC-SHA256
    with ``key`` (processes that share the key agree on it; see the module doc)."""
    digest = hmac.new(key, digestmod=hashlib.sha256)
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no ambiguous joins
        digest.update(part)
    return digest.hexdigest()


class IdempotentRunner:
    """Answers a POST with its command's result, through the executor's idempotency
    (:meth:`~inventory_core.executor.Executor.execute_once`): the ``Idempotency-Key`` header is
    the key and a fingerprint of method, path and body tells "the same request" apart. It also
    purges old records now and then, so no separate scheduler is needed.

    ``fingerprint_key`` is the HMAC key of the fingerprints (kept private: never in a repr).
    """

    def __init__(
        self,
        executor: Executor,
        *,
        fingerprint_key: bytes,
        retention: timedelta = timedelta(hours=24),
        purge_every: timedelta = timedelta(minutes=10),
    ) -> None:
        self._executor = executor
        self._key = fingerprint_key
        self._retention = retention
        self._purge_every = purge_every
        self._purge_lock = threading.Lock()
        self._last_purge: datetime | None = None

    def purge_if_due(self) -> int:
        """Delete records older than the retention period, at most once per ``purge_every`` per
        process; returns how many went. Called after POSTs, so records are cleaned up without
        a separate scheduler (every node does it; deleting is idempotent)."""
        now = self._executor.clock.now()
        if not self._purge_lock.acquire(blocking=False):
            return 0  # another thread of this process is already purging
        try:
            if self._last_purge is not None and now - self._last_purge < self._purge_every:
                return 0
            self._last_purge = now
            with self._executor.unit_of_work() as uow:
                purged: int = uow.idempotency.purge(now - self._retention)
                return purged
        finally:
            self._purge_lock.release()

    def run(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        actor: Actor,
        command: Command[R],
        render: Callable[[R], Response],
    ) -> None:
        """Execute ``command`` and answer ``req`` with ``render(result)``, or with the stored
        answer of a replayed key. The body must already have been read (``req.context.raw_body``),
        and ``render`` must only render: with a key it runs inside the transaction."""
        key = idempotency_key(req)
        request_fingerprint = None
        if key is not None:
            body: bytes = getattr(req.context, "raw_body", b"")
            request_fingerprint = fingerprint(self._key, req.method, req.path, body)
        answer = self._executor.execute_once(
            actor, command, render, key=key, fingerprint=request_fingerprint
        )
        send(resp, answer.response, replayed=answer.replayed)
        if key is not None:
            # Housekeeping must never fail a request that has already succeeded.
            with contextlib.suppress(Unavailable):
                self.purge_if_due()


def send(resp: falcon.Response, response: Response, *, replayed: bool = False) -> None:
    """Write a (possibly stored) response into ``resp``."""
    resp.status = response.status
    if response.body:
        resp.data = response.body
    for name, value in response.headers:
        resp.set_header(name, value)
    if replayed:
        resp.set_header(REPLAYED_HEADER, "true")
