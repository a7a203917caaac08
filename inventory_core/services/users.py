"""User use cases: accounts, roles, passwords and authentication."""

from __future__ import annotations

import threading
from uuid import UUID

import attrs

from inventory_core._checks import accepts
from inventory_core.commands import Command, handles, handles_trusted
from inventory_core.errors import (
    AuthenticationFailed,
    InvalidOperation,
    NotFound,
    ValidationError,
    VersionMismatch,
)
from inventory_core.paging import Page
from inventory_core.passwords import NEW_PASSWORD, check_password
from inventory_core.ports import PasswordHasher, UnitOfWork
from inventory_core.services._support import Providers, fetch_page, require
from inventory_core.unset import UNSET, Unset
from inventory_core.users import NEW_USERNAME, Actor, Role, User, normalize_username


@attrs.frozen
class CreateUser(Command[User]):
    """A new account (admin)."""

    username: str = attrs.field(metadata=accepts(NEW_USERNAME))
    """Unique, case-insensitive (stored in lower case)."""
    password: str = attrs.field(repr=False, metadata=accepts(NEW_PASSWORD))
    """8-128 characters; common passwords and the username are refused."""
    role: Role = attrs.field(converter=Role)
    """What the user may do."""


@attrs.frozen
class ProvisionUser(Command[User]):
    """A new account created without asking who wants it: for trusted callers only (the CLI,
    bootstrap)."""

    username: str
    password: str = attrs.field(repr=False)
    role: Role = attrs.field(converter=Role)


@attrs.frozen
class UserChanges:
    """Admin changes to an account. Changing ``role`` or ``active`` should end the user's
    sessions (the caller owns the session store)."""

    role: Role | Unset = UNSET
    """A new role (ends the user's sessions)."""
    active: bool | Unset = UNSET
    """``false`` deactivates the user and ends their sessions; ``true`` reactivates."""
    password: str | Unset = attrs.field(default=UNSET, repr=False, metadata=accepts(NEW_PASSWORD))
    """A new password set by an admin (ends the user's sessions)."""


@attrs.frozen
class ChangeUser(Command[User]):
    """Change a user's role, active flag or password (admin)."""

    user_id: UUID
    changes: UserChanges = attrs.field(factory=UserChanges)
    expected_version: int | None = None


@attrs.frozen
class GetUser(Command[User]):
    """One user (admins see anyone; everyone sees themselves)."""

    user_id: UUID


@attrs.frozen
class ListUsers(Command[Page[User, UUID]]):
    after: UUID | None = None
    limit: int = 50


@attrs.frozen
class ChangePassword(Command[User]):
    """Change one's own password, proving the current one."""

    current_password: str = attrs.field(repr=False)
    """The password in use now."""
    new_password: str = attrs.field(repr=False, metadata=accepts(NEW_PASSWORD))
    """8-128 characters; common passwords and the username are refused."""


@attrs.frozen
class Authenticate(Command[User]):
    """Check a login: the active user with these credentials, else AuthenticationFailed."""

    username: str
    password: str = attrs.field(repr=False)


