"""End to end on the embedded default: ``inventory serve --demo`` with nothing else installed,
as the README tells a newcomer to run it."""

from __future__ import annotations

import re
import secrets

import pytest

from tests.e2e.conftest import Client, Server, inventory_env, running_server

pytestmark = pytest.mark.slow


def find_one(client: Client, path: str) -> dict[str, object]:
    response = client.request("GET", path)
    assert response.status == 200, response
    [row] = response.body["data"]
    return dict(row)


def receive_into_the_demo_warehouse(client: Client) -> None:
    """Post a receipt into a demo bin and see the stock go up."""
    item = find_one(client, "/v1/items?sku=WID-RED")
    bins = client.request("GET", "/v1/locations?kind=internal&limit=500").body["data"]
    bin_id = next(row["id"] for row in bins if row["code"] == "MAIN-A-01")
    before = client.request("GET", f"/v1/items/{item['id']}/stock").body["on_hand"]

    receipt = client.request(
        "POST",
        "/v1/movements",
        {
            "kind": "receipt",
            "reference": "PO-E2E",
            "lines": [{"item_id": item["id"], "quantity": 12, "to_location_id": bin_id}],
        },
    )

    assert receipt.status == 201, receipt
    assert receipt.body["kind"] == "receipt"
    after = client.request("GET", f"/v1/items/{item['id']}/stock").body["on_hand"]
    assert after == before + 12


def stop_cleanly(server: Server) -> None:
    status = server.stop()
    assert status == 0, f"exit status {status} after SIGTERM:\n{server.output()}"


def test_serve_demo_with_the_password_from_the_environment() -> None:
    password = secrets.token_urlsafe(16)
    env = inventory_env(INVENTORY_PASSWORD=password)
    with running_server(env, "--demo", "--workers", "3") as server:
        client = Client(server.base_url)
        login = client.login("admin", password)
        assert login.body["user"]["role"] == "admin"
        # Plain HTTP on the embedded default: the cookie is not Secure, so it comes back.
        assert all(not cookie.secure for cookie in client.cookies)
        assert client.request(
            "POST", "/v1/items", {"sku": "X", "name": "x"}, csrf=False
        ).status == (403)
        receive_into_the_demo_warehouse(client)
        stop_cleanly(server)
        output = server.output()
    assert "NOTHING PERSISTS" in output
    assert password not in output  # given, so never printed
    assert "--workers 3 ignored" in output


def test_serve_demo_prints_a_generated_password_once_that_logs_in() -> None:
    with running_server(inventory_env(), "--demo") as server:
        output = server.output()
        match = re.search(r"shown once, not stored anywhere\):\n!!\s+(\S+)\n", output)
        assert match, output
        password = match.group(1)
        assert output.count(password) == 1
        client = Client(server.base_url)
        client.login("admin", password)
        receive_into_the_demo_warehouse(client)
        stop_cleanly(server)
