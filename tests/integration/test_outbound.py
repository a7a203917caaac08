"""Sending webhooks for real, to a receiver on 127.0.0.1 (and over TLS, with a throwaway
certificate): what arrives, which answers count, the deadline (a slow and a trickling receiver),
redirects left alone, and the address rules -- at registration (check_webhook_url) and at delivery,
where nothing may reach a refused address. Host names other than localhost come from a fixed
table (the Dns resolver below), never from real DNS."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from standardwebhooks.webhooks import Webhook

from inventory_core.signing import new_secret, signed_headers
from inventory_http.outbound import (
    DeliveryOutcome,
    UrlRefused,
    WebhookSender,
    address_problem,
    check_webhook_url,
)
from tests.backing_services import missing

BODY = json.dumps({"id": "evt_1", "type": "item.updated", "data": {"name": "caf\u00e9"}}).encode()


class Received(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]  # names in lowercase
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    """Records every request, then answers as its path says."""

    server: Receiver
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.received.append(Received(self.command, self.path, headers, body))
        route = self.path.partition("?")[0]
        if route == "/fail":
            self._answer(500, b"broken")
        elif route == "/redirect":
            self._answer(302, b"", {"Location": "/ok"})
        elif route == "/slow":
            self.server.release.wait(5)
            self._answer(200, b"too late")
        elif route == "/trickle":
            # A status line, then a header every 50 ms for 3 s: every single read is quick.
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for _ in range(60):
                self.wfile.write(b"X-Slow: 1\r\n")
                self.wfile.flush()
                if self.server.release.wait(0.05):
                    return
            self.wfile.write(b"Content-Length: 0\r\n\r\n")
        elif route == "/big":
            # Announces 10 MiB, sends 128 KiB, then stalls: the sender must stop at 64 KiB.
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 1024 * 1024))
            self.end_headers()
            self.wfile.write(b"x" * 128 * 1024)
            self.wfile.flush()
            self.server.release.wait(5)
        else:
            self._answer(200, b"ok")

    def _answer(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Receiver(ThreadingHTTPServer):
    """A webhook receiver on 127.0.0.1 (an ephemeral port), serving from a thread."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []
        self.release = threading.Event()  # ends the slow answers at teardown

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, *, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender hanging up on a slow answer is what some tests are about


def _serve(server: Receiver) -> Iterator[Receiver]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve(Receiver())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for the name hooks.test."""
    if shutil.which("openssl") is None:
        missing("needs the openssl command to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=hooks.test", "-addext", "subjectAltName=DNS:hooks.test"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_receiver(certificate: tuple[Path, Path]) -> Iterator[Receiver]:
    server = Receiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


class Dns:
    """A resolver with a fixed table, recording its lookups."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    def __call__(self, host: str) -> Sequence[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------- answers


def test_a_2xx_answer_succeeds_and_the_request_arrives_intact(receiver: Receiver) -> None:
    secret = new_secret()
    headers = signed_headers(secret, "evt_1", int(time.time()), BODY)
    outcome = WebhookSender(allow_private=True).send(receiver.url("/hooks/in?x=1"), headers, BODY)

    assert outcome == DeliveryOutcome(status=200, error=None, duration_ms=outcome.duration_ms)
    assert outcome.succeeded
    assert 0 <= outcome.duration_ms < 2000
    [got] = receiver.received
    assert (got.method, got.path, got.body) == ("POST", "/hooks/in?x=1", BODY)
    assert got.headers["content-type"] == "application/json"
    assert got.headers["content-length"] == str(len(BODY))
    assert got.headers["user-agent"] == "inventory-core-webhooks"
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert {name: got.headers[name] for name in headers} == headers
    # What the receiver got verifies with the reference library.
    assert Webhook(secret).verify(got.body, got.headers)["id"] == "evt_1"


def test_the_callers_headers_replace_the_defaults(receiver: Receiver) -> None:
    sender = WebhookSender(allow_private=True, user_agent="acme-inventory/2")
    outcome = sender.send(
        receiver.url("/ok"), {"content-type": "application/cloudevents+json"}, BODY
    )
    assert outcome.succeeded
    [got] = receiver.received
    assert got.headers["content-type"] == "application/cloudevents+json"
    assert got.headers["user-agent"] == "acme-inventory/2"