class _DummyHash:
    """A hash to verify against when the username is unknown, so that unknown users and wrong
    passwords take the same time. Made once, lazily, per hasher."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hashes: dict[int, str] = {}

    def get(self, hasher: PasswordHasher) -> str:
        with self._lock:
            key = id(hasher)
            if key not in self._hashes:
                self._hashes[key] = hasher.hash("not-a-real-password: timing equaliser")
            return self._hashes[key]


_dummy_hash = _DummyHash()


def warm_dummy_hash(hasher: PasswordHasher) -> None:
    """Make the dummy hash for ``hasher`` now rather than on the first unknown-user login."""
    _dummy_hash.get(hasher)


@handles_trusted(ProvisionUser)
def provision_user(providers: Providers, uow: UnitOfWork, command: ProvisionUser) -> User:
    """Create a user without checking who asks: for trusted operators (the CLI, bootstrap)."""
    return _add_user(providers, uow, command.username, command.password, command.role)


@handles(CreateUser, role=Role.ADMIN)
def create_user(providers: Providers, uow: UnitOfWork, actor: Actor, command: CreateUser) -> User:
    return _add_user(providers, uow, command.username, command.password, command.role)


def _add_user(
    providers: Providers, uow: UnitOfWork, username: str, password: str, role: Role
) -> User:
    username = normalize_username(username)
    check_password(password, username=username)
    now = providers.clock.now()
    user = User(
        id=providers.ids.new_id(),
        username=username,
        role=role,
        password_hash=providers.password_hasher.hash(password),
        created_at=now,
        updated_at=now,
    )
    uow.users.add(user)
    return user


@handles(GetUser, role=Role.VIEWER)
def get_user(providers: Providers, uow: UnitOfWork, actor: Actor, command: GetUser) -> User:
    """Admins see anyone; everyone sees themselves."""
    if command.user_id != actor.user_id:
        require(actor, Role.ADMIN)
    user = uow.users.get(command.user_id)
    if user is None:
        raise NotFound("user", command.user_id)
    return user


@handles(ListUsers, role=Role.ADMIN)
def list_users(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ListUsers
) -> Page[User, UUID]:
    return fetch_page(
        lambda n: uow.users.list(after=command.after, limit=n), lambda u: u.id, command.limit
    )


@handles(ChangeUser, role=Role.ADMIN)
def change_user(providers: Providers, uow: UnitOfWork, actor: Actor, command: ChangeUser) -> User:
    """Change role, active flag or password. Admins cannot demote or deactivate themselves,
    so a deployment never loses its last way in by accident. A role or active flag equal to the
    current one changes nothing: the user keeps its version and ``updated_at`` (a password given
    is always a change: it is hashed anew)."""
    user_id, changes, expected_version = command.user_id, command.changes, command.expected_version
    if user_id == actor.user_id and (
        (changes.role is not UNSET and changes.role is not Role.ADMIN) or changes.active is False
    ):
        raise InvalidOperation("you cannot demote or deactivate yourself")
    user = uow.users.get(user_id)
    if user is None:
        raise NotFound("user", user_id)
    if expected_version is not None and expected_version != user.version:
        raise VersionMismatch("user", user_id, expected_version, user.version)
    new = user
    if changes.role is not UNSET:
        new = attrs.evolve(new, role=changes.role)
    if changes.active is not UNSET:
        if not isinstance(changes.active, bool):
            raise ValidationError("must be a boolean", "$.active")
        new = attrs.evolve(new, active=changes.active)
    if changes.password is not UNSET:
        check_password(changes.password, username=user.username)
        new = attrs.evolve(new, password_hash=providers.password_hasher.hash(changes.password))
    if new == user:
        return user
    new = attrs.evolve(new, version=user.version + 1, updated_at=providers.clock.now())
    uow.users.update(new)
    return new


@handles(ChangePassword, role=Role.VIEWER)
def change_password(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ChangePassword
) -> User:
    """A user changes their own password, proving the current one. The caller should end the
    user's other sessions."""
    current_password, new_password = command.current_password, command.new_password
    user = uow.users.get(actor.user_id)
    if user is None or not user.active:
        raise AuthenticationFailed()
    if not providers.password_hasher.verify(user.password_hash, current_password):
        raise AuthenticationFailed("current password is wrong")
    check_password(new_password, username=user.username, path="$.new_password")
    changed = attrs.evolve(
        user,
        password_hash=providers.password_hasher.hash(new_password),
        version=user.version + 1,
        updated_at=providers.clock.now(),
    )
    uow.users.update(changed)
    return changed


@handles_trusted(Authenticate)
def authenticate(providers: Providers, uow: UnitOfWork, command: Authenticate) -> User:
    """The active user with these credentials, else AuthenticationFailed -- the same error, and
    the same hashing work, whether the user is unknown, inactive or the password wrong."""
    username, password = command.username, command.password
    hasher = providers.password_hasher
    if not isinstance(username, str) or not isinstance(password, str):
        raise AuthenticationFailed()
    user = uow.users.get_by_username(normalize_username(username))
    if user is None or not user.active:
        hasher.verify(_dummy_hash.get(hasher), password)
        raise AuthenticationFailed()
    if not hasher.verify(user.password_hash, password):
        raise AuthenticationFailed()
    if hasher.needs_rehash(user.password_hash):
        user = attrs.evolve(
            user,
            password_hash=hasher.hash(password),
            version=user.version + 1,
            updated_at=providers.clock.now(),
        )
        uow.users.update(user)
    return user
