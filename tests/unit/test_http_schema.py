"""The JSON Schema generator and the strict converter read the same declarations: a rule
written once on a field bounds the document, refuses the value at the edge, and its docstring
describes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import attrs
import pytest

from inventory_core._checks import accepts, integer, text
from inventory_core.errors import ValidationError
from inventory_core.items import Item
from inventory_core.locations import Location
from inventory_core.movements import POSTABLE_KIND
from inventory_core.present import present
from inventory_core.services.movements import PostMovement
from inventory_core.unset import UNSET, Unset
from inventory_core.users import Role, User
from inventory_http.converter import make_converter, structure
from inventory_http.schema import SchemaRegistry, field_docs, public_fields
from inventory_http.shapes import Collection


@attrs.frozen
class Sample:
    """A sample body."""

    size: int = attrs.field(metadata=accepts(integer(1, 9)))
    """How big."""
    label: str | None = attrs.field(default=None, metadata=accepts(text(1, 5).or_none()))
    """What it says."""
    tags: tuple[str, ...] = ()
    maybe: int | Unset = UNSET


def errors_of(data: Any, cls: type) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        structure(make_converter(), data, cls)
    return [(e.path, e.message) for e in caught.value.errors]


def test_attribute_docstrings_become_descriptions() -> None:
    assert field_docs(Sample) == {"size": "How big.", "label": "What it says."}
    schema = SchemaRegistry().object_schema(Sample, "request")
    assert schema["description"] == "A sample body."
    assert schema["properties"]["size"]["description"] == "How big."
    assert "description" not in schema["properties"]["tags"]


def test_rules_bound_the_schema_and_null_is_written_one_way() -> None:
    schema = SchemaRegistry().object_schema(Sample, "request")
    assert schema["required"] == ["size"]
    assert schema["additionalProperties"] is False
    size = schema["properties"]["size"]
    assert (size["type"], size["minimum"], size["maximum"]) == ("integer", 1, 9)
    label = schema["properties"]["label"]
    assert label["anyOf"][1] == {"type": "null"}
    assert (label["anyOf"][0]["minLength"], label["anyOf"][0]["maxLength"]) == (1, 5)
    # PATCH-style fields that may be absent are optional, never "null-or-unset" unions
    assert schema["properties"]["maybe"] == {"type": "integer"}


def test_the_same_rule_refuses_the_value_at_the_edge_with_its_path() -> None:
    assert errors_of({"size": 10}, Sample) == [("$.size", "must be between 1 and 9")]
    assert errors_of({"size": 1, "label": "toolong"}, Sample) == [
        ("$.label", "must be 1-5 characters long")
    ]
    assert structure(make_converter(), {"size": 3, "label": None}, Sample) == Sample(3)
    # JSON Schema's integer: a number without a fraction, however written; 1.5 and true are not
    assert structure(make_converter(), {"size": 3.0}, Sample) == Sample(3)
    assert errors_of({"size": 1.5}, Sample) == [("$.size", "must be an integer")]
    assert errors_of({"size": True}, Sample) == [("$.size", "must be an integer")]


def test_every_problem_of_a_nested_body_is_named_by_its_path() -> None:
    line = {"item_id": str(UUID(int=1)), "quantity": 0}
    found = errors_of({"kind": "receipt", "lines": [line, {**line, "quantity": "1"}]}, PostMovement)
    assert found == [("$.lines[1].quantity", "must be an integer")]
    found = errors_of({"kind": "reversal", "lines": [line]}, PostMovement)
    assert ("$.kind", POSTABLE_KIND.problem("reversal")) in found
    assert ("$.lines[0].quantity", "must be between 1 and 1000000000000") in found


def test_internal_fields_are_neither_documented_nor_sent() -> None:
    assert "password_hash" not in {f.name for f in public_fields(User)}
    registry = SchemaRegistry()
    registry.schema(Location, "response")
    location = registry.components["Location"]
    assert "ancestor_ids" not in location["properties"]
    assert "warehouse_id" in location["required"]


def test_generic_pages_get_a_component_per_entry_type() -> None:
    registry = SchemaRegistry()
    ref = registry.schema(Collection[Item], "response")
    assert ref == {"$ref": "#/components/schemas/ItemPage"}
    page = registry.components["ItemPage"]
    assert page["properties"]["data"]["items"] == {"$ref": "#/components/schemas/Item"}
    assert page["required"] == ["data", "next_cursor"]


def test_present_shows_public_fields_as_json() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    user = User(
        id=UUID(int=7),
        username="ann",
        role=Role.CLERK,
        password_hash="secret",
        created_at=now,
        updated_at=now,
    )
    shown = present(user)
    assert shown == {
        "id": str(UUID(int=7)),
        "username": "ann",
        "role": "clerk",
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-02T03:04:05Z",
        "active": True,
        "version": 1,
    }
    json.dumps(shown)
