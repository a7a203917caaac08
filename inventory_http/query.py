"""Query parameters: read strictly, every problem reported at once (422).

A listing's filters are the core's query class (``ItemQuery``, ``MovementQuery``...), and a read
that takes only parameters may take its core command (``SuggestPicking``): the class's fields
are the parameters, with their types, rules and docstrings; a field without a default is a
required parameter. :meth:`Query.filters` reads them and the OpenAPI document lists them from
the same class."""

from __future__ import annotations

import enum
import functools
import re
import typing
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

import attrs
import falcon

from inventory_core._checks import Rule
from inventory_core.errors import FieldError, ValidationError
from inventory_core.paging import MAX_PAGE_SIZE
from inventory_http.converter import StrictValueError, parse_date, parse_uuid
from inventory_http.cursors import CursorKind, decode_cursor

__all__ = ["DEFAULT_PAGE_SIZE", "Query", "parameter_name"]

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)

DEFAULT_PAGE_SIZE = 50

_INTEGER = re.compile(r"-?[0-9]{1,19}")


def parameter_name(field: str, names: Mapping[str, str]) -> str:
    """The query parameter of a filter field (``names`` renames a few, e.g. text → q)."""
    return names.get(field, field)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    # Resolving (string) annotations is slow; a filter class is read on every listing request.
    return typing.get_type_hints(cls)


