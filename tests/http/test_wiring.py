"""The composition root: adapters per settings, readiness, closing, one runtime per process."""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import falcon.testing
import psycopg
import pytest

from inventory_core.errors import Unavailable
from inventory_core.services.users import Authenticate, ListUsers
from inventory_core.users import Actor, Role
from inventory_http import wiring, wsgi
from inventory_http.settings import Settings
from inventory_pg import apply_migrations

PASSWORD = "a-long-demo-password"


@pytest.fixture
def clean_wsgi() -> Iterator[None]:
    wsgi.shutdown()
    wsgi.configure(None)
    yield
    wsgi.shutdown()
    wsgi.configure(None)


EMBEDDED = Settings(cookie_secure=False)  # what Settings.from_env() gives with no URLs


def login(client: falcon.testing.TestClient, password: str = PASSWORD) -> dict[str, str]:
    """Log in as the admin; the cookies to send with the next requests."""
    response = client.simulate_post(
        "/v1/session", json={"username": wiring.EMBEDDED_ADMIN, "password": password}
    )
    assert response.status_code == 201, response.text
    return {name: cookie.value for name, cookie in response.cookies.items()}


def test_embedded_runtime_provisions_the_admin_and_loads_the_demo() -> None:
    runtime = wiring.build(EMBEDDED, admin_password=PASSWORD, demo=True)
    try:
        client = falcon.testing.TestClient(runtime.app)
        cookies = login(client)
        items = client.simulate_get("/v1/items", params={"sku": "WID-RED"}, cookies=cookies)
        assert items.status_code == 200
        assert [item["sku"] for item in items.json["data"]] == ["WID-RED"]
        assert client.simulate_get("/readyz").status_code == 200
    finally:
        runtime.close()


def test_embedded_runtime_without_demo_is_empty_but_for_the_admin() -> None:
    runtime = wiring.build(EMBEDDED, admin_password=PASSWORD)
    try:
        client = falcon.testing.TestClient(runtime.app)
        cookies = login(client)
        assert client.simulate_get("/v1/items", cookies=cookies).json["data"] == []
        users = runtime.inventory.execute(Actor(_admin_id(runtime), Role.ADMIN), ListUsers()).items
        assert [(u.username, u.role) for u in users] == [("admin", Role.ADMIN)]
    finally:
        runtime.close()


def _admin_id(runtime: wiring.Runtime) -> UUID:
    return runtime.inventory.execute(None, Authenticate(wiring.EMBEDDED_ADMIN, PASSWORD)).id


def test_the_demo_needs_the_admin_and_postgres_takes_neither() -> None:
    with pytest.raises(ValueError, match="needs the admin"):
        wiring.build(EMBEDDED, demo=True)
    pg = Settings(database_url="postgresql://127.0.0.1:9/x", redis_url="redis://127.0.0.1:9/0")
    with pytest.raises(ValueError, match="embedded default only"):
        wiring.build(pg, admin_password=PASSWORD)


