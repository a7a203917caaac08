"""Id generators. UUIDv7 (RFC 9562) puts creation time first, so ordering by id is creation order
and keyset paging by id is stable; that is what every listing relies on."""

from __future__ import annotations

import os
import threading
import time
from uuid import UUID

__all__ = ["UuidV7Generator"]


class UuidV7Generator:
    """Monotonic UUIDv7 ids: 48-bit millisecond time, then a 74-bit counter/random tail that is
    bumped within a millisecond, so ids from one generator strictly increase. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._last_tail = 0

    def new_id(self) -> UUID:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                ms = self._last_ms
                tail = self._last_tail + 1
                if tail >= 1 << 74:  # counter exhausted within one millisecond: borrow the next
                    ms += 1
                    tail = int.from_bytes(os.urandom(10)) >> 7
            else:
                # Leave headroom above the random start so increments rarely overflow.
                tail = int.from_bytes(os.urandom(10)) >> 7
            self._last_ms, self._last_tail = ms, tail
        rand_a = tail >> 62  # 12 bits
        rand_b = tail & ((1 << 62) - 1)  # 62 bits
        value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
        return UUID(int=value)
