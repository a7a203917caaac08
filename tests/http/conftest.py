"""Fixtures of the HTTP tests: the app on the in-memory adapters, a manual clock, cheap argon2."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import falcon
import falcon.testing
import pytest

from inventory_core.clocks import ManualClock
from inventory_core.executor import Executor
from inventory_core.memory.sessions import InMemorySessionStore
from inventory_core.memory.store import InMemoryStore
from inventory_core.memory.throttle import InMemoryLoginThrottle
from inventory_core.services.users import ProvisionUser
from inventory_core.sessions import SessionPolicy
from inventory_core.users import Role
from inventory_http.app import create_app
from inventory_http.passwords import Argon2PasswordHasher
from inventory_http.settings import Settings

PASSWORDS = {
    "admin": "admin-pass-9f3k2",
    "manager": "manager-pass-7x1q",
    "clerk": "clerk-pass-4m8z",
    "viewer": "viewer-pass-2b6w",
}


@attrs.define
class Api:
    """A test client logged in (or not) as someone, sending CSRF tokens by default."""

    client: falcon.testing.TestClient
    cookie_name: str
    session_id: str | None = None
    csrf_token: str | None = None
    user: dict[str, Any] | None = None

    def login(
        self, username: str, password: str | None = None, **extra: Any
    ) -> falcon.testing.Result:
        """POST /v1/session; on 201 keep the cookie and the CSRF token."""
        body = {"username": username, "password": password or PASSWORDS[username], **extra}
        headers = {"Cookie": f"{self.cookie_name}={self.session_id}"} if self.session_id else {}
        result = self.client.simulate_post("/v1/session", json=body, headers=headers)
        if result.status_code == 201:
            self.session_id = result.cookies[self.cookie_name].value
            self.csrf_token = result.json["csrf_token"]
            self.user = result.json["user"]
        return result

    def request(
        self,
        method: str,
        path: str,
        *,
        csrf: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> falcon.testing.Result:
        """A request with the session cookie and (unless ``csrf=False``) the CSRF header."""
        all_headers = dict(headers or {})
        if self.session_id is not None:
            all_headers.setdefault("Cookie", f"{self.cookie_name}={self.session_id}")
            if csrf and self.csrf_token is not None:
                all_headers.setdefault("X-CSRF-Token", self.csrf_token)
        return self.client.simulate_request(method, path, headers=all_headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> falcon.testing.Result:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> falcon.testing.Result:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> falcon.testing.Result:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> falcon.testing.Result:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> falcon.testing.Result:
        return self.request("DELETE", path, **kwargs)


@attrs.define
class World:
    """Everything one app is built from, and a way to make logged-in clients."""

    settings: Settings
    clock: ManualClock
    inventory: Executor
    sessions: InMemorySessionStore
    throttle: InMemoryLoginThrottle
    app: falcon.App[falcon.Request, falcon.Response]
    readiness: dict[str, Callable[[], None]]

    def client(self) -> Api:
        from inventory_http.middleware import cookie_name  # noqa: PLC0415

        return Api(falcon.testing.TestClient(self.app), cookie_name(self.settings))

    def as_(self, username: str) -> Api:
        api = self.client()
        result = api.login(username)
        assert result.status_code == 201, result.text
        return api


def build_world(
    settings: Settings | None = None,
    readiness: dict[str, Callable[[], None]] | None = None,
    *,
    executor_options: Mapping[str, Any] | None = None,
) -> World:
    """A fresh app with one user per role (``executor_options``: more Executor keywords)."""
    settings = settings or Settings(cookie_secure=False)
    clock = ManualClock()
    store = InMemoryStore(clock)
    inventory = Executor(
        store.unit_of_work,
        clock=clock,
        password_hasher=Argon2PasswordHasher(time_cost=1, memory_cost=8),
        **(executor_options or {}),
    )
    for role in Role:
        inventory.execute(
            None, ProvisionUser(username=role.value, password=PASSWORDS[role.value], role=role)
        )
    sessions = InMemorySessionStore(clock, SessionPolicy())
    throttle = InMemoryLoginThrottle(clock)
    checks = dict(readiness or {})
    app = create_app(
        settings, inventory=inventory, sessions=sessions, throttle=throttle, readiness=checks
    )
    return World(settings, clock, inventory, sessions, throttle, app, checks)


@pytest.fixture
def world() -> Iterator[World]:
    return build_world()


@pytest.fixture
def admin(world: World) -> Api:
    return world.as_("admin")


@pytest.fixture
def manager(world: World) -> Api:
    return world.as_("manager")


@pytest.fixture
def clerk(world: World) -> Api:
    return world.as_("clerk")


@pytest.fixture
def viewer(world: World) -> Api:
    return world.as_("viewer")


@attrs.define
class Stocked:
    """An item received into a bin of a warehouse."""

    item_id: str
    warehouse_id: str
    bin_id: str
    receipt: dict[str, Any]


def create_item(api: Api, sku: str = "APPLE-1", **fields: Any) -> dict[str, Any]:
    result = api.post("/v1/items", json={"sku": sku, "name": f"Item {sku}", **fields})
    assert result.status_code == 201, result.text
    return result.json


def create_location(
    api: Api, code: str, kind: str = "warehouse", parent_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "name": f"Location {code}", "kind": kind}
    if parent_id is not None:
        body["parent_id"] = parent_id
    result = api.post("/v1/locations", json=body)
    assert result.status_code == 201, result.text
    return result.json


def receive(api: Api, item_id: str, location_id: str, quantity: int) -> dict[str, Any]:
    result = api.post(
        "/v1/movements",
        json={
            "kind": "receipt",
            "lines": [{"item_id": item_id, "quantity": quantity, "to_location_id": location_id}],
        },
    )
    assert result.status_code == 201, result.text
    return result.json


@pytest.fixture
def stocked(admin: Api) -> Stocked:
    item = create_item(admin, reorder_point=5)
    warehouse = create_location(admin, "WH-1")
    bin_ = create_location(admin, "WH-1-A1", "internal", warehouse["id"])
    receipt = receive(admin, item["id"], bin_["id"], 10)
    return Stocked(item["id"], warehouse["id"], bin_["id"], receipt)


def assert_problem(
    result: falcon.testing.Result, status: int, slug: str | None = None
) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status (and type slug)."""
    assert result.status_code == status, result.text
    assert result.headers["content-type"] == "application/problem+json"
    body = result.json
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    assert body["type"].startswith("urn:inventory-core:problem:")
    if slug is not None:
        assert body["type"] == f"urn:inventory-core:problem:{slug}", body
    return body
