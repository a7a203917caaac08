"""The OpenAPI document: it describes exactly the routes served, and the app keeps to it."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from inventory_core.locations import VIRTUAL_LOCATION_IDS, LocationKind
from inventory_core.services.items import ChangeItem, ItemChanges
from inventory_core.services.locations import ChangeLocation, LocationChanges
from inventory_core.services.users import ListUsers
from inventory_core.users import Actor, Role
from inventory_http.settings import Settings
from tests.http.conftest import (
    PASSWORDS,
    World,
    build_world,
    create_item,
    create_location,
    receive,
)

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
    assert len(served) == 47
    assert served == documented_routes(document)


def test_the_document_is_openapi_3_1_with_problem_errors(world: World) -> None:
    result = world.client().client.simulate_get("/openapi.json")
    assert result.status_code == 200
    document = result.json
    assert document["openapi"] == "3.1.0"
    schemes = document["components"]["securitySchemes"]
    # The documented name is the production one, whatever mode served the document.
    assert schemes["sessionCookie"]["name"] == "__Host-inventory_session"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["operationId"], (method, path)
            for status, response in operation["responses"].items():
                if int(status) >= 400 and path != "/readyz":
                    assert "application/problem+json" in response["content"], (method, path, status)
    login = document["components"]["schemas"]["LoginRequest"]
    assert login["required"] == ["username", "password"]
    assert login["additionalProperties"] is False
    line = document["components"]["schemas"]["LineRequest"]
    quantity = line["properties"]["quantity"]
    assert (quantity["type"], quantity["minimum"], quantity["maximum"]) == ("integer", 1, 10**12)


def walk(value: Any, where: str = "$") -> Any:
    """Every (where, dict) in a JSON value."""
    if isinstance(value, dict):
        yield where, value
        for key, item in value.items():
            yield from walk(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{where}[{index}]")


def test_every_operation_and_property_is_described_for_integrators(world: World) -> None:
    document = world.client().client.simulate_get("/openapi.json").json
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    assert len(operations) == 47
    tags = {tag["name"] for tag in document["tags"]}
    for op in operations:
        assert op["summary"], op["operationId"]
        assert op["description"], op["operationId"]
        assert op["tags"][0] in tags, op["operationId"]
        if "requestBody" in op:
            assert "example" in op["requestBody"]["content"]["application/json"], op
    assert len({op["operationId"] for op in operations}) == 47
    undescribed = [
        f"{where}.{name}"
        for where, node in walk(document["components"])
        if isinstance(node.get("properties"), dict) and ".allOf" not in where
        for name, schema in node["properties"].items()
        if "description" not in schema
    ]
    assert undescribed == []
    assert document["servers"]


def test_null_is_written_one_way_and_headers_are_declared_where_sent(world: World) -> None:
    document = world.client().client.simulate_get("/openapi.json").json
    for where, node in walk(document):
        kind = node.get("type")
        assert not (isinstance(kind, list)), f"{where}: null as a type list"
        assert None not in node.get("enum", []), f"{where}: null in an enum"
    headers = document["components"]["headers"]
    assert headers["Retry-After"]["schema"]["type"] == "integer"
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            for status, response in op["responses"].items():
                assert "X-Request-Id" in response["headers"], (method, path, status)
    users = document["paths"]["/v1/users"]["post"]["responses"]["201"]["headers"]
    assert {"ETag", "Idempotent-Replayed"} <= set(users)
    assert "ETag" in document["paths"]["/v1/items/{item_id}"]["get"]["responses"]["304"]["headers"]
    login = document["paths"]["/v1/session"]["post"]
    assert all(p.get("$ref", "").split("/")[-1] != "IdempotencyKey" for p in login["parameters"])
    kinds = document["components"]["schemas"]["PostMovement"]["properties"]["kind"]["enum"]
    assert "reversal" not in kinds
    # CSRF is named only where a cookie session needs it: never on a GET
    for path, operations in document["paths"].items():
        if "get" in operations:
            assert "csrfToken" not in str(operations["get"].get("security", "")), path
            forbidden = operations["get"]["responses"].get("403", {})
            assert "CSRF" not in forbidden.get("description", ""), path


def test_problem_types_are_an_enum_per_status_with_their_meaning(world: World) -> None:
    document = world.client().client.simulate_get("/openapi.json").json
    conflict = document["components"]["schemas"]["ConflictProblem"]["properties"]["type"]
    assert "urn:inventory-core:problem:insufficient-stock" in conflict["enum"]
    assert "`insufficient-stock`:" in conflict["description"]
    # every problem the app answers has a registered type of its status
    api = world.as_("admin")
    answer = api.post("/v1/movements", json={"kind": "receipt", "lines": []})
    body = answer.json
    schema = document["components"]["schemas"]["ValidationProblem"]["properties"]
    assert body["type"] in schema["type"]["enum"]
    assert body["status"] == schema["status"]["const"] == 422


def test_every_authenticated_operation_takes_a_bearer_token_or_the_cookie(world: World) -> None:
    """DESIGN §10: an http/bearer scheme next to the cookie, offered as an alternative on every
    operation that needs a caller, except the few about the cookie session itself."""
    document = world.client().client.simulate_get("/openapi.json").json
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerToken"]["type"] == "http"
    assert schemes["bearerToken"]["scheme"] == "bearer"
    assert schemes["bearerToken"]["bearerFormat"] == "inv_…"
    assert document["security"] == [{"bearerToken": []}, {"sessionCookie": []}]
    session_only = {
        ("get", "/v1/session"),
        ("delete", "/v1/session"),
        ("get", "/v1/sessions"),
        ("delete", "/v1/sessions"),
        ("put", "/v1/users/me/password"),
    }
    checked = 0
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            security = op["security"]
            if security == []:  # public: login, health, readiness, this document
                continue
            checked += 1
            cookie = (
                {"sessionCookie": [], "csrfToken": []} if method != "get" else {"sessionCookie": []}
            )
            if (method, path) in session_only:
                assert security == [cookie], (method, path)
                assert "API token" in op["responses"]["403"]["description"], (method, path)
            else:
                assert security == [{"bearerToken": []}, cookie], (method, path)
            # Any request may carry a bad token (401 with the challenge) and be throttled (429).
            assert "WWW-Authenticate" in op["responses"]["401"]["headers"], (method, path)
            assert "Retry-After" in op["responses"]["429"]["headers"], (method, path)
    assert checked == 43
    tokens = document["paths"]["/v1/tokens"]
    created = tokens["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/NewToken"}
    new_token = document["components"]["schemas"]["NewToken"]
    assert set(new_token["properties"]) == {
        "id",
        "name",
        "role",
        "created_at",
        "expires_at",
        "last_used_at",
        "token",
    }
    listed = document["components"]["schemas"]["ApiToken"]["properties"]
    assert "digest" not in listed
    assert "token" not in listed
    # Not replayable (a replay would store the secret): no Idempotent-Replayed on the answer.
    assert "Idempotent-Replayed" not in tokens["post"]["responses"]["201"]["headers"]
    assert "Location" in tokens["post"]["responses"]["201"]["headers"]


def test_a_client_generated_from_the_document_may_send_the_documented_cookie_name(
    world: World,
) -> None:
    """The app under test sets plain-HTTP cookies; the documented secure name works too."""
    client = world.client().client
    login = client.simulate_post(
        "/v1/session", json={"username": "admin", "password": PASSWORDS["admin"]}
    )
    session_id = login.cookies["inventory_session"].value
    answer = client.simulate_get(
        "/v1/session", headers={"Cookie": f"__Host-inventory_session={session_id}"}
    )
    assert answer.status_code == 200, answer.text


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
    lot_item = create_item(api, "SEED-LOT", tracking="lot")
    lot_receipt = api.post(
        "/v1/movements",
        json={
            "kind": "receipt",
            "lines": [
                {
                    "item_id": lot_item["id"],
                    "quantity": 10,
                    "to_location_id": bin_["id"],
                    "lot": "SEED-L1",
                    "expires_on": "2030-01-31",
                }
            ],
        },
    )
    assert lot_receipt.status_code == 201, lot_receipt.text
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
        "lot_id": lot_receipt.json["lines"][0]["lot_id"],
        "reservation_id": reservation["id"],
        "user_id": str(viewer.id),
    }


KNOWN_IDS = _seed()


# Virtual locations a generated line may name on the side they belong to.
KEPT_VIRTUAL = {
    ("from_location_id", str(VIRTUAL_LOCATION_IDS[LocationKind.SUPPLIER])),
    ("to_location_id", str(VIRTUAL_LOCATION_IDS[LocationKind.CUSTOMER])),
    ("from_location_id", str(VIRTUAL_LOCATION_IDS[LocationKind.ADJUSTMENT])),
    ("to_location_id", str(VIRTUAL_LOCATION_IDS[LocationKind.ADJUSTMENT])),
}


def _kept(key: str, value: Any) -> bool:
    return isinstance(value, str) and (key, value) in KEPT_VIRTUAL


def _with_known_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: v if _kept(k, v) else KNOWN_IDS.get(k, _with_known_ids(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_with_known_ids(v) for v in value]
    return value


@schema.hook
def before_generate_path_parameters(context: Any, strategy: Any) -> Any:
    """Half the generated ids name resources that exist."""
    return strategy | strategy.map(_with_known_ids)


def _with_known_ids_case(case: schemathesis.Case) -> schemathesis.Case:
    """Refer to resources that exist, so a generated request is judged on its data."""
    if case.path_parameters:
        case.path_parameters = _with_known_ids(case.path_parameters)
    if isinstance(case.body, dict):
        case.body = _with_known_ids(case.body)
    return case


@schema.hook
def before_generate_query(context: Any, strategy: Any) -> Any:
    """Half the generated filters (and the picking parameters) name resources that exist."""
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


def test_with_secure_cookies_only_the_prefixed_name_is_accepted() -> None:
    world = build_world(Settings(cookie_secure=True))
    client = world.client().client
    login = client.simulate_post(
        "/v1/session",
        json={"username": "admin", "password": PASSWORDS["admin"]},
        protocol="https",
    )
    session_id = login.cookies["__Host-inventory_session"].value
    for name, status in (("inventory_session", 401), ("__Host-inventory_session", 200)):
        answer = client.simulate_get(
            "/v1/session", headers={"Cookie": f"{name}={session_id}"}, protocol="https"
        )
        assert answer.status_code == status, (name, answer.text)


# ---------------------------------------------------------------- generated data is accepted

REJECTED = {400, 422}

# Refusals no JSON Schema can foresee: they depend on stored state (a seeded item deactivated by
# an earlier generated PATCH, a reservation's quantity, the bundled list of common passwords),
# or on where stock may go (a receipt into a bin chosen at random may be refused).
UNSAYABLE = (
    "is too common",
    "must not be the username",
    "is inactive",
    "no such",
    "must add up to the reserved",
    "must differ",
    "cannot move stock from",
    "is already",
    "must be valid Unicode text",
    "counted twice",  # every generated line names the one seeded item and bin
    "in the future",
    # An item's tracking (DESIGN §12) is stored state: the seeded item is tracked by neither
    # lot nor serial number, so a generated lot, expiry date or serial list is refused.
    "is not tracked by",
    "only lots have expiry dates",
)


def _sayable(body: Any) -> bool:
    """A 400/422 whose reason the document could have stated."""
    if not isinstance(body, dict) or body.get("status") != 422:
        return body is None or not isinstance(body, dict) or body.get("status") == 400
    errors = body.get("errors") or []
    return not errors or any(not any(u in e["message"] for u in UNSAYABLE) for e in errors)


def _reactivate_seed() -> None:
    """Undo what earlier generated PATCHes did to the seeded item and locations (deactivate
    them), so a generated request is judged on its own data."""
    admin = Actor(user_id=_ADMIN.id, role=Role.ADMIN)
    _WORLD.inventory.execute(
        admin, ChangeItem(UUID(KNOWN_IDS["item_id"]), ItemChanges(active=True))
    )
    for name in ("warehouse_id", "location_id"):
        _WORLD.inventory.execute(
            admin, ChangeLocation(UUID(KNOWN_IDS[name]), LocationChanges(active=True))
        )


def _answers_to_generated(operation: Any) -> list[tuple[int, Any]]:
    """Status and body of the answers to 20 requests generated from ``operation``'s schema."""
    answers: list[tuple[int, Any]] = []

    def run(case: schemathesis.Case) -> None:
        _reactivate_seed()
        session_id, session = _WORLD.sessions.create(
            user_id=_ADMIN.id, role=_ADMIN.role, user_agent="schemathesis", remember=False
        )
        case.headers = {k: v for k, v in (case.headers or {}).items() if k != "Idempotency-Key"}
        response = case.call(
            headers={"X-CSRF-Token": session.csrf_token},
            cookies={"inventory_session": session_id},
        )
        answers.append((response.status_code, response.json() if response.content else None))

    strategy = operation.as_strategy().map(_with_known_ids_case)
    settings(
        max_examples=20,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )(given(case=strategy)(run))()
    return answers


def test_generated_valid_data_is_mostly_accepted(record_property: Any) -> None:
    """The schema states the server's rules, so data generated to fit it is rarely refused.
    Reports, per operation, the refused count and the part of it the document could have
    foreseen (``-rP`` prints it), and fails if an operation refuses more than a quarter of
    the generated requests for a rule its schema could state."""
    counts: dict[str, tuple[int, int, int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() not in {"POST", "PUT", "PATCH"}:
            continue
        answers = _answers_to_generated(operation)
        refused = [body for status, body in answers if status in REJECTED]
        foreseeable = sum(_sayable(body) for body in refused)
        counts[f"{operation.method.upper()} {operation.path}"] = (
            foreseeable,
            len(refused),
            len(answers),
        )
    report = {name: f"{f} foreseeable, {r} refused of {n}" for name, (f, r, n) in counts.items()}
    record_property("rejected_generated_data", report)
    print("\nrefused generated data (400/422 of requests generated from the document):")
    for name, line in report.items():
        print(f"  {name}: {line}")
    mostly = [name for name, (foreseeable, _, total) in counts.items() if foreseeable * 4 > total]
    assert mostly == [], report
