"""GET /metrics (DESIGN §13): off by default; when on, requests are counted by route template,
method and status, and backing-service outages by service."""

from __future__ import annotations

import re
import secrets
from uuid import UUID

import falcon.testing
import pytest
import redis

from inventory_core.clocks import ManualClock
from inventory_core.errors import Unavailable
from inventory_core.executor import Executor
from inventory_core.memory.store import InMemoryStore
from inventory_core.memory.throttle import InMemoryLoginThrottle
from inventory_core.sessions import SessionPolicy
from inventory_http.app import create_app
from inventory_http.metrics import service_of
from inventory_http.settings import Settings
from inventory_redis import RedisSessionStore, make_redis_client
from tests.http.conftest import build_world
from tests.ports import free_port


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, by name and exact labels."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return None


def test_metrics_are_off_unless_asked_for() -> None:
    world = build_world()
    answer = world.client().client.simulate_get("/metrics")
    assert answer.status_code == 404
    document = world.client().client.simulate_get("/openapi.json").json
    assert "/metrics" not in document["paths"]


def test_requests_are_counted_by_route_template_not_by_path() -> None:
    world = build_world(Settings(cookie_secure=False, metrics=True))
    api = world.as_("admin")
    for _ in range(3):
        assert api.get("/v1/items").status_code == 200
    missing = f"/v1/items/{UUID(int=5)}"
    assert api.get(missing).status_code == 404
    client = world.client().client
    answer = client.simulate_get("/metrics")  # no session needed
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert (
        sample(text, "inventory_http_requests_total", route="/v1/items", method="GET", status="200")
        == 3
    )
    assert (
        sample(
            text,
            "inventory_http_requests_total",
            route="/v1/items/{item_id:uuid}",
            method="GET",
            status="404",
        )
        == 1
    )
    assert str(UUID(int=5)) not in text  # ids never become labels
    count = sample(
        text, "inventory_http_request_duration_seconds_count", route="/v1/items", method="GET"
    )
    assert count == 3
    document = client.simulate_get("/openapi.json").json
    assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_a_backing_service_outage_is_counted_by_service() -> None:
    """A real Redis client pointed at a port nobody listens on: the session lookup fails."""
    client = make_redis_client(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    clock = ManualClock()
    store = InMemoryStore(clock)
    app = create_app(
        Settings(cookie_secure=False, metrics=True),
        inventory=Executor(store.unit_of_work, clock=clock),
        sessions=RedisSessionStore(client, clock, SessionPolicy()),
        throttle=InMemoryLoginThrottle(clock),
    )
    try:
        http = falcon.testing.TestClient(app)
        answer = http.simulate_get(
            "/v1/items", headers={"Cookie": f"inventory_session={secrets.token_urlsafe(32)}"}
        )
        assert answer.status_code == 503
        text = http.simulate_get("/metrics").text
    finally:
        client.close()
    assert sample(text, "inventory_backing_service_errors_total", service="redis") == 1


@pytest.mark.parametrize(
    ("cause", "service"),
    [
        (redis.ConnectionError("x"), "redis"),
        (OSError("x"), "other"),
        (None, "other"),
    ],
)
def test_service_of_names_the_driver_behind_an_outage(
    cause: BaseException | None, service: str
) -> None:
    error = Unavailable("down")
    error.__cause__ = cause
    assert service_of(error) == service
