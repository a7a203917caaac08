"""A webhook worker SIGKILLed while its requests are in flight loses nothing.

The real ``inventory serve`` and ``inventory worker`` on the fault tests' own PostgreSQL cluster;
a receiver that holds every request 2 s before answering 200. The first worker is killed as soon
as the receiver has seen one of its requests: it never learns the answers, and records nothing.
A second worker takes its deliveries over once their leases run out (3 s here, 60 s by
default) -- not before: nothing is sent twice at the same time -- and every event is received
and recorded delivered.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from tests.e2e.conftest import Client, running_server, stack_env
from tests.e2e.test_webhooks_e2e import Worker, all_events, post
from tests.faults.conftest import ADMIN, PgCluster, RedisServer, wait_until
from tests.integration.test_delivery_worker import WebhookReceiver, serving

pytestmark = [pytest.mark.slow]

LEASE = 3
"""Seconds a worker holds a claimed delivery (INVENTORY_WORKER_LEASE_SECONDS)."""
HOLD = 2.0
"""Seconds the receiver keeps each request before answering."""
EVENTS = 5
DEADLINE = 30.0


def delivered(client: Client, hook_id: str) -> dict[str, list[dict[str, Any]]]:
    """The webhook's delivery log, by event id."""
    log = client.request("GET", f"/v1/webhooks/{hook_id}/deliveries?limit=200")
    assert log.status == 200, log
    by_event: dict[str, list[dict[str, Any]]] = {}
    for attempt in log.body["data"]:
        by_event.setdefault(attempt["event_id"], []).append(attempt)
    return by_event


def test_a_worker_killed_mid_delivery_loses_nothing(
    pg_cluster: PgCluster, redis_server: RedisServer, admin_password: str
) -> None:
    if not pg_cluster.running():
        pg_cluster.start()
    if not redis_server.running():
        redis_server.start()
    env = stack_env(
        pg_cluster.url,
        redis_server.url,
        INVENTORY_WEBHOOK_ALLOW_PRIVATE="true",
        INVENTORY_WORKER_LEASE_SECONDS=str(LEASE),
    )
    worker_env = {**env, "INVENTORY_LOG_LEVEL": "INFO"}  # its attempts in the failure output
    with serving(WebhookReceiver(hold=HOLD)) as receiver, running_server(env) as server:
        client = Client(server.base_url)
        client.login(ADMIN, admin_password)
        hook = post(client, "/v1/webhooks", {"url": receiver.url, "types": ["item.created"]})
        hook_id = hook["webhook"]["id"]
        tag = secrets.token_hex(4).upper()
        skus = {post(client, "/v1/items", {"sku": f"KILL-{tag}-{n}", "name": "K"})["sku"]
                for n in range(EVENTS)}  # fmt: skip
        expected = {
            event["id"]
            for event in all_events(client)
            if event["type"] == "item.created" and event["data"]["sku"] in skus
        }
        assert len(expected) == EVENTS

        first = Worker(worker_env)
        try:
            seen = receiver.wait_for(
                lambda got: any(r.webhook_id in expected for r in got), DEADLINE
            )
            assert seen, f"the first worker sent nothing:\n{first.output()}"
            first.kill()  # mid-request: the receiver is still holding it
            killed_at = time.monotonic()
        finally:
            first.close()
        # Everything received so far came from the first worker, which is gone (a request it
        # sent just before the kill may be stamped by the receiver just after it).
        second_started = time.monotonic()
        cut_short = {r.webhook_id: r.at for r in receiver.snapshot() if r.webhook_id in expected}
        assert cut_short, "nothing was in flight when the worker was killed"
        assert all(killed_at - at < HOLD for at in cut_short.values()), "answered before the kill"

        second = Worker(worker_env)
        try:

            def all_recorded() -> bool:
                log = delivered(client, hook_id)
                return all(any(a["status_code"] == 200 for a in log.get(e, [])) for e in expected)

            wait_until(all_recorded, DEADLINE, "every event recorded delivered", poll=0.2)
            log = delivered(client, hook_id)
            # The killed worker's attempts left no record: each event has one, the second's.
            assert {e: [(a["attempt"], a["status_code"]) for a in log[e]] for e in expected} == {
                e: [(1, 200)] for e in expected
            }
            assert second.alive(), second.output()
            assert second.stop() == 0, second.output()
        finally:
            second.close()

    by_id = receiver.by_id()
    assert set(by_id) >= expected, f"never received: {expected - set(by_id)}"
    for event_id, sent_at in cut_short.items():
        # Sent again, but only once the killed worker's lease had run out.
        again = [r.at for r in by_id[event_id] if r.at > second_started]
        assert again, f"{event_id} was not sent again after the kill"
        assert min(again) - sent_at >= LEASE - 0.5