def test_a_non_ascii_path_is_sent_percent_encoded(receiver: Receiver) -> None:
    outcome = WebhookSender(allow_private=True).send(receiver.url("/h\u00e9/a%20b"), {}, BODY)
    assert outcome.succeeded
    assert [r.path for r in receiver.received] == ["/h%C3%A9/a%20b"]


def test_a_500_is_a_status_not_a_success(receiver: Receiver) -> None:
    outcome = WebhookSender(allow_private=True).send(receiver.url("/fail"), {}, BODY)
    assert (outcome.status, outcome.error, outcome.succeeded) == (500, None, False)


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    outcome = WebhookSender(allow_private=True).send(receiver.url("/redirect"), {}, BODY)
    assert (outcome.status, outcome.error, outcome.succeeded) == (302, None, False)
    assert [r.path for r in receiver.received] == ["/redirect"]


def test_a_large_answer_is_read_only_in_part(receiver: Receiver) -> None:
    started = time.monotonic()
    outcome = WebhookSender(allow_private=True, timeout=3).send(receiver.url("/big"), {}, BODY)
    assert outcome.succeeded
    assert time.monotonic() - started < 1  # did not wait for the rest of the 10 MiB


# ---------------------------------------------------------------- network failures


def test_a_receiver_slower_than_the_timeout_is_a_timeout(receiver: Receiver) -> None:
    outcome = WebhookSender(allow_private=True, timeout=0.5).send(receiver.url("/slow"), {}, BODY)
    assert (outcome.status, outcome.error) == (None, "timed out after 0.5 s")
    assert not outcome.succeeded
    assert 450 <= outcome.duration_ms <= 1500
    assert len(receiver.received) == 1


def test_the_timeout_bounds_the_whole_answer_not_each_read(receiver: Receiver) -> None:
    # Each header arrives well within the timeout; all of them together do not.
    sender = WebhookSender(allow_private=True, timeout=0.5)
    outcome = sender.send(receiver.url("/trickle"), {}, BODY)
    assert (outcome.status, outcome.error) == (None, "timed out after 0.5 s")
    assert 450 <= outcome.duration_ms <= 1500


def test_a_closed_port_is_connection_refused() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/hook"
    outcome = WebhookSender(allow_private=True).send(url, {}, BODY)
    assert (outcome.status, outcome.error, outcome.succeeded) == (None, "connection refused", False)


def test_the_next_address_is_tried_when_one_refuses(receiver: Receiver) -> None:
    # ::1 (nothing listens there, or no IPv6 at all) first, then the receiver's 127.0.0.1.
    dns = Dns({"hooks.example": ["::1", "127.0.0.1"]})
    sender = WebhookSender(allow_private=True, resolver=dns)
    outcome = sender.send(receiver.url("/ok", host="hooks.example"), {}, BODY)
    assert outcome.succeeded
    assert len(receiver.received) == 1


def test_an_invalid_url_is_an_outcome_not_an_exception() -> None:
    outcome = WebhookSender(allow_private=True).send("ftp://example.com/hook", {}, BODY)
    assert outcome.status is None
    assert outcome.error is not None
    assert "https://" in outcome.error


@pytest.mark.parametrize(
    "headers",
    [{"Host": "example.com"}, {"content-length": "1"}, {"bad name": "x"}, {"X-A": "a\r\nX-B: b"}],
)
def test_a_header_the_caller_may_not_send_is_a_value_error(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="header"):
        WebhookSender(allow_private=True).send("http://127.0.0.1:9/hook", headers, BODY)


# ---------------------------------------------------------------- name lookup, once


def test_the_name_is_looked_up_once_and_the_host_header_keeps_it(receiver: Receiver) -> None:
    dns = Dns({"hooks.example": ["127.0.0.1"]})
    sender = WebhookSender(allow_private=True, resolver=dns)
    outcome = sender.send(receiver.url("/ok", host="hooks.example"), {}, BODY)
    assert outcome.succeeded
    assert dns.lookups == ["hooks.example"]
    assert [r.headers["host"] for r in receiver.received] == [f"hooks.example:{receiver.port}"]


def test_a_name_with_any_private_address_is_refused_at_delivery(receiver: Receiver) -> None:
    dns = Dns({"mixed.example": ["93.184.216.34", "127.0.0.1"]})
    sender = WebhookSender(allow_private=False, timeout=2, resolver=dns)
    outcome = sender.send(receiver.url("/ok", host="mixed.example"), {}, BODY)
    assert (outcome.status, outcome.error) == (None, "refused address 127.0.0.1 (loopback)")
    assert outcome.duration_ms < 1000  # refused before connecting anywhere
    assert receiver.received == []


