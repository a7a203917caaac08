"""JSON Schema (OpenAPI 3.1 dialect) generated from attrs classes.

The shapes of the API are attrs classes: the core's entities and commands, and the few HTTP-only
shapes of :mod:`inventory_http.shapes`. This module turns a class into a schema: field types,
enums, bounds and patterns from the field's :class:`~inventory_core._checks.Rule` (its validator
or, on a command, its ``rule`` metadata), docstrings as descriptions. Nothing about a field is
written down twice. We looked for a library that does this for attrs (apischema, pydantic's
``TypeAdapter`` over attrs, cattrs' own schema work) and found none that reads attrs validators
or attribute docstrings; see docs/decisions.md.

Conventions: ``null`` is always written as ``anyOf: [<schema>, {"type": "null"}]``; enums and
attrs classes are components referenced by ``$ref``; a request body is closed
(``additionalProperties: false``) and requires the fields without a default; a response lists
every public field as required.
"""

from __future__ import annotations

import ast
import enum
import functools
import inspect
import textwrap
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

import attrs

from inventory_core._checks import Rule
from inventory_core.unset import Unset

__all__ = ["Direction", "SchemaRegistry", "field_docs", "public_fields", "type_description"]

Direction = Literal["request", "response"]

NULL: dict[str, Any] = {"type": "null"}
NO_NUL_PATTERN = "^[^\\u0000]*$"


def public_fields(cls: type) -> tuple[attrs.Attribute[Any], ...]:
    """The fields of ``cls`` its users see (not the adapters' bookkeeping or secrets)."""
    return tuple(f for f in attrs.fields(cls) if not f.metadata.get("internal"))


@functools.cache
def field_docs(cls: type) -> Mapping[str, str]:
    """Attribute docstrings (the string literal right after a field) of ``cls``, by field."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (e.g. a class made at run time)
        return {}
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    docs: dict[str, str] = {}
    for node, following in zip(body.body, body.body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = _prose(following.value.value)
    return docs


def type_description(cls: type) -> str | None:
    """A class's docstring as prose for a schema description."""
    doc = cls.__doc__
    if not doc or doc.startswith(f"{cls.__name__}("):  # attrs' generated placeholder
        return None
    return _prose(inspect.cleandoc(doc))


