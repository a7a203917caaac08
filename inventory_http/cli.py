"""The ``inventory`` command: ``serve``, ``worker``, ``migrate``, ``create-user``,
``create-token`` and ``import-stock``.

Exit status: 0 on success, 1 when the operation failed (a service unreachable, a username taken,
a password refused), 2 for a usage or configuration error (bad arguments or ``INVENTORY_*``
values), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from types import FrameType
from typing import Any, NoReturn, TextIO

from inventory_core.errors import (
    AlreadyExists,
    AuthenticationFailed,
    InventoryError,
    PermissionDenied,
    Unavailable,
    ValidationError,
)
from inventory_core.executor import Executor
from inventory_core.passwords import check_password
from inventory_core.services.tokens import CreateToken
from inventory_core.services.users import ProvisionUser
from inventory_core.users import Role, normalize_username
from inventory_http.settings import Settings, SettingsError

__all__ = ["CommandError", "build_parser", "main"]

PROG = "inventory"
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DATABASE_TIMEOUT = 10.0
"""Seconds the database commands wait for a connection before giving up."""


class CommandError(Exception):
    """A failure to report as ``inventory: error: <message>`` and exit with ``status``."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _rfc3339(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an RFC 3339 time such as 2031-01-01T00:00:00Z, not {raw!r}"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"must say its offset (Z or +01:00), not {raw!r}")
    return value