def test_a_name_that_does_not_resolve_is_an_error() -> None:
    sender = WebhookSender(allow_private=True, resolver=Dns({}))
    outcome = sender.send("https://nowhere.example/hook", {}, BODY)
    assert (outcome.status, outcome.error) == (None, "host name nowhere.example does not resolve")


def test_a_lookup_slower_than_the_timeout_is_a_timeout() -> None:
    answer = threading.Event()

    def slow_dns(host: str) -> list[str]:
        answer.wait(5)
        return ["127.0.0.1"]

    sender = WebhookSender(allow_private=True, timeout=0.3, resolver=slow_dns)
    try:
        outcome = sender.send("http://slow.example/hook", {}, BODY)
    finally:
        answer.set()
    assert outcome.error == "timed out after 0.3 s (looking up slow.example)"
    assert 250 <= outcome.duration_ms <= 1000


# ---------------------------------------------------------------- TLS


def test_tls_verifies_the_certificate_for_the_urls_host_name(
    tls_receiver: Receiver, certificate: tuple[Path, Path]
) -> None:
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    dns = Dns({"hooks.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    sender = WebhookSender(allow_private=True, resolver=dns, ssl_context=trusting)

    outcome = sender.send(tls_receiver.url("/ok", host="hooks.test", scheme="https"), {}, BODY)
    assert (outcome.status, outcome.error) == (200, None)
    assert [r.headers["host"] for r in tls_receiver.received] == [f"hooks.test:{tls_receiver.port}"]

    # The same server and address, another name: its certificate is not valid for that name.
    outcome = sender.send(tls_receiver.url("/ok", host="other.test", scheme="https"), {}, BODY)
    assert outcome.status is None
    assert outcome.error is not None
    assert outcome.error.startswith("TLS certificate not accepted")
    assert "other.test" in outcome.error
    assert len(tls_receiver.received) == 1


def test_tls_refuses_a_certificate_no_trusted_ca_signed(tls_receiver: Receiver) -> None:
    sender = WebhookSender(allow_private=True, resolver=Dns({"hooks.test": ["127.0.0.1"]}))
    outcome = sender.send(tls_receiver.url("/ok", host="hooks.test", scheme="https"), {}, BODY)
    assert outcome.status is None
    assert outcome.error is not None
    assert outcome.error.startswith("TLS certificate not accepted")
    assert tls_receiver.received == []


def test_https_to_a_plain_http_server_is_a_tls_error(receiver: Receiver) -> None:
    outcome = WebhookSender(allow_private=True).send(receiver.url("/ok", scheme="https"), {}, BODY)
    assert outcome.status is None
    assert outcome.error is not None
    assert outcome.error.startswith("TLS error")
    assert receiver.received == []


# ---------------------------------------------------------------- refused addresses

LOCAL_HOSTS = [
    ("127.0.0.1", "loopback"),
    ("localhost", "loopback"),
    ("[::1]", "loopback"),
    ("[::ffff:127.0.0.1]", "IPv4-mapped loopback"),
    ("127.1", "loopback"),  # legacy spellings the C library reads as addresses
    ("2130706433", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("[fc00::1]", "private"),
    ("[::ffff:10.0.0.1]", "IPv4-mapped private"),
    ("169.254.169.254", "cloud metadata service"),
    ("169.254.1.1", "link-local"),
    ("[fe80::1]", "link-local"),
    ("[fd00:ec2::254]", "cloud metadata service"),
    ("100.100.100.200", "cloud metadata service"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("224.0.0.1", "multicast"),
    ("[ff02::1]", "multicast"),
    ("[2002:7f00:1::]", "6to4 loopback"),
    ("[64:ff9b::a00:1]", "NAT64 private"),
    ("240.0.0.1", "private"),  # reserved, which ipaddress files under is_private
    ("192.0.2.1", "private"),  # documentation range
]


@pytest.mark.parametrize(("host", "reason"), LOCAL_HOSTS)
def test_check_refuses_addresses_that_are_not_public(host: str, reason: str) -> None:
    with pytest.raises(UrlRefused, match="not a public address") as refused:
        check_webhook_url(f"https://{host}/hook", allow_private=False)
    assert f"({reason})" in str(refused.value)
    # Allowed when private addresses are (tests, local use).
    check_webhook_url(f"https://{host}/hook", allow_private=True)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "127.1",
        "10.0.0.1",
        "169.254.169.254",
        "[fe80::1]",
    ],
)
def test_delivery_refuses_addresses_that_are_not_public(receiver: Receiver, host: str) -> None:
    sender = WebhookSender(allow_private=False, timeout=2)
    outcome = sender.send(receiver.url("/ok", host=host), {}, BODY)
    assert outcome.status is None
    assert outcome.error is not None
    assert outcome.error.startswith("refused address ")
    assert outcome.duration_ms < 1000  # refused without trying to connect
    assert receiver.received == []


def test_delivery_names_the_address_and_why() -> None:
    outcome = WebhookSender(allow_private=False).send("http://169.254.169.254/latest/", {}, BODY)
    assert outcome.error == "refused address 169.254.169.254 (cloud metadata service)"


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"]
)
def test_public_addresses_have_no_problem(address: str) -> None:
    assert address_problem(ip_address(address)) is None


def test_check_accepts_public_literals_without_any_lookup() -> None:
    check_webhook_url("https://93.184.216.34/hook", allow_private=False)
    check_webhook_url("http://[2606:4700:4700::1111]:8080/hook?x=1", allow_private=False)


def test_check_looks_names_up_and_refuses_one_with_any_private_address() -> None:
    dns = Dns({"public.example": ["93.184.216.34"], "mixed.example": ["93.184.216.34", "10.1.2.3"]})
    check_webhook_url("https://public.example/hook", allow_private=False, resolver=dns)
    with pytest.raises(UrlRefused, match=r"'mixed.example' resolves to 10\.1\.2\.3.*\(private\)"):
        check_webhook_url("https://mixed.example/hook", allow_private=False, resolver=dns)
    assert dns.lookups == ["public.example", "mixed.example"]


@pytest.mark.parametrize("allow_private", [False, True])
def test_check_refuses_a_name_that_does_not_resolve(allow_private: bool) -> None:
    with pytest.raises(UrlRefused, match=r"'nowhere\.example' does not resolve"):
        check_webhook_url(
            "https://nowhere.example/hook", allow_private=allow_private, resolver=Dns({})
        )


def test_check_without_resolving_accepts_names_but_still_checks_literals() -> None:
    dns = Dns({})
    check_webhook_url("https://nowhere.example/hook", allow_private=False, resolve=False)
    check_webhook_url(
        "https://nowhere.example/hook", allow_private=False, resolve=False, resolver=dns
    )
    assert dns.lookups == []
    with pytest.raises(UrlRefused, match="loopback"):
        check_webhook_url("https://127.0.0.1/hook", allow_private=False, resolve=False)
    with pytest.raises(UrlRefused, match="loopback"):
        check_webhook_url("https://api.localhost/hook", allow_private=False, resolve=False)


# ---------------------------------------------------------------- URL shape


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("ftp://example.com/hook", "https:// or http://"),
        ("example.com/hook", "https:// or http://"),
        ("javascript:alert(1)", "https:// or http://"),
        ("https:///hook", "no host"),
        ("https://", "no host"),
        ("https://user:secret@example.com/hook", "user name or password"),
        ("https://user@example.com/hook", "user name or password"),
        ("https://example.com:0/hook", "port"),
        ("https://example.com:65536/hook", "port"),
        ("https://example.com:http/hook", "port"),
        ("https://exa mple.com/hook", "spaces or control characters"),
        ("https://example.com/ho\nok", "spaces or control characters"),
        ("https://[::1/hook", "cannot be parsed"),
        ("https://example.com/" + "a" * 1981, "2001 characters long; at most 2000"),
    ],
)
def test_check_refuses_urls_that_are_not_usable(url: str, match: str) -> None:
    with pytest.raises(UrlRefused, match=match):
        check_webhook_url(url, allow_private=True, resolve=False)


def test_a_url_of_2000_characters_is_fine() -> None:
    url = "https://93.184.216.34/" + "a" * 1978
    assert len(url) == 2000
    check_webhook_url(url, allow_private=False)


def test_url_refused_is_a_value_error() -> None:
    assert issubclass(UrlRefused, ValueError)
