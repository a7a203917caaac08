"""A strict cattrs converter for request bodies.

JSON from clients is structured into the attrs DTOs of :mod:`inventory_http.dto` without any
silent coercion: ``"1"`` is not an integer, ``1`` is not a boolean, ``1.0`` is not an integer,
a string is not a list, unknown keys are refused. UUIDs must be in canonical 8-4-4-4-12 form and
times in RFC 3339 with an offset. Every problem found is reported as a
:class:`~inventory_core.errors.FieldError` whose path is ``$.lines[0].quantity`` style, so the
HTTP layer renders it as a 422 like a domain validation error.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NewType, TypeVar
from uuid import UUID

import attrs
import cattrs
from cattrs.errors import (
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.v import format_exception as default_format_exception
from cattrs.v import transform_error

from inventory_core.errors import FieldError, ValidationError
from inventory_core.services._common import Unset

__all__ = [
    "BOUNDS",
    "Count",
    "Quantity",
    "StrictValueError",
    "make_converter",
    "structure",
]

T = TypeVar("T")

MAX_QUANTITY = 10**12

Quantity = NewType("Quantity", int)
"""A line quantity: an integer 1..10^12."""

Count = NewType("Count", int)
"""A counted or expected quantity, or a reorder point: an integer 0..10^12."""

BOUNDS: dict[object, tuple[int, int]] = {Quantity: (1, MAX_QUANTITY), Count: (0, MAX_QUANTITY)}
"""Inclusive ranges of the bounded integer types (also used by the OpenAPI document)."""

UUID_PATTERN = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
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
    if type(value) is not int:  # bool is a subclass of int, and floats are not integers here
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


def _bounded(low: int, high: int) -> Callable[[object, object], int]:
    def check(value: object, _: object) -> int:
        number = _int(value, None)
        if not low <= number <= high:
            raise StrictValueError(f"must be between {low} and {high}")
        return number

    return check


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
    for newtype, (low, high) in BOUNDS.items():
        converter.register_structure_hook(newtype, _bounded(low, high))

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


def _format(exc: BaseException, cls: type | None) -> str:
    if isinstance(exc, StrictValueError):
        return str(exc)
    if isinstance(exc, KeyError):
        return "is required"
    if isinstance(exc, ForbiddenExtraKeysError):
        return "unknown field(s): " + ", ".join(sorted(exc.extra_fields))
    return default_format_exception(exc, cls)


def structure(converter: cattrs.Converter, data: object, cls: type[T]) -> T:
    """``data`` as a ``cls``, or ValidationError listing every field error with its path."""
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # anything raised here was caused by the client's data
        errors = []
        for line in transform_error(exc, path="$", format_exception=_format):
            message, _, path = line.rpartition(" @ ")
            errors.append(FieldError(path or "$", message or line))
        raise ValidationError(errors) from None
