"""Loopback ports for the servers tests start (gunicorn, redis-server, PostgreSQL).

``bind(("127.0.0.1", 0))`` hands out a port from the kernel's ephemeral range, and that range is
also where every outgoing connection (psycopg, redis-py, urllib) takes its local port from. A
port probed free and closed again can thus be taken by any client connection before the server
binds it, and the server then fails to start by chance. The ports here come from below the
ephemeral range, which no outgoing connection uses, and are handed out once per test run.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterator

# Below Linux's default ephemeral range (32768-60999) and above the well-known services.
FIRST, LAST = 20_000, 32_000


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as ranges:
            low, high = map(int, ranges.read().split())
    except (OSError, ValueError):
        return 32_768, 60_999
    return low, high


def _candidates() -> Iterator[int]:
    low, high = _ephemeral_range()
    # A different starting point per process keeps two test runs on one machine apart.
    start = FIRST + (os.getpid() * 7919) % (LAST - FIRST)
    for port in itertools.chain(range(start, LAST), range(FIRST, start)):
        if not low <= port <= high:
            yield port


_ports = _candidates()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now and that no test got before."""
    for port in _ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port left in {FIRST}-{LAST}")
