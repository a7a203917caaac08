"""Faults under load: the database crashing, Redis vanishing, a worker killed mid-request.

Every test drives the real server over HTTP while the fault happens, then checks what the
clients saw (never a 500: a 503 problem+json, or a dropped connection) and, in SQL, that the
ledger kept its invariants and that every acknowledged movement is there exactly once.
"""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.e2e.conftest import Client, Response
from tests.faults.conftest import ADMIN, Stack, clone, ledger_problems, wait_until

pytestmark = [pytest.mark.slow]

RECOVERY_DEADLINE = 60.0
"""Seconds the API gets to serve again after a service comes back, without being restarted."""


def header(response: Response, name: str) -> str | None:
    """A response header, by case-insensitive name."""
    for key, value in response.headers.items():
        if key.lower() == name.lower():
            return value
    return None


def assert_unavailable(response: Response) -> None:
    """A 503 problem+json with Retry-After: what a client gets while a backing service is away."""
    assert response.status == 503, response
    assert (header(response, "Content-Type") or "").startswith("application/problem+json"), (
        response.headers
    )
    assert response.body["status"] == 503, response
    assert header(response, "Retry-After"), response.headers


# ---------------------------------------------------------------- load


@attrs.define
class Outcomes:
    """What the clients of a :class:`Load` saw, shared between its threads."""

    lock: threading.Lock = attrs.field(factory=threading.Lock)
    acked: dict[str, str] = attrs.field(factory=dict)
    """Idempotency key -> id of the movement a 201 acknowledged."""
    ack_times: list[float] = attrs.field(factory=list)
    statuses: Counter[str] = attrs.field(factory=Counter)
    unexpected: list[str] = attrs.field(factory=list)
    """Answers a client must never see (a 500, a 503 that is not problem+json, ...)."""
    retried: set[str] = attrs.field(factory=set)
    """Keys whose first attempt failed and that were sent again."""
    unavailable_times: list[float] = attrs.field(factory=list)
    bodies: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    """Idempotency key -> the body sent with it."""
    dropped: int = 0
    """Requests whose connection failed (refused, reset) before any answer."""

    def acks_after(self, moment: float) -> int:
        with self.lock:
            return sum(1 for t in self.ack_times if t > moment)

    def unavailable_after(self, moment: float) -> int:
        with self.lock:
            return sum(1 for t in self.unavailable_times if t > moment)


class Load:
    """``threads`` clients posting movements, each with a unique Idempotency-Key (also used as
    the movement's reference). A request that fails is sent again with the same key until it
    succeeds, so every key ends with exactly one movement -- if the server keeps its promises."""

    def __init__(
        self,
        client: Client,
        threads: int,
        body: Callable[[int, int], dict[str, Any]],
        tag: str,
    ) -> None:
        self.outcomes = Outcomes()
        self._body = body
        self._tag = tag
        self._stop = threading.Event()
        self._clients = [clone(client) for _ in range(threads)]
        self._threads = [
            threading.Thread(target=self._run, args=(n,), name=f"load-{n}", daemon=True)
            for n in range(threads)
        ]
        self.errors: list[BaseException] = []

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop after each client's current key has succeeded (or its deadline has passed)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=RECOVERY_DEADLINE + 30)
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"load threads still running: {alive}"
        assert not self.errors, self.errors

    def _run(self, n: int) -> None:
        try:
            client = self._clients[n]
            count = 0
            while not self._stop.is_set():
                key = f"{self._tag}-{n}-{count}"
                body = {**self._body(n, count), "reference": key}
                with self.outcomes.lock:
                    self.outcomes.bodies[key] = body
                self._post_until_done(client, key, body)
                count += 1
        except BaseException as error:  # reported by stop(), never lost in a thread
            self.errors.append(error)

    def _post_until_done(self, client: Client, key: str, body: dict[str, Any]) -> None:
        out = self.outcomes
        end = time.monotonic() + RECOVERY_DEADLINE
        attempt = 0
        while True:
            if attempt:
                with out.lock:
                    out.retried.add(key)
            attempt += 1
            try:
                response = client.request(
                    "POST", "/v1/movements", body, headers={"Idempotency-Key": key}
                )
            except (OSError, http.client.HTTPException) as error:
                with out.lock:
                    out.dropped += 1
                    out.statuses[type(error).__name__] += 1
                response = None
            except ValueError as error:  # a body that is not JSON
                with out.lock:
                    out.unexpected.append(f"{key}: {error!r}")
                response = None
            if response is not None:
                with out.lock:
                    out.statuses[str(response.status)] += 1
                if response.status == 201:
                    with out.lock:
                        out.acked[key] = response.body["id"]
                        out.ack_times.append(time.monotonic())
                    return
                retry_later = response.status == 503 or (
                    response.status == 409
                    and attempt > 1
                    and response.body.get("type", "").endswith("idempotency-key-in-use")
                )
                if response.status == 503:
                    try:
                        assert_unavailable(response)
                    except AssertionError as error:
                        with out.lock:
                            out.unexpected.append(f"{key}: {error}")
                    with out.lock:
                        out.unavailable_times.append(time.monotonic())
                if not retry_later:
                    with out.lock:
                        out.unexpected.append(f"{key}: {response!r}")
            if time.monotonic() > end:
                with out.lock:
                    out.unexpected.append(f"{key}: still failing after {RECOVERY_DEADLINE}s")
                return
            time.sleep(0.05)  # the next attempt of a failed request; not waiting for a state


