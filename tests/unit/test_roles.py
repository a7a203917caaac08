"""Every command is authorised by the executor for the role its handler is registered with
(viewer < clerk < manager < admin): a too-low role, or no actor, is refused with PermissionDenied
before anything is touched, and that role and above succeed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from inventory_core.commands import Command, registered_handlers
from inventory_core.contract.adapter import Harness, InMemoryContractAdapter
from inventory_core.contract.invariants import snapshot
from inventory_core.counts import CountLine
from inventory_core.errors import PermissionDenied
from inventory_core.ports import ItemQuery
from inventory_core.services.counts import CountStock
from inventory_core.services.events import ListEvents
from inventory_core.services.items import (
    ChangeItem,
    CreateItem,
    GetItem,
    GetItemStock,
    ItemChanges,
    ListItems,
)
from inventory_core.services.locations import (
    ChangeLocation,
    CreateLocation,
    GetLocation,
    ListLocations,
    LocationChanges,
)
from inventory_core.services.lots import GetLot, GetSerial, ListLots, SuggestPicking
from inventory_core.services.movements import (
    GetMovement,
    LineRequest,
    ListMovements,
    PostMovement,
    ReverseMovement,
)
from inventory_core.services.reservations import (
    FulfilmentLine,
    FulfilReservation,
    GetReservation,
    ListReservations,
    ReleaseReservation,
    ReserveStock,
)
from inventory_core.services.stock import ListAvailability, ListLocationStock
from inventory_core.services.tokens import CreateToken, ListTokens, RevokeToken
from inventory_core.services.users import (
    ChangePassword,
    ChangeUser,
    CreateUser,
    GetUser,
    ListUsers,
    UserChanges,
)
from inventory_core.services.webhooks import (
    ChangeWebhook,
    CreateWebhook,
    DeleteWebhook,
    GetWebhook,
    ListDeliveryAttempts,
    ListWebhooks,
    WebhookChanges,
)
from inventory_core.users import Actor, Role

ROLES = [Role.VIEWER, Role.CLERK, Role.MANAGER, Role.ADMIN]


class World:
    """A harness with a warehouse, a bin, an item with 10 received, a reservation of 2 and a
    receipt movement -- what every use case below needs to succeed."""

    def __init__(self) -> None:
        self.h = h = Harness(InMemoryContractAdapter())
        self.wh = h.warehouse()
        self.bin = h.bin(self.wh)
        self.item = h.item()
        self.receipt = h.inventory.execute(
            h.admin, PostMovement("receipt", [LineRequest(self.item, 10, to_location_id=self.bin)])
        )
        self.extra = h.inventory.execute(
            h.admin, PostMovement("receipt", [LineRequest(self.item, 1, to_location_id=self.bin)])
        )
        self.reservation = h.inventory.execute(h.admin, ReserveStock(self.item, self.wh, 2))
        self.lot_item = h.inventory.execute(
            h.admin, CreateItem("LOT-1", "Lotted", tracking="lot")
        ).id
        self.serial_item = h.inventory.execute(
            h.admin, CreateItem("SER-1", "Serialed", tracking="serial")
        ).id
        h.inventory.execute(
            h.admin,
            PostMovement(
                "receipt",
                [
                    LineRequest(self.lot_item, 3, to_location_id=self.bin, lot="L1"),
                    LineRequest(self.serial_item, 1, to_location_id=self.bin, serials=["S1"]),
                ],
            ),
        )
        self.lot = h.inventory.execute(h.admin, ListLots()).items[0].id
        self.other_user = h.user(Role.VIEWER)
        self.webhook = h.inventory.execute(
            h.admin, CreateWebhook("https://example.com/hook", ["item.created"])
        ).webhook


UseCase = Callable[[World, Actor], object]

# Keyed by command type; GetUser is checked as reading another user (anyone may read themself).
USE_CASES: dict[type[Command[Any]], tuple[Role, UseCase]] = {
    CreateItem: (
        Role.MANAGER,
        lambda w, a: w.h.inventory.execute(a, CreateItem("NEW-1", "New")),
    ),
    GetItem: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, GetItem(w.item))),
    ListItems: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, ListItems(ItemQuery()))),
    ChangeItem: (
        Role.MANAGER,
        lambda w, a: w.h.inventory.execute(a, ChangeItem(w.item, ItemChanges(name="Renamed"))),
    ),
    GetItemStock: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, GetItemStock(w.item))),
    ListLots: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, ListLots())),
    GetLot: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, GetLot(w.lot))),
    GetSerial: (
        Role.VIEWER,
        lambda w, a: w.h.inventory.execute(a, GetSerial(w.serial_item, "S1")),
    ),
    SuggestPicking: (
        Role.VIEWER,
        lambda w, a: w.h.inventory.execute(a, SuggestPicking(w.lot_item, w.wh, 2)),
    ),
    CreateLocation: (
        Role.MANAGER,
        lambda w, a: w.h.inventory.execute(a, CreateLocation("NEW-L", "n", "warehouse")),
    ),
    GetLocation: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, GetLocation(w.bin))),
    ListLocations: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, ListLocations())),
    ChangeLocation: (
        Role.MANAGER,
        lambda w, a: w.h.inventory.execute(
            a, ChangeLocation(w.bin, LocationChanges(name="Renamed"))
        ),
    ),
    PostMovement: (
        Role.CLERK,
        lambda w, a: w.h.inventory.execute(
            a, PostMovement("receipt", [LineRequest(w.item, 1, to_location_id=w.bin)])
        ),
    ),
    ReverseMovement: (
        Role.MANAGER,
        lambda w, a: w.h.inventory.execute(a, ReverseMovement(w.extra.id)),
    ),
    GetMovement: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, GetMovement(w.receipt.id))),
    ListMovements: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, ListMovements())),
    ListLocationStock: (
        Role.VIEWER,
        lambda w, a: w.h.inventory.execute(a, ListLocationStock()),
    ),
    ListAvailability: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, ListAvailability())),
    ReserveStock: (
        Role.CLERK,
        lambda w, a: w.h.inventory.execute(a, ReserveStock(w.item, w.wh, 1)),
    ),
    ReleaseReservation: (
        Role.CLERK,
        lambda w, a: w.h.inventory.execute(a, ReleaseReservation(w.reservation.id)),
    ),
    FulfilReservation: (
        Role.CLERK,
        lambda w, a: w.h.inventory.execute(
            a, FulfilReservation(w.reservation.id, [FulfilmentLine(w.bin, 2)])
        ),
    ),
    GetReservation: (
        Role.VIEWER,
        lambda w, a: w.h.inventory.execute(a, GetReservation(w.reservation.id)),
    ),
    ListReservations: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, ListReservations())),
    CountStock: (
        Role.CLERK,
        lambda w, a: w.h.inventory.execute(a, CountStock([CountLine(w.item, w.bin, 9)])),
    ),
    CreateUser: (
        Role.ADMIN,
        lambda w, a: w.h.inventory.execute(a, CreateUser("newbie", "a-long-password-9", "clerk")),
    ),
    GetUser: (
        Role.ADMIN,
        lambda w, a: w.h.inventory.execute(a, GetUser(w.other_user.user_id)),
    ),
    ListUsers: (Role.ADMIN, lambda w, a: w.h.inventory.execute(a, ListUsers())),
    ListEvents: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, ListEvents())),
    # Webhooks: admins only (a webhook can send any event anywhere).
    CreateWebhook: (
        Role.ADMIN,
        lambda w, a: w.h.inventory.execute(
            a, CreateWebhook("https://example.com/other", ["movement.posted"])
        ),
    ),
    ListWebhooks: (Role.ADMIN, lambda w, a: w.h.inventory.execute(a, ListWebhooks())),
    GetWebhook: (Role.ADMIN, lambda w, a: w.h.inventory.execute(a, GetWebhook(w.webhook.id))),
    ChangeWebhook: (
        Role.ADMIN,
        lambda w, a: w.h.inventory.execute(
            a, ChangeWebhook(w.webhook.id, WebhookChanges(active=False))
        ),
    ),
    DeleteWebhook: (
        Role.ADMIN,
        lambda w, a: [w.h.inventory.execute(a, DeleteWebhook(w.webhook.id))],
    ),
    ListDeliveryAttempts: (
        Role.ADMIN,
        lambda w, a: w.h.inventory.execute(a, ListDeliveryAttempts(w.webhook.id)),
    ),
    # Tokens: any logged-in user, for their own tokens (the use cases check owner or admin).
    CreateToken: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, CreateToken("ci"))),
    ListTokens: (Role.VIEWER, lambda w, a: w.h.inventory.execute(a, ListTokens())),
    RevokeToken: (
        Role.VIEWER,
        lambda w, a: [  # revoking answers None: the list makes the call's result not None
            w.h.inventory.execute(
                a, RevokeToken(w.h.inventory.execute(a, CreateToken("ci")).token.id)
            )
        ],
    ),
    ChangeUser: (
        Role.ADMIN,
        lambda w, a: w.h.inventory.execute(
            a, ChangeUser(w.other_user.user_id, UserChanges(role=Role.CLERK))
        ),
    ),
}


def _user_state(w: World) -> object:
    return w.h.inventory.execute(w.h.admin, ListUsers(limit=500)).items


def _state(w: World) -> object:
    h, admin = w.h, w.h.admin
    return (
        snapshot(h),
        h.inventory.execute(admin, ListItems()).items,
        h.inventory.execute(admin, ListLocations(limit=500)).items,
        _user_state(w),
        h.inventory.execute(admin, ListWebhooks()).items,
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("use_case", list(USE_CASES), ids=lambda t: t.__name__)
def test_role_is_checked(use_case: type[Command[Any]], role: Role) -> None:
    required, call = USE_CASES[use_case]
    world = World()
    actor = world.h.user(role)
    before = _state(world)
    if role.allows(required):
        assert call(world, actor) is not None
    else:
        with pytest.raises(PermissionDenied, match=f"needs the {required} role"):
            call(world, actor)
        assert _state(world) == before


def test_the_table_covers_every_role_checked_command_with_its_role() -> None:
    handlers = registered_handlers()
    checked = {t: h.role for t, h in handlers.items() if h.role is not None}
    # One's own password change is proven by the current password, open to every role.
    assert checked.pop(ChangePassword) is Role.VIEWER
    # GetUser is open to viewers for themselves, admin-only for others.
    assert checked.pop(GetUser) is Role.VIEWER
    assert checked == {t: role for t, (role, _) in USE_CASES.items() if t is not GetUser}


@pytest.mark.parametrize("use_case", list(USE_CASES), ids=lambda t: t.__name__)
def test_no_actor_is_refused_for_every_role_checked_command(use_case: type[Command[Any]]) -> None:
    _, call = USE_CASES[use_case]
    world = World()
    before = _state(world)
    with pytest.raises(PermissionDenied, match="needs a logged-in user"):
        call(world, None)  # type: ignore[arg-type]
    assert _state(world) == before


@pytest.mark.parametrize("role", ROLES)
def test_everyone_may_read_themself(role: Role) -> None:
    world = World()
    actor = world.h.user(role)
    assert world.h.inventory.execute(actor, GetUser(actor.user_id)).id == actor.user_id