def _bind(raw: str) -> str:
    host, sep, port = raw.rpartition(":")
    if raw.startswith("unix:"):
        return raw
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT (or unix:PATH), not {raw!r}")
    return raw


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``inventory`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run and administer the inventory-core reference HTTP API.",
        epilog=(
            "Configuration comes from INVENTORY_* environment variables (see .env.example). "
            "Exit status: 0 success, 1 failure, 2 usage or configuration error."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the HTTP API under gunicorn",
        description=(
            "Run the HTTP API under gunicorn. Without INVENTORY_DATABASE_URL this is the "
            "embedded default: in-memory storage in one worker process (nothing persists), "
            "cookies without Secure, and an 'admin' user whose password is INVENTORY_PASSWORD "
            "or a generated one printed once at start. With INVENTORY_DATABASE_URL and "
            "INVENTORY_REDIS_URL it runs on PostgreSQL and Redis (run 'inventory migrate' "
            "and 'inventory create-user' first), and needs INVENTORY_IDEMPOTENCY_SECRET. It "
            "refuses an address another server listens on. Stop it with SIGTERM or Ctrl-C."
        ),
    )
    serve.add_argument(
        "--bind", type=_bind, metavar="HOST:PORT", help="address to listen on (INVENTORY_BIND)"
    )
    serve.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="worker processes (INVENTORY_WORKERS; always 1 on the embedded default)",
    )
    serve.add_argument(
        "--threads", type=_positive_int, metavar="N", help="threads per worker (INVENTORY_THREADS)"
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load a small demo warehouse (embedded default only)",
    )

    worker = commands.add_parser(
        "worker",
        help="deliver webhooks (needs the database)",
        description=(
            "Deliver webhooks: turn new events into deliveries and POST them, signed, to the "
            "webhooks' URLs, retrying failures. Needs INVENTORY_DATABASE_URL (the embedded "
            "default delivers from 'inventory serve' itself); run as many workers as you like, "
            "on any machines: they share the work and never send one attempt twice. Also purges "
            "events and the delivery log past their retention. Stop it with SIGTERM or Ctrl-C: "
            "it finishes the requests in flight and exits 0."
        ),
    )
    worker.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        help="deliveries sent at the same time (INVENTORY_WORKER_CONCURRENCY, default 8)",
    )

    commands.add_parser(
        "migrate",
        help="apply pending database migrations",
        description=(
            "Apply the pending SQL migrations to INVENTORY_DATABASE_URL. Idempotent, and safe "
            "to run from several places at once (an advisory lock serialises the runs)."
        ),
    )

    create_user = commands.add_parser(
        "create-user",
        help="create a user in the database",
        description=(
            "Create a user in INVENTORY_DATABASE_URL. The password is read from "
            "INVENTORY_PASSWORD, or prompted for twice when that is not set. Passwords are "
            "8-128 characters, not a common password and not the username."
        ),
    )
    create_user.add_argument("username", metavar="USERNAME")
    create_user.add_argument(
        "--role",
        required=True,
        choices=[role.value for role in Role],
        help="the user's role",
    )

    create_token = commands.add_parser(
        "create-token",
        help="create an API token for a user and print it",
        description=(
            "Create an API token acting as USERNAME in INVENTORY_DATABASE_URL and print its "
            "secret, alone on one line of stdout (for bootstrap and CI: nothing else is "
            "printed there). The secret is shown only now; the database keeps only its SHA-256. "
            "Send it as 'Authorization: Bearer <token>'."
        ),
    )
    create_token.add_argument("username", metavar="USERNAME")
    create_token.add_argument(
        "--name", required=True, help="what the token is for (1-100 characters)"
    )
    create_token.add_argument(
        "--role",
        choices=[role.value for role in Role],
        help="the most the token may do (default and maximum: the user's role)",
    )
    create_token.add_argument(
        "--expires-at",
        type=_rfc3339,
        metavar="RFC3339",
        help="when the token stops working (default: never, until revoked)",
    )

    import_stock = commands.add_parser(
        "import-stock",
        help="post a CSV file of receipts in one transaction",
        description=(
            "Post FILE (CSV with a header row: sku, location_code, quantity[, reference][, lot]"
            "[, expires_on][, serial]) as "
            "receipts from the supplier into INVENTORY_DATABASE_URL, all lines or none. Bad rows "
            "are listed by line number and nothing is posted. Exit status: 0 posted, 1 bad rows "
            "(nothing posted), 2 usage error or database unavailable."
        ),
    )
    import_stock.add_argument("file", metavar="FILE")
    import_stock.add_argument(
        "--reference", metavar="REF", help="reference of the movements, for rows that give none"
    )
    import_stock.add_argument(
        "--user", default="admin", metavar="USERNAME", help="who posts it (default: admin)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``inventory`` command with ``argv`` (default: the process's arguments)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            _serve(args)
        elif args.command == "worker":
            _worker(args.concurrency)
        elif args.command == "migrate":
            _migrate()
        elif args.command == "import-stock":
            from inventory_http.import_stock import import_stock  # noqa: PLC0415

            return import_stock(args.file, reference=args.reference, username=args.user)
        elif args.command == "create-token":
            role = None if args.role is None else Role(args.role)
            _create_token(args.username, args.name, role, args.expires_at)
        else:
            _create_user(args.username, Role(args.role))
    except CommandError as error:
        _fail(str(error))
        return error.status
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _fail(message: str, stream: TextIO | None = None) -> None:
    print(f"{PROG}: error: {message}", file=stream or sys.stderr)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as error:
        raise CommandError(str(error), EXIT_USAGE) from None


def _database_url() -> str:
    url = os.environ.get("INVENTORY_DATABASE_URL")
    if not url:
        raise CommandError(
            "INVENTORY_DATABASE_URL is not set (this command works on the PostgreSQL database)",
            EXIT_USAGE,
        )
    return url


def _check_database(url: str) -> None:
    """Fail with a clear message unless the database answers and its schema is up to date.

    One plain connection, closed at once: an unreachable server is reported immediately, where
    a pool would retry (logging each attempt) until its timeout.
    """
    import psycopg  # noqa: PLC0415

    from inventory_pg import applied_migrations, available_migrations  # noqa: PLC0415

    try:
        with psycopg.connect(url, connect_timeout=int(DATABASE_TIMEOUT), autocommit=True) as conn:
            applied = set(applied_migrations(conn))
    except psycopg.Error as error:
        raise CommandError(f"cannot reach the database: {error}") from None
    except InventoryError as error:
        raise CommandError(f"cannot read the database schema: {error}") from None
    pending = [m.name for m in available_migrations() if m.name not in applied]
    if pending:
        raise CommandError(
            f"the database schema is not up to date ({len(pending)} pending migration(s), "
            f"first {pending[0]}): run 'inventory migrate' first"
        )


def _check_redis(url: str) -> None:
    """Fail with a clear message unless Redis answers a PING (one connection, closed at once)."""
    from inventory_redis import make_redis_client, translate_redis_errors  # noqa: PLC0415

    client = make_redis_client(url, retries=0, max_connections=1)
    try:
        with translate_redis_errors("start-up ping"):
            client.ping()
    except InventoryError as error:
        raise CommandError(f"cannot reach Redis: {error}") from None
    finally:
        client.close()


# ---------------------------------------------------------------- serve


def _serve(args: argparse.Namespace) -> NoReturn:
    from inventory_http import wiring, wsgi  # noqa: PLC0415 -- falcon and gunicorn only for serve

    settings = _settings()
    options = wsgi.gunicorn_options(
        settings, bind=args.bind, workers=args.workers, threads=args.threads
    )
    banner = None
    if settings.embedded:
        given = os.environ.get(wiring.PASSWORD_ENV) or None
        password = given or wiring.generate_password()
        try:
            check_password(password, username=wiring.EMBEDDED_ADMIN)
        except ValidationError as error:
            raise CommandError(
                f"{wiring.PASSWORD_ENV} is refused: the password {error.errors[0].message}",
                EXIT_USAGE,
            ) from None
        if args.workers is not None and args.workers > 1:
            print(
                f"{PROG}: warning: --workers {args.workers} ignored: the embedded default "
                "runs one worker (its data lives in that process)",
                file=sys.stderr,
            )
        banner = wiring.embedded_warning(
            wiring.EMBEDDED_ADMIN, None if given else password, cookie_secure=settings.cookie_secure
        )
        demo = bool(args.demo)
        wsgi.configure(lambda: wiring.build(settings, admin_password=password, demo=demo))
    else:
        if args.demo:
            raise CommandError(
                "--demo is for the embedded default only; unset INVENTORY_DATABASE_URL and "
                "INVENTORY_REDIS_URL to try the API with demo data",
                EXIT_USAGE,
            )
        # Checked here, in the master, before any fork: a clear message now beats every worker
        # failing to boot. Nothing opened here survives into the workers.
        assert settings.database_url is not None
        assert settings.redis_url is not None
        _check_database(settings.database_url)
        _check_redis(settings.redis_url)
        wsgi.configure(lambda: wiring.build(settings))
    # Once nothing else can fail before gunicorn starts (so a refused start holds nothing), and
    # before the banner: a server started twice says so instead of announcing itself. Held
    # until this process, gunicorn's master below, ends; its on_starting hook finds it held.
    try:
        wsgi.claim_address(options["bind"][0])
    except wsgi.AddressUnavailable as error:
        raise CommandError(str(error)) from None
    if banner is not None:
        print(banner, file=sys.stderr, flush=True)
    _run_gunicorn(options)
    raise SystemExit(0)  # gunicorn's arbiter exits by itself


def _run_gunicorn(options: dict[str, Any]) -> None:
    """Run gunicorn in this process (its arbiter becomes this process) with ``options``."""
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]  # noqa: PLC0415

    from inventory_http import wsgi  # noqa: PLC0415

    class Application(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:  # skip what an older gunicorn does not know
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return wsgi.create()

    Application(prog=PROG).run()


# ---------------------------------------------------------------- worker


def _worker(concurrency: int | None) -> None:
    settings = _settings()
    if settings.database_url is None:
        raise CommandError(
            "'inventory worker' needs INVENTORY_DATABASE_URL: the embedded default delivers "
            "from `inventory serve` itself",
            EXIT_USAGE,
        )
    _check_database(settings.database_url)
    from inventory_http import wiring  # noqa: PLC0415 -- the drivers only for this command
    from inventory_http.logging import configure_logging  # noqa: PLC0415

    configure_logging(settings.log_level)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Set before the pool opens: a SIGTERM while it connects still ends the run cleanly.
    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        try:
            worker, closers = wiring.build_worker(settings, concurrency=concurrency)
        except Unavailable as error:
            raise CommandError(f"cannot reach the database: {error}") from None
        try:
            # The loop runs on a thread of its own: this one only waits, so the signal handler
            # never interrupts the loop while it holds a lock the handler needs.
            loop = threading.Thread(target=worker.run, args=(stop,), name="webhook-worker")
            loop.start()
            while loop.is_alive():
                loop.join(0.5)
        finally:
            stop.set()
            for closer in reversed(closers):  # the worker (its requests in flight), the pool
                closer()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# ---------------------------------------------------------------- migrate


def _migrate() -> None:
    url = _database_url()
    from inventory_pg.migrate import apply_migrations  # noqa: PLC0415

    try:
        applied = apply_migrations(url)
    except Unavailable as error:
        raise CommandError(f"cannot reach the database: {error}") from None
    except InventoryError as error:
        raise CommandError(f"migration failed: {error}") from None
    if applied:
        for name in applied:
            print(f"applied {name}")
    else:
        print("the database schema is up to date")


# ---------------------------------------------------------------- create-user


def _read_password(username: str) -> str:
    given = os.environ.get("INVENTORY_PASSWORD")
    if given:
        return given
    first = getpass.getpass(f"Password for {username}: ")
    second = getpass.getpass("Repeat the password: ")
    if first != second:
        raise CommandError("the two passwords differ; nothing was created")
    return first


def _create_user(username: str, role: Role) -> None:
    url = _database_url()
    password = _read_password(username)
    try:
        check_password(password, username=username)
    except ValidationError as error:
        raise CommandError(f"password refused: it {error.errors[0].message}") from None
    from inventory_http.passwords import Argon2PasswordHasher  # noqa: PLC0415
    from inventory_pg import PgStore  # noqa: PLC0415

    _check_database(url)
    try:
        with PgStore.open(url, min_size=1, max_size=1, timeout=DATABASE_TIMEOUT) as store:
            inventory = Executor(store.unit_of_work, password_hasher=Argon2PasswordHasher())
            user = inventory.execute(
                None, ProvisionUser(username=username, password=password, role=role)
            )
    except AlreadyExists:
        raise CommandError(f"a user named {username!r} already exists") from None
    except ValidationError as error:
        raise CommandError(f"user refused: {error}") from None
    except Unavailable as error:
        raise CommandError(f"cannot reach the database: {error}") from None
    except InventoryError as error:
        raise CommandError(f"could not create the user: {error}") from None
    print(f"created user {user.username!r} ({user.role.value}), id {user.id}")


# ---------------------------------------------------------------- create-token


def _create_token(username: str, name: str, role: Role | None, expires_at: datetime | None) -> None:
    url = _database_url()
    from inventory_pg import PgStore  # noqa: PLC0415

    _check_database(url)
    try:
        with PgStore.open(url, min_size=1, max_size=1, timeout=DATABASE_TIMEOUT) as store:
            with store.unit_of_work() as uow:
                user = uow.users.get_by_username(normalize_username(username))
            if user is None:
                raise CommandError(f"no user named {username!r}")
            if not user.active:
                raise CommandError(f"user {user.username!r} is inactive")
            inventory = Executor(store.unit_of_work)
            command = CreateToken(name=name, role=role, expires_at=expires_at)
            issued = inventory.execute(user.actor, command)
    except PermissionDenied as error:
        raise CommandError(f"a token may not have a higher role than its user: {error}") from None
    except AuthenticationFailed:  # deactivated between the read and the creation
        raise CommandError(f"user {username!r} is inactive") from None
    except ValidationError as error:
        first = error.errors[0]
        option = {"$.name": "--name", "$.expires_at": "--expires-at"}.get(first.path, first.path)
        raise CommandError(f"{option} refused: it {first.message}") from None
    except Unavailable as error:
        raise CommandError(f"cannot reach the database: {error}") from None
    except InventoryError as error:
        raise CommandError(f"could not create the token: {error}") from None
    # The secret alone on stdout, so `TOKEN=$(inventory create-token ...)` just works; what it
    # is goes to stderr for the person at the terminal.
    print(issued.secret)
    print(
        f"created token {issued.token.name!r} ({issued.token.role.value}) for "
        f"{user.username!r}, id {issued.token.id}; it is shown only now",
        file=sys.stderr,
    )
