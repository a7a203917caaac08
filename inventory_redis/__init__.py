"""Redis adapters of inventory-core: the session store and the login throttle.

Build one client per process with :func:`make_redis_client` (inside the app factory, after the
fork) and hand it to :class:`RedisSessionStore` and :class:`RedisLoginThrottle`. Nothing here opens
a connection at import or construction time. Every Redis failure surfaces as
:class:`inventory_core.errors.Unavailable`.
"""

from __future__ import annotations

from inventory_redis.client import make_redis_client
from inventory_redis.errors import translate_redis_errors
from inventory_redis.sessions import RedisSessionStore
from inventory_redis.throttle import RedisLoginThrottle

__all__ = [
    "RedisLoginThrottle",
    "RedisSessionStore",
    "make_redis_client",
    "translate_redis_errors",
]
