"""Redis faults: a server of the test's own is killed, restarted, paused and has permissions
taken away, and the adapters must answer ``Unavailable`` (never a redis-py exception), within
bounded time, and heal by themselves; the API must leave nothing half done for a retry to miss."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest
import redis
import redis.exceptions
from redis.backoff import NoBackoff
from redis.retry import Retry

from inventory_core.clocks import ManualClock, SystemClock
from inventory_core.errors import Unavailable
from inventory_core.executor import Executor
from inventory_core.services.users import ProvisionUser
from inventory_core.users import Role
from inventory_http.app import create_app
from inventory_http.passwords import Argon2PasswordHasher
from inventory_http.settings import Settings
from inventory_pg import PgStore
from inventory_redis import RedisLoginThrottle, RedisSessionStore, make_redis_client
from tests.http.conftest import PASSWORDS, World, assert_problem
from tests.http.test_session import SOME_RESERVATION
from tests.ports import free_port

pytestmark = pytest.mark.redis

# The fault tests' client: short timeouts so a dead or paused server is noticed quickly.
SOCKET_TIMEOUT = 0.3
RETRIES = 2
# Worst case of one failing call, from make_redis_client's docstring, plus slack for a loaded
# 2-core CI machine (the bound is what matters: a hung client would take the pause's whole length).
WORST_CASE = (RETRIES + 1) * SOCKET_TIMEOUT + RETRIES * 0.1 + 2.0


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class RedisServer:
    """A throwaway redis-server on a loopback port, without persistence."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not on PATH (the fault tests start their own)")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        probe = redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=0.2, retry=Retry(NoBackoff(), 0)
        )
        try:
            return bool(probe.ping())
        except (redis.exceptions.RedisError, OSError):
            return False
        finally:
            probe.close()

    def start(self) -> None:
        assert self.process is None
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.workdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(self.answers, f"redis-server on port {self.port} to answer")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None
        _wait_for(lambda: not self.answers(), "the killed redis-server to stop answering")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    try:
        yield redis_server
    finally:
        if redis_server.process is not None:
            redis_server.process.kill()
            redis_server.process.wait(timeout=10)


@pytest.fixture
def client(server: RedisServer) -> Iterator[redis.Redis]:
    redis_client = make_redis_client(
        server.url,
        socket_timeout=SOCKET_TIMEOUT,
        retries=RETRIES,
        backoff_base=0.02,
        backoff_cap=0.1,
        health_check_interval=1,
    )
    yield redis_client
    redis_client.close()


def _every_operation(
    store: RedisSessionStore, throttle: RedisLoginThrottle, session_id: str
) -> list[Callable[[], object]]:
    user_id = uuid4()
    return [
        lambda: store.create(user_id=user_id, role=Role.CLERK, user_agent=None, remember=False),
        lambda: store.get(session_id),
        lambda: store.destroy(session_id),
        lambda: store.user_generation(user_id),
        lambda: store.revoke_user_sessions(user_id),
        lambda: store.list_user_sessions(user_id),
        lambda: throttle.retry_after(username="alice", client="192.0.2.1"),
        lambda: throttle.begin_attempt(username="alice", client="192.0.2.1"),
        lambda: throttle.record_failure(username="alice", client="192.0.2.1"),
        lambda: throttle.record_success(username="alice", client="192.0.2.1"),
    ]


def _assert_unavailable(operation: Callable[[], object]) -> float:
    """Run ``operation``; it must raise Unavailable caused by a redis error. Returns seconds."""
    started = time.monotonic()
    with pytest.raises(Unavailable) as raised:
        operation()
    elapsed = time.monotonic() - started
    assert isinstance(raised.value.__cause__, redis.exceptions.RedisError | OSError)
    return elapsed


def test_a_restarted_redis_is_used_again_without_rebuilding_anything(
    server: RedisServer, client: redis.Redis
) -> None:
    clock = ManualClock()
    store = RedisSessionStore(client, clock)
    throttle = RedisLoginThrottle(client, clock)
    user_id = uuid4()
    session_id, _ = store.create(user_id=user_id, role=Role.CLERK, user_agent=None, remember=False)
    throttle.record_failure(username="alice", client="192.0.2.1")
    assert store.get(session_id) is not None

    server.kill()
    for operation in _every_operation(store, throttle, session_id):
        assert _assert_unavailable(operation) < WORST_CASE

    server.start()  # same port, empty (no persistence), empty script cache
    # The very same store and throttle objects: the pool reconnects and scripts reload.
    assert store.get(session_id) is None  # the sessions died with the server
    new_id, _ = store.create(user_id=user_id, role=Role.CLERK, user_agent=None, remember=False)
    assert store.get(new_id) is not None
    assert [s.user_id for s in store.list_user_sessions(user_id)] == [user_id]
    throttle.record_failure(username="alice", client="192.0.2.1")
    assert throttle.retry_after(username="alice", client="192.0.2.1") is None
    for operation in _every_operation(store, throttle, new_id):
        operation()


