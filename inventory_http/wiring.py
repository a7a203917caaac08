"""The composition root: build the adapters a :class:`Settings` asks for and the app on top.

* Embedded default (no ``INVENTORY_DATABASE_URL``): :class:`InMemoryStore`, in-memory session
  store and login throttle. State lives in this process only; an ``admin`` user is provisioned
  with the password given, and the demo warehouse loaded on request.
  Webhooks are delivered by a :class:`~inventory_http.worker.DeliveryWorker` on a daemon thread
  of that one process.
* Otherwise: a Postgres connection pool (created here, so after the fork in a gunicorn worker;
  ``open=False`` then ``open(wait=True)``, each connection checked on checkout) and a Redis
  client; ``/readyz`` pings both. Webhooks are delivered by ``inventory worker`` processes
  (:func:`build_worker`), not by the API.

:func:`build` returns a :class:`Runtime`: the app plus :meth:`Runtime.close`, which the
``worker_exit`` hook calls on graceful shutdown.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, TextIO

import attrs
import falcon

from inventory_core.clocks import SystemClock
from inventory_core.executor import Executor
from inventory_core.memory.sessions import InMemorySessionStore
from inventory_core.memory.store import InMemoryStore
from inventory_core.memory.throttle import InMemoryLoginThrottle
from inventory_core.ports import Clock
from inventory_core.services.users import ProvisionUser
from inventory_core.sessions import SessionPolicy
from inventory_core.users import Actor, Role
from inventory_http.app import create_app
from inventory_http.demo import load_demo
from inventory_http.metrics import Metrics
from inventory_http.outbound import UrlRefused, WebhookSender, check_webhook_url
from inventory_http.passwords import Argon2PasswordHasher
from inventory_http.settings import Settings
from inventory_http.worker import DeliveryWorker

if TYPE_CHECKING:
    from inventory_pg import PgStore

__all__ = [
    "EMBEDDED_ADMIN",
    "PASSWORD_ENV",
    "Runtime",
    "build",
    "build_from_env",
    "build_worker",
    "delivery_worker",
    "embedded_warning",
    "generate_password",
    "open_store",
    "session_policy",
    "webhook_url_check",
]

log = logging.getLogger(__name__)

EMBEDDED_ADMIN = "admin"
"""The username of the user the embedded default provisions."""

PASSWORD_ENV = "INVENTORY_PASSWORD"  # noqa: S105 -- a variable name, not a password
"""Where the embedded admin's password (and ``create-user``'s) may be given."""


@attrs.define
class Runtime:
    """A built app and what it owns. Call :meth:`close` once the server stops serving."""

    app: falcon.App[falcon.Request, falcon.Response]
    inventory: Executor
    settings: Settings
    closers: list[Callable[[], None]] = attrs.field(factory=list)
    """What :meth:`close` calls, newest first: pools and clients."""
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def close(self) -> None:
        """Close the pools and clients, newest first. Idempotent; never raises."""
        with self._lock:
            closers, self.closers = self.closers, []
        _close_all(closers)


def _close_all(closers: list[Callable[[], None]]) -> None:
    for closer in reversed(closers):
        try:
            closer()
        except Exception:  # shutting down: report and carry on closing the rest
            log.exception("error while closing %r", closer)


def session_policy(settings: Settings) -> SessionPolicy:
    """The session timeouts the settings ask for."""
    return SessionPolicy(
        idle_seconds=settings.session_idle_seconds,
        absolute_seconds=settings.session_absolute_seconds,
        remember_seconds=settings.remember_days * 86400,
    )


def webhook_url_check(settings: Settings) -> Callable[[str], str | None]:
    """The check the core runs on a webhook URL when one is registered or changed: the
    :class:`~inventory_http.outbound.UrlRefused` message for a URL deliveries cannot go to
    (private addresses too, unless ``webhook_allow_private``), None for a good one."""
    allow_private = settings.webhook_allow_private

    def check(url: str) -> str | None:
        try:
            check_webhook_url(url, allow_private=allow_private)
        except UrlRefused as refused:
            return str(refused)
        return None

    return check


def delivery_worker(
    settings: Settings, inventory: Executor, *, concurrency: int | None = None
) -> DeliveryWorker:
    """A webhook delivery worker over ``inventory``, configured by ``settings``."""
    return DeliveryWorker(
        inventory,
        WebhookSender(allow_private=settings.webhook_allow_private),
        concurrency=concurrency or settings.worker_concurrency,
        lease=timedelta(seconds=settings.worker_lease_seconds),
        event_retention=timedelta(days=settings.event_retention_days),
        delivery_log_retention=timedelta(days=settings.delivery_log_retention_days),
    )


def generate_password() -> str:
    """A fresh random password (about 128 bits) for the embedded admin."""
    return secrets.token_urlsafe(16)


def embedded_warning(username: str, password: str | None, *, cookie_secure: bool = False) -> str:
    """The banner the embedded default prints at start; with the password when it was generated."""
    rule = "!" * 78
    cookies = (
        "Cookies are Secure: use HTTPS, or INVENTORY_COOKIE_SECURE=false for plain HTTP."
        if cookie_secure
        else "Cookies are sent without Secure (plain HTTP)."
    )
    lines = [
        rule,
        "!! EMBEDDED MODE: INVENTORY_DATABASE_URL is not set. All data lives in this process",
        "!! only and is LOST when it stops: NOTHING PERSISTS. One worker process.",
        f"!! {cookies}",
        "!! For real use set INVENTORY_DATABASE_URL and INVENTORY_REDIS_URL.",
    ]
    if password is None:
        lines.append(f"!! Log in as {username!r} with the password in {PASSWORD_ENV}.")
    else:
        lines += [
            f"!! Log in as {username!r} with this password (shown once, not stored anywhere):",
            f"!!     {password}",
        ]
    lines.append(rule)
    return "\n".join(lines)


def build(
    settings: Settings,
    *,
    admin_password: str | None = None,
    demo: bool = False,
    clock: Clock | None = None,
) -> Runtime:
    """Build the app and its adapters for ``settings``.

    ``admin_password`` and ``demo`` apply to the embedded default only: provision the ``admin``
    user with that password, and load the demo warehouse (which needs the admin). On Postgres,
    users are created with ``inventory create-user``.
    """
    clock = clock or SystemClock()
    if settings.embedded:
        return _build_embedded(settings, clock, admin_password=admin_password, demo=demo)
    if admin_password is not None or demo:
        raise ValueError("admin_password and demo are for the embedded default only")
    return _build_postgres(settings, clock)


def build_from_env(stderr: TextIO | None = None) -> Runtime:
    """Build from ``INVENTORY_*`` variables (the plain ``gunicorn ... wsgi:create()`` path).

    On the embedded default the admin's password is ``INVENTORY_PASSWORD``, or a generated one
    printed to ``stderr`` with the warning banner.
    """
    settings = Settings.from_env()
    if not settings.embedded:
        return build(settings)
    given = os.environ.get(PASSWORD_ENV) or None
    password = given or generate_password()
    banner = embedded_warning(
        EMBEDDED_ADMIN, None if given else password, cookie_secure=settings.cookie_secure
    )
    print(banner, file=stderr or sys.stderr, flush=True)
    return build(settings, admin_password=password)


def _build_embedded(
    settings: Settings, clock: Clock, *, admin_password: str | None, demo: bool
) -> Runtime:
    store = InMemoryStore(clock)
    inventory = Executor(
        store.unit_of_work,
        clock=clock,
        password_hasher=Argon2PasswordHasher(),
        webhook_url_check=webhook_url_check(settings),
    )
    if admin_password is not None:
        admin = inventory.execute(
            None, ProvisionUser(username=EMBEDDED_ADMIN, password=admin_password, role=Role.ADMIN)
        )
        if demo:
            load_demo(inventory, Actor(admin.id, admin.role))
    elif demo:
        raise ValueError("the demo data needs the admin user: pass admin_password")
    app = create_app(
        settings,
        inventory=inventory,
        sessions=InMemorySessionStore(clock, session_policy(settings)),
        throttle=InMemoryLoginThrottle(clock),
        readiness={},
    )
    closers = [_start_in_thread(delivery_worker(settings, inventory))]
    return Runtime(app=app, inventory=inventory, settings=settings, closers=closers)


def _start_in_thread(worker: DeliveryWorker) -> Callable[[], None]:
    """Run ``worker`` on a daemon thread of this process; returns what stops it (once the
    attempts in flight are done)."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="webhook-worker", daemon=True)
    thread.start()

    def stop_worker() -> None:
        stop.set()
        thread.join()
        worker.close()

    return stop_worker


