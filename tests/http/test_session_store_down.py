"""With the session store down, public routes still answer; private ones say 503."""

from __future__ import annotations

import falcon.testing

from inventory_core.clocks import ManualClock
from inventory_core.executor import Executor
from inventory_core.memory.store import InMemoryStore
from inventory_core.memory.throttle import InMemoryLoginThrottle
from inventory_http.app import create_app
from inventory_http.passwords import Argon2PasswordHasher
from inventory_http.settings import Settings
from inventory_redis.client import make_redis_client
from inventory_redis.sessions import RedisSessionStore
from tests.ports import free_port


def test_a_cookie_does_not_break_health_while_the_session_store_is_down() -> None:
    clock = ManualClock()
    # A real Redis client aimed at a port nobody listens on: every call is refused.
    client = make_redis_client(f"redis://127.0.0.1:{free_port()}/0", retries=0)
    app = create_app(
        Settings(cookie_secure=False),
        inventory=Executor(
            InMemoryStore(clock).unit_of_work,
            clock=clock,
            password_hasher=Argon2PasswordHasher(time_cost=1, memory_cost=8),
        ),
        sessions=RedisSessionStore(client, clock),
        throttle=InMemoryLoginThrottle(clock),
    )
    api = falcon.testing.TestClient(app)
    cookie = {"Cookie": "inventory_session=" + "a" * 43}
    try:
        assert api.simulate_get("/healthz", headers=cookie).status_code == 200
        assert api.simulate_get("/openapi.json", headers=cookie).status_code == 200
        private = api.simulate_get("/v1/items", headers=cookie)
        assert private.status_code == 503
        assert private.headers["content-type"] == "application/problem+json"
    finally:
        client.close()
