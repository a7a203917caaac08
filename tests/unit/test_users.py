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
from inventory_core.services._common import UNSET
from inventory_core.services.users import ChangeUser, CreateUser
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
    user = h.inventory.create_user(h.admin, CreateUser("  Mina.Murray ", GOOD, Role.CLERK))
    assert user.username == "mina.murray"
    with pytest.raises(AlreadyExists) as dup:
        h.inventory.create_user(h.admin, CreateUser("MINA.MURRAY", GOOD, Role.VIEWER))
    assert dup.value.field == "username"
    assert h.inventory.authenticate(" MINA.murray", GOOD).id == user.id


def test_create_user_validates_before_storing(h: Harness) -> None:
    with pytest.raises(ValidationError):
        h.inventory.create_user(h.admin, CreateUser("x", GOOD, Role.CLERK))
    with pytest.raises(ValidationError):
        h.inventory.create_user(h.admin, CreateUser("lucy", "lucy", Role.CLERK))
    with pytest.raises(ValidationError, match="username"):
        h.inventory.create_user(h.admin, CreateUser("Lucy.Westenra", "LUCY.westenra", Role.CLERK))
    with pytest.raises(ValueError, match="not a valid Role"):
        CreateUser("lucy", GOOD, "root")
    assert [u.username for u in h.inventory.list_users(h.admin).items] == ["admin"]


def test_authentication_failures_look_alike(h: Harness) -> None:
    h.inventory.create_user(h.admin, CreateUser("quincey", GOOD, Role.VIEWER))
    messages = set()
    for username, password in [
        ("quincey", "wrong-password-1"),
        ("nobody", GOOD),
        (None, GOOD),
        ("quincey", None),
    ]:
        with pytest.raises(AuthenticationFailed) as failed:
            h.inventory.authenticate(username, password)  # type: ignore[arg-type]
        messages.add(failed.value.message)
    assert messages == {"invalid username or password"}


def test_authentication_upgrades_an_outdated_hash(h: Harness) -> None:
    # Same store, different hasher strength: the next login rehashes.
    user = h.inventory.create_user(h.admin, CreateUser("renfield", GOOD, Role.VIEWER))
    stronger = type(h.inventory)(
        h.unit_of_work, clock=h.clock, password_hasher=Pbkdf2PasswordHasher(iterations=2)
    )
    again = stronger.authenticate("renfield", GOOD)
    assert again.version == user.version + 1
    assert again.password_hash.startswith("pbkdf2_sha256$2$")
    assert stronger.authenticate("renfield", GOOD).version == again.version


def test_change_user_role_active_and_password(h: Harness) -> None:
    user = h.inventory.create_user(h.admin, CreateUser("arthur", GOOD, Role.VIEWER))
    unchanged = h.inventory.change_user(h.admin, user.id, ChangeUser())
    assert unchanged == user
    same_role = h.inventory.change_user(h.admin, user.id, ChangeUser(role=Role.VIEWER))
    assert same_role.version == 1
    promoted = h.inventory.change_user(h.admin, user.id, ChangeUser(role=Role.MANAGER))
    assert (promoted.role, promoted.version) == (Role.MANAGER, 2)
    renewed = h.inventory.change_user(h.admin, user.id, ChangeUser(password="a-fresh-password"))
    assert renewed.version == 3
    assert h.inventory.authenticate("arthur", "a-fresh-password").id == user.id
    with pytest.raises(AuthenticationFailed):
        h.inventory.authenticate("arthur", GOOD)
    with pytest.raises(ValidationError):
        h.inventory.change_user(h.admin, user.id, ChangeUser(password="password123"))
    with pytest.raises(ValidationError, match="boolean"):
        h.inventory.change_user(h.admin, user.id, ChangeUser(active="no"))  # type: ignore[arg-type]
    with pytest.raises(VersionMismatch):
        h.inventory.change_user(
            h.admin, user.id, ChangeUser(active=False), expected_version=user.version
        )
    off = h.inventory.change_user(h.admin, user.id, ChangeUser(active=False), expected_version=3)
    assert off.active is False
    assert h.inventory.get_user(h.admin, user.id) == off
    with pytest.raises(NotFound):
        h.inventory.change_user(h.admin, UUID(int=7), ChangeUser(active=False))


def test_admins_cannot_demote_or_deactivate_themselves(h: Harness) -> None:
    for changes in (ChangeUser(role=Role.MANAGER), ChangeUser(active=False)):
        with pytest.raises(InvalidOperation):
            h.inventory.change_user(h.admin, h.admin.user_id, changes)
    same = h.inventory.change_user(h.admin, h.admin.user_id, ChangeUser(role=Role.ADMIN))
    assert same.role is Role.ADMIN
    assert ChangeUser().role is UNSET
    assert repr(UNSET) == "UNSET"


def test_change_password_needs_the_current_one(h: Harness) -> None:
    clerk = h.user(Role.CLERK)
    with pytest.raises(AuthenticationFailed, match="current password"):
        h.inventory.change_password(clerk, "not-it-at-all", "another-long-one")
    with pytest.raises(ValidationError) as weak:
        h.inventory.change_password(clerk, "contract-suite-user-pw", "short")
    assert weak.value.errors[0].path == "$.new_password"
    changed = h.inventory.change_password(clerk, "contract-suite-user-pw", "another-long-one")
    assert changed.version == 2
    h.inventory.change_user(h.admin, clerk.user_id, ChangeUser(active=False))
    with pytest.raises(AuthenticationFailed):
        h.inventory.change_password(clerk, "another-long-one", "yet-another-long-one")


def test_get_user_visibility(h: Harness) -> None:
    viewer, clerk = h.user(Role.VIEWER), h.user(Role.CLERK)
    assert h.inventory.get_user(viewer, viewer.user_id).role is Role.VIEWER
    with pytest.raises(PermissionDenied):
        h.inventory.get_user(viewer, clerk.user_id)
    with pytest.raises(NotFound):
        h.inventory.get_user(h.admin, UUID(int=7))


def test_prepare_authentication_makes_the_dummy_hash_up_front() -> None:
    from inventory_core.memory.store import InMemoryStore  # noqa: PLC0415
    from inventory_core.service import Inventory  # noqa: PLC0415

    class CountingHasher(Pbkdf2PasswordHasher):
        hashed = 0

        def hash(self, password: str) -> str:
            CountingHasher.hashed += 1
            return super().hash(password)

    hasher = CountingHasher(iterations=1)
    inventory = Inventory(InMemoryStore().unit_of_work, password_hasher=hasher)
    inventory.prepare_authentication()
    assert CountingHasher.hashed == 1
    with pytest.raises(AuthenticationFailed):
        inventory.authenticate("nobody-here", "some-password-1")
    assert CountingHasher.hashed == 1  # the first unknown-user login hashed nothing new