def open_store(
    settings: Settings, *, min_size: int | None = None, max_size: int | None = None
) -> PgStore:
    """Open the Postgres store (its pool) for ``settings``, in the calling process.

    The pool is created closed and opened waiting for ``min_size`` connections (Unavailable
    after ``db_pool_timeout_seconds``); each checkout checks its connection first. ``min_size``
    and ``max_size`` override the settings'.
    """
    from inventory_pg import PgStore  # noqa: PLC0415 -- see _build_postgres

    if settings.database_url is None:
        raise ValueError("the embedded default has no database")
    return PgStore.open(
        settings.database_url,
        min_size=settings.db_pool_min_size if min_size is None else min_size,
        max_size=settings.db_pool_max_size if max_size is None else max_size,
        timeout=settings.db_pool_timeout_seconds,
    )


def build_worker(
    settings: Settings, *, concurrency: int | None = None, clock: Clock | None = None
) -> tuple[DeliveryWorker, list[Callable[[], None]]]:
    """The webhook delivery worker of ``inventory worker``: on the Postgres store of
    ``settings`` (no app, no Redis), and what to call, in reverse order, once it stopped.

    The pool has a connection for each of the ``concurrency`` threads recording attempts, and
    one for the loop that dispatches and claims. ValueError on the embedded default, which
    delivers from ``inventory serve`` itself."""
    if settings.embedded:
        raise ValueError("the embedded default delivers webhooks from `inventory serve` itself")
    concurrency = concurrency or settings.worker_concurrency
    closers: list[Callable[[], None]] = []
    try:
        store = open_store(
            settings, min_size=1, max_size=max(settings.db_pool_max_size, concurrency + 1)
        )
        closers.append(store.close)
        inventory = Executor(
            store.unit_of_work,
            clock=clock or SystemClock(),
            password_hasher=Argon2PasswordHasher(),
            webhook_url_check=webhook_url_check(settings),
        )
        worker = delivery_worker(settings, inventory, concurrency=concurrency)
        closers.append(worker.close)
    except BaseException:
        _close_all(closers)
        raise
    return worker, closers


