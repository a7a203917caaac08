"""End to end on PostgreSQL and Redis: the ``inventory`` command as an operator runs it
(``migrate``, ``create-user``, ``serve`` under gunicorn), then clients over HTTP with cookies."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import pytest

from tests.e2e.conftest import (
    Client,
    Response,
    Server,
    json_of,
    run_inventory,
    running_server,
    stack_env,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ADMIN = "e2e-admin"


@attrs.frozen
class Stack:
    server: Server
    password: str

    def client(self) -> Client:
        """A new client (own cookie jar), logged in as the admin."""
        client = Client(self.server.base_url)
        client.login(ADMIN, self.password)
        return client


@pytest.fixture(scope="module")
def env(e2e_database_url: str, redis_url: str) -> dict[str, str]:
    return stack_env(e2e_database_url, redis_url, INVENTORY_WORKERS="2", INVENTORY_THREADS="8")


@pytest.fixture(scope="module")
def stack(env: dict[str, str]) -> Iterator[Stack]:
    """Migrate, create the admin through the CLI, serve; at the end SIGTERM must exit cleanly."""
    migrated = run_inventory("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "applied 0001_" in migrated.stdout

    password = secrets.token_urlsafe(16)
    created = run_inventory(
        "create-user", ADMIN, "--role", "admin", env={**env, "INVENTORY_PASSWORD": password}
    )
    assert created.returncode == 0, created.stderr
    assert f"created user '{ADMIN}' (admin)" in created.stdout

    with running_server(env) as server:
        yield Stack(server, password)
        status = server.stop()
        assert status == 0, f"exit status {status} after SIGTERM:\n{server.output()}"


def concurrently(count: int, call: Any) -> list[Response]:
    """Run ``call(i)`` for i in range(count) on ``count`` threads at once."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))


def make_stocked_item(client: Client, quantity: int) -> tuple[str, str, str]:
    """A new warehouse with one bin, and a new item with ``quantity`` received into the bin."""
    tag = secrets.token_hex(4).upper()
    warehouse = client.request(
        "POST", "/v1/locations", {"code": f"WH-{tag}", "name": "E2E", "kind": "warehouse"}
    )
    assert warehouse.status == 201, warehouse
    bin_ = client.request(
        "POST",
        "/v1/locations",
        {
            "code": f"BIN-{tag}",
            "name": "E2E bin",
            "kind": "internal",
            "parent_id": warehouse.body["id"],
        },
    )
    assert bin_.status == 201, bin_
    item = client.request("POST", "/v1/items", {"sku": f"SKU-{tag}", "name": "E2E item"})
    assert item.status == 201, item
    receipt = client.request(
        "POST",
        "/v1/movements",
        {
            "kind": "receipt",
            "lines": [
                {
                    "item_id": item.body["id"],
                    "quantity": quantity,
                    "to_location_id": bin_.body["id"],
                }
            ],
        },
    )
    assert receipt.status == 201, receipt
    return warehouse.body["id"], bin_.body["id"], item.body["id"]


# ---------------------------------------------------------------- the command line


def test_migrate_again_is_a_no_op(stack: Stack, env: dict[str, str]) -> None:
    again = run_inventory("migrate", env=env)
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout


def test_create_user_refuses_a_taken_username(stack: Stack, env: dict[str, str]) -> None:
    again = run_inventory(
        "create-user",
        ADMIN,
        "--role",
        "clerk",
        env={**env, "INVENTORY_PASSWORD": secrets.token_urlsafe(16)},
    )
    assert again.returncode == 1
    assert f"a user named '{ADMIN}' already exists" in again.stderr


def test_create_user_refuses_a_weak_password(stack: Stack, env: dict[str, str]) -> None:
    weak = run_inventory(
        "create-user", "e2e-weak", "--role", "viewer", env={**env, "INVENTORY_PASSWORD": "12345678"}
    )
    assert weak.returncode == 1
    assert "password refused" in weak.stderr


def test_create_user_reads_the_password_from_a_prompt_twice(
    stack: Stack, env: dict[str, str]
) -> None:
    password = secrets.token_urlsafe(16)
    # No terminal: getpass falls back to reading the two answers from stdin.
    created = run_inventory(
        "create-user", "e2e-clerk", "--role", "clerk", env=env, stdin=f"{password}\n{password}\n"
    )
    assert created.returncode == 0, created.stderr
    clerk = Client(stack.server.base_url)
    assert clerk.login("e2e-clerk", password).body["user"]["role"] == "clerk"

    mismatch = run_inventory(
        "create-user", "e2e-other", "--role", "clerk", env=env, stdin=f"{password}\nsomething\n"
    )
    assert mismatch.returncode == 1
    assert "the two passwords differ" in mismatch.stderr


