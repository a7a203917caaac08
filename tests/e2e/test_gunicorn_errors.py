"""What gunicorn passes on to the app, on a real server: oversized request lines and header sets
just over the app's limits are answered by the app (problem+json with its headers); only far
larger ones, and requests gunicorn cannot parse, still get gunicorn's own HTML page. Chunked
bodies and HEAD go through gunicorn as well."""

from __future__ import annotations

import http.client
import json
import secrets
import socket
from collections.abc import Iterator, Mapping

import pytest

from inventory_http.app import MAX_HEADER_FIELD_BYTES, MAX_HEADER_FIELDS, MAX_TARGET_BYTES
from inventory_http.wsgi import (
    GUNICORN_LIMIT_REQUEST_FIELD_SIZE,
    GUNICORN_LIMIT_REQUEST_FIELDS,
    GUNICORN_LIMIT_REQUEST_LINE,
)
from tests.e2e.conftest import Server, inventory_env, running_server

pytestmark = pytest.mark.slow

PASSWORD = secrets.token_urlsafe(16)
REQUEST_ID = "gunicorn-edge-1"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    env = inventory_env(INVENTORY_PASSWORD=PASSWORD, INVENTORY_LOG_LEVEL="WARNING")
    with running_server(env) as started:
        yield started


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = {name.lower(): value for name, value in response.getheaders()}
        self.body = response.read()


def send(
    server: Server,
    method: str,
    target: str,
    headers: Mapping[str, str] | None = None,
    body: object = None,
) -> Answer:
    """One request on a new connection, headers sent exactly as given (repeats included)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is None:
            connection.endheaders()
        else:
            connection.endheaders(message_body=body, encode_chunked=True)  # type: ignore[arg-type]
        return Answer(connection.getresponse())
    finally:
        connection.close()


def assert_app_problem(answer: Answer, status: int) -> None:
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-request-id"] == REQUEST_ID
    assert json.loads(answer.body)["status"] == status


def assert_gunicorn_page(answer: Answer, status: int) -> None:
    """gunicorn's own answer: HTML, none of the app's headers (what docs/security.md lists)."""
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "text/html"
    assert "x-request-id" not in answer.headers


def test_a_target_just_over_the_apps_limit_is_the_apps_414(server: Server) -> None:
    headers = {"X-Request-Id": REQUEST_ID}
    fits = "/healthz?" + "q" * (MAX_TARGET_BYTES - len("/healthz?"))
    assert send(server, "GET", fits, headers).status == 200
    assert_app_problem(send(server, "GET", fits + "q", headers), 414)
    # Up to what gunicorn reads at all, the app answers.
    longest = "/healthz?" + "q" * (GUNICORN_LIMIT_REQUEST_LINE - len("GET /healthz? HTTP/1.1"))
    assert_app_problem(send(server, "GET", longest, headers), 414)
    assert_gunicorn_page(send(server, "GET", longest + "q" * 10, headers), 414)


def test_too_many_header_fields_are_the_apps_431(server: Server) -> None:
    # http.client adds Host, so MAX_HEADER_FIELDS in all.
    fits = {"X-Request-Id": REQUEST_ID} | {f"X-F{n}": "1" for n in range(MAX_HEADER_FIELDS - 2)}
    assert send(server, "GET", "/healthz", fits).status == 200
    more = fits | {"X-One-More": "1"}
    assert_app_problem(send(server, "GET", "/healthz", more), 431)
    many = {"X-Request-Id": REQUEST_ID} | {
        f"X-F{n}": "1" for n in range(GUNICORN_LIMIT_REQUEST_FIELDS + 1)
    }
    assert_gunicorn_page(send(server, "GET", "/healthz", many), 431)


def test_a_header_field_just_over_the_apps_limit_is_the_apps_431(server: Server) -> None:
    headers = {"X-Request-Id": REQUEST_ID}
    value = "v" * (MAX_HEADER_FIELD_BYTES - len("X-Big: "))
    assert send(server, "GET", "/healthz", headers | {"X-Big": value}).status == 200
    assert_app_problem(send(server, "GET", "/healthz", headers | {"X-Big": value + "v"}), 431)
    huge = "v" * GUNICORN_LIMIT_REQUEST_FIELD_SIZE
    assert_gunicorn_page(send(server, "GET", "/healthz", headers | {"X-Big": huge}), 431)


def test_a_request_gunicorn_cannot_parse_is_its_own_400(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n")
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    head = received.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    assert head.startswith("http/1.1 400 ")
    assert "content-type: text/html" in head
    assert "x-request-id" not in head


def test_a_chunked_body_is_read(server: Server) -> None:
    body = json.dumps({"username": "admin", "password": PASSWORD}).encode()
    chunks = iter([body[:7], body[7:20], body[20:]])
    answer = send(
        server,
        "POST",
        "/v1/session",
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        body=chunks,
    )
    assert answer.status == 201, answer.body
    assert json.loads(answer.body)["user"]["username"] == "admin"


def test_head_on_healthz_is_get_without_the_body(server: Server) -> None:
    headers = {"X-Request-Id": REQUEST_ID}
    got = send(server, "GET", "/healthz", headers)
    head = send(server, "HEAD", "/healthz", headers)
    assert (head.status, head.body) == (200, b"")
    # Date may tick between the two.
    assert {**head.headers, "date": ""} == {**got.headers, "date": ""}
    assert head.headers["content-length"] == str(len(got.body))
