"""A strict cattrs converter for request bodies.

JSON from clients is structured into the core's commands (and the few HTTP-only shapes) without any
silent coercion: ``"1"`` is not an integer, ``1`` is not a boolean, ``1.5`` is not an integer,
a string is not a list, unknown keys are refused. UUIDs must be in canonical 8-4-4-4-12 form and
times in RFC 3339 with an offset, dates exactly ``YYYY-MM-DD``. Every problem found is reported as a
:class:`~inventory_core.errors.FieldError` whose path is ``$.lines[0].quantity`` style, so the
HTTP layer renders it as a 422 like a domain validation error. Once the JSON types are right,
the :class:`~inventory_core._checks.Rule` each field names is checked too, so bounds and patterns
are refused at the edge, all at once, by the same rules the core and the OpenAPI document use.

:func:`make_output_converter` is the other direction: the one way response bodies are made.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.v import format_exception as default_format_exception

from inventory_core._checks import problems_of
from inventory_core.errors import FieldError, ValidationError
from inventory_core.unset import Unset

__all__ = [
    "StrictValueError",
    "make_converter",
    "parse_date",
    "parse_datetime",
    "parse_uuid",
    "structure",
]

T = TypeVar("T")

UUID_PATTERN = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATE_MESSAGE = "must be a date like 2026-01-31"
RFC3339_PATTERN = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)


class StrictValueError(ValueError):
    """A value of the wrong JSON type or form; its message is shown to the client as is."""


def _str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise StrictValueError("must be a string")
    # NUL cannot be stored in PostgreSQL text and lone surrogates cannot be encoded: both would
    # fail deep inside an adapter, so they are refused at the edge.
    if "\x00" in value:
        raise StrictValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise StrictValueError("must be valid Unicode text") from None
    return value


def _int(value: object, _: object) -> int:
    # JSON has one number type, and JSON Schema (which the OpenAPI document speaks) calls 85.0 an
    # integer: so a number without a fraction is one, however it is written. Booleans (a
    # subclass of int in Python), strings and fractions are not.
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is not int:
        raise StrictValueError("must be an integer")
    return value


def _bool(value: object, _: object) -> bool:
    if type(value) is not bool:
        raise StrictValueError("must be true or false")
    return value


def parse_uuid(value: object) -> UUID:
    """A canonical UUID string to a UUID, else StrictValueError."""
    if not isinstance(value, str) or not UUID_PATTERN.fullmatch(value):
        raise StrictValueError("must be a UUID like 0190a8e4-3b6c-7d4e-9f10-123456789abc")
    return UUID(value)


def parse_datetime(value: object) -> datetime:
    """An RFC 3339 date-time with an offset to an aware UTC datetime, else StrictValueError."""
    match = RFC3339_PATTERN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise StrictValueError(
            "must be an RFC 3339 date-time with offset, e.g. 2026-01-31T12:00:00Z"
        )
    date, time, fraction, offset = match.groups()
    fraction = (fraction or "")[:7]  # Python keeps microseconds; finer digits are dropped
    offset = "+00:00" if offset in {"Z", "z"} else offset
    try:
        return datetime.fromisoformat(f"{date}T{time}{fraction}{offset}").astimezone(UTC)
    except (ValueError, OverflowError):
        raise StrictValueError("is not a valid date-time") from None


def parse_date(value: object) -> date:
    """A calendar date written ``YYYY-MM-DD`` (ISO 8601's extended form, and the ``full-date``
    of RFC 3339 that JSON Schema's ``format: date`` names) to a date, else StrictValueError.
    Nothing else ISO 8601 allows is taken (``20260131``, ``2026-W05-6``, ``2026-1-31``, a
    time part), and the day must exist (``2026-02-30`` does not)."""
    if not isinstance(value, str) or not DATE_PATTERN.fullmatch(value):
        raise StrictValueError(DATE_MESSAGE)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise StrictValueError(f"{DATE_MESSAGE}: {value} is not a day of the calendar") from None


def _enum(value: object, cls: type[enum.Enum]) -> enum.Enum:
    choices = [member.value for member in cls]
    if isinstance(value, str) and value in choices:
        return cls(value)
    raise StrictValueError("must be one of " + ", ".join(map(str, choices)))


def _scalar(value: object, cls: Any) -> object:
    if issubclass(cls, enum.Enum):
        return _enum(value, cls)
    if cls is bool:
        return _bool(value, cls)
    if cls is int:
        return _int(value, cls)
    if cls is str:
        return _str(value, cls)
    raise TypeError(f"no strict structuring for {cls!r}")  # a DTO uses an unsupported type


def _is_sequence(cls: Any) -> bool:
    origin = typing.get_origin(cls)
    return origin in (tuple, list) and cls is not tuple


def _is_unset_union(cls: Any) -> bool:
    return typing.get_origin(cls) in (typing.Union, types.UnionType) and Unset in typing.get_args(
        cls
    )


def make_converter() -> cattrs.Converter:
    """The strict converter (detailed validation on, extra keys forbidden)."""
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    # One singledispatch hook for the scalars: cattrs registers ``str`` by singledispatch, which
    # a StrEnum would match first (str precedes Enum in its MRO), so the hook sorts them itself.
    for base in (str, int, bool, enum.Enum):
        converter.register_structure_hook(base, _scalar)
    converter.register_structure_hook(UUID, lambda v, _: parse_uuid(v))
    converter.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
    converter.register_structure_hook(date, lambda v, _: parse_date(v))

    def unset_union(value: object, cls: Any) -> object:
        # A PATCH field may be absent (the attrs default, UNSET) or given; given, it has the
        # type without Unset. UNSET itself can never come from JSON.
        rest = tuple(arg for arg in typing.get_args(cls) if arg is not Unset)
        inner: Any = rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007
        return converter.structure(value, inner)

    converter.register_structure_hook_func(_is_unset_union, unset_union)

    def structure_sequence(value: object, cls: Any) -> object:
        if not isinstance(value, list):
            raise StrictValueError("must be an array")
        element = typing.get_args(cls)[0]
        results, errors = [], []
        for index, item in enumerate(value):
            try:
                results.append(converter.structure(item, element))
            except Exception as exc:  # collected, so every bad element is reported
                note = IterableValidationNote(f"index {index}", index, element)
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                errors.append(exc)
        if errors:
            raise IterableValidationError("invalid elements", errors, cls)
        return tuple(results) if typing.get_origin(cls) is tuple else results

    converter.register_structure_hook_func(_is_sequence, structure_sequence)

    def attrs_factory(cls: Any) -> Callable[[object, Any], object]:
        default = cattrs.gen.make_dict_structure_fn(cls, converter)

        def structure_object(value: object, _: Any) -> object:
            if not isinstance(value, dict):
                raise StrictValueError("must be an object")
            return default(value, cls)

        return structure_object

    converter.register_structure_hook_factory(attrs.has, attrs_factory)
    return converter


def _errors(exc: BaseException, path: str) -> list[FieldError]:
    """Every problem inside a (nested) cattrs error, each with the path of its value."""
    if isinstance(exc, ClassValidationError | IterableValidationError):
        found: list[FieldError] = []
        noted, without = exc.group_exceptions()
        for inner, note in noted:  # a field's name, or an element's index
            where = (
                f"[{note.index!r}]" if isinstance(note, IterableValidationNote) else f".{note.name}"
            )
            found += _errors(inner, path + where)
        for inner in without:
            found += _errors(inner, path)
        return found
    if isinstance(exc, ValidationError):  # an entity's own validator, paths relative to it
        return [FieldError(path + error.path[1:], error.message) for error in exc.errors]
    if isinstance(exc, StrictValueError):
        return [FieldError(path, str(exc))]
    if isinstance(exc, KeyError):
        return [FieldError(path, "is required")]
    if isinstance(exc, ForbiddenExtraKeysError):
        return [FieldError(path, "unknown field(s): " + ", ".join(sorted(exc.extra_fields)))]
    return [FieldError(path, default_format_exception(exc, None))]


def structure(converter: cattrs.Converter, data: object, cls: type[T]) -> T:
    """``data`` as a ``cls``, or ValidationError listing every problem with its path: the JSON
    types first, then the rules each field names."""
    try:
        value = converter.structure(data, cls)
    except Exception as exc:  # anything raised here was caused by the client's data
        raise ValidationError(_errors(exc, "$")) from None
    errors = problems_of(value)
    if errors:
        raise ValidationError(errors)
    return value