def test_a_server_that_stops_answering_times_out_into_unavailable(
    server: RedisServer, client: redis.Redis
) -> None:
    clock = ManualClock()
    store = RedisSessionStore(client, clock)
    session_id, _ = store.create(user_id=uuid4(), role=Role.CLERK, user_agent=None, remember=False)
    admin = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=5)
    try:
        # Far longer than WORST_CASE, so "failed before the pause ended" does not hang on how
        # busy the machine is. CLIENT UNPAUSE would be paused too, so the test waits it out.
        pause_ms = 6000
        paused_at = time.monotonic()
        admin.client_pause(pause_ms, all=True)
        elapsed = _assert_unavailable(lambda: store.get(session_id))
        assert elapsed < WORST_CASE
        assert time.monotonic() - paused_at < pause_ms / 1000  # failed before the pause ended
        _wait_for(server.answers, "the pause to end", timeout=30)
        assert store.get(session_id) is not None  # same store, healed
    finally:
        admin.close()


def test_an_unreachable_redis_is_unavailable_from_the_start() -> None:
    # Constructing sends nothing, so building the stores succeeds with no server at all.
    dead = make_redis_client(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.3, retries=1)
    clock = ManualClock()
    store = RedisSessionStore(dead, clock)
    throttle = RedisLoginThrottle(dead, clock)
    for operation in _every_operation(store, throttle, "A" * 43):
        assert _assert_unavailable(operation) < WORST_CASE


def test_an_error_reply_is_unavailable_too(server: RedisServer, client: redis.Redis) -> None:
    store = RedisSessionStore(client, ManualClock(), key_prefix="broken:")
    user_id = uuid4()
    client.set(f"broken:user-sessions:{user_id}", "not a sorted set")  # WRONGTYPE in the script
    _assert_unavailable(lambda: store.list_user_sessions(user_id))
    # A primary demoted to a read-only replica (a failover in progress) refuses every write.
    client.replicaof("127.0.0.1", free_port())
    try:
        _assert_unavailable(
            lambda: store.create(user_id=uuid4(), role=Role.CLERK, user_agent=None, remember=False)
        )
    finally:
        client.replicaof("NO", "ONE")
    store.create(user_id=uuid4(), role=Role.CLERK, user_agent=None, remember=False)


def test_a_lookup_between_touches_is_a_read(server: RedisServer, client: redis.Redis) -> None:
    """The common lookup writes nothing: a server refusing every write (a primary demoted to a
    replica) still answers it, and refuses only the lookup that has a use to record."""
    clock = ManualClock()
    store = RedisSessionStore(client, clock)
    session_id, session = store.create(
        user_id=uuid4(), role=Role.CLERK, user_agent=None, remember=False
    )
    client.replicaof("127.0.0.1", free_port())
    try:
        clock.advance(59)
        assert store.get(session_id) == session
        clock.advance(1)  # the touch interval: this use must be recorded
        _assert_unavailable(lambda: store.get(session_id))
    finally:
        client.replicaof("NO", "ONE")
    seen = store.get(session_id)
    assert seen is not None
    assert seen.last_seen_at == clock.now()


# ---------------------------------------------------------------- a user change whose purge fails

PREFIX = "inventory:"


def _grant(server: RedisServer, *, sessions_writable: bool) -> None:
    """(Re)define the ACL user ``app`` the API's client logs in as. Without
    ``sessions_writable`` it may still read and touch sessions (a lookup works) and count logins,
    but not write a user's session index or generation: ending a user's sessions fails, as when
    Redis fails only that call (issue 14)."""
    admin = redis.Redis(host="127.0.0.1", port=server.port)
    try:
        keys = (
            ["~*"]
            if sessions_writable
            else [
                f"%RW~{PREFIX}sess:*",
                f"%RW~{PREFIX}throttle:*",
                f"%R~{PREFIX}user-sessions:*",
                f"%R~{PREFIX}user-gen:*",
            ]
        )
        admin.execute_command("ACL", "SETUSER", "app", "reset", "on", "nopass", "+@all", *keys)
    finally:
        admin.close()


