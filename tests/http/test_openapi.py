"""The OpenAPI document: it describes exactly the routes served, and the app keeps to it."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from inventory_core.services.users import ListUsers
from inventory_core.users import Actor, Role
from tests.http.conftest import World, build_world, create_item, create_location, receive

METHODS = ("get", "post", "put", "patch", "delete")


def served_routes(app: Any) -> set[tuple[str, str]]:
    """(METHOD, /path/{param}) for every responder a resource defines, from Falcon's router."""
    found: set[tuple[str, str]] = set()

    def walk(nodes: list[Any]) -> None:
        for node in nodes:
            if node.resource is not None:
                template = re.sub(r"\{(\w+):\w+\}", r"{\1}", node.uri_template)
                for method in METHODS:
                    if hasattr(node.resource, f"on_{method}"):
                        found.add((method, template))
            walk(node.children)

    walk(app._router._roots)
    return found


def documented_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in METHODS
    }


def test_the_document_describes_exactly_the_routes_served(world: World) -> None:
    document = world.client().client.simulate_get("/openapi.json").json
    served = served_routes(world.app)
    assert len(served) == 33
    assert served == documented_routes(document)


def test_the_document_is_openapi_3_1_with_problem_errors(world: World) -> None:
    result = world.client().client.simulate_get("/openapi.json")
    assert result.status_code == 200
    document = result.json
    assert document["openapi"] == "3.1.0"
    schemes = document["components"]["securitySchemes"]
    assert schemes["sessionCookie"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "inventory_session",
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["operationId"], (method, path)
            for status, response in operation["responses"].items():
                if int(status) >= 400 and path != "/readyz":
                    assert "application/problem+json" in response["content"], (method, path, status)
    login = document["paths"]["/v1/session"]["post"]["requestBody"]["content"]["application/json"]
    assert login["schema"]["required"] == ["username", "password"]
    assert login["schema"]["additionalProperties"] is False
    line = document["paths"]["/v1/movements"]["post"]["requestBody"]["content"]["application/json"]
    quantity = line["schema"]["properties"]["lines"]["items"]["properties"]["quantity"]
    assert quantity == {"type": "integer", "minimum": 1, "maximum": 10**12}


# ---------------------------------------------------------------- schemathesis

_WORLD = build_world()
_ADMIN = next(
    user
    for user in _WORLD.inventory.execute(
        Actor(user_id=UUID(int=0), role=Role.ADMIN), ListUsers()
    ).items
    if user.username == "admin"
)
schema = schemathesis.openapi.from_wsgi("/openapi.json", _WORLD.app)


def _seed() -> dict[str, str]:
    """Real ids for generated requests to hit, so they reach past "404 not found"."""
    api = _WORLD.as_("admin")
    item = create_item(api, "SEED-1", reorder_point=50)
    warehouse = create_location(api, "SEED-WH")
    bin_ = create_location(api, "SEED-WH-A", "internal", warehouse["id"])
    receipt = receive(api, item["id"], bin_["id"], 1000)
    reservation = api.post(
        "/v1/reservations",
        json={"item_id": item["id"], "warehouse_id": warehouse["id"], "quantity": 5},
    ).json
    viewer = next(
        user
        for user in _WORLD.inventory.execute(
            Actor(user_id=_ADMIN.id, role=Role.ADMIN), ListUsers()
        ).items
        if user.username == "viewer"
    )
    return {
        "item_id": item["id"],
        "warehouse_id": warehouse["id"],
        "location_id": bin_["id"],
        "from_location_id": bin_["id"],
        "to_location_id": bin_["id"],
        "parent_id": warehouse["id"],
        "movement_id": receipt["id"],
        "reservation_id": reservation["id"],
        "user_id": str(viewer.id),
    }


KNOWN_IDS = _seed()


def _with_known_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: KNOWN_IDS.get(k, _with_known_ids(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_known_ids(v) for v in value]
    return value


@schema.hook
def before_generate_path_parameters(context: Any, strategy: Any) -> Any:
    """Half the generated ids name resources that exist."""
    return strategy | strategy.map(_with_known_ids)


@schema.hook
def before_generate_body(context: Any, strategy: Any) -> Any:
    """Half the generated bodies refer to an item and locations that exist."""
    return strategy | strategy.map(_with_known_ids)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_keeps_to_the_document(case: schemathesis.Case) -> None:
    # A fresh admin session per example: a generated logout must not starve the others.
    session_id, session = _WORLD.sessions.create(
        user_id=_ADMIN.id, role=_ADMIN.role, user_agent="schemathesis", remember=False
    )
    case.call_and_validate(
        headers={"X-CSRF-Token": session.csrf_token},
        cookies={"inventory_session": session_id},
        checks=CHECKS,
    )
