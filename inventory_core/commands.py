"""Typed commands and the table of their handlers.

A command is a frozen attrs class that names its result type (``class GetItem(Command[Item])``);
its handler is the use case function that carries it out, registered next to it with
:func:`handles`. The :class:`~inventory_core.executor.Executor` looks the handler up by the
command's type, checks the actor's role, and runs it in a unit of work it owns. So adding a use
case means adding a command class and its handler, and nothing else: there is no facade method
per use case to keep in step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from inventory_core.users import Actor, Role

if TYPE_CHECKING:
    from inventory_core.ports import UnitOfWork
    from inventory_core.services._support import Providers

__all__ = [
    "Command",
    "Handler",
    "handler_for",
    "handles",
    "handles_trusted",
    "registered_handlers",
]

R = TypeVar("R")
C = TypeVar("C", bound="Command[Any]")


class Command(Generic[R]):
    """Base of every command; ``R`` is what executing it returns."""

    __slots__ = ()


@attrs.frozen
class Handler:
    """How to carry out one type of command.

    ``role`` is the least role allowed to run it; ``None`` marks a command for trusted callers
    (the CLI, housekeeping, login), which run without an actor. ``run`` gets the actor for the
    others (it may check more, e.g. "admins, or the user themself")."""

    run: Callable[[Providers, UnitOfWork, Any, Any], Any]
    role: Role | None


_HANDLERS: dict[type[Command[Any]], Handler] = {}


def handles(
    command_type: type[C], *, role: Role
) -> Callable[
    [Callable[[Providers, UnitOfWork, Actor, C], R]],
    Callable[[Providers, UnitOfWork, Actor, C], R],
]:
    """Register the decorated use case as the handler of ``command_type``, for ``role`` and
    above."""

    def register(
        run: Callable[[Providers, UnitOfWork, Actor, C], R],
    ) -> Callable[[Providers, UnitOfWork, Actor, C], R]:
        _register(command_type, Handler(run, role))
        return run

    return register


def handles_trusted(
    command_type: type[C],
) -> Callable[
    [Callable[[Providers, UnitOfWork, C], R]],
    Callable[[Providers, UnitOfWork, C], R],
]:
    """Register the decorated use case as the handler of ``command_type``, run without an actor:
    only code the deployment trusts may execute it (it is never exposed as it is over HTTP)."""

    def register(
        run: Callable[[Providers, UnitOfWork, C], R],
    ) -> Callable[[Providers, UnitOfWork, C], R]:
        def without_actor(providers: Providers, uow: UnitOfWork, _: object, command: C) -> R:
            return run(providers, uow, command)

        _register(command_type, Handler(without_actor, None))
        return run

    return register


def _register(command_type: type[Command[Any]], handler: Handler) -> None:
    if command_type in _HANDLERS:
        raise RuntimeError(f"{command_type.__name__} already has a handler")
    _HANDLERS[command_type] = handler


def handler_for(command: Command[Any]) -> Handler:
    """The handler registered for the command's exact type; TypeError if there is none."""
    try:
        return _HANDLERS[type(command)]
    except KeyError:
        raise TypeError(f"{type(command).__name__} is not a command with a handler") from None


def registered_handlers() -> dict[type[Command[Any]], Handler]:
    """Every command type with its handler (for documentation and tests)."""
    return dict(sorted(_HANDLERS.items(), key=lambda pair: pair[0].__name__))


# The use cases register themselves when their modules load: load them once, here, so that every
# handler is known wherever commands are used (not on every lookup). Last, as they import this.
import inventory_core.services  # noqa: E402, F401
