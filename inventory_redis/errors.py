"""Translation of redis-py errors into the core's :class:`~inventory_core.errors.Unavailable`.

Every call an adapter of this package makes to Redis runs inside :func:`translate_redis_errors`,
so no redis-py exception reaches a caller: the HTTP layer only has to know the core's errors (and
answers 503 to ``Unavailable``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.exceptions

from inventory_core.errors import Unavailable

__all__ = ["translate_redis_errors"]


@contextmanager
def translate_redis_errors(operation: str) -> Iterator[None]:
    """Run the block, turning any Redis failure into ``Unavailable``.

    ``operation`` names what was being done (``"session get"``); it goes into the message, which
    must never carry a session id or token, so callers pass a fixed description, not data.
    Caught: every :class:`redis.exceptions.RedisError` (connection refused or lost, timeouts,
    authentication, error replies such as OOM, READONLY, LOADING or a script error) and raw
    ``OSError`` from the socket layer, which redis-py does not always wrap.
    """
    try:
        yield
    except (redis.exceptions.RedisError, OSError) as exc:
        # The chained cause keeps the driver's detail for logs; the message stays generic.
        raise Unavailable(f"Redis failed during {operation}: {type(exc).__name__}") from exc
