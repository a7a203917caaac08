"""Request bodies of the HTTP API, as attrs classes structured by the strict converter.

They are separate from the core's commands on purpose: the wire format can stay stable while the
core evolves, and every field a client may send is listed here (and, from here, in the OpenAPI
document). Fields with a default are optional; ``UNSET`` marks a PATCH field that was not sent.
Length and pattern rules of the domain are checked by the core, which reports them as 422 too.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

from inventory_core.locations import LocationKind
from inventory_core.movements import AdjustmentReason, MovementKind
from inventory_core.services._common import UNSET, Unset
from inventory_core.users import Role
from inventory_http.converter import Count, Quantity

__all__ = [
    "ChangeItemBody",
    "ChangeLocationBody",
    "ChangePasswordBody",
    "ChangeUserBody",
    "CountBody",
    "CountLineBody",
    "CreateItemBody",
    "CreateLocationBody",
    "CreateUserBody",
    "FulfilmentBody",
    "FulfilmentLineBody",
    "LoginBody",
    "MovementBody",
    "MovementLineBody",
    "ReservationBody",
    "ReversalBody",
]


def _schema(**keywords: object) -> dict[str, object]:
    """Field metadata: JSON Schema keywords the OpenAPI document adds to the field's schema
    (the rules themselves are enforced by the core; this tells clients about them)."""
    return {"schema": keywords}


_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/\-]{0,63}$"
_CODE = _schema(pattern=_CODE_PATTERN)
_NAME = _schema(minLength=1, maxLength=200)
_UNIT = _schema(minLength=1, maxLength=32)
_BARCODES = _schema(
    maxItems=32, uniqueItems=True, items={"type": "string", "pattern": _CODE_PATTERN}
)
_USERNAME = _schema(pattern=r"^[a-z0-9][a-z0-9._@\-]{1,63}$")
_PASSWORD = _schema(minLength=8, maxLength=128)
_REFERENCE = _schema(maxLength=200)
_NOTE = _schema(maxLength=2000)
_LINES = _schema(minItems=1, maxItems=1000)


@attrs.frozen
class LoginBody:
    """``POST /v1/session``. ``remember`` asks for a persistent cookie (mobile apps)."""

    username: str = attrs.field(metadata=_schema(minLength=1, maxLength=256))
    password: str = attrs.field(repr=False, metadata=_schema(minLength=1, maxLength=1024))
    remember: bool = False


@attrs.frozen
class CreateUserBody:
    """``POST /v1/users``."""

    username: str = attrs.field(metadata=_USERNAME)
    password: str = attrs.field(repr=False, metadata=_PASSWORD)
    role: Role


@attrs.frozen
class ChangeUserBody:
    """``PATCH /v1/users/{id}``: role, active flag or a new password set by an admin."""

    role: Role | Unset = UNSET
    active: bool | Unset = UNSET
    password: str | Unset = attrs.field(default=UNSET, repr=False, metadata=_PASSWORD)


@attrs.frozen
class ChangePasswordBody:
    """``PUT /v1/users/me/password``."""

    current_password: str = attrs.field(repr=False, metadata=_schema(maxLength=1024))
    new_password: str = attrs.field(repr=False, metadata=_PASSWORD)


@attrs.frozen
class CreateItemBody:
    """``POST /v1/items``."""

    sku: str = attrs.field(metadata=_CODE)
    name: str = attrs.field(metadata=_NAME)
    unit: str = attrs.field(default="each", metadata=_UNIT)
    barcodes: tuple[str, ...] = attrs.field(default=(), metadata=_BARCODES)
    reorder_point: Count | None = None
    reorder_quantity: Quantity | None = None


@attrs.frozen
class ChangeItemBody:
    """``PATCH /v1/items/{id}``; ``null`` clears the reorder fields."""

    sku: str | Unset = attrs.field(default=UNSET, metadata=_CODE)
    name: str | Unset = attrs.field(default=UNSET, metadata=_NAME)
    unit: str | Unset = attrs.field(default=UNSET, metadata=_UNIT)
    barcodes: tuple[str, ...] | Unset = attrs.field(default=UNSET, metadata=_BARCODES)
    reorder_point: Count | Unset | None = UNSET
    reorder_quantity: Quantity | Unset | None = UNSET
    active: bool | Unset = UNSET


@attrs.frozen
class CreateLocationBody:
    """``POST /v1/locations``: a warehouse (no parent) or an internal location (a parent)."""

    code: str = attrs.field(metadata=_CODE)
    name: str = attrs.field(metadata=_NAME)
    kind: LocationKind
    parent_id: UUID | None = None


@attrs.frozen
class ChangeLocationBody:
    """``PATCH /v1/locations/{id}``."""

    code: str | Unset = attrs.field(default=UNSET, metadata=_CODE)
    name: str | Unset = attrs.field(default=UNSET, metadata=_NAME)
    parent_id: UUID | Unset = UNSET
    active: bool | Unset = UNSET


@attrs.frozen
class MovementLineBody:
    """One line of ``POST /v1/movements``; see DESIGN §3 for the sides that may be omitted."""

    item_id: UUID
    quantity: Quantity
    from_location_id: UUID | None = None
    to_location_id: UUID | None = None


@attrs.frozen
class MovementBody:
    """``POST /v1/movements``."""

    kind: MovementKind
    lines: tuple[MovementLineBody, ...] = attrs.field(metadata=_LINES)
    reference: str | None = attrs.field(default=None, metadata=_REFERENCE)
    note: str | None = attrs.field(default=None, metadata=_NOTE)
    reason: AdjustmentReason | None = None
    occurred_at: datetime | None = None


@attrs.frozen
class ReversalBody:
    """``POST /v1/movements/{id}/reversal`` (the body is optional)."""

    reference: str | None = attrs.field(default=None, metadata=_REFERENCE)
    note: str | None = attrs.field(default=None, metadata=_NOTE)


@attrs.frozen
class ReservationBody:
    """``POST /v1/reservations``."""

    item_id: UUID
    warehouse_id: UUID
    quantity: Quantity
    reference: str | None = attrs.field(default=None, metadata=_REFERENCE)
    expires_at: datetime | None = None


@attrs.frozen
class FulfilmentLineBody:
    """Ship ``quantity`` from ``location_id``."""

    location_id: UUID
    quantity: Quantity


@attrs.frozen
class FulfilmentBody:
    """``POST /v1/reservations/{id}/fulfilment``."""

    lines: tuple[FulfilmentLineBody, ...] = attrs.field(metadata=_LINES)
    reference: str | None = attrs.field(default=None, metadata=_REFERENCE)
    note: str | None = attrs.field(default=None, metadata=_NOTE)


@attrs.frozen
class CountLineBody:
    """What was counted of an item at a location, and optionally what the counter expected."""

    item_id: UUID
    location_id: UUID
    counted: Count
    expected_on_hand: Count | None = None


@attrs.frozen
class CountBody:
    """``POST /v1/counts``."""

    lines: tuple[CountLineBody, ...] = attrs.field(metadata=_LINES)
    note: str | None = attrs.field(default=None, metadata=_NOTE)
    reference: str | None = attrs.field(default=None, metadata=_REFERENCE)