def movements_by_reference(stack: Stack, prefix: str) -> dict[str, list[str]]:
    """Reference -> ids of the movements carrying it, for references starting with ``prefix``."""
    with stack.cluster.connect() as conn:
        rows = conn.execute(
            "SELECT reference, id::text FROM movements WHERE reference LIKE %s",
            (prefix + "%",),
        ).fetchall()
    found: dict[str, list[str]] = {}
    for reference, id_ in rows:
        found.setdefault(reference, []).append(id_)
    return found


def check_exactly_once(stack: Stack, load: Load, prefix: str) -> None:
    """Every key has exactly one movement; every acknowledged id is that movement; replaying
    a key answers the stored response and changes nothing."""
    out = load.outcomes
    assert not out.unexpected, out.unexpected[:10]
    found = movements_by_reference(stack, prefix)
    duplicated = {ref: ids for ref, ids in found.items() if len(ids) != 1}
    assert not duplicated, f"keys with more than one movement: {duplicated}"
    missing = {key: id_ for key, id_ in out.acked.items() if found.get(key) != [id_]}
    assert not missing, f"acknowledged movements missing or different: {missing}"
    unacked = set(found) - set(out.acked)
    assert not unacked, f"movements no client was told about: {sorted(unacked)[:10]}"
    # Replays: the first few keys that needed a retry, and a few that did not.
    client = clone(load._clients[0])
    for key in [*sorted(out.retried)[:5], *sorted(set(out.acked) - out.retried)[:3]]:
        again = client.request(
            "POST", "/v1/movements", out.bodies[key], headers={"Idempotency-Key": key}
        )
        assert again.status == 201, again
        assert header(again, "Idempotent-Replayed") == "true", again.headers
        assert again.body["id"] == out.acked[key]
    assert movements_by_reference(stack, prefix) == found


# ---------------------------------------------------------------- PostgreSQL crash


def test_postgres_crash_under_write_load_loses_nothing_acknowledged_and_recovers(
    stack: Stack,
) -> None:
    bins, item = stack.seed.bins, stack.seed.items[0]

    def transfer(n: int, count: int) -> dict[str, Any]:
        source, target = (bins[0], bins[1]) if (n + count) % 2 else (bins[1], bins[0])
        return {
            "kind": "transfer",
            "lines": [
                {
                    "item_id": item,
                    "quantity": 1 + count % 5,
                    "from_location_id": source,
                    "to_location_id": target,
                }
            ],
        }

    prefix = "pg-crash-"
    observer = stack.client()
    with Load(stack.client(), threads=6, body=transfer, tag=prefix.rstrip("-")) as load:
        out = load.outcomes
        wait_until(lambda: out.acks_after(0) >= 30, 30, "30 acknowledged transfers first")

        crashed_at = time.monotonic()
        stack.cluster.crash()
        wait_until(
            lambda: out.unavailable_after(crashed_at) >= 3,
            30,
            "clients to get 503 while PostgreSQL is down",
        )
        ready = observer.request("GET", "/readyz")
        assert ready.status == 503, ready
        assert ready.body["checks"] == {"postgres": "unavailable", "redis": "ok"}, ready
        print(f"\n503s {time.monotonic() - crashed_at:.2f}s after the crash")

        stack.cluster.start()
        restarted_at = time.monotonic()
        wait_until(
            lambda: out.acks_after(restarted_at) >= 30,
            RECOVERY_DEADLINE,
            "transfers to succeed again after PostgreSQL restarted (without restarting the API)",
        )
        recovered_in = min(t for t in out.ack_times if t > restarted_at) - restarted_at
    print(
        f"\nstatuses {dict(out.statuses)}; {len(out.acked)} acknowledged, "
        f"{len(out.retried)} retried; first success {recovered_in:.2f}s after the restart"
    )
    assert out.statuses["500"] == 0
    assert out.unavailable_after(crashed_at) >= 3
    check_exactly_once(stack, load, prefix)
    with stack.cluster.connect() as conn:
        assert ledger_problems(conn) == []
    assert observer.request("GET", "/readyz").status == 200


