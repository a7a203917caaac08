"""The executor: one owner of a write, with one bounded retry loop (DESIGN §9)."""

from __future__ import annotations

from uuid import UUID

import attrs
import pytest

from inventory_core.clocks import ManualClock
from inventory_core.commands import Command, handles, handles_trusted, registered_handlers
from inventory_core.errors import ConcurrencyConflict, VersionMismatch
from inventory_core.executor import Executor, command_fingerprint
from inventory_core.items import Item
from inventory_core.memory.store import InMemoryStore
from inventory_core.passwords import Pbkdf2PasswordHasher
from inventory_core.ports import ItemQuery, UnitOfWork
from inventory_core.services._support import Providers
from inventory_core.services.items import CreateItem
from inventory_core.services.movements import LineRequest, PostMovement
from inventory_core.services.users import CreateUser, ProvisionUser
from inventory_core.users import Actor, Role

ADMIN = Actor(UUID(int=1), Role.ADMIN)


@attrs.frozen
class AddItemAfterConflicts(Command[Item]):
    """Test-only: adds an item, then reports a conflict on its first ``conflicts`` runs."""

    sku: str
    conflicts: int
    error: ConcurrencyConflict = attrs.field(
        factory=lambda: ConcurrencyConflict("a concurrent transaction won"), eq=False
    )
    runs: list[int] = attrs.field(factory=list, eq=False)


@handles_trusted(AddItemAfterConflicts)
def add_item_after_conflicts(
    ctx: Providers, uow: UnitOfWork, command: AddItemAfterConflicts
) -> Item:
    now = ctx.clock.now()
    item = Item(id=ctx.ids.new_id(), sku=command.sku, name="n", created_at=now, updated_at=now)
    uow.items.add(item)
    command.runs.append(1)
    if len(command.runs) <= command.conflicts:
        raise command.error
    return item


@attrs.frozen
class Unregistered(Command[int]):
    pass


@pytest.fixture
def executor() -> Executor:
    return Executor(
        InMemoryStore().unit_of_work,
        clock=ManualClock(),
        password_hasher=Pbkdf2PasswordHasher(iterations=1),
        conflict_retries=3,
    )


def _skus(executor: Executor) -> list[str]:
    with executor.unit_of_work() as uow:
        return [i.sku for i in uow.items.list(ItemQuery(), after=None, limit=100)]


def test_a_conflict_reruns_the_whole_unit_of_work(executor: Executor) -> None:
    command = AddItemAfterConflicts("A-1", conflicts=3)
    item = executor.execute(None, command)
    assert len(command.runs) == 4  # three conflicts, three retries
    assert _skus(executor) == [item.sku]  # the failed attempts left nothing behind


def test_retries_are_bounded(executor: Executor) -> None:
    command = AddItemAfterConflicts("A-1", conflicts=4)
    with pytest.raises(ConcurrencyConflict):
        executor.execute(None, command)
    assert len(command.runs) == 4
    assert _skus(executor) == []


def test_a_stale_version_is_not_retried(executor: Executor) -> None:
    command = AddItemAfterConflicts("A-1", conflicts=1, error=VersionMismatch("item", 1, 1, 2))
    with pytest.raises(ConcurrencyConflict):
        executor.execute(None, command)
    assert len(command.runs) == 1


def test_a_command_without_a_handler_is_a_type_error(executor: Executor) -> None:
    with pytest.raises(TypeError, match="Unregistered is not a command with a handler"):
        executor.execute(ADMIN, Unregistered())


def test_a_command_type_has_one_handler() -> None:
    with pytest.raises(RuntimeError, match="already has a handler"):
        handles(CreateItem, role=Role.ADMIN)(lambda ctx, uow, actor, command: None)


def test_every_command_class_of_the_core_has_a_handler() -> None:
    import inventory_core  # noqa: PLC0415

    commands = {
        value
        for value in vars(inventory_core).values()
        if isinstance(value, type) and issubclass(value, Command) and value is not Command
    }
    assert commands
    assert commands <= set(registered_handlers())


def test_fingerprints_tell_commands_apart_but_never_derive_from_a_secret() -> None:
    line = LineRequest(UUID(int=5), 1, to_location_id=UUID(int=6))
    receipt = PostMovement("receipt", [line])
    assert command_fingerprint(receipt) == command_fingerprint(PostMovement("receipt", [line]))
    assert command_fingerprint(receipt) != command_fingerprint(
        PostMovement("receipt", [line], note="x")
    )
    assert command_fingerprint(CreateUser("u1", "first-password", "clerk")) == (
        command_fingerprint(CreateUser("u1", "other-password", "clerk"))
    )
    assert command_fingerprint(CreateUser("u1", "p-p-p-p-p", "clerk")) != (
        command_fingerprint(ProvisionUser("u1", "p-p-p-p-p", "clerk"))
    )
