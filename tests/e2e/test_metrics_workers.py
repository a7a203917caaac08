"""Metrics under gunicorn with several workers: a scrape of any worker sums them all
(prometheus-client's multiprocess mode, set up by ``inventory serve``)."""

from __future__ import annotations

import re
import tempfile
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import run_inventory, running_server, stack_env, throwaway_database

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

REQUESTS = 24


def scrape(base_url: str) -> str:
    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def samples_dirs() -> set[Path]:
    shm = Path("/dev/shm")
    return (
        set(shm.glob("inventory-metrics-*"))
        if shm.is_dir()
        else set(Path(tempfile.gettempdir()).glob("inventory-metrics-*"))
    )


def healthz_count(text: str) -> float:
    pattern = r'inventory_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)'
    match = re.search(pattern, text)
    assert match is not None, text
    return float(match.group(1))


def test_every_scrape_sums_the_requests_of_all_workers(database_url: str, redis_url: str) -> None:
    with throwaway_database(database_url) as url:  # not the shared one: it migrates
        _check_sums(stack_env(url, redis_url, INVENTORY_WORKERS="2", INVENTORY_METRICS="true"))


def _check_sums(env: dict[str, str]) -> None:
    migrated = run_inventory("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    with running_server(env) as server:
        for _ in range(REQUESTS):  # a new connection each: the kernel spreads them over workers
            with urllib.request.urlopen(server.base_url + "/healthz", timeout=10) as response:
                assert response.status == 200
        readings = [scrape(server.base_url) for _ in range(6)]
        made = samples_dirs()
        assert len(made) == 1  # the master made one for the workers' samples...
        assert server.stop() == 0
    assert samples_dirs() == set()  # ...and removed it when it stopped
    for text in readings:  # whichever worker answered the scrape, it counts both workers'
        assert healthz_count(text) == REQUESTS
        assert 'inventory_db_pool_connections{state="idle"}' in text