class FailingSecondRevocation(RedisSessionStore):
    """The real Redis store, whose second revocation fails (as when Redis drops out between the
    two revocations of one PATCH)."""

    calls = 0

    def revoke_user_sessions(self, user_id: UUID, *, keep: str | None = None) -> int:
        self.calls += 1
        if self.calls == 2:
            raise Unavailable("Redis failed during session revoke: ConnectionError")
        return super().revoke_user_sessions(user_id, keep=keep)


def _app_on(pg: PgStore, sessions: RedisSessionStore, throttle: RedisLoginThrottle) -> World:
    clock = SystemClock()
    inventory = Executor(
        pg.unit_of_work,
        clock=clock,
        password_hasher=Argon2PasswordHasher(time_cost=1, memory_cost=8),
    )
    for role in Role:
        inventory.execute(
            None, ProvisionUser(username=role.value, password=PASSWORDS[role.value], role=role)
        )
    settings = Settings(cookie_secure=False)
    app = create_app(settings, inventory=inventory, sessions=sessions, throttle=throttle)
    return World(settings, ManualClock(), inventory, sessions, throttle, app, {})


@pytest.mark.postgres
def test_a_demotion_whose_session_purge_fails_changes_nothing_and_its_retry_does_both(
    server: RedisServer, pg: PgStore
) -> None:
    _grant(server, sessions_writable=True)
    client = make_redis_client(
        f"redis://app:any@127.0.0.1:{server.port}/0", socket_timeout=SOCKET_TIMEOUT, retries=0
    )
    try:
        clock = SystemClock()
        world = _app_on(
            pg,
            RedisSessionStore(client, clock, key_prefix=PREFIX),
            RedisLoginThrottle(client, clock, key_prefix=PREFIX),
        )
        admin, clerk = world.as_("admin"), world.as_("clerk")
        clerk_id = clerk.user["id"]
        demote = {"role": "viewer"}

        _grant(server, sessions_writable=False)
        assert clerk.get("/v1/session").status_code == 200  # lookups still work
        failed = admin.patch(f"/v1/users/{clerk_id}", json=demote)
        assert_problem(failed, 503, "unavailable")
        # Nothing changed: the database still says clerk, at the same version.
        users = admin.get("/v1/users").json["data"]
        assert [(u["role"], u["version"]) for u in users if u["id"] == clerk_id] == [("clerk", 1)]

        _grant(server, sessions_writable=True)
        retried = admin.patch(f"/v1/users/{clerk_id}", json=demote)
        assert retried.status_code == 200
        assert (retried.json["role"], retried.json["version"]) == ("viewer", 2)
        assert_problem(clerk.get("/v1/session"), 401, "unauthenticated")
        assert_problem(clerk.request("DELETE", SOME_RESERVATION), 401)
        again = world.as_("clerk")
        assert again.user["role"] == "viewer"
        assert again.request("DELETE", SOME_RESERVATION).status_code == 403
    finally:
        client.close()


@pytest.mark.postgres
def test_a_demotion_whose_second_purge_fails_is_finished_by_its_retry(
    server: RedisServer, client: redis.Redis, pg: PgStore
) -> None:
    clock = SystemClock()
    sessions = FailingSecondRevocation(client, clock, key_prefix=PREFIX)
    world = _app_on(pg, sessions, RedisLoginThrottle(client, clock, key_prefix=PREFIX))
    admin, clerk = world.as_("admin"), world.as_("clerk")
    clerk_id = clerk.user["id"]
    # The first revocation went through, the change was made, the second revocation failed:
    assert_problem(admin.patch(f"/v1/users/{clerk_id}", json={"role": "viewer"}), 503)
    assert_problem(clerk.get("/v1/session"), 401)
    # Suppose a login read the user between the first revocation and the commit: its session
    # carries the generation the first revocation made, and acts as a clerk.
    generation = sessions.user_generation(UUID(clerk_id))
    raced, _ = sessions.create(
        user_id=UUID(clerk_id),
        role=Role.CLERK,
        user_agent=None,
        remember=False,
        generation=generation,
    )
    assert sessions.get(raced) is not None
    # The retry changes nothing in the database, and ends that session all the same.
    retried = admin.patch(f"/v1/users/{clerk_id}", json={"role": "viewer"})
    assert retried.status_code == 200
    assert retried.json["version"] == 2
    assert sessions.get(raced) is None