def test_build_from_env_prints_the_banner_with_a_generated_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("INVENTORY_DATABASE_URL", "INVENTORY_REDIS_URL", "INVENTORY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    out = io.StringIO()
    runtime = wiring.build_from_env(stderr=out)
    try:
        banner = out.getvalue()
        assert "NOTHING PERSISTS" in banner
        assert "without Secure" in banner
        password = banner.split("shown once, not stored anywhere):\n!!     ")[1].split()[0]
        login(falcon.testing.TestClient(runtime.app), password)
    finally:
        runtime.close()


def test_build_from_env_takes_the_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("INVENTORY_DATABASE_URL", "INVENTORY_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INVENTORY_PASSWORD", PASSWORD)
    out = io.StringIO()
    runtime = wiring.build_from_env(stderr=out)
    try:
        assert PASSWORD not in out.getvalue()
        assert "INVENTORY_PASSWORD" in out.getvalue()
        login(falcon.testing.TestClient(runtime.app))
    finally:
        runtime.close()


def test_runtime_close_runs_closers_newest_first_once_and_survives_errors() -> None:
    calls: list[str] = []

    def failing() -> None:
        calls.append("failing")
        raise RuntimeError("boom")

    runtime = wiring.build(EMBEDDED, admin_password=PASSWORD)
    runtime.closers.extend([lambda: calls.append("first"), failing, lambda: calls.append("last")])
    runtime.close()
    runtime.close()
    assert calls == ["last", "failing", "first"]


# ---------------------------------------------------------------- one runtime per process


def test_start_builds_once_per_process_and_shutdown_closes(clean_wsgi: None) -> None:
    built: list[wiring.Runtime] = []
    closed: list[str] = []

    def builder() -> wiring.Runtime:
        runtime = wiring.build(EMBEDDED, admin_password=PASSWORD)
        runtime.closers.append(lambda: closed.append("closed"))
        built.append(runtime)
        return runtime

    wsgi.configure(builder)
    app = wsgi.create()
    assert wsgi.create() is app
    assert wsgi.start() is built[0]
    assert len(built) == 1
    wsgi.shutdown()
    wsgi.shutdown()
    assert closed == ["closed"]
    assert wsgi.create() is not app  # a new one after shutdown
    assert len(built) == 2


def test_a_forked_child_builds_its_own_runtime_and_leaves_the_parents_alone(
    clean_wsgi: None,
) -> None:
    closed_by: list[int] = []

    def builder() -> wiring.Runtime:
        runtime = wiring.build(EMBEDDED, admin_password=PASSWORD)
        runtime.closers.append(lambda: closed_by.append(os.getpid()))
        return runtime

    wsgi.configure(builder)
    parent_runtime = wsgi.start()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running any pytest machinery
        status = 1
        try:
            child_runtime = wsgi.start()
            wsgi.shutdown()
            fresh = child_runtime is not parent_runtime
            os.write(write_end, f"{fresh} {closed_by == [os.getpid()]}".encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    report = os.read(read_end, 100).decode()
    os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report == "True True"  # the child built and closed its own
    assert closed_by == []  # nothing of the parent's was closed, here or there
    assert wsgi.start() is parent_runtime


# ---------------------------------------------------------------- Postgres and Redis


@pytest.fixture
def migrated_database(database_url: str) -> Iterator[str]:
    name = f"wiring_{secrets.token_hex(5)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # a generated identifier
    url = database_url.rsplit("/", 1)[0] + "/" + name
    try:
        apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.postgres
@pytest.mark.redis
def test_postgres_runtime_opens_a_pool_is_ready_and_closes(
    migrated_database: str, redis_url: str
) -> None:
    settings = Settings(
        database_url=migrated_database,
        redis_url=redis_url,
        cookie_secure=False,
        db_pool_min_size=1,
        db_pool_max_size=2,
    )
    runtime = wiring.build(settings)
    try:
        client = falcon.testing.TestClient(runtime.app)
        assert client.simulate_get("/readyz").status_code == 200
        assert client.simulate_get("/v1/session").status_code == 401
    finally:
        runtime.close()
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row == (0,)  # the pool's connections are gone


@pytest.mark.postgres
def test_postgres_runtime_is_not_ready_when_redis_is_down(migrated_database: str) -> None:
    settings = Settings(
        database_url=migrated_database,
        redis_url="redis://127.0.0.1:9/0",  # nothing listens there
        db_pool_min_size=1,
        db_pool_max_size=2,
    )
    runtime = wiring.build(settings)
    try:
        response = falcon.testing.TestClient(runtime.app).simulate_get("/readyz")
        assert response.status_code == 503
    finally:
        runtime.close()


def test_building_on_an_unreachable_database_fails_and_leaks_nothing() -> None:
    settings = Settings(
        database_url="postgresql://postgres@127.0.0.1:9/none",
        redis_url="redis://127.0.0.1:9/0",
        db_pool_min_size=1,
        db_pool_timeout_seconds=1,
    )
    with pytest.raises(Unavailable):
        wiring.build(settings)


def test_the_embedded_default_runs_without_the_database_drivers() -> None:
    """``pip install '.[http]'`` brings psycopg without libpq; a newcomer without libpq must
    still be able to run ``inventory serve --demo``."""
    code = (
        "import sys\n"
        "for name in ('psycopg', 'psycopg_pool', 'redis'):\n"
        "    sys.modules[name] = None  # importing it now fails\n"
        "from inventory_http import cli, wiring, wsgi\n"
        "from inventory_http.settings import Settings\n"
        "runtime = wiring.build(Settings(cookie_secure=False), admin_password='x-long-password',"
        " demo=True)\n"
        "runtime.close()\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
