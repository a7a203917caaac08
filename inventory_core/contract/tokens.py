"""Contract tests of API tokens: the use cases' rules and the TokenRepository port.

Part of :class:`~inventory_core.contract.inventory.InventoryContract` (which inherits it); it can
also be subclassed on its own with a ``contract_adapter`` fixture.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import attrs
import pytest

from inventory_core.contract.adapter import ContractAdapter, Harness
from inventory_core.errors import (
    AlreadyExists,
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from inventory_core.services.tokens import (
    AuthenticateToken,
    CreateToken,
    IssuedToken,
    ListTokens,
    RevokeToken,
)
from inventory_core.services.users import ChangeUser, UserChanges
from inventory_core.tokens import ApiToken, new_token_secret, token_digest
from inventory_core.users import Actor, Role

__all__ = ["TokenContract"]

SECRET_FORMAT = re.compile(r"^inv_[A-Za-z0-9_-]{43}$")


def _failure(h: Harness, secret: str) -> str:
    """The message authenticating ``secret`` fails with (it must fail)."""
    with pytest.raises(AuthenticationFailed) as failed:
        h.inventory.execute(None, AuthenticateToken(secret))
    return str(failed.value)


def _stored(h: Harness, issued: IssuedToken) -> ApiToken | None:
    with h.unit_of_work() as uow:
        return uow.tokens.get(issued.token.id)


class TokenContract:
    """API tokens on an adapter. Needs a ``contract_adapter`` fixture."""

    @pytest.fixture
    def h(self, contract_adapter: ContractAdapter) -> Harness:
        return Harness(contract_adapter)

    def test_a_token_is_shown_once_and_stored_as_its_sha256(self, h: Harness) -> None:
        clerk = h.user(Role.CLERK)
        issued = h.inventory.execute(clerk, CreateToken("erp sync"))
        assert SECRET_FORMAT.fullmatch(issued.secret)
        assert issued.secret not in repr(issued)
        token = issued.token
        assert token.digest != issued.secret
        assert token.digest == hashlib.sha256(issued.secret.encode()).hexdigest()
        assert issued.secret not in repr(token)
        assert (token.user_id, token.name, token.role) == (clerk.user_id, "erp sync", Role.CLERK)
        assert (token.created_at, token.expires_at, token.last_used_at) == (
            h.clock.now(),
            None,
            None,
        )
        assert _stored(h, issued) == token
        other = h.inventory.execute(clerk, CreateToken("erp sync"))
        assert other.secret != issued.secret  # names need not be unique; secrets always are

    def test_create_token_rules(self, h: Harness) -> None:
        clerk = h.user(Role.CLERK)
        viewer = h.user(Role.VIEWER)
        assert h.inventory.execute(viewer, CreateToken("read only")).token.role is Role.VIEWER
        lower = h.inventory.execute(clerk, CreateToken("lower", role=Role.VIEWER))
        assert lower.token.role is Role.VIEWER
        with pytest.raises(PermissionDenied):
            h.inventory.execute(clerk, CreateToken("higher", role=Role.MANAGER))
        with pytest.raises(PermissionDenied):
            h.inventory.execute(viewer, CreateToken("higher", role="clerk"))
        for when in (h.clock.now(), h.clock.now() - timedelta(days=1)):
            with pytest.raises(ValidationError) as past:
                h.inventory.execute(clerk, CreateToken("past", expires_at=when))
            assert [e.path for e in past.value.errors] == ["$.expires_at"]
        with pytest.raises(ValidationError) as naive:
            h.inventory.execute(
                clerk, CreateToken("naive", expires_at=h.clock.now().replace(tzinfo=None))
            )
        assert [e.path for e in naive.value.errors] == ["$.expires_at"]
        for name in ("", "x" * 101, "line\nbreak", "tab\there", "nul\x00"):
            with pytest.raises(ValidationError) as bad_name:
                h.inventory.execute(clerk, CreateToken(name))
            assert [e.path for e in bad_name.value.errors] == ["$.name"]
        longest = h.inventory.execute(clerk, CreateToken("ü" * 100))
        assert longest.token.name == "ü" * 100
        mine = h.inventory.execute(clerk, ListTokens()).items
        assert [t.name for t in mine] == ["lower", "ü" * 100]  # the refused ones left nothing

    def test_a_token_acts_with_the_lower_of_its_role_and_its_users(self, h: Harness) -> None:
        manager = h.user(Role.MANAGER)
        full = h.inventory.execute(manager, CreateToken("full"))
        clerkish = h.inventory.execute(manager, CreateToken("clerk", role=Role.CLERK))
        assert h.inventory.execute(None, AuthenticateToken(full.secret)) == manager
        assert h.inventory.execute(None, AuthenticateToken(clerkish.secret)) == Actor(
            manager.user_id, Role.CLERK
        )
        h.inventory.execute(h.admin, ChangeUser(manager.user_id, UserChanges(role=Role.VIEWER)))
        for issued in (full, clerkish):
            actor = h.inventory.execute(None, AuthenticateToken(issued.secret))
            assert actor == Actor(manager.user_id, Role.VIEWER)
        h.inventory.execute(h.admin, ChangeUser(manager.user_id, UserChanges(role=Role.ADMIN)))
        # Promoting the user does not raise a token above the role it was issued with.
        assert h.inventory.execute(None, AuthenticateToken(full.secret)).role is Role.MANAGER
        assert h.inventory.execute(None, AuthenticateToken(clerkish.secret)).role is Role.CLERK

    def test_every_failed_authentication_looks_the_same(self, h: Harness) -> None:
        clerk = h.user(Role.CLERK)
        expiring = h.inventory.execute(
            clerk, CreateToken("expiring", expires_at=h.clock.now() + timedelta(minutes=5))
        )
        revoked = h.inventory.execute(clerk, CreateToken("revoked"))
        kept = h.inventory.execute(clerk, CreateToken("kept"))
        assert h.inventory.execute(None, AuthenticateToken(expiring.secret)) == clerk
        h.inventory.execute(clerk, RevokeToken(revoked.token.id))
        h.clock.advance(minutes=5)  # expires_at is the first moment it no longer works
        messages = {
            "expired": _failure(h, expiring.secret),
            "revoked": _failure(h, revoked.secret),
            "unknown": _failure(h, new_token_secret()),
            "empty": _failure(h, ""),
            "short": _failure(h, "inv_" + "a" * 42),
            "long": _failure(h, kept.secret + "a"),
            "digest": _failure(h, kept.token.digest),
            "surrogate": _failure(h, "inv_" + "\ud800" * 43),
            "bearer": _failure(h, "Bearer " + kept.secret),
        }
        assert len(set(messages.values())) == 1, messages
        assert h.inventory.execute(None, AuthenticateToken(kept.secret)) == clerk
        h.inventory.execute(h.admin, ChangeUser(clerk.user_id, UserChanges(active=False)))
        assert _failure(h, kept.secret) == messages["unknown"]
        # Deactivation suspends tokens; it does not revoke them.
        h.inventory.execute(h.admin, ChangeUser(clerk.user_id, UserChanges(active=True)))
        assert h.inventory.execute(None, AuthenticateToken(kept.secret)) == clerk

    def test_last_used_at_is_written_at_most_once_a_minute(self, h: Harness) -> None:
        clerk = h.user(Role.CLERK)
        issued = h.inventory.execute(clerk, CreateToken("busy"))
        first = h.clock.advance(seconds=1)
        h.inventory.execute(None, AuthenticateToken(issued.secret))
        stored = _stored(h, issued)
        assert stored is not None
        assert stored.last_used_at == first
        h.clock.advance(seconds=30)
        h.inventory.execute(None, AuthenticateToken(issued.secret))
        h.clock.advance(seconds=30)  # exactly a minute after the recorded use: not older yet
        h.inventory.execute(None, AuthenticateToken(issued.secret))
        stored = _stored(h, issued)
        assert stored is not None
        assert stored.last_used_at == first
        later = h.clock.advance(seconds=1)
        h.inventory.execute(None, AuthenticateToken(issued.secret))
        stored = _stored(h, issued)
        assert stored is not None
        assert stored.last_used_at == later
        listed = h.inventory.execute(clerk, ListTokens()).items
        assert [t.last_used_at for t in listed] == [later]

    def test_listing_shows_own_tokens_and_admins_see_anyones(self, h: Harness) -> None:
        alice, bob = h.user(Role.CLERK), h.user(Role.CLERK)
        mine = [h.inventory.execute(alice, CreateToken(f"t{n}")).token for n in range(3)]
        h.inventory.execute(bob, CreateToken("bob's"))
        seen: list[ApiToken] = []
        page = h.inventory.execute(alice, ListTokens(limit=2))
        seen += page.items
        assert page.next_after == mine[1].id
        page = h.inventory.execute(alice, ListTokens(after=page.next_after, limit=2))
        seen += page.items
        assert page.next_after is None
        assert seen == mine
        assert h.inventory.execute(alice, ListTokens(user_id=alice.user_id)).items == tuple(mine)
        with pytest.raises(PermissionDenied):
            h.inventory.execute(alice, ListTokens(user_id=bob.user_id))
        assert h.inventory.execute(h.admin, ListTokens(user_id=alice.user_id)).items == tuple(mine)
        assert h.inventory.execute(h.admin, ListTokens()).items == ()
        with pytest.raises(ValidationError):
            h.inventory.execute(alice, ListTokens(limit=0))

    def test_revoke_is_for_the_owner_or_an_admin(self, h: Harness) -> None:
        alice, bob = h.user(Role.MANAGER), h.user(Role.CLERK)
        first = h.inventory.execute(alice, CreateToken("first"))
        second = h.inventory.execute(alice, CreateToken("second"))
        # Another user's token looks exactly like one that does not exist.
        with pytest.raises(NotFound) as foreign:
            h.inventory.execute(bob, RevokeToken(first.token.id))
        with pytest.raises(NotFound) as unknown:
            h.inventory.execute(bob, RevokeToken(h.inventory.context.ids.new_id()))
        assert type(foreign.value) is type(unknown.value)
        assert h.inventory.execute(None, AuthenticateToken(first.secret)) == alice
        h.inventory.execute(alice, RevokeToken(first.token.id))
        assert _stored(h, first) is None
        with pytest.raises(NotFound):
            h.inventory.execute(alice, RevokeToken(first.token.id))
        h.inventory.execute(h.admin, RevokeToken(second.token.id))
        assert h.inventory.execute(alice, ListTokens()).items == ()
        _failure(h, first.secret)
        _failure(h, second.secret)

    def test_token_repository(self, h: Harness) -> None:
        clerk = h.user(Role.CLERK)
        now = h.clock.now()
        secret = new_token_secret()
        token = ApiToken(
            id=h.inventory.context.ids.new_id(),
            user_id=clerk.user_id,
            name="direct",
            role=Role.CLERK,
            digest=token_digest(secret),
            created_at=now,
            expires_at=now + timedelta(days=30),
            last_used_at=None,
        )
        with h.unit_of_work() as uow:
            uow.tokens.add(token)
        with h.unit_of_work() as uow:
            assert uow.tokens.get(token.id) == token
            found = uow.tokens.find(token.digest)
            assert found is not None
            assert found[0] == token
            assert (found[1].id, found[1].role) == (clerk.user_id, Role.CLERK)
            assert uow.tokens.find(token_digest(new_token_secret())) is None
            assert uow.tokens.list(clerk.user_id, after=None, limit=10) == [token]
            assert uow.tokens.list(clerk.user_id, after=token.id, limit=10) == []
            assert uow.tokens.list(h.admin.user_id, after=None, limit=10) == []
        twin = attrs.evolve(token, id=h.inventory.context.ids.new_id(), name="twin")
        with pytest.raises(AlreadyExists) as duplicate, h.unit_of_work() as uow:
            uow.tokens.add(twin)
        assert duplicate.value.field == "digest"
        later = now + timedelta(minutes=2)
        with h.unit_of_work() as uow:
            uow.tokens.touch(token.id, later)
            uow.tokens.touch(token.id, now + timedelta(minutes=1))  # never moves back
            uow.tokens.touch(h.inventory.context.ids.new_id(), later)  # gone: nothing
        with h.unit_of_work() as uow:
            assert uow.tokens.get(token.id) == attrs.evolve(token, last_used_at=later)
        # A failed unit of work leaves no trace of what it did to tokens.
        with pytest.raises(RuntimeError), h.unit_of_work() as uow:  # noqa: PT012
            assert uow.tokens.delete(token.id)
            uow.tokens.add(attrs.evolve(twin, digest=token_digest(new_token_secret())))
            raise RuntimeError("roll back")
        with h.unit_of_work() as uow:
            assert uow.tokens.list(clerk.user_id, after=None, limit=10) == [
                attrs.evolve(token, last_used_at=later)
            ]
            assert uow.tokens.delete(token.id) is True
            assert uow.tokens.delete(token.id) is False
            assert uow.tokens.find(token.digest) is None
