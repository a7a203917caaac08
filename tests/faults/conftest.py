"""Fault tests: the real ``inventory serve`` on a PostgreSQL cluster and a Redis server that these
tests own, so they may crash them.

Each test session initialises a throwaway cluster (``initdb`` in a temporary folder, a free port)
and starts ``redis-server`` on a free port with no persistence. Each test gets a freshly started
server (``inventory serve``, gunicorn with 2 workers and 4 threads) and a small seed made over
HTTP. Before every test the cluster and Redis are brought back up if an earlier test left them
down. Nothing is skipped: a missing binary fails with a message naming it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import attrs
import psycopg
import pytest

from tests.e2e.conftest import Client, Response, Server, run_inventory, stack_env
from tests.ports import free_port

ADMIN = "faults-admin"
SERVICE_DEADLINE = 30.0
"""Seconds a service gets to start or stop."""


def wait_until(
    condition: Callable[[], bool], deadline: float, what: str, poll: float = 0.02
) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {deadline}s waiting for {what}")
        time.sleep(poll)


# ---------------------------------------------------------------- PostgreSQL


def _pg_bindir() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: INVENTORY_PG_BINDIR, ``pg_config --bindir``,
    /usr/lib/postgresql/*/bin (newest first), or PATH."""
    candidates: list[Path] = []
    if given := os.environ.get("INVENTORY_PG_BINDIR"):
        candidates.append(Path(given))
    if pg_config := shutil.which("pg_config"):
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if found.returncode == 0:
            candidates.append(Path(found.stdout.strip()))
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    pytest.fail(
        "the fault tests start their own PostgreSQL cluster and need initdb and pg_ctl: "
        "install the PostgreSQL server package (e.g. apt-get install postgresql) or set "
        "INVENTORY_PG_BINDIR to the folder holding them"
    )


