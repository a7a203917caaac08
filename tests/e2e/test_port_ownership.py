"""One server per address: a second ``inventory serve`` (or ``gunicorn -c``) on an address that
is served already fails to start, loudly, instead of sharing it through ``SO_REUSEPORT``."""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    ROOT,
    START_DEADLINE,
    Client,
    Server,
    inventory_env,
    running_server,
)

pytestmark = pytest.mark.slow


def embedded_env(password: str) -> dict[str, str]:
    return inventory_env(INVENTORY_PASSWORD=password, INVENTORY_LOG_LEVEL="WARNING")


def start_again(command: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a second server to its exit. One that does not exit within the deadline has joined
    the address (the defect): it is killed and the test fails."""
    process = subprocess.Popen(
        command,
        env=dict(env),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=START_DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"the second server did not refuse the address; it ran:\n{output}")
    return subprocess.CompletedProcess(command, process.returncode, output, "")


def serve(bind: str) -> list[str]:
    return [sys.executable, "-m", "inventory_http", "serve", "--bind", bind]


def logins(server: Server, password: str, attempts: int = 12) -> list[int]:
    """The status of ``attempts`` logins as admin, each on a new connection."""
    statuses = []
    for _ in range(attempts):
        body = {"username": "admin", "password": password}
        statuses.append(Client(server.base_url).request("POST", "/v1/session", body).status)
    return statuses


@pytest.fixture
def first() -> Iterator[tuple[Server, str]]:
    password = secrets.token_urlsafe(16)
    with running_server(embedded_env(password)) as server:
        yield server, password


def test_a_second_serve_on_a_busy_port_fails_and_the_first_keeps_serving(
    first: tuple[Server, str],
) -> None:
    server, password = first
    other_password = secrets.token_urlsafe(16)
    bind = f"127.0.0.1:{server.port}"
    second = start_again(serve(bind), embedded_env(other_password))
    assert second.returncode == 1, second.stdout
    assert second.stdout.strip().splitlines() == [
        f"inventory: error: {bind} is already in use: another 'inventory serve' holds it"
    ]
    # Every connection still reaches the first server: its admin logs in, the other's never.
    assert logins(server, password) == [201] * 12
    assert set(logins(server, other_password, attempts=3)) == {401}
    assert server.stop() == 0


def test_the_port_is_taken_whatever_address_the_second_names(first: tuple[Server, str]) -> None:
    server, _ = first
    second = start_again(serve(f"0.0.0.0:{server.port}"), embedded_env("another-pass-6e1x"))
    assert second.returncode == 1, second.stdout
    assert f"0.0.0.0:{server.port} is already in use" in second.stdout


def test_the_gunicorn_config_file_refuses_a_busy_port_too(first: tuple[Server, str]) -> None:
    server, _ = first
    bind = f"127.0.0.1:{server.port}"
    env = {**embedded_env("another-pass-6e1x"), "INVENTORY_BIND": bind}
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:inventory_http.gunicorn_conf",
        "inventory_http.wsgi:create()",
    ]
    second = start_again(command, env)
    assert second.returncode == 1, second.stdout
    assert f"Error: {bind} is already in use: another 'inventory serve' holds it" in second.stdout
    assert "Booting worker" not in second.stdout


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
        return [int(child) for child in children.read().split()]


def _dead(pid: int) -> bool:
    """Exited (gone, or a zombie not reaped yet: its sockets are closed already)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}


def test_the_port_is_free_again_once_the_server_is_gone() -> None:
    password = secrets.token_urlsafe(16)
    with running_server(embedded_env(password)) as server:
        port = server.port
        workers = _children(server.process.pid)
        assert workers
        # Killed outright, master and workers: no clean shutdown, nothing left to release a
        # lock; the kernel must do it.
        server.process.kill()
        server.process.wait()
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
        end = time.monotonic() + START_DEADLINE
        while not all(_dead(worker) for worker in workers):  # not our children: no wait()
            assert time.monotonic() < end, f"workers {workers} outlived SIGKILL"
            time.sleep(0.01)
    again = Server(embedded_env(password), "--bind", f"127.0.0.1:{port}")
    try:
        again.port, again.base_url = port, f"http://127.0.0.1:{port}"
        again.wait_ready()
        assert logins(again, password, attempts=1) == [201]
    finally:
        again.close()


def test_serve_refuses_a_port_another_program_listens_on() -> None:
    from tests.ports import free_port  # noqa: PLC0415

    port = free_port()
    with socket.socket() as other:
        # As a gunicorn worker of another server listens: with SO_REUSEPORT, which our workers
        # could join.
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", port))
        other.listen()
        second = start_again(serve(f"127.0.0.1:{port}"), embedded_env("another-pass-6e1x"))
    assert second.returncode == 1, second.stdout
    assert second.stdout.strip().splitlines() == [
        f"inventory: error: 127.0.0.1:{port} is already in use: another process listens on it"
    ]


def _get_over_unix(path: str, target: str) -> int:
    connection = http.client.HTTPConnection("localhost", timeout=5)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    connection.sock = sock
    try:
        connection.request("GET", target)
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_unix_socket_is_served_and_owned() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "inventory.sock")
        env = embedded_env(secrets.token_urlsafe(16))
        process = subprocess.Popen(
            serve(f"unix:{path}"),
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            end = time.monotonic() + START_DEADLINE
            status = None
            while status != 200:
                assert process.poll() is None, "the server on a unix socket exited"
                assert time.monotonic() < end, "the server on a unix socket never answered"
                try:
                    status = _get_over_unix(path, "/healthz")
                except OSError:  # not listening yet
                    time.sleep(0.05)
            second = start_again(serve(f"unix:{path}"), env)
            assert second.returncode == 1, second.stdout
            assert f"unix:{path} is already in use" in second.stdout
            # gunicorn deletes a socket file it finds: the refused one must not have.
            assert _get_over_unix(path, "/healthz") == 200
        finally:
            process.kill()
            process.wait()