def _postgres_metrics(store: PgStore, clock: Clock) -> Metrics:
    """Metrics that also read this worker's pool and the ledger's newest movement."""
    from inventory_pg.monitoring import newest_recorded_at  # noqa: PLC0415 -- see below

    def feed_lag() -> float | None:
        newest = newest_recorded_at(store)
        return None if newest is None else (clock.now() - newest).total_seconds()

    return Metrics(pool_stats=store.pool.get_stats, feed_lag=feed_lag)


def _build_postgres(settings: Settings, clock: Clock) -> Runtime:
    # The drivers are imported here, not at the top: the embedded default must run without them
    # (psycopg without its binary package needs libpq, which a newcomer may not have).
    from inventory_redis import (  # noqa: PLC0415
        RedisLoginThrottle,
        RedisSessionStore,
        make_redis_client,
        translate_redis_errors,
    )

    assert settings.redis_url is not None  # Settings guarantees both URLs or neither
    closers: list[Callable[[], None]] = []
    try:
        store = open_store(settings)
        closers.append(store.close)
        client = make_redis_client(settings.redis_url, max_connections=settings.redis_pool_max_size)
        closers.append(client.close)
        inventory = Executor(
            store.unit_of_work,
            clock=clock,
            password_hasher=Argon2PasswordHasher(),
            webhook_url_check=webhook_url_check(settings),
        )

        def ping_redis() -> None:
            with translate_redis_errors("readiness ping"):
                client.ping()

        app = create_app(
            settings,
            inventory=inventory,
            sessions=RedisSessionStore(client, clock, session_policy(settings)),
            throttle=RedisLoginThrottle(client, clock),
            readiness={"postgres": store.ping, "redis": ping_redis},
            metrics=_postgres_metrics(store, clock) if settings.metrics else None,
        )
    except BaseException:
        _close_all(closers)
        raise
    return Runtime(app=app, inventory=inventory, settings=settings, closers=closers)