class PgCluster:
    """A throwaway PostgreSQL cluster in a temporary folder, on a free loopback port.

    PostgreSQL refuses to run as root, so under root its commands run as the ``postgres`` OS
    user (``runuser``), which owns the folder."""

    def __init__(self) -> None:
        self.bindir = _pg_bindir()
        self.folder = Path(tempfile.mkdtemp(prefix="inventory-faults-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root, and there is no 'postgres' OS user to run it as")
            if not shutil.which("runuser"):
                pytest.fail("running as root, and there is no runuser to run PostgreSQL with")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*self._as, *args],
            capture_output=True,
            text=True,
            timeout=SERVICE_DEADLINE * 2,
            check=False,
            cwd=self.folder,
        )
        if done.returncode != 0:
            pytest.fail(
                f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n"
                f"{self.server_log()}"
            )
        return done

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",  # initdb's own final sync only; the server keeps fsync on
        )

    def running(self) -> bool:
        status = subprocess.run(
            [*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            check=False,
            cwd=self.folder,
        )
        return status.returncode == 0

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c max_connections=100"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(int(SERVICE_DEADLINE)),
            "-o",
            options,
            "start",
        )

    def crash(self) -> None:
        """``pg_ctl stop -m immediate``: every backend killed at once, no checkpoint, and crash
        recovery at the next start."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def destroy(self) -> None:
        try:
            if self.data.exists() and self.running():
                self.crash()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


# ---------------------------------------------------------------- Redis


class RedisServer:
    """``redis-server`` on a free loopback port, keeping nothing on disk."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "the fault tests start their own redis-server and it is not on PATH: "
                "install it (e.g. apt-get install redis-server)"
            )
        self.binary = binary
        self.folder = Path(tempfile.mkdtemp(prefix="inventory-faults-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: TextIO | None = None

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self._log is None:
            self._log = open(self.folder / "redis.log", "a", encoding="utf-8")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--protected-mode",
                "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        process = self.process
        wait_until(
            lambda: process.poll() is not None or self.answers(),
            SERVICE_DEADLINE,
            "redis-server to answer PING",
        )
        if process.poll() is not None:
            pytest.fail(f"redis-server exited with {process.returncode}: see {self.folder}")

    def kill(self) -> None:
        """SIGKILL: Redis is gone, and with it everything it held (sessions, throttles)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=SERVICE_DEADLINE)

    def destroy(self) -> None:
        try:
            self.kill()
        finally:
            if self._log is not None:
                self._log.close()
            shutil.rmtree(self.folder, ignore_errors=True)


# ---------------------------------------------------------------- the stack


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A migrated throwaway cluster with the admin user (session-wide; may be crashed)."""
    cluster = PgCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def admin_password(pg_cluster: PgCluster, redis_server: RedisServer) -> str:
    """Migrate the cluster's database and create the admin user, through the CLI."""
    env = stack_env(pg_cluster.url, redis_server.url)
    migrated = run_inventory("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    password = secrets.token_urlsafe(16)
    created = run_inventory(
        "create-user", ADMIN, "--role", "admin", env={**env, "INVENTORY_PASSWORD": password}
    )
    assert created.returncode == 0, created.stderr
    return password


@attrs.frozen
class Seed:
    """What the seed made: a warehouse with two bins, two items, stock in both bins."""

    warehouse_id: str
    bins: tuple[str, str]
    items: tuple[str, str]


@attrs.define
class Stack:
    cluster: PgCluster
    redis: RedisServer
    server: Server
    password: str
    seed: Seed

    def client(self) -> Client:
        """A new client (own cookie jar), logged in as the admin."""
        client = Client(self.server.base_url)
        client.login(ADMIN, self.password)
        return client


def clone(client: Client) -> Client:
    """A client sharing ``client``'s session (its cookie and CSRF token) but not its jar."""
    other = Client(client.base_url)
    for cookie in client.cookies:
        other.cookies.set_cookie(cookie)
    other.csrf_token = client.csrf_token
    return other


def created(response: Response) -> dict[str, Any]:
    assert response.status == 201, response
    body: dict[str, Any] = response.body
    return body


def make_seed(client: Client, stock: int) -> Seed:
    """Over HTTP, like the demo: a warehouse, two bins, two items, a receipt of ``stock`` of each
    item into each bin."""
    tag = secrets.token_hex(4).upper()
    warehouse = created(
        client.request(
            "POST", "/v1/locations", {"code": f"WH-{tag}", "name": "Faults", "kind": "warehouse"}
        )
    )
    bins = tuple(
        created(
            client.request(
                "POST",
                "/v1/locations",
                {
                    "code": f"BIN-{tag}-{n}",
                    "name": f"Bin {n}",
                    "kind": "internal",
                    "parent_id": warehouse["id"],
                },
            )
        )["id"]
        for n in (1, 2)
    )
    items = tuple(
        created(client.request("POST", "/v1/items", {"sku": f"SKU-{tag}-{n}", "name": "It"}))["id"]
        for n in (1, 2)
    )
    created(
        client.request(
            "POST",
            "/v1/movements",
            {
                "kind": "receipt",
                "reference": f"seed-{tag}",
                "lines": [
                    {"item_id": item, "quantity": stock, "to_location_id": bin_}
                    for item in items
                    for bin_ in bins
                ],
            },
        )
    )
    return Seed(warehouse["id"], bins, items)  # type: ignore[arg-type]


@pytest.fixture
def stack(pg_cluster: PgCluster, redis_server: RedisServer, admin_password: str) -> Iterator[Stack]:
    """Both services up (restarted if an earlier test left them down), a fresh server, a seed."""
    if not pg_cluster.running():
        pg_cluster.start()
    if not redis_server.running():
        redis_server.start()
    env = stack_env(
        pg_cluster.url,
        redis_server.url,
        # Fail fast while the database is away: a request waits at most this long for a
        # connection before answering 503.
        INVENTORY_DB_POOL_TIMEOUT_SECONDS="2",
        INVENTORY_DB_POOL_MIN_SIZE="2",
        INVENTORY_DB_POOL_MAX_SIZE="6",
    )
    server = Server(env, "--workers", "2", "--threads", "4")
    try:
        server.wait_ready()
        client = Client(server.base_url)
        client.login(ADMIN, admin_password)
        seed = make_seed(client, stock=1_000_000)
        yield Stack(pg_cluster, redis_server, server, admin_password, seed)
    finally:
        with contextlib.suppress(ProcessLookupError):
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
                try:
                    server.process.wait(timeout=SERVICE_DEADLINE)
                except subprocess.TimeoutExpired:
                    server.process.kill()
        server.close()


# ---------------------------------------------------------------- checks in SQL


def ledger_problems(conn: psycopg.Connection[Any]) -> list[str]:
    """Every way the database breaks the ledger's invariants (empty when it keeps them all):
    a movement without lines or with a gap in its line numbers, a location level different from
    its ledger sum, a warehouse level different from the sum of its locations, an item whose
    levels do not sum to zero, a negative level where stock is held."""
    problems: list[str] = []
    queries = {
        "movement without lines or with a gap in its line numbers": """
            SELECT m.id, count(l.line_no), min(l.line_no), max(l.line_no)
            FROM movements m LEFT JOIN movement_lines l ON l.movement_id = m.id
            GROUP BY m.id
            HAVING count(l.line_no) = 0 OR max(l.line_no) - min(l.line_no) + 1 <> count(l.line_no)
        """,
        "location level differs from its ledger sum": """
            WITH ledger AS (
                SELECT item_id, location_id, sum(delta) AS on_hand FROM (
                    SELECT item_id, to_location_id AS location_id, quantity AS delta
                    FROM movement_lines
                    UNION ALL
                    SELECT item_id, from_location_id, -quantity FROM movement_lines
                ) d GROUP BY item_id, location_id
            )
            SELECT coalesce(s.item_id, l.item_id), coalesce(s.location_id, l.location_id),
                   s.on_hand, l.on_hand
            FROM location_stock s FULL JOIN ledger l USING (item_id, location_id)
            WHERE coalesce(s.on_hand, 0) <> coalesce(l.on_hand, 0)
        """,
        "warehouse level differs from the sum of its locations": """
            WITH tree AS (
                SELECT s.item_id, loc.warehouse_id, sum(s.on_hand) AS on_hand
                FROM location_stock s JOIN locations loc ON loc.id = s.location_id
                WHERE loc.warehouse_id IS NOT NULL
                GROUP BY s.item_id, loc.warehouse_id
            )
            SELECT coalesce(w.item_id, t.item_id), coalesce(w.warehouse_id, t.warehouse_id),
                   w.on_hand, t.on_hand
            FROM warehouse_stock w FULL JOIN tree t USING (item_id, warehouse_id)
            WHERE coalesce(w.on_hand, 0) <> coalesce(t.on_hand, 0)
        """,
        "item whose levels do not sum to zero (conservation)": """
            SELECT item_id, sum(on_hand) FROM location_stock GROUP BY item_id
            HAVING sum(on_hand) <> 0
        """,
        "negative level where stock is held": """
            SELECT item_id, location_id, on_hand FROM location_stock
            WHERE holds_stock AND on_hand < 0
        """,
    }
    for what, query in queries.items():
        rows = conn.execute(query).fetchall()  # type: ignore[call-overload]
        problems += [f"{what}: {row}" for row in rows]
    return problems
