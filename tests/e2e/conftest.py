"""The real ``inventory`` command in subprocesses: a throwaway database, ``migrate``,
``create-user`` and ``serve`` (gunicorn) on a loopback port, driven over HTTP with cookies."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
START_DEADLINE = 30.0
"""Seconds a server gets to answer /readyz, and to exit after SIGTERM."""


def inventory_env(**overrides: str) -> dict[str, str]:
    """The environment for an ``inventory`` subprocess: ours without any INVENTORY_* setting
    (so the developer's shell cannot leak in), plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVENTORY_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(overrides)
    return env


def run_inventory(
    *args: str, env: Mapping[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m inventory_http ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "inventory_http", *args],
        env=dict(env),
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class InventoryProcess:
    """An ``inventory`` command in a subprocess, its output (stdout and stderr) in a file."""

    name = "inventory"

    def __init__(self, env: Mapping[str, str], *args: str) -> None:
        self._log: TextIO = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "inventory_http", *args],
            env=dict(env),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        """Everything the process printed so far."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        """SIGTERM, then wait for the exit; the exit status."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=START_DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"{self.name} ignored SIGTERM for {START_DEADLINE}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: gone at once, in the middle of whatever it was doing."""
        if self.alive():
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        """Make sure the process is gone and the log closed (for fixture teardown)."""
        self.kill()
        self._log.close()


class Server(InventoryProcess):
    """``inventory serve`` in a subprocess on a free loopback port."""

    name = "server"

    def __init__(self, env: Mapping[str, str], *extra_args: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        super().__init__(env, "serve", "--bind", f"127.0.0.1:{self.port}", *extra_args)

    def wait_ready(self, deadline: float = START_DEADLINE) -> None:
        """Poll /readyz until it answers 200; fail with the server's output after ``deadline``."""
        end = time.monotonic() + deadline
        last: object = None
        while time.monotonic() < end:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
                    last = response.status
            except urllib.error.HTTPError as error:
                last = error.code
            except OSError as error:  # not listening yet
                last = error
            time.sleep(0.05)
        pytest.fail(f"/readyz not 200 within {deadline}s (last: {last!r}):\n{self.output()}")


@contextlib.contextmanager
def running_server(env: Mapping[str, str], *extra_args: str) -> Iterator[Server]:
    """A started, ready server; killed at the end if the test did not stop it."""
    server = Server(env, *extra_args)
    try:
        server.wait_ready()
        yield server
    finally:
        server.close()


class Response:
    """A finished HTTP exchange: status, headers (names in lower case) and the JSON body (None
    when empty)."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = {name.lower(): value for name, value in headers.items()}
        self.body = json.loads(body) if body else None

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body!r}>"


class Client:
    """An HTTP client with its own cookie jar and the CSRF token of its last login."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.csrf_token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        headers: Mapping[str, str] | None = None,
        csrf: bool = True,
    ) -> Response:
        """Send a request (JSON body if any); the CSRF header on unsafe methods unless told not."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if csrf and self.csrf_token and method not in {"GET", "HEAD", "OPTIONS"}:
            request.add_header("X-CSRF-Token", self.csrf_token)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with self._opener.open(request, timeout=30) as response:
                return Response(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, dict(error.headers.items()), error.read())

    def login(self, username: str, password: str) -> Response:
        """POST /v1/session; keeps the session cookie and the CSRF token."""
        response = self.request("POST", "/v1/session", {"username": username, "password": password})
        assert response.status == 201, response
        self.csrf_token = response.body["csrf_token"]
        return response


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def e2e_database_url(database_url: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped after the session."""
    with throwaway_database(database_url) as url:
        yield url


@contextlib.contextmanager
def throwaway_database(database_url: str) -> Iterator[str]:
    """A fresh, empty database on the server of ``database_url``, dropped at the end."""
    name = f"e2e_{secrets.token_hex(6)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(database_url, name)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def stack_env(database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    """Settings for a server on Postgres and Redis over plain HTTP on loopback."""
    return inventory_env(
        INVENTORY_DATABASE_URL=database_url,
        INVENTORY_REDIS_URL=redis_url,
        INVENTORY_COOKIE_SECURE="false",
        INVENTORY_LOG_LEVEL="WARNING",
        **{"INVENTORY_IDEMPOTENCY_SECRET": "e2e-idempotency-secret-" + "0" * 24, **overrides},
    )


def json_of(value: Any) -> str:
    """Canonical JSON, for comparing bodies."""
    return json.dumps(value, sort_keys=True)
