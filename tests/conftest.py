from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, settings

from tests.backing_services import service_url

# Property tests (docs/decisions.md, "Hypothesis in CI"): CI must give the same answer every run,
# so its profile is derandomized (the examples follow from the test's code, hence from the commit)
# and keeps no example database. A developer's runs explore new examples, more of them, and keep
# what fails in the local database (.hypothesis/) to try first next time.
SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    suppress_health_check=SLOW_IS_FINE,
    derandomize=True,
    database=None,
    print_blob=True,
)
settings.register_profile(
    "dev",
    max_examples=300,
    deadline=None,
    suppress_health_check=SLOW_IS_FINE,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A PostgreSQL URL whose database the tests may wipe."""
    with service_url("INVENTORY_TEST_DATABASE_URL", "postgres") as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL whose database the tests may flush. It is flushed once at the start, so keys
    an earlier run left there (login throttles of the e2e servers' default key prefix, which
    outlive the run) cannot change this run's answers."""
    with service_url("INVENTORY_TEST_REDIS_URL", "redis") as url:
        client = redis.Redis.from_url(url)
        try:
            client.flushdb()
        finally:
            client.close()
        yield url
