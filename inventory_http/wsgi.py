"""The WSGI target for gunicorn and the per-process lifecycle of the app.

``gunicorn 'inventory_http.wsgi:create()'`` calls :func:`create` in each worker (the app is never
preloaded), which builds the app from the ``INVENTORY_*`` settings with its own database pool and
Redis client. Importing this module creates nothing.

One :class:`~inventory_http.wiring.Runtime` exists per process. :func:`start` builds it (the
``post_fork`` hook calls it right after the fork), :func:`create` returns its app, and
:func:`shutdown` (the ``worker_exit`` hook) closes it. A runtime inherited through a fork from
another process is dropped, never used or closed: its connections belong to the parent.
"""

from __future__ import annotations

import gc
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import falcon

from inventory_http.settings import Settings
from inventory_http.wiring import Runtime, build_from_env

__all__ = [
    "configure",
    "create",
    "gunicorn_options",
    "post_fork",
    "shutdown",
    "start",
    "worker_exit",
]

Builder = Callable[[], Runtime]

_lock = threading.Lock()
_builder: Builder | None = None
_runtime: Runtime | None = None
_owner_pid: int | None = None


def configure(builder: Builder | None) -> None:
    """Set how :func:`start` builds the runtime; ``None`` means
    :func:`~inventory_http.wiring.build_from_env`.

    ``inventory serve`` calls this in the gunicorn master, before any fork, so every worker
    builds its runtime the same way.
    """
    global _builder  # noqa: PLW0603 -- the per-process slot is the point of this module
    with _lock:
        _builder = builder


def start() -> Runtime:
    """The runtime of this process, built on first call (after the fork in a gunicorn worker)."""
    global _runtime, _owner_pid  # noqa: PLW0603
    with _lock:
        if _runtime is not None and _owner_pid == os.getpid():
            return _runtime
        # None yet, or inherited through a fork: build our own. An inherited one is dropped
        # without closing it, as closing would end connections the parent still uses.
        _runtime = (_builder or build_from_env)()
        _owner_pid = os.getpid()
        return _runtime


def create() -> falcon.App[falcon.Request, falcon.Response]:
    """The WSGI app of this process: the gunicorn target ``inventory_http.wsgi:create()``."""
    return start().app


def shutdown() -> None:
    """Close this process's runtime (pools and clients), if it has one. Safe to call twice."""
    global _runtime, _owner_pid
    with _lock:
        runtime, owned = _runtime, _owner_pid == os.getpid()
        _runtime, _owner_pid = None, None
    if runtime is not None and owned:
        runtime.close()


def post_fork(server: Any, worker: Any) -> None:
    """gunicorn hook, in the new worker: build the app and open its pools in this process, then
    freeze what exists so far out of the garbage collector's reach.

    The app, its libraries and their modules are some 60,000 objects that live as long as the
    worker. CPython's full collections walk all of them -- about 40 ms here, with the GIL held,
    so every request of the worker stalls -- and under load they come every few seconds: that
    was the tail of the latency at any concurrency (p99 ~75 ms even at one connection). Frozen,
    they are skipped (``gc.freeze``); collecting first keeps startup garbage out of the frozen set.
    """
    start()
    gc.collect()
    gc.freeze()


def worker_exit(server: Any, worker: Any) -> None:
    """gunicorn hook, in the exiting worker once its requests are done: close the pools.

    gunicorn may also call it in the master for a worker that vanished; that process owns no
    runtime, so nothing happens there.
    """
    shutdown()


def gunicorn_options(
    settings: Settings,
    *,
    bind: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """gunicorn settings for ``settings``; ``bind``, ``workers`` and ``threads`` override theirs.

    The embedded default always gets one worker: its in-memory state cannot be shared. The app is
    not preloaded (pools are created after the fork), gunicorn writes no access log (the app
    logs each request as JSON), and where the OS has ``SO_REUSEPORT`` every worker gets its own
    listening socket, so the kernel balances connections across workers.
    """
    return {
        "bind": [bind or settings.bind],
        "workers": 1 if settings.embedded else (workers or settings.workers),
        "threads": threads or settings.threads,
        "worker_class": "gthread",
        "preload_app": False,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        "proc_name": "inventory",
        # gunicorn >= 25.1 opens a control socket at one fixed path per user; several servers on
        # one machine (tests, benchmarks) would fight over it, and nothing here uses it.
        "control_socket_disable": True,
        # Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new
        # connections over them evenly. On one shared socket, whichever worker wins the accept
        # race takes a burst of new connections, and long-lived (keep-alive) clients then stay
        # piled on one process -- one GIL, one core -- while the others idle.
        "reuse_port": hasattr(socket, "SO_REUSEPORT"),
        "post_fork": post_fork,
        "worker_exit": worker_exit,
    }
