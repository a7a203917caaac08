"""Users (admin) and one's own password."""

from __future__ import annotations

from uuid import UUID

import falcon

from inventory_core.errors import AuthenticationFailed
from inventory_core.executor import Response
from inventory_core.paging import Page
from inventory_core.services.users import (
    ChangePassword,
    ChangeUser,
    CreateUser,
    GetUser,
    ListUsers,
    UserChanges,
)
from inventory_core.users import User
from inventory_http.conditional import etag, if_match_version
from inventory_http.cursors import collection
from inventory_http.dependencies import Resource, actor_of
from inventory_http.errors import Problem
from inventory_http.operations import Paging, operation
from inventory_http.resources.session import client_address, throttled
from inventory_http.shapes import Collection

__all__ = ["PasswordResource", "UserResource", "UsersResource"]


class UsersResource(Resource):
    """``/v1/users``: create a user, list users."""

    @operation(
        "createUser",
        summary="Create a user",
        tag="users",
        status=201,
        body=CreateUser,
        response=User,
        headers=("ETag",),
        errors=(409,),
        replayable=True,
        example={"username": "alice", "password": "sturdy-lantern-meadow-42", "role": "clerk"},
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, body: CreateUser) -> None:
        """Adds a user with a role and an initial password (8-128 characters, not a common
        one), answered with its version as `ETag`. A taken username is 409 `already-exists`
        naming the `field`."""

        def render(user: User) -> Response:
            return self.render.response(user, 201, (("ETag", etag(user.version)),))

        self.deps.runner.run(req, resp, actor_of(req), body, render)

    @operation(
        "listUsers",
        summary="List users",
        tag="users",
        paged="id",
        response=Collection[User],
        command=ListUsers,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, paging: Paging) -> None:
        """Users in creation order (never anything about their passwords)."""
        command = ListUsers(after=paging.after, limit=paging.limit)
        result: Page[User, UUID] = self.inventory.execute(actor_of(req), command)
        self.render.send(resp, collection(result))


class UserResource(Resource):
    """``/v1/users/{user_id}``: change a user."""

    @operation(
        "changeUser",
        summary="Change a user",
        tag="users",
        body=UserChanges,
        response=User,
        headers=("ETag",),
        errors=(409,),
        conditional=True,
        command=ChangeUser,
        example={"role": "manager"},
    )
    def on_patch(
        self, req: falcon.Request, resp: falcon.Response, user_id: UUID, body: UserChanges
    ) -> None:
        """Changes the user's role, active flag or password (the fields sent) and ends that
        user's sessions, so a demotion or deactivation takes effect at once (your own current
        session is kept). With `If-Match`, the change applies only to that version (else 412).
        Demoting or deactivating yourself is 409 `invalid-operation`."""
        actor = actor_of(req)
        before = self.inventory.execute(actor, GetUser(user_id))
        expected = if_match_version(req, lambda: before.version)
        user = self.inventory.execute(actor, ChangeUser(user_id, body, expected_version=expected))
        if user.version != before.version:
            keep = req.context.session_id if user_id == actor.user_id else None
            self.deps.sessions.destroy_user_sessions(user_id, keep=keep)
        resp.set_header("ETag", etag(user.version))
        self.render.send(resp, user)


class PasswordResource(Resource):
    """``/v1/users/me/password``: change one's own password."""

    @operation(
        "changePassword",
        summary="Change your own password",
        tag="users",
        status=204,
        body=ChangePassword,
        errors=(429,),
        example={
            "current_password": "correct-horse-battery-staple",
            "new_password": "sturdy-lantern-meadow-42",
        },
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response, body: ChangePassword) -> None:
        """Replaces the caller's password after checking the current one, and ends the caller's
        other sessions (this one is kept). A wrong current password is 401
        `authentication-failed`, counted like a failed login: repeated failures are 429
        `too-many-attempts` with `Retry-After`."""
        actor = actor_of(req)
        username = self.inventory.execute(actor, GetUser(actor.user_id)).username
        client = client_address(req)
        throttle = self.deps.throttle
        wait = throttle.retry_after(username=username, client=client)
        if wait is not None:
            raise throttled(wait)
        try:
            self.inventory.execute(actor, body)
        except AuthenticationFailed:
            throttle.record_failure(username=username, client=client)
            raise Problem(401, "authentication-failed", "the current password is wrong") from None
        self.deps.sessions.destroy_user_sessions(actor.user_id, keep=req.context.session_id)
        resp.status = 204
