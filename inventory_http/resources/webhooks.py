"""Webhooks (admin): subscriptions, and the log of their deliveries (DESIGN §11). Deliveries
themselves are sent by ``inventory worker`` (:mod:`inventory_http.worker`)."""

from __future__ import annotations

from uuid import UUID

import falcon

from inventory_core.paging import Page
from inventory_core.services.webhooks import (
    ChangeWebhook,
    CreateWebhook,
    DeleteWebhook,
    GetWebhook,
    ListDeliveryAttempts,
    ListWebhooks,
    WebhookChanges,
)
from inventory_core.webhooks import DeliveryAttempt, NewWebhook, Webhook
from inventory_http.conditional import if_match_version
from inventory_http.cursors import collection
from inventory_http.dependencies import Resource, actor_of
from inventory_http.idempotency import idempotency_key
from inventory_http.operations import Paging, operation
from inventory_http.shapes import Collection

__all__ = ["DeliveriesResource", "WebhookResource", "WebhooksResource"]


class WebhooksResource(Resource):
    """``/v1/webhooks``: subscribe an endpoint, list subscriptions."""

    @operation(
        "createWebhook",
        summary="Create a webhook",
        tag="webhooks",
        status=201,
        body=CreateWebhook,
        response=NewWebhook,
        headers=("Location",),
        example={
            "url": "https://erp.example.com/hooks/inventory",
            "types": ["movement.posted", "stock.below_reorder"],
            "description": "ERP stock sync",
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, body: CreateWebhook) -> None:
        """Subscribes `url` to the event `types` and answers the webhook with its signing
        `secret` (`whsec_...`), the only time it is shown: verify each delivery's
        `webhook-signature` with it (docs/webhooks.md). A URL that is not http(s), longer than
        2,000 characters, or whose host resolves to a loopback, private, link-local or metadata
        address is 422. An `Idempotency-Key` is accepted but never replayed (the answer holds
        the secret, which the server does not keep in a replay)."""
        idempotency_key(req)
        created: NewWebhook = self.inventory.execute(actor_of(req), body)
        resp.set_header("Location", f"/v1/webhooks/{created.webhook.id}")
        self.render.send(resp, created, 201)

    @operation(
        "listWebhooks",
        summary="List webhooks",
        tag="webhooks",
        paged="id",
        response=Collection[Webhook],
        command=ListWebhooks,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, paging: Paging) -> None:
        """Webhooks in creation order. One the system turned off because its deliveries kept
        failing shows `active: false` and why, in `deactivated_reason`."""
        command = ListWebhooks(after=paging.after, limit=paging.limit)
        result: Page[Webhook, UUID] = self.inventory.execute(actor_of(req), command)
        self.render.send(resp, collection(result))


class WebhookResource(Resource):
    """``/v1/webhooks/{webhook_id}``: read, change or delete one webhook."""

    @operation(
        "getWebhook",
        summary="Get a webhook",
        tag="webhooks",
        response=Webhook,
        headers=("ETag",),
        conditional=True,
        command=GetWebhook,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, webhook_id: UUID) -> None:
        """The webhook (never its secret), with its version as `ETag`."""
        webhook = self.inventory.execute(actor_of(req), GetWebhook(webhook_id))
        self.send_versioned(req, resp, webhook, conditional=True)

    @operation(
        "changeWebhook",
        summary="Change a webhook",
        tag="webhooks",
        body=WebhookChanges,
        response=Webhook,
        headers=("ETag",),
        conditional=True,
        command=ChangeWebhook,
        example={"active": True},
    )
    def on_patch(
        self, req: falcon.Request, resp: falcon.Response, webhook_id: UUID, body: WebhookChanges
    ) -> None:
        """Changes the fields sent (`url`, `types`, `description`, `active`). `active: true`
        turns a webhook the system deactivated back on; deliveries resume with the events
        after that. With `If-Match`, the change applies only to that version (else 412)."""
        actor = actor_of(req)
        expected = if_match_version(
            req, lambda: self.inventory.execute(actor, GetWebhook(webhook_id)).version
        )
        webhook = self.inventory.execute(
            actor, ChangeWebhook(webhook_id, body, expected_version=expected)
        )
        self.send_versioned(req, resp, webhook)

    @operation(
        "deleteWebhook",
        summary="Delete a webhook",
        tag="webhooks",
        status=204,
        command=DeleteWebhook,
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response, webhook_id: UUID) -> None:
        """Deletes the webhook with its pending deliveries and its delivery log."""
        self.inventory.execute(actor_of(req), DeleteWebhook(webhook_id))
        resp.status = 204


class DeliveriesResource(Resource):
    """``/v1/webhooks/{webhook_id}/deliveries``: the delivery log."""

    @operation(
        "listWebhookDeliveries",
        summary="List a webhook's delivery attempts",
        tag="webhooks",
        paged="id",
        response=Collection[DeliveryAttempt],
        command=ListDeliveryAttempts,
    )
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, webhook_id: UUID, paging: Paging
    ) -> None:
        """Recent attempts, newest first: the event, the attempt number, the status code or
        the error, the duration and when the next attempt is due. Kept for
        `INVENTORY_DELIVERY_LOG_RETENTION_DAYS`."""
        command = ListDeliveryAttempts(webhook_id, before=paging.after, limit=paging.limit)
        result: Page[DeliveryAttempt, UUID] = self.inventory.execute(actor_of(req), command)
        self.render.send(resp, collection(result))
