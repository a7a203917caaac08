"""Small validators shared by the entities; each raises ValidationError with a field path."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from inventory_core.errors import ValidationError

MIN_QUANTITY = 1
MAX_QUANTITY = 10**12
"""Quantities on a line are integers in the item's base unit, 1..10^12 (safe in JSON doubles)."""

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]{0,63}$")
"""SKUs and location codes: 1-64 characters, letters, digits and ``. _ / -``, not starting with
punctuation. Case is preserved and compared exactly."""


def _path(attribute: Any) -> str:
    return f"$.{attribute.name}"


def code(_: object, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not CODE_PATTERN.fullmatch(value):
        raise ValidationError(
            "must be 1-64 letters, digits or . _ / - and start with a letter or digit",
            _path(attribute),
        )


def text(min_length: int, max_length: int) -> Callable[[object, Any, str], None]:
    def check(_: object, attribute: Any, value: str) -> None:
        if not isinstance(value, str):
            raise ValidationError("must be a string", _path(attribute))
        if not min_length <= len(value) <= max_length:
            raise ValidationError(
                f"must be {min_length}-{max_length} characters long", _path(attribute)
            )
        if any(ord(c) < 32 and c not in "\n\t" for c in value):
            raise ValidationError("must not contain control characters", _path(attribute))

    return check


def optional_text(max_length: int) -> Callable[[object, Any, str | None], None]:
    inner = text(0, max_length)

    def check(instance: object, attribute: Any, value: str | None) -> None:
        if value is not None:
            inner(instance, attribute, value)

    return check


def integer(minimum: int, maximum: int) -> Callable[[object, Any, int], None]:
    def check(_: object, attribute: Any, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError("must be an integer", _path(attribute))
        if not minimum <= value <= maximum:
            raise ValidationError(f"must be between {minimum} and {maximum}", _path(attribute))

    return check


def optional_integer(minimum: int, maximum: int) -> Callable[[object, Any, int | None], None]:
    inner = integer(minimum, maximum)

    def check(instance: object, attribute: Any, value: int | None) -> None:
        if value is not None:
            inner(instance, attribute, value)

    return check


quantity = integer(MIN_QUANTITY, MAX_QUANTITY)


def aware(_: object, attribute: Any, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError("must be a timezone-aware datetime", _path(attribute))


def optional_aware(instance: object, attribute: Any, value: datetime | None) -> None:
    if value is not None:
        aware(instance, attribute, value)


def uuids(value: Iterable[UUID]) -> tuple[UUID, ...]:
    return tuple(value)


def strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)
