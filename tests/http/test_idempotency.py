"""Idempotency-Key on POST: replay, mismatch, in-progress, failures not stored, conflict retries."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from uuid import UUID

import attrs
import falcon.testing
import pytest

from inventory_core.errors import ConcurrencyConflict, VersionMismatch
from inventory_core.executor import Executor
from inventory_core.idempotency import IdempotencyClaim, IdempotencyOutcome
from inventory_core.memory.store import InMemoryStore
from inventory_core.services.users import ProvisionUser
from inventory_http.app import create_app
from tests.http.conftest import Api, Stocked, World, assert_problem


def _receipt(stocked: Stocked, quantity: int = 1) -> dict[str, Any]:
    return {
        "kind": "receipt",
        "lines": [
            {"item_id": stocked.item_id, "quantity": quantity, "to_location_id": stocked.bin_id}
        ],
    }


def _on_hand(api: Api, stocked: Stocked) -> int:
    return int(api.get(f"/v1/items/{stocked.item_id}/stock").json["on_hand"])


def test_a_retry_replays_the_first_answer_without_a_second_effect(
    stocked: Stocked, clerk: Api
) -> None:
    headers = {"Idempotency-Key": "receipt-0001"}
    first = clerk.post("/v1/movements", json=_receipt(stocked), headers=headers)
    again = clerk.post("/v1/movements", json=_receipt(stocked), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["content-type"] == "application/json"
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _on_hand(clerk, stocked) == 11


def test_the_same_key_for_another_request_is_422(stocked: Stocked, clerk: Api) -> None:
    headers = {"Idempotency-Key": "k-2"}
    assert (
        clerk.post("/v1/movements", json=_receipt(stocked, 1), headers=headers).status_code == 201
    )
    other = clerk.post("/v1/movements", json=_receipt(stocked, 2), headers=headers)
    assert_problem(other, 422, "idempotency-key-reused")
    reserve = {"item_id": stocked.item_id, "warehouse_id": stocked.warehouse_id, "quantity": 1}
    elsewhere = clerk.post("/v1/reservations", json=reserve, headers=headers)
    assert_problem(elsewhere, 422, "idempotency-key-reused")  # the path is part of the request
    # Authorisation comes before the key is claimed (DESIGN §9): a request the role may not
    # make is 403, whatever its key.
    forbidden = clerk.post("/v1/items", json={"sku": "K-2", "name": "x"}, headers=headers)
    assert_problem(forbidden, 403, "permission-denied")
    assert _on_hand(clerk, stocked) == 11
    assert clerk.get("/v1/reservations").json["data"] == []


def test_keys_belong_to_their_user(world: World, stocked: Stocked, clerk: Api, admin: Api) -> None:
    headers = {"Idempotency-Key": "shared"}
    assert clerk.post("/v1/movements", json=_receipt(stocked), headers=headers).status_code == 201
    mine = admin.post("/v1/movements", json=_receipt(stocked), headers=headers)
    assert mine.status_code == 201
    assert "idempotent-replayed" not in mine.headers
    assert _on_hand(admin, stocked) == 12


def test_failures_are_not_stored_so_a_retry_runs_again(stocked: Stocked, clerk: Api) -> None:
    ship = {
        "kind": "shipment",
        "lines": [{"item_id": stocked.item_id, "quantity": 15, "from_location_id": stocked.bin_id}],
    }
    headers = {"Idempotency-Key": "ship-1"}
    assert_problem(
        clerk.post("/v1/movements", json=ship, headers=headers), 409, "insufficient-stock"
    )
    clerk.post("/v1/movements", json=_receipt(stocked, 5))
    later = clerk.post("/v1/movements", json=ship, headers=headers)
    assert later.status_code == 201
    assert "idempotent-replayed" not in later.headers
    assert _on_hand(clerk, stocked) == 0


def test_every_kind_of_post_replays(stocked: Stocked, admin: Api) -> None:
    reservation = {"item_id": stocked.item_id, "warehouse_id": stocked.warehouse_id, "quantity": 1}
    extra = admin.post("/v1/movements", json=_receipt(stocked, 3)).json
    posts = [
        ("/v1/items", {"sku": "IDEM-1", "name": "x"}),
        ("/v1/locations", {"code": "IDEM-L", "name": "x", "kind": "warehouse"}),
        ("/v1/users", {"username": "idem", "password": "idem-pass-93kd", "role": "viewer"}),
        ("/v1/reservations", reservation),
        (
            "/v1/counts",
            {"lines": [{"item_id": stocked.item_id, "location_id": stocked.bin_id, "counted": 9}]},
        ),
    ]
    posts.append((f"/v1/movements/{extra['id']}/reversal", None))
    for number, (path, body) in enumerate(posts):
        headers = {"Idempotency-Key": f"every-{number}"}
        first = admin.post(path, json=body, headers=headers)
        assert first.status_code == 201, (path, first.text)
        again = admin.post(path, json=body, headers=headers)
        assert again.status_code == 201, (path, again.text)
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"


def test_bad_keys_are_400(stocked: Stocked, clerk: Api) -> None:
    for key in ("", "x" * 256, "has space", "tab\tkey", "é"):
        result = clerk.post(
            "/v1/movements", json=_receipt(stocked), headers={"Idempotency-Key": key}
        )
        assert_problem(result, 400, "invalid-idempotency-key")
    assert (
        clerk.post(
            "/v1/movements", json=_receipt(stocked), headers={"Idempotency-Key": "x" * 255}
        ).status_code
        == 201
    )
    assert _on_hand(clerk, stocked) == 11


class FlakyUnitOfWork:
    """An in-memory unit of work whose idempotency claims misbehave on request: a claim may
    report the key as held by another transaction, or fail with a concurrency conflict (as the
    Postgres adapter does under contention)."""

    def __init__(self, inner: Any, script: list[str]) -> None:
        self._inner = inner
        self._script = script

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> FlakyUnitOfWork:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._inner.__exit__(*exc)

    @property
    def idempotency(self) -> FlakyUnitOfWork:
        return self

    def claim(self, user_id: Any, key: str, fingerprint: str) -> IdempotencyClaim:
        action = self._script.pop(0) if self._script else "pass"
        if action == "held":
            return IdempotencyClaim(IdempotencyOutcome.IN_PROGRESS)
        if action == "conflict":
            raise ConcurrencyConflict("serialization failure")
        if action == "stale":
            raise VersionMismatch("item", key, 1, 2)
        return self._inner.idempotency.claim(user_id, key, fingerprint)

    def complete(self, record: Any) -> None:
        self._inner.idempotency.complete(record)

    def purge(self, older_than: Any) -> int:
        return int(self._inner.idempotency.purge(older_than))


def _flaky_world(world: World, script: list[str]) -> Api:
    store = InMemoryStore(world.clock)
    inventory = Executor(
        lambda: FlakyUnitOfWork(store.unit_of_work(), script),
        clock=world.clock,
        password_hasher=world.inventory.context.password_hasher,
    )
    from inventory_core.users import Role  # noqa: PLC0415

    inventory.execute(
        None, ProvisionUser(username="flaky", password="flaky-pass-83kd", role=Role.MANAGER)
    )
    app = create_app(
        world.settings, inventory=inventory, sessions=world.sessions, throttle=world.throttle
    )
    import falcon.testing  # noqa: PLC0415

    api = Api(falcon.testing.TestClient(app), "inventory_session")
    assert api.login("flaky", "flaky-pass-83kd").status_code == 201
    return api


def test_a_key_still_in_progress_is_409_with_retry_after(world: World) -> None:
    api = _flaky_world(world, ["held"])
    result = api.post(
        "/v1/items", json={"sku": "HELD-1", "name": "x"}, headers={"Idempotency-Key": "k"}
    )
    assert_problem(result, 409, "idempotency-key-in-use")
    assert result.headers["retry-after"] == "1"
    assert api.get("/v1/items").json["data"] == []


def test_concurrency_conflicts_retry_the_whole_request(world: World) -> None:
    api = _flaky_world(world, ["conflict", "conflict"])
    result = api.post(
        "/v1/items", json={"sku": "RETRY-1", "name": "x"}, headers={"Idempotency-Key": "k"}
    )
    assert result.status_code == 201
    assert [i["sku"] for i in api.get("/v1/items").json["data"]] == ["RETRY-1"]


def test_conflicts_give_up_after_a_bounded_number_of_retries(world: World) -> None:
    api = _flaky_world(world, ["conflict"] * 4)
    result = api.post(
        "/v1/items", json={"sku": "RETRY-2", "name": "x"}, headers={"Idempotency-Key": "k"}
    )
    assert_problem(result, 409, "concurrency-conflict")
    assert api.get("/v1/items").json["data"] == []


def test_version_mismatches_are_not_retried(world: World) -> None:
    api = _flaky_world(world, ["stale", "pass"])
    result = api.post(
        "/v1/items", json={"sku": "STALE-1", "name": "x"}, headers={"Idempotency-Key": "k"}
    )
    assert_problem(result, 412, "version-mismatch")


def test_records_are_kept_for_the_retention_period_then_purged(
    world: World, stocked: Stocked, clerk: Api
) -> None:
    headers = {"Idempotency-Key": "receipt-retained"}
    first = clerk.post("/v1/movements", json=_receipt(stocked), headers=headers)
    assert first.status_code == 201
    world.clock.advance(hours=23)
    clerk.login("clerk")  # the session itself has long expired
    within = clerk.post("/v1/movements", json=_receipt(stocked), headers=headers)
    assert within.headers["idempotent-replayed"] == "true"
    assert _on_hand(clerk, stocked) == 11
    world.clock.advance(hours=2)
    clerk.login("clerk")
    # Any later keyed POST triggers the housekeeping that drops records past 24 h.
    other = clerk.post(
        "/v1/movements", json=_receipt(stocked), headers={"Idempotency-Key": "receipt-later"}
    )
    assert other.status_code == 201
    with world.inventory.unit_of_work() as uow:
        claim = uow.idempotency.claim(UUID(clerk.user["id"]), "receipt-retained", "x")
    assert claim.outcome is IdempotencyOutcome.NEW


# ---------------------------------------------------------------- the fingerprint is keyed

SECRET = "a-shared-idempotency-secret-of-at-least-32-chars"
CREATE_USER = {"username": "newcomer", "password": "correct-horse-battery", "role": "clerk"}


def _server(world: World, store: InMemoryStore, inventory: Executor, secret: str | None) -> Api:
    """An app over ``store`` (shared by every app built over it, as Postgres is by nodes)
    logged in as the admin; ``secret`` is its INVENTORY_IDEMPOTENCY_SECRET."""
    settings = attrs.evolve(world.settings, idempotency_secret=secret)
    app = create_app(
        settings, inventory=inventory, sessions=world.sessions, throttle=world.throttle
    )
    api = Api(falcon.testing.TestClient(app), "inventory_session")
    assert api.login("root", "root-pass-8d7f3k").status_code == 201
    return api


@pytest.fixture
def shared(world: World) -> tuple[InMemoryStore, Executor]:
    """One store for several apps, with an admin ``root``."""
    from inventory_core.users import Role  # noqa: PLC0415

    store = InMemoryStore(world.clock)
    inventory = Executor(
        store.unit_of_work,
        clock=world.clock,
        password_hasher=world.inventory.context.password_hasher,
    )
    inventory.execute(
        None, ProvisionUser(username="root", password="root-pass-8d7f3k", role=Role.ADMIN)
    )
    return store, inventory


def test_the_stored_fingerprint_is_an_hmac_not_a_hash_of_the_body(
    world: World, shared: tuple[InMemoryStore, Executor]
) -> None:
    store, inventory = shared
    api = _server(world, store, inventory, SECRET)
    raw = json.dumps(CREATE_USER).encode()
    result = api.post(
        "/v1/users",
        body=raw,
        headers={"Content-Type": "application/json", "Idempotency-Key": "new-user-1"},
    )
    assert result.status_code == 201, result.text
    (record,) = list(store.idempotency.values())
    password = CREATE_USER["password"].encode()
    unkeyed = hashlib.sha256()
    for part in (b"POST", b"/v1/users", raw):  # the fingerprint before keys
        unkeyed.update(len(part).to_bytes(8, "big"))
        unkeyed.update(part)
    guesses = {
        hashlib.sha256(raw).hexdigest(),
        hashlib.sha256(password).hexdigest(),
        unkeyed.hexdigest(),
    }
    assert record.fingerprint not in guesses
    keyed = hmac.new(SECRET.encode(), digestmod=hashlib.sha256)
    for part in (b"POST", b"/v1/users", raw):
        keyed.update(len(part).to_bytes(8, "big"))
        keyed.update(part)
    assert record.fingerprint == keyed.hexdigest()
    assert SECRET not in repr(attrs.evolve(world.settings, idempotency_secret=SECRET))


def test_servers_sharing_the_secret_agree_and_others_do_not(
    world: World, shared: tuple[InMemoryStore, Executor]
) -> None:
    store, inventory = shared
    first = _server(world, store, inventory, SECRET)
    same = _server(world, store, inventory, SECRET)
    other = _server(world, store, inventory, "another-secret-that-is-32-chars-long")
    headers = {"Idempotency-Key": "create-item-1"}
    item = {"sku": "NODE-1", "name": "made once"}
    created = first.post("/v1/items", json=item, headers=headers)
    assert created.status_code == 201, created.text
    # A retry that lands on another node with the same secret is recognised: replayed.
    replay = same.post("/v1/items", json=item, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json == created.json
    # With a different secret the same request fingerprints differently: never replayed.
    assert_problem(other.post("/v1/items", json=item, headers=headers), 422)
    assert len(first.get("/v1/items").json["data"]) == 1


def test_without_a_secret_each_app_makes_up_its_own(
    world: World, shared: tuple[InMemoryStore, Executor]
) -> None:
    """The embedded default: one process, its own key. Two apps without one do not agree."""
    store, inventory = shared
    one = _server(world, store, inventory, None)
    two = _server(world, store, inventory, None)
    headers = {"Idempotency-Key": "create-item-2"}
    item = {"sku": "SOLO-1", "name": "x"}
    assert one.post("/v1/items", json=item, headers=headers).status_code == 201
    assert one.post("/v1/items", json=item, headers=headers).headers["idempotent-replayed"]
    assert_problem(two.post("/v1/items", json=item, headers=headers), 422)
