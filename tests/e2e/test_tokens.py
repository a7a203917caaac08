"""End to end: ``inventory create-token`` against a fresh database, then the real server (gunicorn,
PostgreSQL, Redis) driven with ``Authorization: Bearer`` alone: no login, no cookie, no CSRF."""

from __future__ import annotations

import re
import secrets

import pytest

from tests.e2e.conftest import (
    Client,
    run_inventory,
    running_server,
    stack_env,
    throwaway_database,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

TOKEN = re.compile(r"inv_[A-Za-z0-9_-]{43}")


def test_a_token_from_the_cli_drives_the_real_server(database_url: str, redis_url: str) -> None:
    with throwaway_database(database_url) as url:
        env = stack_env(url, redis_url, INVENTORY_WORKERS="2", INVENTORY_THREADS="4")
        migrated = run_inventory("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        password = secrets.token_urlsafe(16)
        for username, role in (("e2e-admin", "admin"), ("e2e-ci", "manager")):
            created = run_inventory(
                "create-user", username, "--role", role, env={**env, "INVENTORY_PASSWORD": password}
            )
            assert created.returncode == 0, created.stderr

        issued = run_inventory("create-token", "e2e-admin", "--name", "bootstrap", env=env)
        assert issued.returncode == 0, issued.stderr
        assert TOKEN.fullmatch(issued.stdout.strip()), issued.stdout  # the secret, alone
        assert issued.stdout.count("\n") == 1
        assert "shown only now" in issued.stderr
        admin_token = issued.stdout.strip()
        ci = run_inventory(
            "create-token",
            "e2e-ci",
            "--name",
            "CI job",
            "--role",
            "clerk",
            "--expires-at",
            "2999-01-01T00:00:00Z",
            env=env,
        )
        assert ci.returncode == 0, ci.stderr
        ci_token = ci.stdout.strip()

        # Refusals exit 1 with a message, and print no token.
        above = run_inventory("create-token", "e2e-ci", "--name", "x", "--role", "admin", env=env)
        assert (above.returncode, above.stdout) == (1, "")
        assert "higher role" in above.stderr
        nobody = run_inventory("create-token", "nobody", "--name", "x", "--role", "admin", env=env)
        assert (nobody.returncode, nobody.stdout) == (1, "")
        assert "no user named 'nobody'" in nobody.stderr
        past = run_inventory(
            "create-token", "e2e-ci", "--name", "x", "--expires-at", "2001-01-01T00:00:00Z", env=env
        )
        assert (past.returncode, past.stdout) == (1, "")
        assert "--expires-at refused" in past.stderr

        with running_server(env) as server:
            client = Client(server.base_url)  # never logs in: no cookie, no CSRF token

            def as_(token: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {token}"}

            admin = as_(admin_token)
            item = client.request("POST", "/v1/items", {"sku": "E2E-T", "name": "T"}, headers=admin)
            assert item.status == 201, item
            warehouse = {"code": "E2E-TW", "name": "W", "kind": "warehouse"}
            wh = client.request("POST", "/v1/locations", warehouse, headers=admin)
            assert wh.status == 201, wh
            bin_ = {"code": "E2E-TW-A", "name": "A", "kind": "internal", "parent_id": wh.body["id"]}
            bin_id = client.request("POST", "/v1/locations", bin_, headers=admin).body["id"]

            # The CI token is a clerk's (its user is a manager): it posts movements...
            line = {"item_id": item.body["id"], "quantity": 5, "to_location_id": bin_id}
            receipt = {"kind": "receipt", "lines": [line]}
            key = {"Idempotency-Key": f"e2e-{secrets.token_hex(6)}"}
            posted = client.request("POST", "/v1/movements", receipt, headers=as_(ci_token) | key)
            assert posted.status == 201, posted
            again = client.request("POST", "/v1/movements", receipt, headers=as_(ci_token) | key)
            assert again.headers.get("idempotent-replayed") == "true", again
            assert again.body == posted.body
            # ...but may not do what only a manager may.
            refused = client.request(
                "POST", "/v1/items", {"sku": "E2E-U", "name": "U"}, headers=as_(ci_token)
            )
            assert refused.status == 403, refused

            stock = client.request("GET", f"/v1/items/{item.body['id']}/stock", headers=admin)
            assert stock.body["on_hand"] == 5

            # A token made over HTTP by a token, listed with last_used_at, revoked at once.
            made = client.request("POST", "/v1/tokens", {"name": "spare"}, headers=as_(ci_token))
            assert made.status == 201, made
            spare = made.body["token"]
            assert client.request("GET", "/v1/tokens", headers=as_(spare)).status == 200
            listed = client.request("GET", "/v1/tokens", headers=as_(ci_token)).body["data"]
            assert {t["name"] for t in listed} == {"CI job", "spare"}
            assert all(t["last_used_at"] is not None for t in listed)
            assert all("token" not in t for t in listed)
            gone = client.request("DELETE", f"/v1/tokens/{made.body['id']}", headers=as_(ci_token))
            assert gone.status == 204, gone
            # Two workers, no cache: whichever one answers, the revoked token is refused.
            for _ in range(4):
                after = client.request("GET", "/v1/items", headers=as_(spare))
                assert after.status == 401, after
                assert after.headers["www-authenticate"] == "Bearer"
                assert after.body["type"] == "urn:inventory-core:problem:unauthenticated"

            assert server.stop() == 0, server.output()
            assert admin_token not in server.output()
            assert ci_token not in server.output()
