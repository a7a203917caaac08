"""End to end: webhooks delivered by the real processes -- ``inventory serve`` records events,
``inventory worker`` delivers them -- to a receiver that refuses the first attempt of each event.

Every event reaches the receiver, signed so that the ``standardwebhooks`` package verifies it;
the retry (after ~5 s, by the real retry schedule) carries the same ``webhook-id`` and the same
body; and the body is the event as ``GET /v1/events`` shows it.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.e2e.conftest import (
    Client,
    InventoryProcess,
    inventory_env,
    run_inventory,
    running_server,
    stack_env,
    throwaway_database,
)
from tests.integration.test_delivery_worker import WebhookReceiver, serving

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

DELIVERY_DEADLINE = 40.0
"""Seconds every event gets to arrive twice (first attempt refused, retry ~5 s later)."""


class Worker(InventoryProcess):
    """``inventory worker`` in a subprocess."""

    name = "worker"

    def __init__(self, env: Mapping[str, str], *args: str) -> None:
        super().__init__(env, "worker", *args)


def all_events(client: Client) -> list[dict[str, Any]]:
    """Every event of the feed, as GET /v1/events shows them."""
    events: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = client.request("GET", f"/v1/events?limit=200{cursor}")
        assert page.status == 200, page
        events += page.body["data"]
        if page.body["next_cursor"] is None:
            return events
        cursor = f"&cursor={page.body['next_cursor']}"


@pytest.fixture
def stack(database_url: str, redis_url: str) -> Iterator[tuple[dict[str, str], str]]:
    """A fresh migrated database with an admin: the environment and the admin's password."""
    with throwaway_database(database_url) as url:
        env = stack_env(url, redis_url, INVENTORY_WEBHOOK_ALLOW_PRIVATE="true")
        migrated = run_inventory("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        password = secrets.token_urlsafe(16)
        created = run_inventory(
            "create-user", "admin", "--role", "admin", env={**env, "INVENTORY_PASSWORD": password}
        )
        assert created.returncode == 0, created.stderr
        yield env, password


def post(client: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.request("POST", path, body)
    assert response.status == 201, response
    result: dict[str, Any] = response.body
    return result


def test_serve_and_worker_deliver_every_event_signed_and_retried_with_the_same_id_and_body(
    stack: tuple[dict[str, str], str],
) -> None:
    env, password = stack
    with (
        serving(WebhookReceiver(fail_first=True)) as receiver,
        running_server(env) as server,
    ):
        client = Client(server.base_url)
        client.login("admin", password)
        created = client.request(
            "POST",
            "/v1/webhooks",
            {"url": receiver.url, "types": ["item.created", "location.created", "movement.posted"]},
        )
        assert created.status == 201, created
        secret = created.body["secret"]
        assert secret.startswith("whsec_")
        assert created.body["webhook"]["url"] == receiver.url
        assert "secret" not in created.body["webhook"]

        worker = Worker(env)
        try:
            warehouse = post(
                client, "/v1/locations", {"code": "WH-E2E", "name": "Main", "kind": "warehouse"}
            )
            bin_ = post(
                client,
                "/v1/locations",
                {
                    "code": "WH-E2E-1",
                    "name": "Bin",
                    "kind": "internal",
                    "parent_id": warehouse["id"],
                },
            )
            items = [
                post(client, "/v1/items", {"sku": f"E2E-{n}", "name": f"Item {n}"})
                for n in range(3)
            ]
            post(
                client,
                "/v1/movements",
                {
                    "kind": "receipt",
                    "reference": "PO-1",
                    "lines": [
                        {"item_id": item["id"], "quantity": 5, "to_location_id": bin_["id"]}
                        for item in items
                    ],
                },
            )
            events = {event["id"]: event for event in all_events(client)}
            assert len(events) == 6  # two locations, three items, one movement

            def everything_twice(got: list[Any]) -> bool:
                seen: dict[str, int] = {}
                for request in got:
                    seen[request.webhook_id] = seen.get(request.webhook_id, 0) + 1
                return set(seen) >= set(events) and all(seen[e] >= 2 for e in events)

            arrived = receiver.wait_for(everything_twice, DELIVERY_DEADLINE)
            assert arrived, (
                f"{receiver.by_id().keys()} of {sorted(events)}; worker:\n{worker.output()}"
            )
            assert worker.alive(), worker.output()
            status = worker.stop()
            assert status == 0, f"exit status {status} after SIGTERM:\n{worker.output()}"
        finally:
            worker.close()

        by_id = receiver.by_id()
        assert set(by_id) == set(events)
        for event_id, (first, second, *more) in by_id.items():
            assert more == [], f"{event_id} arrived again after a 200"
            assert (first.answered, second.answered) == (500, 200)
            assert first.headers["webhook-id"] == second.headers["webhook-id"] == event_id
            assert first.body == second.body
            for request in (first, second):
                assert request.verify(secret) == events[event_id]
            # The event exactly as GET /v1/events shows it.
            assert json.loads(first.body) == events[event_id]
            assert int(second.headers["webhook-timestamp"]) >= int(
                first.headers["webhook-timestamp"]
            )
        # The log the API shows has both attempts of each event.
        hook_id = created.body["webhook"]["id"]
        log = client.request("GET", f"/v1/webhooks/{hook_id}/deliveries?limit=100")
        assert log.status == 200, log
        attempts = sorted((a["event_id"], a["attempt"], a["status_code"]) for a in log.body["data"])
        assert attempts == sorted(
            (event_id, n, status) for event_id in events for n, status in ((1, 500), (2, 200))
        )


def test_worker_refuses_the_embedded_default() -> None:
    done = run_inventory("worker", env=inventory_env())
    assert done.returncode == 2, done
    assert "embedded default delivers from `inventory serve` itself" in done.stderr


def test_worker_stops_on_sigterm_while_idle(stack: tuple[dict[str, str], str]) -> None:
    env, _ = stack
    worker = Worker(env)
    try:
        time.sleep(1.5)
        assert worker.alive(), worker.output()
        assert worker.stop() == 0, worker.output()
    finally:
        worker.close()


def test_the_embedded_default_delivers_from_serve_itself() -> None:
    password = secrets.token_urlsafe(16)
    env = inventory_env(INVENTORY_PASSWORD=password, INVENTORY_WEBHOOK_ALLOW_PRIVATE="true")
    with serving(WebhookReceiver()) as receiver, running_server(env) as server:
        client = Client(server.base_url)
        client.login("admin", password)
        hook = post(client, "/v1/webhooks", {"url": receiver.url, "types": ["item.created"]})
        item = post(client, "/v1/items", {"sku": "EMB-1", "name": "Embedded"})
        arrived = receiver.wait_for(lambda got: len(got) >= 1, DELIVERY_DEADLINE)
        assert arrived, server.output()
        [request] = receiver.snapshot()
        assert request.verify(hook["secret"])["data"] == item
        assert server.stop() == 0, server.output()
