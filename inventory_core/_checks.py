"""The rules values of the domain follow, declared once each.

A :class:`Rule` is an attrs validator (it raises ValidationError with the field's path) that also
says, as JSON Schema keywords, which values it accepts. Entities validate with rules; commands
name the same rules in their field metadata (:func:`accepts`), so the OpenAPI document of the
HTTP API derives every bound and pattern from here and cannot drift from what the core checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from inventory_core.errors import FieldError, ValidationError
from inventory_core.unset import Unset

__all__ = [
    "CODE_PATTERN",
    "INTERNAL",
    "MAX_QUANTITY",
    "MAX_TOTAL",
    "MIN_QUANTITY",
    "ClassRule",
    "Rule",
    "accepts",
    "check",
    "code",
    "integer",
    "quantity",
    "text",
]

MIN_QUANTITY = 1
MAX_QUANTITY = 10**12
"""Quantities on a line are integers in the item's base unit, 1..10^12 (safe in JSON doubles)."""

MAX_TOTAL = 2**53 - 1
"""The largest magnitude of any stock level or total the API shows (on hand, reserved and
available, per location, per warehouse and per item; virtual locations' negative levels too):
the largest integer a JSON number read as an IEEE double (JavaScript's Number) keeps exactly.
Lines are at most MAX_QUANTITY, but they add up, so every level is bounded on its own."""

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]{0,63}$")
"""SKUs and location codes: 1-64 characters, letters, digits and ``. _ / -``, not starting with
punctuation. Case is preserved and compared exactly."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
# The same set as a JSON Schema (ECMA-262) pattern: no control characters but tab and newline.
_NO_CONTROL_PATTERN = "^[^\\u0000-\\u0008\\u000b-\\u001f]*$"


INTERNAL: Mapping[str, Any] = {"internal": True}
"""Field metadata of an entity field that is bookkeeping of the adapters or a secret, not part of
what the entity shows its users (the HTTP API leaves such fields out)."""


@attrs.frozen
class Rule:
    """A validator that also says what it accepts.

    ``problem`` returns what is wrong with a value (``None``: nothing), as a message or as
    ``(where, message)`` when one part of the value is wrong (``where`` like ``[2]``);
    ``json_schema`` holds the JSON Schema keywords of the values it accepts. With ``optional``,
    ``None`` passes."""

    problem: Callable[[Any], str | tuple[str, str] | None]
    json_schema: Mapping[str, Any]
    optional: bool = False

    def __call__(self, instance: object, attribute: Any, value: Any) -> None:
        self.check(value, f"$.{attribute.name}")

    def check(self, value: Any, path: str) -> None:
        """Raise ValidationError at ``path`` unless ``value`` follows the rule."""
        if value is None and self.optional:
            return
        problem = self.problem(value)
        if isinstance(problem, tuple):
            where, message = problem
            raise ValidationError(message, path + where)
        if problem is not None:
            raise ValidationError(problem, path)

    def or_none(self) -> Rule:
        """The same rule, letting ``None`` (JSON ``null``) through."""
        return attrs.evolve(self, optional=True)


@attrs.frozen
class ClassRule:
    """A rule across the fields of a command (a receipt's lines need a destination).

    ``problems`` returns what is wrong as ``(path, message)`` pairs, paths relative to the
    value (``$.lines[0].to_location_id``); ``json_schema`` is the same rule as JSON Schema
    keywords (``allOf`` of ``if``/``then``) added to the class's schema. A class lists its
    rules in a ``rules`` class variable."""

    problems: Callable[[Any], list[tuple[str, str]]]
    json_schema: Mapping[str, Any]


def problems_of(value: object, path: str = "$") -> list[FieldError]:
    """Everything the rules a command names find wrong in it, nested values included: each
    field's ``rule`` (see :func:`accepts`), then the class's own ``rules``. Empty: it is fine."""
    found: list[FieldError] = []
    cls: Any = type(value)
    if attrs.has(cls):
        for field in attrs.fields(cls):
            item = getattr(value, field.name)
            rule = field.metadata.get("rule")
            where = f"{path}.{field.name}"
            if isinstance(rule, Rule) and not isinstance(item, Unset):
                try:
                    rule.check(item, where)
                except ValidationError as exc:
                    found += exc.errors
                    continue
            found += problems_of(item, where)
        for class_rule in getattr(cls, "rules", ()):
            found += [
                FieldError(path + where[1:], message)
                for where, message in class_rule.problems(value)
            ]
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            found += problems_of(item, f"{path}[{index}]")
    return found


def check(value: object) -> None:
    """Raise ValidationError listing every problem :func:`problems_of` finds."""
    found = problems_of(value)
    if found:
        raise ValidationError(found)


def accepts(rule: Rule) -> dict[str, Any]:
    """Field metadata of a command field whose values ``rule`` checks later, in the use case."""
    return {"rule": rule}


def _code(value: object) -> str | None:
    if not isinstance(value, str) or not CODE_PATTERN.fullmatch(value):
        return "must be 1-64 letters, digits or . _ / - and start with a letter or digit"
    return None


code = Rule(_code, {"type": "string", "pattern": CODE_PATTERN.pattern})


def text(min_length: int, max_length: int) -> Rule:
    """Text of ``min_length``..``max_length`` characters, without control characters but tab
    and newline."""

    def problem(value: object) -> str | None:
        if not isinstance(value, str):
            return "must be a string"
        if not min_length <= len(value) <= max_length:
            return f"must be {min_length}-{max_length} characters long"
        if _CONTROL.search(value):
            return "must not contain control characters"
        return None

    schema = {
        "type": "string",
        "minLength": min_length,
        "maxLength": max_length,
        "pattern": _NO_CONTROL_PATTERN,
    }
    return Rule(problem, schema)


def length(min_length: int, max_length: int) -> Rule:
    """Any string of ``min_length``..``max_length`` characters."""

    def problem(value: object) -> str | None:
        if not isinstance(value, str) or not min_length <= len(value) <= max_length:
            return f"must be {min_length}-{max_length} characters long"
        return None

    schema = {
        "type": "string",
        "minLength": min_length,
        "maxLength": max_length,
        "pattern": "^[^\\u0000]*$",  # NUL is refused at the edge of every API
    }
    return Rule(problem, schema)


def optional_text(max_length: int) -> Rule:
    return text(0, max_length).or_none()


def integer(minimum: int, maximum: int) -> Rule:
    """An integer (not a bool) in ``minimum``..``maximum``."""

    def problem(value: object) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return "must be an integer"
        if not minimum <= value <= maximum:
            return f"must be between {minimum} and {maximum}"
        return None

    return Rule(problem, {"type": "integer", "minimum": minimum, "maximum": maximum})


def optional_integer(minimum: int, maximum: int) -> Rule:
    return integer(minimum, maximum).or_none()


quantity = integer(MIN_QUANTITY, MAX_QUANTITY)
"""A quantity on a line or a reservation."""
reference = optional_text(200)
"""A caller's reference (order number, delivery note), optional."""
note = optional_text(2000)
"""Free text for people, optional."""
count = integer(0, MAX_QUANTITY)
version = integer(1, 2**62)


def one_of(*values: str, message: str | None = None) -> Rule:
    """One of ``values`` (enum members compare equal to their values)."""

    def problem(value: object) -> str | None:
        if value not in values:
            return message or "must be one of " + ", ".join(values)
        return None

    return Rule(problem, {"type": "string", "enum": list(values)})


def uuid_given(*names: str) -> dict[str, Any]:
    """JSON Schema: an object whose fields ``names`` are present and not ``null`` (UUIDs)."""
    return {
        "required": list(names),
        "properties": {name: {"type": "string", "format": "uuid"} for name in names},
    }


def when(
    field: str, value: str, then: Mapping[str, Any], otherwise: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """JSON Schema: ``then`` applies when ``field`` is ``value`` (and ``otherwise`` when not)."""
    schema: dict[str, Any] = {
        "if": {"required": [field], "properties": {field: {"const": value}}},
        "then": dict(then),
    }
    if otherwise is not None:
        schema["else"] = dict(otherwise)
    return schema


def aware(_: object, attribute: Any, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError("must be a timezone-aware datetime", f"$.{attribute.name}")


def optional_aware(instance: object, attribute: Any, value: datetime | None) -> None:
    if value is not None:
        aware(instance, attribute, value)


def uuids(value: Iterable[UUID]) -> tuple[UUID, ...]:
    return tuple(value)


def strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)
