"""The Redis session store and throttle against a real Redis: what is stored, how long it lives,
that it stays bounded, atomicity under threads, and several workers sharing one Redis."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import uuid4

import attrs
import pytest
import redis

from inventory_core.clocks import ManualClock
from inventory_core.errors import Unavailable
from inventory_core.sessions import DEFAULT_MAX_SESSIONS_PER_USER, Session, SessionPolicy
from inventory_core.throttling import ThrottlePolicy, timestamp_us
from inventory_core.users import Role
from inventory_redis import RedisLoginThrottle, RedisSessionStore, make_redis_client

pytestmark = pytest.mark.redis

POLICY = SessionPolicy()


@pytest.fixture(scope="module")
def client(redis_url: str) -> Iterator[redis.Redis]:
    redis_client = make_redis_client(redis_url)
    yield redis_client
    redis_client.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    """A namespace of its own for each test (the database may be shared); emptied afterwards."""
    key_prefix = f"test:{secrets.token_hex(6)}:"
    yield key_prefix
    keys = list(client.scan_iter(match=f"{key_prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(client: redis.Redis, clock: ManualClock, prefix: str) -> RedisSessionStore:
    return RedisSessionStore(client, clock, POLICY, key_prefix=prefix)


def _dump(client: redis.Redis, match: str = "*") -> dict[str, list[str]]:
    """Every key of the database (SCAN) with every string it holds, read by its type."""
    dump: dict[str, list[str]] = {}
    for key in client.scan_iter(match=match, count=1000):
        kind = client.type(key)
        values: list[Any]
        if kind == "string":
            values = [client.get(key)]
        elif kind == "hash":
            values = [item for pair in client.hgetall(key).items() for item in pair]
        elif kind == "zset":
            values = list(client.zrange(key, 0, -1))  # scores are numbers, never ids
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "stream":
            values = [repr(entry) for entry in client.xrange(key) or []]
        elif kind == "none":  # expired between SCAN and TYPE
            continue
        else:
            pytest.fail(f"unexpected key type {kind!r} at {key!r}")
        dump[key] = [v if isinstance(v, str) else repr(v) for v in values]
    return dump


def test_no_raw_session_id_is_stored_anywhere_in_redis(
    client: redis.Redis, store: RedisSessionStore, clock: ManualClock, prefix: str
) -> None:
    throttle = RedisLoginThrottle(client, clock, key_prefix=prefix)
    users = [uuid4() for _ in range(3)]
    issued: list[tuple[str, str]] = []  # (raw id, csrf token)
    for n in range(12):
        session_id, session = store.create(
            user_id=users[n % 3], role=Role.CLERK, user_agent=f"agent {n}", remember=n % 2 == 0
        )
        issued.append((session_id, session.csrf_token))
        # The worst a caller could do: pass a session id where a username or address goes.
        throttle.record_failure(username=session_id, client=session_id)
    clock.advance(60)
    for session_id, _ in issued[::2]:
        assert store.get(session_id) is not None
    for user_id in users:
        store.list_user_sessions(user_id)
    store.destroy(issued[1][0])
    throttle.record_success(username=issued[3][0], client=issued[3][0])

    dump = _dump(client)  # the whole database, not only this test's prefix
    assert any(k.startswith(prefix) for k in dump)
    for key, values in dump.items():
        for session_id, csrf_token in issued:
            assert session_id not in key
            assert csrf_token not in key
            assert all(session_id not in value for value in values), key
    # What is stored is the SHA-256 of the id.
    for session_id, _ in issued[::2]:
        digest = hashlib.sha256(session_id.encode()).hexdigest()
        assert f"{prefix}sess:{digest}" in dump


def test_the_session_value_holds_the_documented_fields(
    client: redis.Redis, store: RedisSessionStore, clock: ManualClock, prefix: str
) -> None:
    user_id = uuid4()
    agent = "Mozilla/5.0 (X11; Linux x86_64) " + "x" * 1000  # spaces, and cut to 256
    _, session = store.create(user_id=user_id, role=Role.ADMIN, user_agent=agent, remember=False)
    key = f"{prefix}sess:{session.digest}"
    assert client.type(key) == "string"
    now = timestamp_us(clock.now())
    idle = POLICY.idle_seconds * 1_000_000
    absolute = POLICY.absolute_seconds * 1_000_000
    assert client.get(key) == (
        f"{user_id} admin {session.csrf_token} {now} {now} {now + idle} {now + absolute} 0 0 "
        + agent[:256]
    )
    assert client.zrange(f"{prefix}user-sessions:{user_id}", 0, -1) == [session.digest]
    store.revoke_user_sessions(user_id)
    store.revoke_user_sessions(user_id)
    _, anonymous = store.create(
        user_id=user_id, role=Role.CLERK, user_agent=None, remember=True, generation=2
    )
    remember = POLICY.remember_seconds * 1_000_000
    assert client.get(f"{prefix}sess:{anonymous.digest}") == (
        f"{user_id} clerk {anonymous.csrf_token} {now} {now} {now + remember} {now + remember} 1 2 "
    )


def test_the_generation_is_one_key_per_revoked_user_without_ttl(
    client: redis.Redis, store: RedisSessionStore, prefix: str
) -> None:
    user_id = uuid4()
    kept_id, kept = store.create(user_id=user_id, role=Role.CLERK, user_agent="a b", remember=True)
    key = f"{prefix}sess:{kept.digest}"
    ttl = client.pttl(key)
    assert client.exists(f"{prefix}user-gen:{user_id}") == 0  # never revoked: generation 0
    assert store.revoke_user_sessions(user_id, keep=kept_id) == 0
    assert store.revoke_user_sessions(user_id, keep=kept_id) == 0
    assert client.get(f"{prefix}user-gen:{user_id}") == "2"
    assert client.pttl(f"{prefix}user-gen:{user_id}") == -1  # it must only ever grow
    # The kept session moved to the new generation in place: same fields, same TTL.
    assert client.get(key) == _encoded(kept, generation=2)
    assert 0 < client.pttl(key) <= ttl
    assert store.get(kept_id) == attrs.evolve(kept, generation=2)


def _encoded(session: Session, *, generation: int) -> str:
    times = [
        timestamp_us(t)
        for t in (
            session.created_at,
            session.last_seen_at,
            session.expires_at,
            session.absolute_expires_at,
        )
    ]
    return " ".join(
        [
            str(session.user_id),
            session.role.value,
            session.csrf_token,
            *map(str, times),
            "1" if session.remember else "0",
            str(generation),
            session.user_agent or "",
        ]
    )


def test_a_session_of_an_older_generation_is_removed_at_its_next_lookup(
    client: redis.Redis, store: RedisSessionStore, prefix: str
) -> None:
    # Revocations delete sessions and creates refuse old generations, so this takes a generation
    # raised behind the store's back; the lookup must still judge it, in the same script.
    user_id = uuid4()
    session_id, session = store.create(
        user_id=user_id, role=Role.CLERK, user_agent=None, remember=False
    )
    other_id, _ = store.create(user_id=user_id, role=Role.CLERK, user_agent=None, remember=False)
    client.incr(f"{prefix}user-gen:{user_id}")
    assert store.get(session_id) is None
    assert client.exists(f"{prefix}sess:{session.digest}") == 0
    assert session.digest not in client.zrange(f"{prefix}user-sessions:{user_id}", 0, -1)
    assert store.list_user_sessions(user_id) == []  # the list judges them the same way
    assert store.get(other_id) is None


def test_sessions_stored_before_generations_existed_count_as_ended(
    client: redis.Redis, store: RedisSessionStore, clock: ManualClock, prefix: str
) -> None:
    # The layout before generations had the user agent right after the remember flag.
    user_id = uuid4()
    now = timestamp_us(clock.now())
    later = now + 600_000_000
    olds = {}
    for n, agent in enumerate(["", "Mozilla/5.0 (X11)"]):
        session_id = f"{'A' * 42}{n}"
        digest = hashlib.sha256(session_id.encode()).hexdigest()
        client.set(
            f"{prefix}sess:{digest}", f"{user_id} admin token {now} {now} {later} {later} 0 {agent}"
        )
        client.zadd(f"{prefix}user-sessions:{user_id}", {digest: later})
        olds[session_id] = digest
    first = next(iter(olds))
    assert store.get(first) is None
    assert store.list_user_sessions(user_id) == []
    assert all(client.exists(f"{prefix}sess:{d}") == 0 for d in olds.values())
    assert client.exists(f"{prefix}user-sessions:{user_id}") == 0
    fresh, _ = store.create(user_id=user_id, role=Role.ADMIN, user_agent=None, remember=False)
    assert store.get(fresh) is not None


class CountingRedis(redis.Redis):
    """A client that counts the commands it sends (a script call is one EVALSHA)."""

    sent = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent += 1
        return super().execute_command(*args, **options)


def test_a_lookup_is_one_round_trip_generation_included(redis_url: str, prefix: str) -> None:
    counting = CountingRedis.from_url(redis_url, decode_responses=True)
    try:
        clock = ManualClock()
        store = RedisSessionStore(counting, clock, key_prefix=prefix)
        session_id, _ = store.create(
            user_id=uuid4(), role=Role.CLERK, user_agent=None, remember=False
        )
        store.get(session_id)  # loads the script if this server has not seen it yet
        for advance in (0, 59, 1, 30):  # a read, a read, a recorded use, a read
            clock.advance(advance)
            counting.sent = 0
            assert store.get(session_id) is not None
            assert counting.sent == 1
    finally:
        counting.close()


def test_a_use_inside_the_touch_interval_writes_nothing(
    client: redis.Redis, store: RedisSessionStore, clock: ManualClock, prefix: str
) -> None:
    session_id, session = store.create(
        user_id=uuid4(), role=Role.CLERK, user_agent=None, remember=False
    )
    key = f"{prefix}sess:{session.digest}"
    stored, ttl = client.get(key), client.pttl(key)
    clock.advance(59)
    assert store.get(session_id) == session
    assert client.get(key) == stored
    assert 0 < client.pttl(key) <= ttl  # counting down, not reset
    clock.advance(1)
    seen = store.get(session_id)
    assert seen is not None
    assert client.get(key) != stored
    assert int(client.pttl(key)) / 1000 == pytest.approx(POLICY.idle_seconds, abs=5)


def test_every_key_has_a_ttl_from_the_same_deadlines(
    client: redis.Redis, store: RedisSessionStore, clock: ManualClock, prefix: str
) -> None:
    user_id = uuid4()
    _, short = store.create(user_id=user_id, role=Role.CLERK, user_agent=None, remember=False)
    long_id, long = store.create(user_id=user_id, role=Role.CLERK, user_agent=None, remember=True)
    throttle = RedisLoginThrottle(client, clock, key_prefix=prefix)
    throttle.record_failure(username="alice", client="192.0.2.1")
    throttle.record_success(username="alice", client="192.0.2.2")

    def ttl_seconds(key: str) -> float:
        ttl = client.pttl(key)
        assert ttl > 0, f"{key} has no TTL"
        return int(ttl) / 1000

    slack = 5  # seconds of real time this test may take
    assert ttl_seconds(f"{prefix}sess:{short.digest}") == pytest.approx(
        POLICY.idle_seconds, abs=slack
    )
    assert ttl_seconds(f"{prefix}sess:{long.digest}") == pytest.approx(
        POLICY.remember_seconds, abs=slack
    )
    assert ttl_seconds(f"{prefix}user-sessions:{user_id}") == pytest.approx(
        POLICY.remember_seconds, abs=slack
    )
    policy = ThrottlePolicy()
    for key in client.scan_iter(match=f"{prefix}throttle:*"):
        expected = {
            "user": policy.username.window_seconds,
            "client": policy.client.window_seconds,
            "trusted": policy.trusted_client_seconds,
        }[key.removeprefix(f"{prefix}throttle:").split(":")[0]]
        assert ttl_seconds(key) == pytest.approx(expected, abs=slack)
    # A touch near the end of a remember-me session cannot push its TTL past the deadline.
    clock.set(long.absolute_expires_at - timedelta(seconds=100))
    assert store.get(long_id) is not None
    assert ttl_seconds(f"{prefix}sess:{long.digest}") == pytest.approx(100, abs=slack)


def test_a_touch_moves_the_ttl_but_never_past_the_absolute_deadline(
    client: redis.Redis, store: RedisSessionStore, clock: ManualClock, prefix: str
) -> None:
    session_id, session = store.create(
        user_id=uuid4(), role=Role.CLERK, user_agent=None, remember=False
    )
    key = f"{prefix}sess:{session.digest}"
    clock.set(session.absolute_expires_at - timedelta(seconds=120))
    # Past its idle deadline by the clock: gone, and removed from Redis at once.
    assert store.get(session_id) is None
    assert client.exists(key) == 0

    session_id, session = store.create(
        user_id=uuid4(), role=Role.CLERK, user_agent=None, remember=False
    )
    key = f"{prefix}sess:{session.digest}"
    idle = timedelta(seconds=POLICY.idle_seconds)
    while clock.now() + idle < session.absolute_expires_at:
        seen = store.get(session_id)
        assert seen is not None
        assert int(client.pttl(key)) / 1000 == pytest.approx(POLICY.idle_seconds, abs=5)
        clock.advance(1500)
    # 12 h = 28 steps of 25 min + 20 min: this touch may only extend to the absolute deadline.
    seen = store.get(session_id)
    assert seen is not None
    assert seen.expires_at == session.absolute_expires_at
    assert int(client.pttl(key)) / 1000 == pytest.approx(1200, abs=5)


def test_expired_sessions_leave_redis_and_the_index(
    client: redis.Redis, store: RedisSessionStore, clock: ManualClock, prefix: str
) -> None:
    user_id = uuid4()
    index = f"{prefix}user-sessions:{user_id}"
    digests = [
        store.create(user_id=user_id, role=Role.CLERK, user_agent=None, remember=False)[1].digest
        for _ in range(4)
    ]
    assert client.zcard(index) == 4
    clock.advance(POLICY.idle_seconds)  # idle deadline passed, absolute one not
    assert store.list_user_sessions(user_id) == []
    assert client.exists(index) == 0
    assert all(client.exists(f"{prefix}sess:{d}") == 0 for d in digests)
    # Past the absolute deadline, a write prunes with ZREMRANGEBYSCORE alone.
    for _ in range(3):
        store.create(user_id=user_id, role=Role.CLERK, user_agent=None, remember=False)
    clock.advance(POLICY.absolute_seconds)
    store.create(user_id=user_id, role=Role.CLERK, user_agent=None, remember=False)
    assert client.zcard(index) == 1
    assert len(_dump(client, f"{prefix}sess:*")) == 1


def test_one_user_cannot_grow_redis_without_bound(
    client: redis.Redis, store: RedisSessionStore, clock: ManualClock, prefix: str
) -> None:
    user_id = uuid4()
    for _ in range(200):
        store.create(user_id=user_id, role=Role.CLERK, user_agent="bot", remember=True)
        clock.advance(0.001)
    assert client.zcard(f"{prefix}user-sessions:{user_id}") == DEFAULT_MAX_SESSIONS_PER_USER
    assert len(_dump(client, f"{prefix}sess:*")) == DEFAULT_MAX_SESSIONS_PER_USER
    throttle = RedisLoginThrottle(client, clock, key_prefix=prefix)
    for _ in range(500):
        throttle.record_failure(username="alice", client="192.0.2.1")
    policy = ThrottlePolicy()
    for key in client.scan_iter(match=f"{prefix}throttle:*"):
        assert client.zcard(key) == policy.max_tracked_failures


def test_malformed_ids_never_reach_redis(clock: ManualClock) -> None:
    # Nothing listens on port 1: any command would fail. Malformed ids must not send one.
    dead = make_redis_client("redis://127.0.0.1:1/0", socket_timeout=0.5, retries=0)
    store = RedisSessionStore(dead, clock)
    for bad in ["", "short", "A" * 42 + "!", "A" * 44, "0" * 64]:
        assert store.get(bad) is None
        store.destroy(bad)
    with pytest.raises(Unavailable):
        store.get("A" * 43)


def test_several_workers_share_sessions(
    client: redis.Redis, redis_url: str, clock: ManualClock, prefix: str
) -> None:
    # Two processes' worth of clients and stores on one Redis.
    other_client = make_redis_client(redis_url)
    try:
        first = RedisSessionStore(client, clock, key_prefix=prefix)
        second = RedisSessionStore(other_client, clock, key_prefix=prefix)
        user_id = uuid4()
        session_id, session = first.create(
            user_id=user_id, role=Role.VIEWER, user_agent=None, remember=False
        )
        clock.advance(60)
        seen = second.get(session_id)
        assert seen is not None
        assert seen.csrf_token == session.csrf_token
        assert first.list_user_sessions(user_id)[0].last_seen_at == clock.now()
        current, _ = second.create(
            user_id=user_id, role=Role.VIEWER, user_agent=None, remember=False
        )
        assert first.revoke_user_sessions(user_id, keep=current) == 1
        assert second.get(session_id) is None
        assert second.get(current) is not None
    finally:
        other_client.close()


def test_a_worker_sees_what_another_wrote_at_its_next_lookup(
    client: redis.Redis, redis_url: str, clock: ManualClock, prefix: str
) -> None:
    # Each store remembers the sessions it decoded; that must never hide a change made elsewhere.
    other_client = make_redis_client(redis_url)
    try:
        first = RedisSessionStore(client, clock, key_prefix=prefix)
        second = RedisSessionStore(other_client, clock, key_prefix=prefix)
        session_id, created = first.create(
            user_id=uuid4(), role=Role.CLERK, user_agent=None, remember=False
        )
        assert first.get(session_id) == created
        clock.advance(60)
        touched = second.get(session_id)
        assert touched is not None
        assert touched.last_seen_at == clock.now()
        clock.advance(30)  # not due again: first only reads, and must read the new touch
        assert first.get(session_id) == touched
        second.destroy(session_id)
        assert first.get(session_id) is None
    finally:
        other_client.close()


def _race_touches_against_logout_everywhere(store: RedisSessionStore) -> tuple[int, list[str]]:
    """Four threads get-and-touch every session of a user in a loop while the user's sessions
    are all destroyed; returns how many the logout ended and the ids."""
    user_id = uuid4()
    ids = [
        store.create(user_id=user_id, role=Role.CLERK, user_agent=None, remember=False)[0]
        for _ in range(DEFAULT_MAX_SESSIONS_PER_USER)
    ]
    stop = threading.Event()
    touching = threading.Barrier(5, timeout=10)  # four touchers, then the logout
    errors: list[BaseException] = []

    def touch(session_ids: list[str]) -> None:
        try:
            for session_id in session_ids:
                assert store.get(session_id) is not None
            touching.wait()
            while not stop.is_set():
                for session_id in session_ids:
                    store.get(session_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=touch, args=(ids[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    touching.wait()  # every toucher is in its loop now
    ended = store.revoke_user_sessions(user_id)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    return ended, ids


def test_logout_everywhere_races_no_touch_into_a_zombie(
    client: redis.Redis, store: RedisSessionStore, prefix: str
) -> None:
    """get-and-touch and revoke are atomic: a touch racing a logout-everywhere can never
    leave a half-written session hash behind, nor a session that survives the logout."""
    for _ in range(5):
        ended, ids = _race_touches_against_logout_everywhere(store)
        assert ended == DEFAULT_MAX_SESSIONS_PER_USER
        assert all(store.get(session_id) is None for session_id in ids)
        assert _dump(client, f"{prefix}sess:*") == {}


def test_a_flushed_script_cache_is_reloaded(client: redis.Redis, store: RedisSessionStore) -> None:
    session_id, _ = store.create(user_id=uuid4(), role=Role.CLERK, user_agent=None, remember=False)
    client.script_flush()
    assert store.get(session_id) is not None
