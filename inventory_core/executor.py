"""The one owner of a write: authorise, claim the idempotency key, run the use case, store the
response, commit -- with one bounded retry loop (DESIGN §9).

    >>> from inventory_core.memory.store import InMemoryStore
    >>> executor = Executor(InMemoryStore().unit_of_work)

Use cases never open units of work; resources and other callers never commit. Everything a
command does happens in the one unit of work :meth:`Executor.execute` enters for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from inventory_core.clocks import SystemClock
from inventory_core.commands import Command, Handler, handler_for
from inventory_core.errors import (
    ConcurrencyConflict,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    PermissionDenied,
    VersionMismatch,
)
from inventory_core.idempotency import IdempotencyOutcome, IdempotencyRecord
from inventory_core.ids import UuidV7Generator
from inventory_core.passwords import Pbkdf2PasswordHasher
from inventory_core.ports import Clock, IdGenerator, PasswordHasher, UnitOfWork
from inventory_core.retries import RetrySchedule
from inventory_core.services import users
from inventory_core.services._support import Providers, require
from inventory_core.users import Actor

__all__ = ["Answer", "Executor", "Response", "accept_any_webhook_url", "command_fingerprint"]

R = TypeVar("R")


def accept_any_webhook_url(url: str) -> str | None:
    """The default ``webhook_url_check`` of an :class:`Executor`: finds nothing wrong with any
    URL that passed the syntax rule. Fine for tests and embedded use; the HTTP app passes its
    real address guard instead (public addresses only, unless private ones are allowed)."""
    return None


@attrs.frozen
class Response:
    """What a caller answers with a command's result: kept verbatim for idempotent replays."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def succeeded(self) -> bool:
        """Only successful answers are kept: a failure changed nothing, so a retry reruns it."""
        return 200 <= self.status < 300


@attrs.frozen
class Answer:
    """The response to send, and whether it is a replay of one stored earlier."""

    response: Response
    replayed: bool


def command_fingerprint(command: Command[Any]) -> str:
    """A fingerprint of a command for :meth:`Executor.execute_once`: commands with equal reprs
    give equal fingerprints. Fields kept out of the repr (passwords) are left out, so a stored
    fingerprint never derives from a secret."""
    return hashlib.sha256(repr(command).encode()).hexdigest()


class Executor:
    """Runs commands (:mod:`inventory_core.commands`) over one storage adapter.

    Each :meth:`execute` authorises the actor for the command, then runs its handler in a new unit
    of work, committing on success. A :class:`~inventory_core.errors.ConcurrencyConflict` (a
    deadlock or serialisation failure the adapter reports) reruns the whole unit of work, up to
    ``conflict_retries`` times; a :class:`~inventory_core.errors.VersionMismatch` does not, since
    the caller's view is stale and rerunning cannot help.

    ``webhook_url_check`` judges the URL of every webhook created or changed (a message saying
    what is wrong, or None; by default :func:`accept_any_webhook_url` -- the HTTP app passes its
    address guard, which refuses loopback, private, link-local and metadata addresses);
    ``retry_schedule`` says when failed webhook deliveries are retried and given up.
    """

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        password_hasher: PasswordHasher | None = None,
        conflict_retries: int = 3,
        webhook_url_check: Callable[[str], str | None] = accept_any_webhook_url,
        retry_schedule: RetrySchedule | None = None,
    ) -> None:
        self._unit_of_work = unit_of_work
        self.context = Providers(
            clock=clock or SystemClock(),
            ids=ids or UuidV7Generator(),
            password_hasher=password_hasher or Pbkdf2PasswordHasher(),
            webhook_url_check=webhook_url_check,
            retry_schedule=retry_schedule or RetrySchedule(),
        )
        self._retries = conflict_retries

    @property
    def clock(self) -> Clock:
        return self.context.clock

    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work from the adapter (for housekeeping outside commands)."""
        return self._unit_of_work()

    def prepare_authentication(self) -> None:
        """Compute now the dummy hash that unknown-user logins are verified against, so even the
        first such login after start takes the same time as a wrong password (servers call this
        at start; it costs one password hash)."""
        users.warm_dummy_hash(self.context.password_hasher)

    def execute(self, actor: Actor | None, command: Command[R]) -> R:
        """Run ``command`` as ``actor`` in its own unit of work and return its result.

        ``actor`` is ``None`` only for the commands of trusted callers (creating the first user,
        housekeeping, checking a login); any other command then raises PermissionDenied."""
        handler = self._authorised(actor, command)

        def run(uow: UnitOfWork) -> R:
            result: R = handler.run(self.context, uow, actor, command)
            return result

        return self._retrying(run)

    def execute_once(
        self,
        actor: Actor,
        command: Command[R],
        render: Callable[[R], Response],
        *,
        key: str | None,
        fingerprint: str | None = None,
    ) -> Answer:
        """Run ``command`` and answer with ``render(result)``, at most once per (actor, ``key``).

        With a ``key`` the first successful response is stored in the same transaction as the
        command's effect; a later call with the same key and fingerprint gets that response back
        (``replayed``) and runs nothing. The same key with another fingerprint raises
        IdempotencyKeyReused; while the first call is still running, IdempotencyKeyInUse. The
        fingerprint defaults to :func:`command_fingerprint`. Without a key this is
        :meth:`execute` followed by ``render``, which then runs after the commit, when no row
        lock is held any more."""
        if key is None:
            return Answer(render(self.execute(actor, command)), replayed=False)
        handler = self._authorised(actor, command)
        claimed_fingerprint = (
            fingerprint if fingerprint is not None else command_fingerprint(command)
        )

        def once(uow: UnitOfWork) -> Answer:
            claim = uow.idempotency.claim(actor.user_id, key, claimed_fingerprint)
            if claim.outcome is IdempotencyOutcome.REPLAY and claim.record is not None:
                record = claim.record
                return Answer(Response(record.status, record.body, record.headers), True)
            if claim.outcome is IdempotencyOutcome.MISMATCH:
                raise IdempotencyKeyReused("this idempotency key was used for a different request")
            if claim.outcome is IdempotencyOutcome.IN_PROGRESS:
                raise IdempotencyKeyInUse(
                    "a request with this idempotency key is still being processed; retry later"
                )
            response = render(handler.run(self.context, uow, actor, command))
            if response.succeeded:
                uow.idempotency.complete(
                    IdempotencyRecord(
                        user_id=actor.user_id,
                        key=key,
                        fingerprint=claimed_fingerprint,
                        status=response.status,
                        body=response.body,
                        headers=response.headers,
                        created_at=self.clock.now(),
                    )
                )
            return Answer(response, replayed=False)

        return self._retrying(once)

    def _authorised(self, actor: Actor | None, command: Command[Any]) -> Handler:
        handler = handler_for(command)
        if handler.role is not None:
            if actor is None:
                raise PermissionDenied(f"{type(command).__name__} needs a logged-in user")
            require(actor, handler.role)
        return handler

    def _retrying(self, work: Callable[[UnitOfWork], R]) -> R:
        attempt = 0
        while True:
            uow = self._unit_of_work()
            try:
                with uow:
                    return work(uow)
            except VersionMismatch:
                raise
            except ConcurrencyConflict:
                attempt += 1
                if attempt > self._retries:
                    raise
