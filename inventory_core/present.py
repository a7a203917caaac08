"""Entities as the API shows them: the one place an attrs object becomes JSON values.

The HTTP layer renders every response with :func:`present`, and the outbox stores each event's
``data`` with it too (:mod:`inventory_core.events`), so an event carries a resource exactly as
``GET`` shows it -- by construction, not by two encoders kept in step.

Rules: an attrs object becomes a dict of its fields in declaration order (derived ``init=False``
fields included, fields marked :data:`~inventory_core._checks.INTERNAL` left out); UUIDs become
strings, times RFC 3339 in UTC with a ``Z``, dates ISO 8601, enums their values, tuples and lists
lists, dicts dicts (their values presented); ``None``, booleans, numbers and strings stay.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import attrs

__all__ = ["JsonValue", "present", "rfc3339"]

JsonValue = Any
"""What :func:`present` returns: dicts, lists, strings, numbers, booleans and None."""

_PLAIN = (str, int, float, bool, type(None))


def rfc3339(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def present(value: object) -> JsonValue:
    """``value`` as JSON values, by the rules of the module docstring. TypeError for anything
    else (a set, bytes, an arbitrary object): nothing is guessed."""
    if isinstance(value, _PLAIN):
        return value
    presenter = _PRESENTERS.get(type(value))
    if presenter is None:
        presenter = _presenter_for(type(value))
    return presenter(value)


def _fields_of(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in attrs.fields(cls) if not f.metadata.get("internal"))


def _presenter_for(cls: type) -> Callable[[Any], JsonValue]:
    presenter: Callable[[Any], JsonValue]
    if attrs.has(cls):
        names = _fields_of(cls)

        def presenter(obj: Any) -> JsonValue:
            return {name: present(getattr(obj, name)) for name in names}

    elif issubclass(cls, enum.Enum):

        def presenter(obj: Any) -> JsonValue:
            return present(obj.value)

    elif issubclass(cls, UUID):
        presenter = str
    elif issubclass(cls, datetime):
        presenter = rfc3339
    elif issubclass(cls, date):
        presenter = date.isoformat
    elif issubclass(cls, (tuple, list)):

        def presenter(obj: Any) -> JsonValue:
            return [present(x) for x in obj]

    elif issubclass(cls, dict):

        def presenter(obj: Any) -> JsonValue:
            return {str(k): present(v) for k, v in obj.items()}

    elif issubclass(cls, _PLAIN):  # subclasses of the plain types (an int enum is caught above)
        presenter = _identity
    else:
        raise TypeError(f"cannot present a {cls.__name__} as JSON")
    _PRESENTERS[cls] = presenter
    return presenter


def _identity(value: Any) -> JsonValue:
    return value


_PRESENTERS: dict[type, Callable[[Any], JsonValue]] = {}
"""One presenter per class, made on first use (a class's fields never change)."""
