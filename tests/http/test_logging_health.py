"""Structured logs that never carry secrets; liveness and readiness; the argon2 hasher."""

from __future__ import annotations

import io
import json
import logging

import pytest

from inventory_http.logging import configure_logging
from inventory_http.passwords import Argon2PasswordHasher
from tests.http.conftest import PASSWORDS, World, build_world


def test_logs_carry_request_ids_and_never_secrets(world: World) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    api = world.client()
    api.login("clerk")
    other = world.as_("clerk")
    api.get("/v1/items", headers={"X-Request-Id": "trace-42"})
    api.post("/v1/items", json={"sku": "L-1", "name": "x"})  # 403: a failure is logged too
    changed = api.put(
        "/v1/users/me/password",
        json={"current_password": PASSWORDS["clerk"], "new_password": "fresh-secret-pass-1"},
    )
    assert changed.status_code == 200  # a new session: its id and token must not be logged
    new_session = (changed.cookies[api.cookie_name].value, changed.json["csrf_token"])
    api.login("clerk", "wrong-password-xyz")
    api.login("clerk", "fresh-secret-pass-1")
    api.get("/v1/sessions")
    api.delete("/v1/session")

    lines = stream.getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert len(records) >= 9
    secrets = [
        PASSWORDS["clerk"],
        "fresh-secret-pass-1",
        "wrong-password-xyz",
        api.session_id,
        api.csrf_token,
        other.session_id,
        other.csrf_token,
        *new_session,
    ]
    for line in lines:
        for secret in secrets:
            assert secret not in line
        assert "Cookie" not in line
        assert "X-CSRF-Token" not in line
    access = [r for r in records if r["logger"] == "inventory_http.access"]
    assert all(r["request_id"] for r in access)
    assert any(r["request_id"] == "trace-42" and r["path"] == "/v1/items" for r in access)
    assert {r["status"] for r in access} >= {201, 200, 403, 204, 401}


def test_errors_are_logged_with_the_request_id_of_their_request(world: World) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream)
    logging.getLogger("inventory_http.test").info("outside any request")
    world.client().client.simulate_get("/healthz", headers={"X-Request-Id": "abc"})
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert "request_id" not in records[0]
    assert records[1]["request_id"] == "abc"


def test_healthz_is_always_200(world: World) -> None:
    result = world.client().client.simulate_get("/healthz")
    assert result.status_code == 200
    assert result.json == {"status": "ok"}


def test_readyz_is_503_while_a_backing_service_is_down() -> None:
    state = {"redis": True}

    def redis() -> None:
        if not state["redis"]:
            raise ConnectionError("redis://:topsecret@10.1.1.1 refused")

    world = build_world(readiness={"postgres": lambda: None, "redis": redis})
    client = world.client().client
    ready = client.simulate_get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}}
    state["redis"] = False
    down = client.simulate_get("/readyz")
    assert down.status_code == 503
    assert down.json == {
        "status": "unavailable",
        "checks": {"postgres": "ok", "redis": "unavailable"},
    }
    assert "topsecret" not in down.text
    assert down.headers["retry-after"] == "5"


def test_argon2id_hasher() -> None:
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost=8)
    hashed = hasher.hash("correct horse")
    assert hashed.startswith("$argon2id$")
    assert hasher.verify(hashed, "correct horse")
    assert not hasher.verify(hashed, "wrong horse")
    assert not hasher.verify("not a hash", "correct horse")
    assert not hasher.needs_rehash(hashed)
    assert Argon2PasswordHasher().needs_rehash(hashed)  # the OWASP defaults are stronger
    assert "m=19456,t=2,p=1" in Argon2PasswordHasher().hash("x")


@pytest.mark.parametrize("iterations", [1000])
def test_pbkdf2_hashes_still_verify_and_are_upgraded(iterations: int) -> None:
    from inventory_core.passwords import Pbkdf2PasswordHasher  # noqa: PLC0415

    legacy = Pbkdf2PasswordHasher(iterations).hash("old password")
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost=8)
    assert hasher.verify(legacy, "old password")
    assert not hasher.verify(legacy, "other")
    assert hasher.needs_rehash(legacy)
