"""Users: username normalisation, password rules (incl. the bundled common-password list),
authentication, account changes and the stdlib password hasher."""

from __future__ import annotations

from uuid import UUID

import pytest

from inventory_core.contract.adapter import Harness, InMemoryContractAdapter
from inventory_core.errors import (
    AlreadyExists,
    AuthenticationFailed,
    InvalidOperation,
    NotFound,
    PermissionDenied,
    ValidationError,
    VersionMismatch,
)
from inventory_core.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    Pbkdf2PasswordHasher,
    _common_passwords,
    check_password,
)
from inventory_core.services.users import (
    Authenticate,
    ChangePassword,
    ChangeUser,
    CreateUser,
    GetUser,
    ListUsers,
    UserChanges,
)
from inventory_core.unset import UNSET
from inventory_core.users import Role

GOOD = "correct-horse-battery"


@pytest.fixture
def h() -> Harness:
    return Harness(InMemoryContractAdapter())


# ---------------------------------------------------------------- password rules


def test_password_length_bounds() -> None:
    check_password("x7" * (MIN_PASSWORD_LENGTH // 2))
    check_password("q" * MAX_PASSWORD_LENGTH)
    for bad in ("q" * (MIN_PASSWORD_LENGTH - 1), "q" * (MAX_PASSWORD_LENGTH + 1), ""):
        with pytest.raises(ValidationError, match="characters long"):
            check_password(bad)


def test_common_passwords_are_refused_case_insensitively() -> None:
    common = _common_passwords()
    assert len(common) > 1000
    eight = sorted(p for p in common if len(p) >= MIN_PASSWORD_LENGTH)[:5]
    assert eight
    for password in [*eight, "password123", "PASSWORD123", "Qwertyuiop"]:
        with pytest.raises(ValidationError, match="too common"):
            check_password(password)


def test_password_must_not_be_the_username() -> None:
    with pytest.raises(ValidationError, match="username"):
        check_password("Jonathan.Harker", username="jonathan.harker")
    check_password("Jonathan.Harker", username="mina")
    check_password("Jonathan.Harker")


def test_password_error_path_and_type() -> None:
    with pytest.raises(ValidationError) as bad:
        check_password(12345678, path="$.new_password")  # type: ignore[arg-type]
    assert bad.value.errors[0].path == "$.new_password"


# ---------------------------------------------------------------- hasher


def test_pbkdf2_hasher_round_trip() -> None:
    hasher = Pbkdf2PasswordHasher(iterations=1000)
    hashed = hasher.hash(GOOD)
    assert hashed.startswith("pbkdf2_sha256$1000$")
    assert GOOD not in hashed
    assert hashed != hasher.hash(GOOD)  # salted
    assert hasher.verify(hashed, GOOD)
    assert not hasher.verify(hashed, GOOD + "!")
    assert not hasher.needs_rehash(hashed)
    assert Pbkdf2PasswordHasher(iterations=2000).needs_rehash(hashed)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        "argon2$1$a$b",
        "pbkdf2_sha256$x$AAAA$AAAA",
        "pbkdf2_sha256$1$!!$AAAA",
        "a$b$c",
    ],
)
def test_pbkdf2_hasher_never_raises_on_unreadable_hashes(stored: str) -> None:
    hasher = Pbkdf2PasswordHasher(iterations=1)
    assert hasher.verify(stored, GOOD) is False
    assert hasher.needs_rehash(stored) is not stored.startswith("pbkdf2_sha256$1$")


def test_default_hasher_follows_owasp() -> None:
    assert Pbkdf2PasswordHasher().iterations == 600_000


# ---------------------------------------------------------------- use cases


def test_usernames_are_normalised_and_unique(h: Harness) -> None:
    user = h.inventory.execute(h.admin, CreateUser("  Mina.Murray ", GOOD, Role.CLERK))
    assert user.username == "mina.murray"
    with pytest.raises(AlreadyExists) as dup:
        h.inventory.execute(h.admin, CreateUser("MINA.MURRAY", GOOD, Role.VIEWER))
    assert dup.value.field == "username"
    assert h.inventory.execute(None, Authenticate(" MINA.murray", GOOD)).id == user.id


def test_create_user_validates_before_storing(h: Harness) -> None:
    with pytest.raises(ValidationError):
        h.inventory.execute(h.admin, CreateUser("x", GOOD, Role.CLERK))
    with pytest.raises(ValidationError):
        h.inventory.execute(h.admin, CreateUser("lucy", "lucy", Role.CLERK))
    with pytest.raises(ValidationError, match="username"):
        h.inventory.execute(h.admin, CreateUser("Lucy.Westenra", "LUCY.westenra", Role.CLERK))
    with pytest.raises(ValueError, match="not a valid Role"):
        CreateUser("lucy", GOOD, "root")
    assert [u.username for u in h.inventory.execute(h.admin, ListUsers()).items] == ["admin"]


def test_authentication_failures_look_alike(h: Harness) -> None:
    h.inventory.execute(h.admin, CreateUser("quincey", GOOD, Role.VIEWER))
    messages = set()
    for username, password in [
        ("quincey", "wrong-password-1"),
        ("nobody", GOOD),
        (None, GOOD),
        ("quincey", None),
    ]:
        with pytest.raises(AuthenticationFailed) as failed:
            h.inventory.execute(None, Authenticate(username, password))  # type: ignore[arg-type]
        messages.add(failed.value.message)
    assert messages == {"invalid username or password"}