# ---------------------------------------------------------------- Redis loss


def test_redis_loss_answers_503_and_recovers_without_restarting_the_api(stack: Stack) -> None:
    client = stack.client()
    stock_path = f"/v1/items/{stack.seed.items[0]}/stock"
    assert client.request("GET", "/v1/session").status == 200

    stack.redis.kill()
    # Redis-py notices the dead connection on the next command: no waiting needed, but poll
    # with a deadline in case a pooled connection needs its retries first.
    wait_until(
        lambda: client.request("GET", "/v1/session").status == 503, 15, "session use to be 503"
    )
    assert_unavailable(client.request("GET", "/v1/session"))
    assert_unavailable(client.request("GET", stock_path))
    assert_unavailable(
        Client(stack.server.base_url).request(
            "POST", "/v1/session", {"username": ADMIN, "password": stack.password}
        )
    )
    anonymous = Client(stack.server.base_url)  # a probe sends no cookie
    ready = anonymous.request("GET", "/readyz")
    assert ready.status == 503, ready
    assert ready.body["checks"] == {"postgres": "ok", "redis": "unavailable"}, ready
    assert anonymous.request("GET", "/healthz").status == 200  # the process itself is fine

    stack.redis.start()  # same port, empty: sessions and throttles were lost with it
    wait_until(
        lambda: anonymous.request("GET", "/readyz").status == 200,
        RECOVERY_DEADLINE,
        "/readyz to be 200 again after Redis came back",
    )
    lost = client.request("GET", "/v1/session")
    assert lost.status == 401, lost

    fresh = stack.client()
    assert fresh.request("GET", "/v1/session").status == 200
    moved = fresh.request(
        "POST",
        "/v1/movements",
        {
            "kind": "transfer",
            "lines": [
                {
                    "item_id": stack.seed.items[0],
                    "quantity": 1,
                    "from_location_id": stack.seed.bins[0],
                    "to_location_id": stack.seed.bins[1],
                }
            ],
        },
    )
    assert moved.status == 201, moved
    assert fresh.request("GET", stock_path).status == 200


# ---------------------------------------------------------------- a worker killed


def children(pid: int) -> set[int]:
    """Live (not zombie) child processes of ``pid``, read from /proc."""
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses
        state, ppid = text[text.rindex(")") + 2 :].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(stat.parent.name))
    return found


def test_a_worker_killed_mid_request_leaves_no_partial_movement(stack: Stack) -> None:
    master = stack.server.process.pid
    wait_until(lambda: len(children(master)) == 2, 30, "gunicorn's two workers")
    workers = children(master)
    (item_a, item_b), (bin_1, bin_2) = stack.seed.items, stack.seed.bins

    def line(item: str, quantity: int, source: str, target: str) -> dict[str, Any]:
        return {
            "item_id": item,
            "quantity": quantity,
            "from_location_id": source,
            "to_location_id": target,
        }

    def three_lines(n: int, count: int) -> dict[str, Any]:
        q = 1 + count % 7
        return {
            "kind": "transfer",
            "lines": [
                line(item_a, q, bin_1, bin_2),
                line(item_b, q, bin_2, bin_1),
                line(item_a, q, bin_2, bin_1),
            ],
        }

    prefix = "worker-kill-"
    with Load(stack.client(), threads=6, body=three_lines, tag=prefix.rstrip("-")) as load:
        out = load.outcomes
        wait_until(lambda: out.acks_after(0) >= 30, 30, "30 acknowledged movements before the kill")
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(
            lambda: len(children(master)) == 2 and victim not in children(master),
            30,
            "gunicorn to replace the killed worker",
        )
        replacement = children(master) - workers
        assert len(replacement) == 1, (workers, children(master))
        wait_until(
            lambda: out.acks_after(killed_at) >= 40,
            RECOVERY_DEADLINE,
            "movements to succeed after the kill",
        )
    print(f"\nstatuses {dict(out.statuses)}; {len(out.acked)} acknowledged, {out.dropped} dropped")
    assert stack.server.process.poll() is None, "the master must keep running"
    check_exactly_once(stack, load, prefix)
    with stack.cluster.connect() as conn:
        assert ledger_problems(conn) == []
        partial = conn.execute(
            """SELECT m.id, count(l.line_no) FROM movements m
               JOIN movement_lines l ON l.movement_id = m.id
               WHERE m.reference LIKE %s GROUP BY m.id HAVING count(l.line_no) <> 3""",
            (prefix + "%",),
        ).fetchall()
    assert partial == [], partial
