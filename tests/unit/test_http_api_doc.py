"""docs/http-api.md stays honest: every route it names is served, with that method, by the app,
and every response example it shows is a well-formed HTTP response whose JSON body parses."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import falcon
import falcon.testing

from inventory_core.clocks import ManualClock
from inventory_core.executor import Executor
from inventory_core.memory.sessions import InMemorySessionStore
from inventory_core.memory.store import InMemoryStore
from inventory_core.memory.throttle import InMemoryLoginThrottle
from inventory_core.sessions import SessionPolicy
from inventory_http.app import create_app
from inventory_http.passwords import Argon2PasswordHasher
from inventory_http.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "http-api.md"

# "GET /v1/items/{id}", "POST /v1/movements/{id}/reversal", "DELETE /v1/sessions"
MENTION = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE)\s+(/v1/[^\s`?\"'),]*)")
# curl [-X METHOD] ... "$BASE/v1/..." (without -X: POST when it sends -d, else GET)
CURL = re.compile(r"\bcurl\b(?:\\\n|[^\n])*")
CURL_PATH = re.compile(r"\$BASE(/v1/[^\s\"'?]*)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
STATUS_LINE = re.compile(r"HTTP/1\.1 (\d{3}) [A-Za-z ]+")
HEADER = re.compile(r"[a-z0-9-]+: \S.*")
# Path placeholders a reader sees ({id}, $ITEM, ...) stand for some id.
PLACEHOLDER = re.compile(r"\{\w+\}|\$\{?\w+\}?")
SOME_ID = "01a212cc-8bc2-72be-9c27-14590446082a"


def doc_text() -> str:
    return DOC.read_text()


def build_app() -> falcon.App[falcon.Request, falcon.Response]:
    """The app on the in-memory adapters, as tests/http/conftest.py builds it."""
    clock = ManualClock()
    store = InMemoryStore(clock)
    inventory = Executor(
        store.unit_of_work,
        clock=clock,
        password_hasher=Argon2PasswordHasher(time_cost=1, memory_cost=8),
    )
    return create_app(
        Settings(cookie_secure=False),
        inventory=inventory,
        sessions=InMemorySessionStore(clock, SessionPolicy()),
        throttle=InMemoryLoginThrottle(clock),
    )


def mentioned_routes(text: str) -> set[tuple[str, str]]:
    """(METHOD, path) for every route the prose names and every curl command sends."""
    found = {(method, path.rstrip(".:")) for method, path in MENTION.findall(text)}
    for command in CURL.findall(text):
        match = CURL_PATH.search(command)
        if match is None:
            continue
        explicit = re.search(r"-X (\w+)", command)
        method = explicit.group(1) if explicit else ("POST" if " -d " in command else "GET")
        found.add((method, match.group(1)))
    return found


def route_is_served(
    app: falcon.App[falcon.Request, falcon.Response], method: str, path: str
) -> bool:
    concrete = PLACEHOLDER.sub(SOME_ID, path)
    route = app._router.find(concrete)
    if route is None:
        return False
    resource = route[0]
    return hasattr(resource, "on_" + method.lower())


def response_examples(text: str) -> list[tuple[int, dict[str, str], str]]:
    """(status, headers, body) of every ```http block (each is one response)."""
    examples = []
    for lang, block in FENCE.findall(text):
        if lang != "http":
            continue
        head, _, body = block.partition("\n\n")
        status_line, *header_lines = head.splitlines()
        match = STATUS_LINE.fullmatch(status_line)
        assert match, f"an http example does not start with a status line: {status_line!r}"
        for line in header_lines:
            assert HEADER.fullmatch(line), f"not a header line: {line!r}"
        headers = dict(line.split(": ", 1) for line in header_lines)
        examples.append((int(match.group(1)), headers, body.strip()))
    return examples


def test_the_doc_names_the_routes_it_is_about() -> None:
    routes = mentioned_routes(doc_text())
    for expected in [
        ("POST", "/v1/session"),
        ("GET", "/v1/session"),
        ("DELETE", "/v1/session"),
        ("GET", "/v1/sessions"),
        ("DELETE", "/v1/sessions"),
        ("POST", "/v1/movements"),
        ("GET", "/v1/movements"),
        ("PATCH", "/v1/items/{id}"),
    ]:
        assert expected in routes, expected
    assert len(routes) >= 15, sorted(routes)


def test_every_route_the_doc_names_is_served_with_that_method() -> None:
    app = build_app()
    missing = sorted(
        (method, path)
        for method, path in mentioned_routes(doc_text())
        if not route_is_served(app, method, path)
    )
    assert not missing, f"docs/http-api.md names routes the app does not serve: {missing}"


def test_every_response_example_is_well_formed_and_its_json_parses() -> None:
    examples = response_examples(doc_text())
    assert len(examples) >= 30
    statuses = {status for status, _, _ in examples}
    assert {201, 200, 204, 304, 401, 403, 409, 412, 422, 429, 503} <= statuses
    for status, headers, body in examples:
        content_type = headers.get("content-type", "")
        if status in (204, 304):
            assert not body, f"a {status} example has a body"
            continue
        assert body, f"the {status} example has no body"
        parsed: Any = json.loads(body)  # a JSON error here names the broken example
        if content_type == "application/problem+json":
            assert parsed["status"] == status
            assert {"type", "title", "status", "detail"} <= parsed.keys()
            assert parsed["type"].startswith("urn:inventory-core:problem:")
        else:
            assert content_type == "application/json", (status, headers)


def guide_bodies(text: str) -> list[object]:
    """Every JSON request body the guide shows: curl's ``-d '…'`` and ```json blocks."""
    found = [m.group(1) for m in re.finditer(r"-d '(\{.*?\})'", text, re.DOTALL)]
    found += [block for language, block in FENCE.findall(text) if language == "json"]
    bodies: list[object] = []
    for raw in found:
        with contextlib.suppress(ValueError):  # shell-quoted or elided bodies are not examples
            bodies.append(json.loads(raw))
    return bodies


def test_every_request_example_of_the_document_is_in_the_guide() -> None:
    """The examples integrators see in /openapi.json are the guide's."""
    document = falcon.testing.TestClient(build_app()).simulate_get("/openapi.json").json
    bodies = guide_bodies(doc_text())
    examples = {
        f"{method.upper()} {path}": operation["requestBody"]["content"]["application/json"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    assert len(examples) == 16
    missing = [name for name, content in examples.items() if content["example"] not in bodies]
    assert missing == []
