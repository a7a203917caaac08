"""``UNSET``: a field of a change command that the caller did not give (so it stays as is)."""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["UNSET", "Unset"]


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset.UNSET
"""Marks a field of a change command that the caller did not give (so it stays as it is)."""

Unset = _Unset
