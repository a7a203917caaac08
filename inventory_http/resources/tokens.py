"""API tokens for integrators: ``/v1/tokens`` (create, list) and ``/v1/tokens/{token_id}``
(revoke). How a token authenticates a request is the session middleware's business
(:class:`inventory_http.middleware.SessionMiddleware`)."""

from __future__ import annotations

from uuid import UUID

import attrs
import falcon

from inventory_core.paging import Page
from inventory_core.services.tokens import CreateToken, ListTokens, RevokeToken
from inventory_core.tokens import ApiToken
from inventory_http.cursors import collection
from inventory_http.dependencies import Resource, actor_of
from inventory_http.idempotency import idempotency_key
from inventory_http.operations import Paging, operation
from inventory_http.shapes import Collection, NewToken

__all__ = ["TokenQuery", "TokenResource", "TokensResource"]


@attrs.frozen
class TokenQuery:
    """Filters of a token listing."""

    user_id: UUID | None = None
    """Another user's tokens (admins only); the caller's own when absent."""


class TokensResource(Resource):
    """``/v1/tokens``: create a token, list tokens."""

    @operation(
        "createToken",
        summary="Create an API token",
        tag="tokens",
        status=201,
        body=CreateToken,
        response=NewToken,
        headers=("Location",),
        example={"name": "ERP sync", "role": "clerk"},
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, body: CreateToken) -> None:
        """Creates a token for the caller and answers its secret (`token`), the only time it is
        shown: send it as `Authorization: Bearer <token>`. `role` defaults to the caller's and
        may not exceed it (403 `permission-denied`); an `expires_at` in the past is 422. An
        `Idempotency-Key` is accepted but a creation is never replayed: a replay would have to
        store the secret, and a token created twice is harmless (revoke the spare one)."""
        # Checked like on every POST (a malformed key is 400), but never stored: the stored
        # answer would hold the secret, which the server must not keep anywhere.
        idempotency_key(req)
        issued = self.inventory.execute(actor_of(req), body)
        resp.set_header("Location", f"/v1/tokens/{issued.token.id}")
        self.render.send(resp, NewToken.of(issued), 201)

    @operation(
        "listTokens",
        summary="List API tokens",
        tag="tokens",
        query=TokenQuery,
        paged="id",
        response=Collection[ApiToken],
        command=ListTokens,
    )
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, query: TokenQuery, paging: Paging
    ) -> None:
        """The caller's tokens in creation order, never their secrets; `last_used_at` says
        which are in use. Admins may list another user's with `user_id` (anyone else: 403)."""
        command = ListTokens(user_id=query.user_id, after=paging.after, limit=paging.limit)
        result: Page[ApiToken, UUID] = self.inventory.execute(actor_of(req), command)
        self.render.send(resp, collection(result))


class TokenResource(Resource):
    """``/v1/tokens/{token_id}``: revoke one token."""

    @operation(
        "revokeToken",
        summary="Revoke an API token",
        tag="tokens",
        status=204,
        command=RevokeToken,
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response, token_id: UUID) -> None:
        """Revokes the token (its owner, or an admin): the next request made with it is 401.
        Another user's token is 404 for anyone but an admin."""
        self.inventory.execute(actor_of(req), RevokeToken(token_id))
        resp.status = 204
