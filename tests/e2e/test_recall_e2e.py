"""End to end: a lot recall (DESIGN §12) through HTTP only, on the real ``inventory serve``.

A lot is received into two bins, some of it shipped to two customers' orders, some moved
between the bins, next to another lot of the same item that is shipped too. The recall then
answers, with the API alone, exactly which shipments took units of the lot (and how many), and
where the rest of it is. It runs on PostgreSQL and Redis, as operators deploy it, and on the
embedded default a newcomer starts.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import (
    Client,
    inventory_env,
    run_inventory,
    running_server,
    stack_env,
    throwaway_database,
)

pytestmark = pytest.mark.slow

FEED_DEADLINE = 30.0
"""Seconds the feed gets to serve what has committed (it holds entries back only while an
older transaction is still running)."""


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.redis]),
        "embedded",
    ]
)
def admin(request: pytest.FixtureRequest) -> Iterator[Client]:
    """An admin logged in to a fresh server: on PostgreSQL and Redis (migrated, the admin made
    with ``inventory create-user``), or on the embedded default."""
    password = secrets.token_urlsafe(16)
    if request.param == "embedded":
        env = inventory_env(INVENTORY_PASSWORD=password)
        with running_server(env) as server:
            client = Client(server.base_url)
            client.login("admin", password)
            yield client
        return
    database_url = request.getfixturevalue("database_url")
    redis_url = request.getfixturevalue("redis_url")
    with throwaway_database(database_url) as url:
        env = stack_env(url, redis_url, INVENTORY_WORKERS="2", INVENTORY_THREADS="4")
        migrated = run_inventory("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        created = run_inventory(
            "create-user", "admin", "--role", "admin", env={**env, "INVENTORY_PASSWORD": password}
        )
        assert created.returncode == 0, created.stderr
        with running_server(env) as server:
            client = Client(server.base_url)
            client.login("admin", password)
            yield client


def created(client: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.request("POST", path, body)
    assert response.status == 201, response
    result: dict[str, Any] = response.body
    return result


def read(client: Client, path: str) -> Any:
    response = client.request("GET", path)
    assert response.status == 200, response
    return response.body


def every_movement(client: Client, query: str, expected: int) -> list[dict[str, Any]]:
    """Every movement the feed serves for ``query``, paging with its cursor; waits (up to
    FEED_DEADLINE) until the ``expected`` number has committed and is served."""
    end = time.monotonic() + FEED_DEADLINE
    while True:
        found: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = read(client, f"/v1/movements?{query}&limit=2{cursor}")
            found += page["data"]
            if page["next_cursor"] is None:
                break
            cursor = f"&cursor={page['next_cursor']}"
        if len(found) >= expected or time.monotonic() > end:
            return found
        time.sleep(0.1)


def test_a_recall_finds_every_shipment_of_a_lot_and_where_the_rest_is(admin: Client) -> None:
    tag = secrets.token_hex(3).upper()
    warehouse = created(
        admin, "/v1/locations", {"code": f"WH-{tag}", "name": "Main", "kind": "warehouse"}
    )
    bins = {
        code: created(
            admin,
            "/v1/locations",
            {
                "code": f"WH-{tag}-{code}",
                "name": f"Bin {code}",
                "kind": "internal",
                "parent_id": warehouse["id"],
            },
        )["id"]
        for code in ("A", "B")
    }
    item = created(
        admin, "/v1/items", {"sku": f"YOG-{tag}", "name": "Yoghurt 500 g", "tracking": "lot"}
    )["id"]

    def lines(*specs: tuple[int, str, str, str]) -> list[dict[str, Any]]:
        """(quantity, lot, side, bin) → movement lines of the item."""
        return [
            {"item_id": item, "quantity": quantity, "lot": lot, side: bins[where]}
            for quantity, lot, side, where in specs
        ]

    receipt = created(
        admin,
        "/v1/movements",
        {
            "kind": "receipt",
            "reference": "PO-77",
            "lines": [
                *(
                    line | {"expires_on": "2027-03-31"}
                    for line in lines(
                        (30, "L-RECALL", "to_location_id", "A"),
                        (20, "L-RECALL", "to_location_id", "B"),
                    )
                ),
                *lines((10, "L-OTHER", "to_location_id", "A")),
            ],
        },
    )
    recalled = receipt["lines"][0]["lot_id"]
    assert receipt["lines"][1]["lot_id"] == recalled
    other = receipt["lines"][2]["lot_id"]
    assert other != recalled
    shipments = [
        ("SO-ALICE", lines((5, "L-RECALL", "from_location_id", "A"))),
        ("SO-CAROL", lines((3, "L-OTHER", "from_location_id", "A"))),
        ("SO-BOB", lines((4, "L-RECALL", "from_location_id", "B"))),
        (
            "SO-DAVE",
            lines(
                (2, "L-OTHER", "from_location_id", "A"), (1, "L-RECALL", "from_location_id", "A")
            ),
        ),
    ]
    for reference, shipped in shipments:
        created(
            admin, "/v1/movements", {"kind": "shipment", "reference": reference, "lines": shipped}
        )
    created(
        admin,
        "/v1/movements",
        {
            "kind": "transfer",
            "reference": "MOVE-1",
            "lines": [
                line | {"to_location_id": bins["B"]}
                for line in lines((10, "L-RECALL", "from_location_id", "A"))
            ],
        },
    )

    # 1. The lot, found by the item (or by its expiry date).
    lots = read(admin, f"/v1/lots?item_id={item}")["data"]
    assert {lot["code"]: lot["id"] for lot in lots} == {"L-RECALL": recalled, "L-OTHER": other}
    expiring = read(admin, "/v1/lots?expires_before=2027-04-01")["data"]
    assert [lot["id"] for lot in expiring] == [recalled]

    # 2. Where the rest of it is: A 30 - 5 - 1 - 10 = 14, B 20 - 4 + 10 = 26.
    detail = read(admin, f"/v1/lots/{recalled}")
    assert (detail["code"], detail["expires_on"]) == ("L-RECALL", "2027-03-31")
    remaining = {level["location_id"]: level["on_hand"] for level in detail["levels"]}
    assert remaining == {bins["A"]: 14, bins["B"]: 26}
    stock = read(admin, f"/v1/items/{item}/stock")
    of_lot = {lv["location_id"]: lv["on_hand"] for lv in stock["lots"] if lv["lot_id"] == recalled}
    assert of_lot == remaining
    assert stock["on_hand"] == 14 + 26 + (10 - 3 - 2)

    # 3. Every movement of the lot: which orders got units of it, and how many.
    movements = every_movement(admin, f"lot_id={recalled}", expected=5)
    assert [m["reference"] for m in movements] == [
        "PO-77",
        "SO-ALICE",
        "SO-BOB",
        "SO-DAVE",
        "MOVE-1",
    ]
    shipped_units = {
        m["reference"]: sum(ln["quantity"] for ln in m["lines"] if ln["lot_id"] == recalled)
        for m in movements
        if m["kind"] == "shipment"
    }
    assert shipped_units == {"SO-ALICE": 5, "SO-BOB": 4, "SO-DAVE": 1}
    # The ledger adds up: received = shipped + what is left.
    assert sum(shipped_units.values()) + sum(remaining.values()) == 30 + 20
