"""The served OpenAPI document is a valid OpenAPI 3.1 document (openapi-spec-validator), and the
validator used for that does reject a broken one."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing.exceptions import Unresolvable

from tests.http.conftest import World


def test_the_served_document_is_valid_openapi_3_1(world: World) -> None:
    result = world.client().client.simulate_get("/openapi.json")
    assert result.status_code == 200, result.text
    document = result.json
    assert document["openapi"].startswith("3.1.")
    missing = unresolvable_ref(document)
    assert missing is None, f"a $ref leads nowhere: {missing}"


def unresolvable_ref(document: dict[str, Any]) -> str | None:
    """Validate (raising on the first error found), except that a $ref leading nowhere is
    returned: that error's message quotes the whole document."""
    try:
        validate(document, cls=OpenAPIV31SpecValidator)
    except Unresolvable as error:
        return str(error.ref)
    return None


def _tiny_document(ref: str) -> dict[str, Any]:
    schema = {"$ref": ref}
    return {
        "openapi": "3.1.0",
        "info": {"title": "tiny", "version": "1"},
        "paths": {
            "/thing": {
                "get": {
                    "operationId": "getThing",
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": schema}},
                        }
                    },
                }
            }
        },
        "components": {"schemas": {"Thing": {"type": "object"}}},
    }


def test_the_validator_rejects_a_broken_ref() -> None:
    assert unresolvable_ref(_tiny_document("#/components/schemas/Thing")) is None
    broken = _tiny_document("#/components/schemas/Nothing")
    missing = unresolvable_ref(broken)
    assert missing is not None
    assert missing.endswith("/components/schemas/Nothing"), missing
