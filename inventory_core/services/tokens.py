"""API token use cases: issue, list, revoke, and authenticate a bearer secret."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

from inventory_core._checks import accepts
from inventory_core.commands import Command, handles, handles_trusted
from inventory_core.errors import (
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from inventory_core.paging import Page
from inventory_core.ports import UnitOfWork
from inventory_core.services._support import Providers, fetch_page, require
from inventory_core.tokens import (
    TOKEN_NAME,
    ApiToken,
    looks_like_token,
    new_token_secret,
    token_digest,
)
from inventory_core.users import Actor, Role

__all__ = [
    "INVALID_TOKEN",
    "AuthenticateToken",
    "CreateToken",
    "IssuedToken",
    "ListTokens",
    "RevokeToken",
]

INVALID_TOKEN = "invalid or expired token"  # noqa: S105 -- a message, not a secret
"""The one message of every failed token authentication, whatever the reason."""


@attrs.frozen
class IssuedToken:
    """A new token and its secret: the only time the secret is ever available."""

    token: ApiToken
    """The token as it is stored."""
    secret: str = attrs.field(repr=False)
    """``inv_`` and 43 base64url characters; send it as ``Authorization: Bearer <secret>``."""


@attrs.frozen
class CreateToken(Command[IssuedToken]):
    """Issue a token acting as the caller, with at most the caller's role."""

    name: str = attrs.field(metadata=accepts(TOKEN_NAME))
    """What the token is for, such as the integration using it (1-100 characters)."""
    role: Role | None = attrs.field(default=None, converter=attrs.converters.optional(Role))
    """The most the token may do: at most the caller's role, which is the default."""
    expires_at: datetime | None = None
    """When the token stops working (in the future); ``null``: never, until revoked."""


@attrs.frozen
class ListTokens(Command[Page[ApiToken, UUID]]):
    """The caller's tokens, oldest first; admins may ask for another user's."""

    user_id: UUID | None = None
    """Whose tokens (admins only, for anyone but the caller); ``null``: the caller's."""
    after: UUID | None = None
    limit: int = 50


@attrs.frozen
class RevokeToken(Command[None]):
    """Revoke (delete) a token: the owner's, or any as an admin. It stops working at once."""

    token_id: UUID
    """The token to revoke."""


@attrs.frozen
class AuthenticateToken(Command[Actor]):
    """Check a bearer secret: the actor it acts as, else AuthenticationFailed."""

    secret: str = attrs.field(repr=False)


@handles(CreateToken, role=Role.VIEWER)
def create_token(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: CreateToken
) -> IssuedToken:
    """A token never exceeds the caller's role: a token cannot mint a more powerful one, nor a
    clerk an admin's."""
    TOKEN_NAME.check(command.name, "$.name")
    role = actor.role if command.role is None else command.role
    if not actor.role.allows(role):
        raise PermissionDenied(f"a token's role cannot exceed yours ({actor.role}); asked {role}")
    now = providers.clock.now()
    if command.expires_at is not None and (
        not isinstance(command.expires_at, datetime)
        or command.expires_at.tzinfo is None
        or command.expires_at <= now
    ):
        raise ValidationError("must be a timezone-aware time in the future", "$.expires_at")
    user = uow.users.get(actor.user_id)
    if user is None or not user.active:
        raise AuthenticationFailed(INVALID_TOKEN)
    secret = new_token_secret()
    token = ApiToken(
        id=providers.ids.new_id(),
        user_id=user.id,
        name=command.name,
        role=role,
        digest=token_digest(secret),
        created_at=now,
        expires_at=command.expires_at,
        last_used_at=None,
    )
    uow.tokens.add(token)
    return IssuedToken(token, secret)


@handles(ListTokens, role=Role.VIEWER)
def list_tokens(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ListTokens
) -> Page[ApiToken, UUID]:
    user_id = actor.user_id if command.user_id is None else command.user_id
    if user_id != actor.user_id:
        require(actor, Role.ADMIN)
    return fetch_page(
        lambda n: uow.tokens.list(user_id, after=command.after, limit=n),
        lambda t: t.id,
        command.limit,
    )


@handles(RevokeToken, role=Role.VIEWER)
def revoke_token(providers: Providers, uow: UnitOfWork, actor: Actor, command: RevokeToken) -> None:
    """Others' tokens are NotFound to non-admins, exactly like ids that do not exist, so no one
    learns another user's token ids."""
    token = uow.tokens.get(command.token_id)
    if token is None or (token.user_id != actor.user_id and not actor.role.allows(Role.ADMIN)):
        raise NotFound("token", command.token_id)
    if not uow.tokens.delete(token.id):
        # Revoked concurrently, between the read and the delete: the same as never there.
        raise NotFound("token", command.token_id)


@handles_trusted(AuthenticateToken)
def authenticate_token(providers: Providers, uow: UnitOfWork, command: AuthenticateToken) -> Actor:
    """The actor a bearer secret acts as: its user, with the lower of the token's role and the
    user's current role. Malformed, unknown (revoked), expired tokens and inactive users all
    raise the same AuthenticationFailed. Revocation, expiry, deactivation and demotion show at
    the next request: nothing here is cached."""
    secret = command.secret
    if not isinstance(secret, str) or not looks_like_token(secret):
        # The shape is public, so refusing it without a read leaks nothing.
        raise AuthenticationFailed(INVALID_TOKEN)
    found = uow.tokens.find(token_digest(secret))
    if found is None:
        raise AuthenticationFailed(INVALID_TOKEN)
    token, user = found
    now = providers.clock.now()
    if token.expired(now) or not user.active:
        raise AuthenticationFailed(INVALID_TOKEN)
    if token.touch_due(now):
        uow.tokens.touch(token.id, now)
    role = token.role if token.role.rank <= user.role.rank else user.role
    return Actor(user_id=user.id, role=role)
