"""Users (admin) and one's own password."""

from __future__ import annotations

from uuid import UUID

import falcon

from inventory_core.errors import AuthenticationFailed
from inventory_core.executor import Response
from inventory_core.services.users import (
    ChangePassword,
    ChangeUser,
    CreateUser,
    GetUser,
    ListUsers,
    UserChanges,
)
from inventory_core.users import User
from inventory_http.dto import ChangePasswordBody, ChangeUserBody, CreateUserBody
from inventory_http.errors import Problem
from inventory_http.resources import _views as views
from inventory_http.resources._common import (
    Query,
    Resource,
    actor_of,
    if_match_version,
    json_response,
    page,
    read_body,
    send_json,
    send_versioned,
)
from inventory_http.resources.session import client_address, throttled

__all__ = ["PasswordResource", "UserResource", "UsersResource"]


class UsersResource(Resource):
    """``POST`` creates a user, ``GET`` lists them (admin)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Create a user: 201, or 409 for a taken username."""
        actor = actor_of(req)
        body = read_body(req, self.ctx.deps, CreateUserBody)
        command = CreateUser(username=body.username, password=body.password, role=body.role)

        def render(user: User) -> Response:
            return json_response(views.user(user), 201, (("ETag", views.etag(user.version)),))

        self.ctx.runner.run(req, resp, actor, command, render)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Users in creation order."""
        actor = actor_of(req)
        query = Query(req)
        limit, after = query.limit(), query.cursor("id")
        query.check()
        result = self.inventory.execute(actor, ListUsers(after=after, limit=limit))
        send_json(resp, page([views.user(u) for u in result.items], result.next_after))


class UserResource(Resource):
    """``PATCH`` changes a user's role, active flag or password (admin). A change ends that
    user's sessions, so a demotion or deactivation takes effect at once."""

    def on_patch(self, req: falcon.Request, resp: falcon.Response, user_id: UUID) -> None:
        """Apply the fields given; honours ``If-Match``."""
        actor = actor_of(req)
        body = read_body(req, self.ctx.deps, ChangeUserBody)
        before = self.inventory.execute(actor, GetUser(user_id))
        expected = if_match_version(req, lambda: before.version)
        changes = UserChanges(role=body.role, active=body.active, password=body.password)
        user = self.inventory.execute(
            actor, ChangeUser(user_id, changes, expected_version=expected)
        )
        if user.version != before.version:
            keep = req.context.session_id if user_id == actor.user_id else None
            self.ctx.sessions.destroy_user_sessions(user_id, keep=keep)
        send_versioned(req, resp, user.version, lambda: views.user(user), conditional=False)


class PasswordResource(Resource):
    """``PUT /v1/users/me/password``: change one's own password; other sessions end."""

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        """204 on success; 401 when the current password is wrong (throttled like logins)."""
        actor = actor_of(req)
        body = read_body(req, self.ctx.deps, ChangePasswordBody)
        username = self.inventory.execute(actor, GetUser(actor.user_id)).username
        client = client_address(req)
        throttle = self.ctx.throttle
        wait = throttle.retry_after(username=username, client=client)
        if wait is not None:
            raise throttled(wait)
        try:
            self.inventory.execute(actor, ChangePassword(body.current_password, body.new_password))
        except AuthenticationFailed:
            throttle.record_failure(username=username, client=client)
            raise Problem(401, "authentication-failed", "the current password is wrong") from None
        self.ctx.sessions.destroy_user_sessions(actor.user_id, keep=req.context.session_id)
        resp.status = 204