class Query:
    """Reads query parameters strictly and reports every problem at once (422).

    Use the getters, then :meth:`check`, which raises ValidationError if any parameter was bad.
    """

    def __init__(self, req: falcon.Request) -> None:
        self._params = req.params
        self._errors: list[FieldError] = []

    def _raw(self, name: str) -> str | None:
        value = self._params.get(name)
        if isinstance(value, list):
            self._errors.append(FieldError(f"$.{name}", "must be given at most once"))
            return None
        return value

    def _parse(self, name: str, parse: Callable[[str], T]) -> T | None:
        raw = self._raw(name)
        if raw is None:
            return None
        try:
            return parse(raw)
        except (StrictValueError, ValueError) as exc:
            self._errors.append(FieldError(f"$.{name}", str(exc)))
            return None

    def text(self, name: str) -> str | None:
        """A string parameter (empty means absent)."""
        raw = self._raw(name)
        if raw is not None and "\x00" in raw:
            self._errors.append(FieldError(f"$.{name}", "must not contain NUL characters"))
            return None
        return raw or None

    def uuid(self, name: str) -> UUID | None:
        """A UUID parameter."""
        return self._parse(name, parse_uuid)

    def boolean(self, name: str) -> bool | None:
        """``true`` or ``false``."""

        def parse(raw: str) -> bool:
            if raw not in {"true", "false"}:
                raise StrictValueError("must be true or false")
            return raw == "true"

        return self._parse(name, parse)

    def integer(self, name: str, low: int, high: int) -> int | None:
        """A decimal integer in ``low..high``."""

        def parse(raw: str) -> int:
            if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
                raise StrictValueError(f"must be an integer between {low} and {high}")
            value = int(raw)
            if not low <= value <= high:
                raise StrictValueError(f"must be an integer between {low} and {high}")
            return value

        return self._parse(name, parse)

    def number(self, name: str) -> int | None:
        """A decimal integer (its bounds are the field's rule, checked by :meth:`filters`)."""

        def parse(raw: str) -> int:
            if not _INTEGER.fullmatch(raw):
                raise StrictValueError("must be an integer")
            return int(raw)

        return self._parse(name, parse)

    def day(self, name: str) -> date | None:
        """A date, ``YYYY-MM-DD``."""
        return self._parse(name, parse_date)

    def choice(self, name: str, cls: type[E]) -> E | None:
        """One of an enum's values."""

        def parse(raw: str) -> E:
            for member in cls:
                if member.value == raw:
                    return member
            raise StrictValueError("must be one of " + ", ".join(str(m.value) for m in cls))

        return self._parse(name, parse)

    def limit(self) -> int:
        """``limit``: 1..500, default 50."""
        return self.integer("limit", 1, MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE

    def cursor(self, kind: CursorKind) -> Any:
        """The keyset value of ``cursor`` (None when absent)."""
        raw = self._raw("cursor")
        if not raw:
            return None
        try:
            return decode_cursor(raw, kind)
        except ValidationError as exc:
            self._errors.extend(exc.errors)
            return None

    def filters(self, cls: type[T], names: Mapping[str, str]) -> T | None:
        """The filter object ``cls`` from the parameters named after its fields, each checked
        by its field's rule. ``None`` when a parameter is bad or a required one (a field
        without a default) is missing: :meth:`check` then raises, naming each."""
        hints = _type_hints(typing.cast(Any, cls))
        values: dict[str, Any] = {}
        before = len(self._errors)
        for field in attrs.fields(typing.cast(Any, cls)):
            name = parameter_name(field.name, names)
            read = len(self._errors)
            value = self._read(name, hints[field.name])
            if value is not None:
                values[field.name] = value
                self._follows_rule(field, value, name)
            elif field.default is attrs.NOTHING and len(self._errors) == read:
                self._errors.append(FieldError(f"$.{name}", "is required"))
        if len(self._errors) > before:
            return None
        try:
            return cls(**values)
        except ValidationError as exc:  # a rule across fields, or of an attrs validator
            self._errors += [_renamed(problem, names) for problem in exc.errors]
            return None

    def _follows_rule(self, field: attrs.Attribute[Any], value: object, name: str) -> None:
        rule = field.metadata.get("rule", field.validator)
        if isinstance(rule, Rule):
            try:
                rule.check(value, f"$.{name}")
            except ValidationError as exc:
                self._errors += exc.errors

    def choices(self, name: str, cls: type[E]) -> tuple[E, ...] | None:
        """A comma-separated list of an enum's values; each bad one is reported by its index
        (``$.types[1]``)."""
        raw = self.text(name)
        if raw is None:
            return None
        known = {str(member.value): member for member in cls}
        found: list[E] = []
        for index, part in enumerate(raw.split(",")):
            member = known.get(part.strip())
            if member is None:
                self._errors.append(
                    FieldError(f"$.{name}[{index}]", "must be one of " + ", ".join(known))
                )
            else:
                found.append(member)
        return tuple(found)

    def _read(self, name: str, hint: Any) -> Any:
        args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
        kind = args[0]
        if typing.get_origin(kind) is tuple:
            element = typing.get_args(kind)[0]
            if isinstance(element, type) and issubclass(element, enum.Enum):
                return self.choices(name, element)
        if kind is str:
            return self.text(name)
        if kind is UUID:
            return self.uuid(name)
        if kind is bool:
            return self.boolean(name)
        if kind is int:
            return self.number(name)
        if kind is date:
            return self.day(name)
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            return self.choice(name, kind)
        raise TypeError(f"no query parameter of type {hint!r}")

    def retired(self, name: str, instead: str) -> None:
        """A parameter the API no longer takes: refused with what to use ``instead``, never
        silently ignored (a client relying on it would get something else than it asks for)."""
        if name in self._params:
            self._errors.append(FieldError(f"$.{name}", f"is no longer supported; {instead}"))

    def check(self) -> None:
        """Raise ValidationError (422) listing every bad parameter read so far."""
        if self._errors:
            raise ValidationError(self._errors)


def _renamed(problem: FieldError, names: Mapping[str, str]) -> FieldError:
    """A problem found at ``$.field`` of a filter object, at its parameter's path instead."""
    if not problem.path.startswith("$."):
        return problem
    field, dot, rest = problem.path.removeprefix("$.").partition(".")
    head, bracket, index = field.partition("[")
    path = f"$.{parameter_name(head, names)}{bracket}{index}{dot}{rest}"
    return FieldError(path, problem.message)
