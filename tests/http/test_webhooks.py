"""The webhook routes (DESIGN §11): admin-only subscriptions, the secret shown once, the URL
guard (422), PATCH with ETags, deactivation visible, and the delivery log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from inventory_core.retries import RetrySchedule
from inventory_core.services.webhooks import ClaimDeliveries, DispatchEvents, RecordDeliveryAttempt
from inventory_http.outbound import UrlRefused, check_webhook_url
from tests.http.conftest import Api, World, build_world, create_item

HOOK = "https://93.184.216.34/hooks/inventory"  # a public literal address: no DNS needed


def _guard(url: str) -> str | None:
    try:
        check_webhook_url(url, allow_private=False)
    except UrlRefused as exc:
        return str(exc)
    return None


@pytest.fixture
def world() -> World:
    """The app with the real address guard and a two-attempt retry schedule."""
    return build_world(
        executor_options={
            "webhook_url_check": _guard,
            "retry_schedule": RetrySchedule(delays=(timedelta(seconds=5),), jitter=0.0),
        }
    )


def _create(api: Api, **body: Any) -> Any:
    result = api.post("/v1/webhooks", json={"url": HOOK, "types": ["item.created"], **body})
    assert result.status_code == 201, result.text
    return result


def test_create_shows_the_secret_once_and_never_again(admin: Api) -> None:
    result = _create(admin, description="ERP")
    body = result.json
    assert body["secret"].startswith("whsec_")
    webhook = body["webhook"]
    assert result.headers["Location"] == f"/v1/webhooks/{webhook['id']}"
    assert webhook["url"] == HOOK
    assert webhook["types"] == ["item.created"]
    assert webhook["active"] is True
    assert webhook["deactivated_reason"] is None
    shown = admin.get(f"/v1/webhooks/{webhook['id']}")
    assert shown.json == webhook
    assert "secret" not in shown.json
    assert body["secret"] not in shown.text
    listed = admin.get("/v1/webhooks").json
    assert listed["data"] == [webhook]
    assert body["secret"] not in admin.get("/v1/webhooks").text


@pytest.mark.parametrize("role", ["manager", "clerk", "viewer"])
def test_only_admins_manage_webhooks(world: World, role: str) -> None:
    api = world.as_(role)
    assert (
        api.post("/v1/webhooks", json={"url": HOOK, "types": ["item.created"]}).status_code == 403
    )
    assert api.get("/v1/webhooks").status_code == 403


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"url": "ftp://example.com/x", "types": ["item.created"]}, "$.url"),
        ({"url": "https://example.com/" + "a" * 2000, "types": ["item.created"]}, "$.url"),
        ({"url": "https://user:pw@93.184.216.34/x", "types": ["item.created"]}, "$.url"),
        ({"url": "http://127.0.0.1:8080/hook", "types": ["item.created"]}, "$.url"),
        ({"url": "http://10.1.2.3/hook", "types": ["item.created"]}, "$.url"),
        ({"url": "http://169.254.169.254/latest/meta-data", "types": ["item.created"]}, "$.url"),
        ({"url": "http://[::1]/hook", "types": ["item.created"]}, "$.url"),
        ({"url": HOOK, "types": []}, "$.types"),
        ({"url": HOOK, "types": ["item.created", "item.deleted"]}, "$.types[1]"),
        ({"url": HOOK}, "$.types"),
    ],
)
def test_bad_webhooks_are_422_with_the_path_and_nothing_is_created(
    admin: Api, body: dict[str, Any], path: str
) -> None:
    result = admin.post("/v1/webhooks", json=body)
    assert result.status_code == 422, result.text
    assert path in [e["path"] for e in result.json["errors"]]
    assert admin.get("/v1/webhooks").json["data"] == []


def test_patch_changes_with_etags_and_refuses_private_urls(admin: Api) -> None:
    webhook = _create(admin).json["webhook"]
    path = f"/v1/webhooks/{webhook['id']}"
    etag = admin.get(path).headers["ETag"]
    changed = admin.patch(
        path, json={"types": ["movement.posted", "item.created"]}, headers={"If-Match": etag}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json["types"] == ["item.created", "movement.posted"]
    assert changed.json["version"] == webhook["version"] + 1
    stale = admin.patch(path, json={"active": False}, headers={"If-Match": etag})
    assert stale.status_code == 412
    refused = admin.patch(path, json={"url": "http://192.168.0.10/x"})
    assert refused.status_code == 422
    assert admin.get(path).json["url"] == HOOK


def test_delete_removes_the_webhook(admin: Api) -> None:
    webhook = _create(admin).json["webhook"]
    path = f"/v1/webhooks/{webhook['id']}"
    assert admin.delete(path).status_code == 204
    assert admin.get(path).status_code == 404
    assert admin.delete(path).status_code == 404
    assert admin.get(f"{path}/deliveries").status_code == 404


def test_the_log_shows_attempts_and_a_failing_endpoint_is_deactivated_visibly(
    world: World, admin: Api
) -> None:
    webhook = _create(admin).json["webhook"]
    item = create_item(admin)
    inventory = world.inventory
    assert inventory.execute(None, DispatchEvents()) == 1
    for attempt, status in ((1, 503), (2, 500)):
        (claimed,) = inventory.execute(None, ClaimDeliveries(timedelta(seconds=60), 10))
        assert claimed.event.data == item
        inventory.execute(
            None, RecordDeliveryAttempt(claimed, world.clock.now(), status, None, 12 + attempt)
        )
        world.clock.advance(seconds=10)
    admin = world.as_("admin")
    log = admin.get(f"/v1/webhooks/{webhook['id']}/deliveries").json["data"]
    assert [(a["attempt"], a["status_code"]) for a in log] == [(2, 500), (1, 503)]
    assert log[0]["next_attempt_at"] is None
    assert log[1]["next_attempt_at"] is not None
    assert {a["event_type"] for a in log} == {"item.created"}
    shown = admin.get(f"/v1/webhooks/{webhook['id']}").json
    assert shown["active"] is False
    assert "500" in shown["deactivated_reason"]
    assert admin.get("/v1/webhooks").json["data"] == [shown]
    back = admin.patch(f"/v1/webhooks/{webhook['id']}", json={"active": True}).json
    assert (back["active"], back["deactivated_reason"]) == (True, None)