def test_authentication_upgrades_an_outdated_hash(h: Harness) -> None:
    # Same store, different hasher strength: the next login rehashes.
    user = h.inventory.execute(h.admin, CreateUser("renfield", GOOD, Role.VIEWER))
    stronger = type(h.inventory)(
        h.unit_of_work, clock=h.clock, password_hasher=Pbkdf2PasswordHasher(iterations=2)
    )
    again = stronger.execute(None, Authenticate("renfield", GOOD))
    assert again.version == user.version + 1
    assert again.password_hash.startswith("pbkdf2_sha256$2$")
    assert stronger.execute(None, Authenticate("renfield", GOOD)).version == again.version


def test_change_user_role_active_and_password(h: Harness) -> None:
    user = h.inventory.execute(h.admin, CreateUser("arthur", GOOD, Role.VIEWER))
    unchanged = h.inventory.execute(h.admin, ChangeUser(user.id, UserChanges()))
    assert unchanged == user
    same_role = h.inventory.execute(h.admin, ChangeUser(user.id, UserChanges(role=Role.VIEWER)))
    assert same_role.version == 1
    promoted = h.inventory.execute(h.admin, ChangeUser(user.id, UserChanges(role=Role.MANAGER)))
    assert (promoted.role, promoted.version) == (Role.MANAGER, 2)
    renewed = h.inventory.execute(
        h.admin, ChangeUser(user.id, UserChanges(password="a-fresh-password"))
    )
    assert renewed.version == 3
    assert h.inventory.execute(None, Authenticate("arthur", "a-fresh-password")).id == user.id
    with pytest.raises(AuthenticationFailed):
        h.inventory.execute(None, Authenticate("arthur", GOOD))
    with pytest.raises(ValidationError):
        h.inventory.execute(h.admin, ChangeUser(user.id, UserChanges(password="password123")))
    with pytest.raises(ValidationError, match="boolean"):
        h.inventory.execute(h.admin, ChangeUser(user.id, UserChanges(active="no")))  # type: ignore[arg-type]
    with pytest.raises(VersionMismatch):
        h.inventory.execute(
            h.admin, ChangeUser(user.id, UserChanges(active=False), expected_version=user.version)
        )
    off = h.inventory.execute(
        h.admin, ChangeUser(user.id, UserChanges(active=False), expected_version=3)
    )
    assert off.active is False
    assert h.inventory.execute(h.admin, GetUser(user.id)) == off
    with pytest.raises(NotFound):
        h.inventory.execute(h.admin, ChangeUser(UUID(int=7), UserChanges(active=False)))


def test_admins_cannot_demote_or_deactivate_themselves(h: Harness) -> None:
    for changes in (UserChanges(role=Role.MANAGER), UserChanges(active=False)):
        with pytest.raises(InvalidOperation):
            h.inventory.execute(h.admin, ChangeUser(h.admin.user_id, changes))
    same = h.inventory.execute(h.admin, ChangeUser(h.admin.user_id, UserChanges(role=Role.ADMIN)))
    assert same.role is Role.ADMIN
    assert UserChanges().role is UNSET
    assert repr(UNSET) == "UNSET"


def test_change_password_needs_the_current_one(h: Harness) -> None:
    clerk = h.user(Role.CLERK)
    with pytest.raises(AuthenticationFailed, match="current password"):
        h.inventory.execute(clerk, ChangePassword("not-it-at-all", "another-long-one"))
    with pytest.raises(ValidationError) as weak:
        h.inventory.execute(clerk, ChangePassword("contract-suite-user-pw", "short"))
    assert weak.value.errors[0].path == "$.new_password"
    changed = h.inventory.execute(
        clerk, ChangePassword("contract-suite-user-pw", "another-long-one")
    )
    assert changed.version == 2
    h.inventory.execute(h.admin, ChangeUser(clerk.user_id, UserChanges(active=False)))
    with pytest.raises(AuthenticationFailed):
        h.inventory.execute(clerk, ChangePassword("another-long-one", "yet-another-long-one"))


def test_get_user_visibility(h: Harness) -> None:
    viewer, clerk = h.user(Role.VIEWER), h.user(Role.CLERK)
    assert h.inventory.execute(viewer, GetUser(viewer.user_id)).role is Role.VIEWER
    with pytest.raises(PermissionDenied):
        h.inventory.execute(viewer, GetUser(clerk.user_id))
    with pytest.raises(NotFound):
        h.inventory.execute(h.admin, GetUser(UUID(int=7)))


def test_prepare_authentication_makes_the_dummy_hash_up_front() -> None:
    from inventory_core.executor import Executor  # noqa: PLC0415
    from inventory_core.memory.store import InMemoryStore  # noqa: PLC0415

    class CountingHasher(Pbkdf2PasswordHasher):
        hashed = 0

        def hash(self, password: str) -> str:
            CountingHasher.hashed += 1
            return super().hash(password)

    hasher = CountingHasher(iterations=1)
    inventory = Executor(InMemoryStore().unit_of_work, password_hasher=hasher)
    inventory.prepare_authentication()
    assert CountingHasher.hashed == 1
    with pytest.raises(AuthenticationFailed):
        inventory.execute(None, Authenticate("nobody-here", "some-password-1"))
    assert CountingHasher.hashed == 1  # the first unknown-user login hashed nothing new
