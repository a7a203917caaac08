"""Every use case checks the actor's role itself (viewer < clerk < manager < admin), refuses a
too-low role with PermissionDenied before touching anything, and works for that role and above."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from inventory_core.contract.adapter import Harness, InMemoryContractAdapter
from inventory_core.contract.invariants import snapshot
from inventory_core.counts import CountLine
from inventory_core.errors import PermissionDenied
from inventory_core.ports import ItemQuery
from inventory_core.services.counts import CountStock
from inventory_core.services.items import ChangeItem, CreateItem
from inventory_core.services.locations import ChangeLocation, CreateLocation
from inventory_core.services.movements import LineRequest, PostMovement
from inventory_core.services.reservations import FulfilmentLine, FulfilReservation, ReserveStock
from inventory_core.services.users import ChangeUser, CreateUser
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
        self.receipt = h.inventory.post_movement(
            h.admin, PostMovement("receipt", [LineRequest(self.item, 10, to_location_id=self.bin)])
        )
        self.extra = h.inventory.post_movement(
            h.admin, PostMovement("receipt", [LineRequest(self.item, 1, to_location_id=self.bin)])
        )
        self.reservation = h.inventory.reserve_stock(h.admin, ReserveStock(self.item, self.wh, 2))
        self.other_user = h.user(Role.VIEWER)


UseCase = Callable[[World, Actor], object]

USE_CASES: dict[str, tuple[Role, UseCase]] = {
    "create_item": (
        Role.MANAGER,
        lambda w, a: w.h.inventory.create_item(a, CreateItem("NEW-1", "New")),
    ),
    "get_item": (Role.VIEWER, lambda w, a: w.h.inventory.get_item(a, w.item)),
    "list_items": (Role.VIEWER, lambda w, a: w.h.inventory.list_items(a, ItemQuery())),
    "change_item": (
        Role.MANAGER,
        lambda w, a: w.h.inventory.change_item(a, w.item, ChangeItem(name="Renamed")),
    ),
    "item_stock": (Role.VIEWER, lambda w, a: w.h.inventory.item_stock(a, w.item)),
    "create_location": (
        Role.MANAGER,
        lambda w, a: w.h.inventory.create_location(a, CreateLocation("NEW-L", "n", "warehouse")),
    ),
    "get_location": (Role.VIEWER, lambda w, a: w.h.inventory.get_location(a, w.bin)),
    "list_locations": (Role.VIEWER, lambda w, a: w.h.inventory.list_locations(a)),
    "change_location": (
        Role.MANAGER,
        lambda w, a: w.h.inventory.change_location(a, w.bin, ChangeLocation(name="Renamed")),
    ),
    "post_movement": (
        Role.CLERK,
        lambda w, a: w.h.inventory.post_movement(
            a, PostMovement("receipt", [LineRequest(w.item, 1, to_location_id=w.bin)])
        ),
    ),
    "reverse_movement": (
        Role.MANAGER,
        lambda w, a: w.h.inventory.reverse_movement(a, w.extra.id),
    ),
    "get_movement": (Role.VIEWER, lambda w, a: w.h.inventory.get_movement(a, w.receipt.id)),
    "list_movements": (Role.VIEWER, lambda w, a: w.h.inventory.list_movements(a)),
    "list_location_stock": (Role.VIEWER, lambda w, a: w.h.inventory.list_location_stock(a)),
    "list_availability": (Role.VIEWER, lambda w, a: w.h.inventory.list_availability(a)),
    "reserve_stock": (
        Role.CLERK,
        lambda w, a: w.h.inventory.reserve_stock(a, ReserveStock(w.item, w.wh, 1)),
    ),
    "release_reservation": (
        Role.CLERK,
        lambda w, a: w.h.inventory.release_reservation(a, w.reservation.id),
    ),
    "fulfil_reservation": (
        Role.CLERK,
        lambda w, a: w.h.inventory.fulfil_reservation(
            a, w.reservation.id, FulfilReservation([FulfilmentLine(w.bin, 2)])
        ),
    ),
    "get_reservation": (
        Role.VIEWER,
        lambda w, a: w.h.inventory.get_reservation(a, w.reservation.id),
    ),
    "list_reservations": (Role.VIEWER, lambda w, a: w.h.inventory.list_reservations(a)),
    "count_stock": (
        Role.CLERK,
        lambda w, a: w.h.inventory.count_stock(a, CountStock([CountLine(w.item, w.bin, 9)])),
    ),
    "create_user": (
        Role.ADMIN,
        lambda w, a: w.h.inventory.create_user(
            a, CreateUser("newbie", "a-long-password-9", "clerk")
        ),
    ),
    "get_other_user": (Role.ADMIN, lambda w, a: w.h.inventory.get_user(a, w.other_user.user_id)),
    "list_users": (Role.ADMIN, lambda w, a: w.h.inventory.list_users(a)),
    "change_user": (
        Role.ADMIN,
        lambda w, a: w.h.inventory.change_user(
            a, w.other_user.user_id, ChangeUser(role=Role.CLERK)
        ),
    ),
}


def _user_state(w: World) -> object:
    return w.h.inventory.list_users(w.h.admin, limit=500).items


def _state(w: World) -> object:
    h, admin = w.h, w.h.admin
    return (
        snapshot(h),
        h.inventory.list_items(admin).items,
        h.inventory.list_locations(admin, limit=500).items,
        _user_state(w),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("use_case", list(USE_CASES))
def test_role_is_checked(use_case: str, role: Role) -> None:
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


def test_the_table_covers_every_role_checked_use_case() -> None:
    inventory = World().h.inventory
    facade_methods = {
        name
        for name in dir(inventory)
        if not name.startswith("_") and callable(getattr(inventory, name))
    }
    without_actor_role = {
        "provision_user",  # trusted bootstrap, no actor
        "expire_reservations",  # housekeeping, no actor
        "authenticate",  # before there is an actor
        "change_password",  # one's own, proven by the current password
        "get_user",  # covered as get_other_user (anyone may read themself)
        "unit_of_work",
        "prepare_authentication",  # start-up work, no use case
    }
    assert facade_methods - without_actor_role <= set(USE_CASES)


@pytest.mark.parametrize("role", ROLES)
def test_everyone_may_read_themself(role: Role) -> None:
    world = World()
    actor = world.h.user(role)
    assert world.h.inventory.get_user(actor, actor.user_id).id == actor.user_id
