"""Users (admin) and one's own password."""

from __future__ import annotations

from uuid import UUID

import falcon

from inventory_core.errors import AuthenticationFailed, ValidationError
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
from inventory_core.unset import UNSET
from inventory_core.users import Role, User
from inventory_http.conditional import etag, if_match_version
from inventory_http.cursors import collection
from inventory_http.dependencies import Resource, actor_of
from inventory_http.errors import Problem
from inventory_http.operations import Paging, operation
from inventory_http.resources.session import client_address, start_session, throttled
from inventory_http.shapes import Collection, CurrentSession

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
        session is kept). Sending any of these fields ends the sessions even when it changes
        nothing, so retrying a request that failed (503) always finishes the job. With
        `If-Match`, the change applies only to that version (else 412). Demoting or deactivating
        yourself is 409 `invalid-operation`."""
        actor = actor_of(req)
        before = self.inventory.execute(actor, GetUser(user_id))
        expected = if_match_version(req, lambda: before.version)
        # Only an admin's request can change anything (ChangeUser checks it again), and a
        # refused request must not end anyone's sessions.
        revoking = actor.role is Role.ADMIN and any(
            field is not UNSET for field in (body.role, body.active, body.password)
        )
        keep = req.context.session_id if user_id == actor.user_id else None
        if revoking:
            # Before the change: if the session store fails here (503) the database is untouched,
            # so a retry redoes both, where a change made first and then retried would change
            # nothing and end nothing. Ending sessions for a change that then fails only errs on
            # the safe side.
            self.deps.sessions.revoke_user_sessions(user_id, keep=keep)
        user = self.inventory.execute(actor, ChangeUser(user_id, body, expected_version=expected))
        if revoking and user.version != before.version:
            # And after it: a login that read the user between the first revocation and the
            # commit saw the old role; raising the generation again ends its session.
            self.deps.sessions.revoke_user_sessions(user_id, keep=keep)
        self.send_versioned(req, resp, user)


class PasswordResource(Resource):
    """``/v1/users/me/password``: change one's own password."""

    @operation(
        "changePassword",
        summary="Change your own password",
        tag="users",
        body=ChangePassword,
        response=CurrentSession,
        headers=("Set-Cookie",),
        errors=(429,),
        example={
            "current_password": "correct-horse-battery-staple",
            "new_password": "sturdy-lantern-meadow-42",
        },
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response, body: ChangePassword) -> None:
        """Replaces the caller's password after checking the current one and ends every session
        of the caller, this one included. A new session takes this one's place: its cookie is
        set and the answer is the login's (with the new `csrf_token`). A wrong current password
        is 401 `authentication-failed`, counted like a failed login: repeated failures are 429
        `too-many-attempts` with `Retry-After`."""
        actor = actor_of(req)
        username = self.inventory.execute(actor, GetUser(actor.user_id)).username
        client = client_address(req)
        throttle = self.deps.throttle
        wait = throttle.begin_attempt(username=username, client=client)
        if wait is not None:
            raise throttled(wait)
        try:
            user = self.inventory.execute(actor, body)
        except AuthenticationFailed:
            raise Problem(401, "authentication-failed", "the current password is wrong") from None
        except ValidationError:
            # Only the new password is judged after the current one was found right.
            throttle.record_success(username=username, client=client)
            raise
        throttle.record_success(username=username, client=client)
        # A new session id after a change of credentials (OWASP): the old id dies with the
        # others, and whoever may have learnt it is out too.
        self.deps.sessions.revoke_user_sessions(actor.user_id)
        remember = req.context.session.remember  # a remember-me session stays one
        self.render.send(resp, start_session(self, req, resp, user, remember=remember))