def _prose(text: str) -> str:
    """reStructuredText literals (``x``) as Markdown code spans (`x`), paragraphs kept."""
    cleaned = inspect.cleandoc(text).replace("``", "`")
    paragraphs = [" ".join(p.split()) for p in cleaned.split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def _rule_of(field: attrs.Attribute[Any]) -> Rule | None:
    rule = field.metadata.get("rule")
    if isinstance(rule, Rule):
        return rule
    return field.validator if isinstance(field.validator, Rule) else None


def _without(hint: Any, *drop: Any) -> tuple[Any, bool]:
    """``hint`` without the members ``drop`` of its union, and whether ``None`` was among them."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return hint, False
    args = typing.get_args(hint)
    nullable = type(None) in args
    rest = [a for a in args if a not in drop and a is not type(None)]
    if len(rest) != 1:
        raise TypeError(f"unions other than X | None are not part of the API: {hint!r}")
    return rest[0], nullable


class SchemaRegistry:
    """Schemas of types, with every enum and attrs class kept once under ``components``."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}
        self._names: dict[tuple[object, Direction], str] = {}

    def ref(self, name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    def add(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        """Keep a hand-made component (the problem documents) and return its reference."""
        self.components[name] = schema
        return self.ref(name)

    def schema(self, hint: Any, direction: Direction, *, name: str | None = None) -> dict[str, Any]:
        """The schema of a type hint: inline for scalars, a reference for enums and classes."""
        hint, nullable = _without(hint, Unset)
        schema = self._schema(hint, direction, name)
        return {"anyOf": [schema, NULL]} if nullable else schema

    def _schema(self, hint: Any, direction: Direction, name: str | None) -> dict[str, Any]:
        scalar = _SCALARS.get(hint)
        if scalar is not None:
            if hint is str and direction == "request":  # the converter refuses NUL everywhere
                return {**scalar, "pattern": NO_NUL_PATTERN}
            return dict(scalar)
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return self._enum(hint)
        origin = typing.get_origin(hint)
        if origin in (tuple, list):
            return {"type": "array", "items": self.schema(typing.get_args(hint)[0], direction)}
        if origin is dict:
            values = self.schema(typing.get_args(hint)[1], direction)
            return {"type": "object", "additionalProperties": values}
        if origin is Literal:
            return {"enum": list(typing.get_args(hint))}
        if attrs.has(origin or hint):
            return self._class(hint, direction, name)
        raise TypeError(f"no JSON Schema for {hint!r}")

    def _enum(self, cls: type[enum.Enum]) -> dict[str, Any]:
        if cls.__name__ not in self.components:
            schema: dict[str, Any] = {"type": "string", "enum": [m.value for m in cls]}
            description = type_description(cls)
            if description:
                schema["description"] = description
            self.components[cls.__name__] = schema
        return self.ref(cls.__name__)

    def _class(self, hint: Any, direction: Direction, name: str | None) -> dict[str, Any]:
        key = (hint, direction)
        if key in self._names:
            return self.ref(self._names[key])
        cls = typing.get_origin(hint) or hint
        args = typing.get_args(hint)
        if name is None:
            name = "".join(a.__name__ for a in args) + cls.__name__
            if cls.__name__ in {"Collection", "Feed"}:
                name = "".join(a.__name__ for a in args) + "Page"
            if name in self.components:  # the same class in the other direction
                name += "Input" if direction == "request" else ""
        self._names[key] = name
        self.components[name] = {}  # reserved: classes may refer to themselves
        self.components[name] = self.object_schema(hint, direction)
        return self.ref(name)

    def object_schema(
        self, hint: Any, direction: Direction, *, exclude: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """The schema of an attrs class (``exclude``: fields that come from elsewhere, such as
        the path)."""
        cls = typing.get_origin(hint) or hint
        parameters = getattr(cls, "__parameters__", ())
        bindings = dict(zip(parameters, typing.get_args(hint), strict=False))
        hints = typing.get_type_hints(cls)
        docs = field_docs(cls)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in public_fields(cls):
            if field.name in exclude or (direction == "request" and not field.init):
                continue
            field_hint = _bind(hints[field.name], bindings)
            schema = self._field(field, field_hint, direction)
            if field.name in docs:
                schema = {**schema, "description": docs[field.name]}
            properties[field.name] = schema
            if direction == "response" or field.default is attrs.NOTHING:
                required.append(field.name)
        result: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            result["required"] = required
        result["additionalProperties"] = False
        if direction == "request":  # rules across fields (a receipt's lines need a destination)
            conditions = [
                c for rule in getattr(cls, "rules", ()) for c in rule.json_schema["allOf"]
            ]
            if conditions:
                result["allOf"] = conditions
        description = type_description(cls)
        if description:
            result["description"] = description
        return result

    def field_schema(
        self, field: attrs.Attribute[Any], hint: Any, direction: Direction
    ) -> dict[str, Any]:
        """The schema of one field of an attrs class (its type, with its rule's bounds and
        pattern), as a query or path parameter takes it: ``null`` is left out (a parameter is
        absent rather than null) and so is the description."""
        bare, _ = _without(hint, Unset)
        return self._field(field, bare, direction)

    def _field(
        self, field: attrs.Attribute[Any], hint: Any, direction: Direction
    ) -> dict[str, Any]:
        rule = _rule_of(field)
        bare, nullable = _without(hint, Unset)
        presents = field.metadata.get("presents")
        schema: dict[str, Any]
        if presents:  # JSON made by present() from one of these classes (an event's data)
            schema = {"anyOf": [self.schema(cls, direction) for cls in presents]}
        elif rule is not None and "enum" in rule.json_schema:  # a subset of an enum
            schema = dict(rule.json_schema)
        elif rule is not None:
            schema = {**self._schema(bare, direction, None), **rule.json_schema}
        else:
            schema = self._schema(bare, direction, None)
        if direction == "request" and isinstance(field.default, str | int | bool | tuple):
            default = field.default
            schema = {**schema, "default": list(default) if isinstance(default, tuple) else default}
        if nullable:
            schema = {"anyOf": [schema, NULL]}
        return schema


def _bind(hint: Any, bindings: Mapping[Any, Any]) -> Any:
    """``hint`` with the type variables of a generic class replaced by their arguments."""
    if hint in bindings:
        return bindings[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if not args:
        return hint
    bound = tuple(_bind(a, bindings) for a in args)
    if origin in (typing.Union, types.UnionType):
        return functools.reduce(lambda a, b: a | b, bound)
    return typing.cast(Any, origin)[bound]


_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    bool: {"type": "boolean"},
    UUID: {"type": "string", "format": "uuid"},
    datetime: {"type": "string", "format": "date-time"},
    date: {"type": "string", "format": "date"},
}
