"""The in-memory SessionStore (its rules live in :mod:`inventory_core.sessions`)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from uuid import UUID

import attrs

from inventory_core.ports import Clock
from inventory_core.sessions import (
    DEFAULT_MAX_SESSIONS_PER_USER,
    Session,
    SessionPolicy,
    eviction_order,
    is_live,
    is_session_id,
    new_session,
    new_session_id,
    session_digest,
    touch_due,
    touched,
)
from inventory_core.users import Role

__all__ = ["InMemorySessionStore"]


class InMemorySessionStore:
    """A thread-safe :class:`~inventory_core.ports.SessionStore` held in this process.

    Keeps sessions by digest (never the raw id) with a per-user index, and the revocation
    generation of every user revoked at least once. Expired sessions are dropped when met (get,
    list, create and revocation of their user) and, once a minute of clock time, by a sweep over
    every session on the next create, so memory stays bounded by the sessions live in the last
    minute. Only one process sees it: right for the single-worker embedded default only.
    """

    def __init__(
        self,
        clock: Clock,
        policy: SessionPolicy | None = None,
        *,
        max_sessions_per_user: int = DEFAULT_MAX_SESSIONS_PER_USER,
    ) -> None:
        if max_sessions_per_user < 1:
            raise ValueError("max_sessions_per_user must be at least 1")
        self._clock = clock
        self._policy = policy or SessionPolicy()
        self._max_per_user = max_sessions_per_user
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._by_user: dict[UUID, set[str]] = {}
        # Revocation generations of the users revoked at least once (absent: 0). Never dropped
        # (one small entry per such user): a generation must only ever grow.
        self._generations: dict[UUID, int] = {}
        self._last_sweep: datetime | None = None

    @property
    def policy(self) -> SessionPolicy:
        """The timeouts in force."""
        return self._policy

    def create(
        self,
        *,
        user_id: UUID,
        role: Role,
        user_agent: str | None,
        remember: bool,
        generation: int = 0,
    ) -> tuple[str, Session]:
        """Start a session; returns its raw id (to be shown once, in the cookie) and it. A
        session of a ``generation`` that is no longer the user's is returned but not kept."""
        now = self._clock.now()
        with self._lock:
            session_id, digest = self._new_id()
            session = new_session(
                digest=digest,
                user_id=user_id,
                role=role,
                user_agent=user_agent,
                remember=remember,
                now=now,
                policy=self._policy,
                generation=generation,
            )
            if generation != self._generations.get(user_id, 0):
                return session_id, session  # a revocation came after the login read the user
            self._maybe_sweep(now)
            live = self._live_of(user_id, now)
            for old in eviction_order(live)[: max(0, len(live) - self._max_per_user + 1)]:
                self._remove(old.digest)
            self._sessions[digest] = session
            self._by_user.setdefault(user_id, set()).add(digest)
        return session_id, session

    def get(self, session_id: str) -> Session | None:
        """The live session for ``session_id``; ``None`` for an unknown, expired, revoked or
        malformed id. The use is recorded (last seen now, idle deadline moved forward, never
        past the absolute one) when the recorded one is at least ``touch_interval`` old (see
        :func:`~inventory_core.sessions.touch_interval`)."""
        if not is_session_id(session_id):
            return None
        digest = session_digest(session_id)
        now = self._clock.now()
        with self._lock:
            session = self._sessions.get(digest)
            if session is None:
                return None
            if not self._current(session, now):
                self._remove(digest)
                return None
            if touch_due(session, now, self._policy):
                session = touched(session, now, self._policy)
                self._sessions[digest] = session
            return session

    def destroy(self, session_id: str) -> None:
        """End one session (nothing happens for an unknown or malformed id)."""
        if not is_session_id(session_id):
            return
        with self._lock:
            self._remove(session_digest(session_id))

    def user_generation(self, user_id: UUID) -> int:
        """The user's revocation generation (0 before the first revocation)."""
        with self._lock:
            return self._generations.get(user_id, 0)

    def revoke_user_sessions(self, user_id: UUID, *, keep: str | None = None) -> int:
        """Raise the user's generation and end every live session of ``user_id`` except the one
        with raw id ``keep``, which moves to the new generation; returns how many ended."""
        kept = session_digest(keep) if keep is not None and is_session_id(keep) else None
        now = self._clock.now()
        with self._lock:
            live = self._live_of(user_id, now)
            generation = self._generations.get(user_id, 0) + 1
            self._generations[user_id] = generation
            ended = 0
            for session in live:
                if session.digest == kept:
                    self._sessions[session.digest] = attrs.evolve(session, generation=generation)
                else:
                    self._remove(session.digest)
                    ended += 1
            return ended

    def list_user_sessions(self, user_id: UUID) -> list[Session]:
        """The user's live sessions, oldest first (listing touches none of them)."""
        now = self._clock.now()
        with self._lock:
            return eviction_order(self._live_of(user_id, now))

    # The helpers below run with the lock held.

    def _new_id(self) -> tuple[str, str]:
        while True:
            session_id = new_session_id()
            digest = session_digest(session_id)
            # 256-bit ids do not collide in practice; checking costs nothing here.
            if digest not in self._sessions:
                return session_id, digest

    def _current(self, session: Session, now: datetime) -> bool:
        """Live, and of its user's current generation."""
        return is_live(session, now) and session.generation == self._generations.get(
            session.user_id, 0
        )

    def _live_of(self, user_id: UUID, now: datetime) -> list[Session]:
        live = []
        for digest in list(self._by_user.get(user_id, ())):
            session = self._sessions[digest]
            if self._current(session, now):
                live.append(session)
            else:
                self._remove(digest)
        return live

    def _remove(self, digest: str) -> None:
        session = self._sessions.pop(digest, None)
        if session is None:
            return
        digests = self._by_user.get(session.user_id)
        if digests is not None:
            digests.discard(digest)
            if not digests:
                del self._by_user[session.user_id]

    def _maybe_sweep(self, now: datetime) -> None:
        if self._last_sweep is not None and now - self._last_sweep < timedelta(minutes=1):
            return
        self._last_sweep = now
        for digest in [d for d, s in self._sessions.items() if not self._current(s, now)]:
            self._remove(digest)
