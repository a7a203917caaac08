"""Building the redis-py client the adapters of this package expect."""

from __future__ import annotations

import redis
from redis.backoff import EqualJitterBackoff
from redis.retry import Retry

__all__ = ["make_redis_client"]


def make_redis_client(
    url: str,
    *,
    socket_timeout: float = 2.0,
    socket_connect_timeout: float | None = None,
    health_check_interval: int = 15,
    retries: int = 2,
    backoff_base: float = 0.05,
    backoff_cap: float = 0.5,
    max_connections: int = 64,
) -> redis.Redis:
    """A Redis client for ``url`` (``redis://``, ``rediss://`` or ``unix://``) configured to fail
    fast and heal by itself. Creating it opens no connection.

    * ``socket_timeout`` bounds every command (and ``socket_connect_timeout``, which defaults to
      the same, every connect), so a hung server costs a request seconds, not a worker forever.
    * ``health_check_interval``: a pooled connection idle for longer than this many seconds is
      PINGed before use, so one killed by a restart or a middlebox is replaced, not used.
    * ``retries`` retries of a command that failed on a connection error or timeout, each on a
      fresh connection after an exponential backoff with jitter (``backoff_base`` doubling up to
      ``backoff_cap`` seconds). Bounded: the worst case is about
      ``(retries + 1) * socket_timeout + retries * backoff_cap``, and then the adapters raise
      ``Unavailable``. This is also what reconnects after a Redis restart: nothing needs to be
      rebuilt. Every command the adapters send is safe to repeat (see docs/security.md).
    * ``max_connections`` caps the pool per process (one per concurrent request thread suffices).

    Responses are decoded as UTF-8 text.
    """
    if retries < 0:
        raise ValueError("retries must be bounded (>= 0)")
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=(
            socket_timeout if socket_connect_timeout is None else socket_connect_timeout
        ),
        socket_keepalive=True,
        health_check_interval=health_check_interval,
        retry=Retry(EqualJitterBackoff(cap=backoff_cap, base=backoff_base), retries),
        max_connections=max_connections,
        decode_responses=True,
    )