# ---------------------------------------------------------------- sessions and CSRF


def test_readiness_and_login(stack: Stack) -> None:
    client = stack.client()
    me = client.request("GET", "/v1/session")
    assert me.status == 200, me
    assert me.body["user"]["username"] == ADMIN
    cookie_names = {cookie.name for cookie in client.cookies}
    assert cookie_names, "login set no cookie"

    anonymous = Client(stack.server.base_url)
    assert anonymous.request("GET", "/v1/session").status == 401
    wrong = anonymous.request("POST", "/v1/session", {"username": ADMIN, "password": "nope-nope"})
    assert wrong.status == 401


def test_an_unsafe_request_without_the_csrf_token_is_refused(stack: Stack) -> None:
    client = stack.client()
    tag = secrets.token_hex(4)
    refused = client.request("POST", "/v1/items", {"sku": f"CSRF-{tag}", "name": "x"}, csrf=False)
    assert refused.status == 403, refused
    forged = client.request(
        "POST",
        "/v1/items",
        {"sku": f"CSRF-{tag}", "name": "x"},
        csrf=False,
        headers={"X-CSRF-Token": "not-the-token"},
    )
    assert forged.status == 403, forged
    # Nothing was created; with the token the same request works.
    assert client.request("GET", f"/v1/items?sku=CSRF-{tag}").body["data"] == []
    assert client.request("POST", "/v1/items", {"sku": f"CSRF-{tag}", "name": "x"}).status == 201


def test_logout_everywhere_ends_the_users_other_sessions(stack: Stack) -> None:
    phone, laptop = stack.client(), stack.client()
    assert phone.request("GET", "/v1/session").status == 200
    listed = laptop.request("GET", "/v1/sessions")
    assert listed.status == 200
    assert len(listed.body["data"]) >= 2

    assert laptop.request("DELETE", "/v1/sessions").status == 204

    assert phone.request("GET", "/v1/session").status == 401
    assert laptop.request("GET", "/v1/session").status == 401
    again = stack.client()  # logging in again still works
    assert again.request("GET", "/v1/session").status == 200


# ---------------------------------------------------------------- concurrency


def test_forty_concurrent_reservations_of_ten_units_reserve_exactly_ten(stack: Stack) -> None:
    client = stack.client()
    warehouse_id, _, item_id = make_stocked_item(client, 10)

    responses = concurrently(
        40,
        lambda i: client.request(
            "POST",
            "/v1/reservations",
            {
                "item_id": item_id,
                "warehouse_id": warehouse_id,
                "quantity": 1,
                "reference": f"R-{i}",
            },
        ),
    )

    statuses = Counter(response.status for response in responses)
    assert statuses == {201: 10, 409: 30}, [r for r in responses if r.status not in (201, 409)]
    for response in responses:
        if response.status == 409:
            assert response.body["type"].endswith("insufficient-stock"), response
    availability = client.request(
        "GET", f"/v1/availability?item_id={item_id}&warehouse_id={warehouse_id}"
    )
    [level] = availability.body["data"]
    assert (level["on_hand"], level["reserved"], level["available"]) == (10, 10, 0)


def test_twenty_concurrent_replays_of_one_idempotency_key_have_one_effect(stack: Stack) -> None:
    client = stack.client()
    _, bin_id, item_id = make_stocked_item(client, 1)
    key = f"e2e-{secrets.token_hex(8)}"
    body = {
        "kind": "receipt",
        "reference": key,
        "lines": [{"item_id": item_id, "quantity": 7, "to_location_id": bin_id}],
    }

    def post_until_done(_: int) -> Response:
        for _attempt in range(200):
            response = client.request(
                "POST", "/v1/movements", body, headers={"Idempotency-Key": key}
            )
            if response.status != 409:  # 409: the first is still running; retry
                return response
        pytest.fail("the key stayed 'in progress' for 200 attempts")

    responses = concurrently(20, post_until_done)

    assert {response.status for response in responses} == {201}, responses
    assert len({json_of(response.body) for response in responses}) == 1
    replayed = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    assert len(replayed) == 19, [r.headers for r in responses]

    ledger = client.request("GET", f"/v1/movements?item_id={item_id}&limit=500")
    receipts = [m for m in ledger.body["data"] if m["reference"] == key]
    assert len(receipts) == 1
    assert receipts[0]["id"] == responses[0].body["id"]
    stock = client.request("GET", f"/v1/items/{item_id}/stock")
    assert stock.body["on_hand"] == 1 + 7
