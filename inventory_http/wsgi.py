"""The WSGI target for gunicorn and the per-process lifecycle of the app.

``gunicorn 'inventory_http.wsgi:create()'`` calls :func:`create` in each worker (the app is never
preloaded), which builds the app from the ``INVENTORY_*`` settings with its own database pool and
Redis client. Importing this module creates nothing.

One :class:`~inventory_http.wiring.Runtime` exists per process. :func:`start` builds it (the
``post_fork`` hook calls it right after the fork), :func:`create` returns its app, and
:func:`shutdown` (the ``worker_exit`` hook) closes it. A runtime inherited through a fork from
another process is dropped, never used or closed: its connections belong to the parent.

:func:`claim_address` makes sure one server owns its address; see its docstring.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

import falcon

from inventory_http.metrics import (
    forget_worker,
    prepare_multiprocess_dir,
    remove_multiprocess_dir,
)
from inventory_http.settings import Settings
from inventory_http.wiring import Runtime, build_from_env

__all__ = [
    "AddressUnavailable",
    "child_exit",
    "claim_address",
    "configure",
    "create",
    "gunicorn_options",
    "on_exit_with_metrics",
    "on_starting",
    "on_starting_with_metrics",
    "post_fork",
    "shutdown",
    "start",
    "worker_exit",
]

REUSE_PORT = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
"""A listening socket per worker (see :func:`gunicorn_options`): on Linux, whose kernel spreads
connections over such sockets and where :func:`claim_address` can hold an address."""

SHARED_MEMORY_DIR = "/dev/shm"  # noqa: S108 -- a tmpfs, not a world-writable scratch path

# gunicorn refuses requests past these itself, with an HTML page. They sit above the app's own
# limits (inventory_http.app.RequestLimits), so a request just over one reaches the app and gets
# a problem document; only far larger ones meet gunicorn's page.
GUNICORN_LIMIT_REQUEST_LINE = 8190  # the most gunicorn takes (0 would mean unlimited)
GUNICORN_LIMIT_REQUEST_FIELDS = 128
GUNICORN_LIMIT_REQUEST_FIELD_SIZE = 10240

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


class AddressUnavailable(Exception):
    """The address to serve on is taken (or cannot be bound); the message names it."""


_claims: dict[str, socket.socket] = {}
"""The addresses this process owns: lock name -> the socket holding the lock, kept open (and so
held) until the process ends."""


def claim_address(bind: str) -> None:
    """Own ``bind`` (``HOST:PORT`` or ``unix:PATH``) for this process's lifetime, or raise
    :class:`AddressUnavailable` naming it. Call it in the gunicorn master, before any worker.

    With ``reuse_port`` the master listens on nothing and each worker binds its own socket
    with ``SO_REUSEPORT``, which the kernel lets any process of the same user join: a second
    server would silently take half the connections. So, first, a lock: the master binds an
    abstract-namespace Unix socket named after the port (or the socket path). Binding a name
    that is bound fails, the kernel frees it when the last process holding it ends however it
    ends (no stale lock file), and the namespace belongs to the network namespace, as ports do:
    two containers never collide, two servers in one always do. A second ``inventory serve``
    on the port, whatever host it names, fails here. Then a probe for anything else listening
    there: a plain bind (``SO_REUSEADDR`` but not ``SO_REUSEPORT``) fails while any socket
    listens on the address, closed at once so the workers' ``SO_REUSEPORT`` binds still work.
    (A lock socket bound to the TCP port itself without ``SO_REUSEPORT`` would keep the workers
    out, and one with it would let other servers in.)

    Not covered: a program other than ``inventory serve`` that starts on the port with
    ``SO_REUSEPORT`` later, as the same user. Without ``SO_REUSEPORT`` (not Linux) the master
    holds the one listening socket and a second bind fails in gunicorn itself.
    """
    from gunicorn.util import parse_address  # type: ignore[import-untyped]  # noqa: PLC0415

    address = parse_address(bind)
    if isinstance(address, int):  # fd://N: an inherited socket, already someone's
        return
    if isinstance(address, tuple):
        name = f"tcp:{address[1]}"
    else:
        path = os.path.realpath(address)
        name = "unix:" + hashlib.sha256(path.encode()).hexdigest()[:40]
    taken = _hold(name, bind)
    try:
        if isinstance(address, tuple):
            _probe_tcp(bind, *address)
        else:
            _probe_unix(bind, path)
    except AddressUnavailable:
        if taken:  # this server will not start: let the next one have the address
            _claims.pop(name).close()
        raise


def _probe_tcp(bind: str, host: str, port: int) -> None:
    from gunicorn.util import is_ipv6  # noqa: PLC0415

    family = socket.AF_INET6 if is_ipv6(host) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR, as gunicorn binds: connections of an earlier run in TIME_WAIT must not
        # count as "in use"; a listening socket still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise _unavailable(bind, error) from None


def _probe_unix(bind: str, path: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        # gunicorn deletes a socket file it finds there: make sure nobody answers on it.
        try:
            probe.connect(path)
        except OSError:
            return
    raise AddressUnavailable(f"{bind} is already in use: another process serves on it")


def _hold(name: str, bind: str) -> bool:
    """Take the lock ``name`` for this process; False if it had it already (or holds no
    locks: without ``SO_REUSEPORT`` the master's own bind is the lock)."""
    if not REUSE_PORT or name in _claims:
        return False
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind("\0inventory-serve:" + name)
    except OSError as error:
        lock.close()
        if error.errno == errno.EADDRINUSE:
            raise AddressUnavailable(
                f"{bind} is already in use: another 'inventory serve' holds it"
            ) from None
        raise _unavailable(bind, error) from None
    _claims[name] = lock
    return True


def _unavailable(bind: str, error: OSError) -> AddressUnavailable:
    if error.errno == errno.EADDRINUSE:
        return AddressUnavailable(f"{bind} is already in use: another process listens on it")
    return AddressUnavailable(f"cannot listen on {bind}: {error.strerror or error}")


def on_starting(server: Any) -> None:
    """gunicorn hook, in the master before it listens or forks: :func:`claim_address` for each
    bind (``inventory serve`` has claimed them already; the plain ``gunicorn -c`` path has
    not). gunicorn prints a RuntimeError as ``Error: <message>`` and exits with status 1."""
    for bind in server.cfg.bind:
        try:
            claim_address(bind)
        except AddressUnavailable as error:
            raise RuntimeError(str(error)) from None


def on_starting_with_metrics(server: Any) -> None:
    """:func:`on_starting`, then an empty directory for the workers' metric samples
    (prometheus-client's multiprocess mode), which the workers inherit by name."""
    on_starting(server)
    prepare_multiprocess_dir()


def on_exit_with_metrics(server: Any) -> None:
    """gunicorn hook, in the master as it exits: remove the samples directory it made."""
    remove_multiprocess_dir()


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook, in the master when a worker has exited: its live gauges stop counting."""
    forget_worker(worker.pid)


def _worker_tmp_dir() -> str | None:
    """Where gunicorn keeps each worker's heartbeat file: the shared-memory tmpfs when there is
    one. The heartbeat is an ``fchmod`` every second or so, and on a disk-backed ``/tmp`` (a
    container's overlay filesystem, typically) that can block a worker long enough to be
    killed as hung."""
    if os.path.isdir(SHARED_MEMORY_DIR) and os.access(SHARED_MEMORY_DIR, os.W_OK):
        return SHARED_MEMORY_DIR
    return None


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
    logs each request as JSON), and on Linux every worker gets its own TCP listening socket, so
    the kernel balances connections across workers; the ``on_starting`` hook makes sure no
    other server listens there (:func:`claim_address`).
    """
    address = bind or settings.bind
    return {
        "bind": [address],
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
        # Not for unix:PATH binds: SO_REUSEPORT does not apply to them (each worker would
        # fail to bind), and one socket file cannot be shared that way anyway.
        "reuse_port": REUSE_PORT and not address.startswith(("unix:", "fd://")),
        "worker_tmp_dir": _worker_tmp_dir(),
        "limit_request_line": GUNICORN_LIMIT_REQUEST_LINE,
        "limit_request_fields": GUNICORN_LIMIT_REQUEST_FIELDS,
        "limit_request_field_size": GUNICORN_LIMIT_REQUEST_FIELD_SIZE,
        "on_starting": on_starting_with_metrics if settings.metrics else on_starting,
        "post_fork": post_fork,
        "worker_exit": worker_exit,
        "child_exit": child_exit,
        "on_exit": on_exit_with_metrics if settings.metrics else _nothing,
    }


def _nothing(server: Any) -> None:
    """The hook of a server without metrics."""
