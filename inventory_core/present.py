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
import types
import typing
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
    if type(value) in _PLAIN:  # exact types: a str or int enum is presented as its value
        return value
    presenter = _PRESENTERS.get(type(value))
    if presenter is None:
        presenter = _presenter_for(type(value))
    return presenter(value)


def _attrs_presenter(cls: type) -> Callable[[Any], JsonValue]:
    """A presenter made for ``cls``: one dict display with each field's conversion chosen once,
    from its annotation, instead of looked up per value (responses and events present the same
    few classes over and over). Fields of other types go through :func:`present`."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation that does not resolve: present every field generically
        hints = {}
    entries = []
    for field in attrs.fields(cls):
        if field.metadata.get("internal"):
            continue
        hint, optional = _optional(hints.get(field.name, Any))
        convert = _CONVERSIONS.get(hint, "present({})")
        value = f"o.{field.name}"
        expression = convert.format(value)
        if optional and expression != value:
            expression = f"(None if {value} is None else {expression})"
        entries.append(f"{field.name!r}: {expression}")
    source = f"def presenter(o):\n    return {{{', '.join(entries)}}}\n"
    namespace: dict[str, Any] = {"present": present, "rfc3339": rfc3339}
    exec(compile(source, f"<presenter of {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    made: Callable[[Any], JsonValue] = namespace["presenter"]
    return made


def _optional(hint: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, else ``(hint, False)``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(rest) == 1:
            return rest[0], len(rest) < len(typing.get_args(hint))
    return hint, False


_CONVERSIONS: dict[Any, str] = {
    str: "{}",
    int: "{}",
    bool: "{}",
    float: "{}",
    UUID: "str({})",
    datetime: "rfc3339({})",
    date: "{}.isoformat()",
}
"""How a field of each plain type becomes JSON, as an expression around the field's value
(a value of a subclass converts the same way). Anything else -- enums, tuples, nested classes,
type variables -- goes through :func:`present`."""


def _presenter_for(cls: type) -> Callable[[Any], JsonValue]:
    presenter: Callable[[Any], JsonValue]
    if attrs.has(cls):
        presenter = _attrs_presenter(cls)

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
