"""Translation of redis-py errors into the core's :class:`~inventory_core.errors.Unavailable`.

Every call an adapter of this package makes to Redis runs inside ``translate_redis_errors``,
so no redis-py exception reaches a caller: the HTTP layer only has to know the core's errors (and
answers 503 to ``Unavailable``).
"""

from __future__ import annotations

from types import TracebackType
from typing import Literal

import redis.exceptions

from inventory_core.errors import Unavailable

__all__ = ["translate_redis_errors"]


class translate_redis_errors:
    """Run the block, turning any Redis failure into ``Unavailable``.

    ``operation`` names what was being done (``"session get"``); it goes into the message, which
    must never carry a session id or token, so callers pass a fixed description, not data.
    Caught: every :class:`redis.exceptions.RedisError` (connection refused or lost, timeouts,
    authentication, error replies such as OOM, READONLY, LOADING or a script error) and raw
    ``OSError`` from the socket layer, which redis-py does not always wrap.

    A class rather than a ``@contextmanager`` generator: it runs around every session lookup,
    and costs a sixth as much.
    """

    __slots__ = ("_operation",)

    def __init__(self, operation: str) -> None:
        self._operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        if isinstance(exc, redis.exceptions.RedisError | OSError):
            # The chained cause keeps the driver's detail for logs; the message stays generic.
            raise Unavailable(
                f"Redis failed during {self._operation}: {type(exc).__name__}"
            ) from exc
        return False
