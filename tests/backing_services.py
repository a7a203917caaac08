"""Finding the real services tests need (DESIGN §7).

``INVENTORY_TEST_DATABASE_URL`` / ``INVENTORY_TEST_REDIS_URL`` first; else a testcontainers
container when a Docker engine answers; else skip with the reason -- except under ``CI``, where a
missing service fails the run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (5432 if parts.scheme.startswith("postgres") else 6379)
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _docker_answers() -> bool:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not os.path.exists(host.removeprefix("unix://")):
        # No engine socket: say so without the docker client, which leaks a socket when its
        # version probe fails (and filterwarnings=error turns that into a failure elsewhere).
        return False
    try:
        import docker  # type: ignore[import-untyped]  # noqa: PLC0415

        client = docker.from_env(timeout=3)
    except Exception:  # any failure means: no usable engine
        return False
    try:
        client.ping()
    except Exception:
        return False
    finally:
        client.close()  # its Unix socket would otherwise leak into a later test's warnings
    return True


def missing(reason: str) -> None:
    """Skip for ``reason`` -- or fail under ``CI``, where nothing the tests need may be absent."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: a missing service is a failure, not a skip)")
    pytest.skip(reason)


@contextmanager
def service_url(env_var: str, kind: str) -> Iterator[str]:
    """Yield a URL for ``kind`` ("postgres" or "redis")."""
    url = os.environ.get(env_var)
    if url:
        if not _reachable(url):
            pytest.fail(f"{env_var}={url} is set but nothing answers there")
        yield url
        return
    if not _docker_answers():
        missing(f"{env_var} is not set and no Docker engine answers for testcontainers")
    container: Any
    if kind == "postgres":
        from testcontainers.postgres import PostgresContainer  # noqa: PLC0415

        container = PostgresContainer("postgres:16-alpine", driver=None)
        with container:
            yield container.get_connection_url()
    else:
        from testcontainers.redis import RedisContainer  # noqa: PLC0415

        container = RedisContainer("redis:7-alpine")
        with container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
