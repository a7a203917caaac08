"""``GET /v1/events`` (DESIGN §11): the change feed as the API serves it, and the offline copy
docs/http-api.md builds from it, run here as written."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from inventory_core.services.events import PurgeEvents
from tests.http.conftest import Api, World, create_item, create_location, receive

DOC = Path(__file__).resolve().parents[2] / "docs" / "http-api.md"


def _doc_sync() -> dict[str, Any]:
    """The sync routine of docs/http-api.md ("Offline copy from the event feed"), as written."""
    text = DOC.read_text()
    section = text[text.index("## Offline copy from the event feed") :]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), str(DOC), "exec"), namespace)
    return namespace


def _getter(api: Api) -> Any:
    def get(path: str) -> Any:
        result = api.get(path)
        assert result.status_code == 200, result.text
        return result.json

    return get


def _stock(api: Api) -> dict[str, int]:
    rows = api.get("/v1/stock", params={"limit": "500"}).json["data"]
    return {f"{r['item_id']}@{r['location_id']}": r["on_hand"] for r in rows}


def test_the_documented_offline_copy_matches_the_api(admin: Api, viewer: Api) -> None:
    doc = _doc_sync()
    warehouse = create_location(admin, "WH")
    bins = [create_location(admin, f"B{n}", "internal", warehouse["id"]) for n in range(2)]
    items = [create_item(admin, f"SKU-{n}") for n in range(3)]
    for n, item in enumerate(items):
        receive(admin, item["id"], bins[n % 2]["id"], 10 + n)
    copy: dict[str, Any] = {}
    doc["sync"](_getter(viewer), copy)  # any role may read the feed
    first_position = copy["position"]
    # More changes: a transfer, a shipment, a renamed item; then sync again from the position.
    admin.post(
        "/v1/movements",
        json={
            "kind": "transfer",
            "lines": [
                {
                    "item_id": items[0]["id"],
                    "quantity": 4,
                    "from_location_id": bins[0]["id"],
                    "to_location_id": bins[1]["id"],
                }
            ],
        },
    )
    admin.post(
        "/v1/movements",
        json={
            "kind": "shipment",
            "lines": [
                {"item_id": items[1]["id"], "quantity": 5, "from_location_id": bins[1]["id"]}
            ],
        },
    )
    renamed = admin.patch(f"/v1/items/{items[2]['id']}", json={"name": "Renamed"}).json
    doc["sync"](_getter(viewer), copy)
    assert copy["position"] != first_position
    holding = {
        k: v for k, v in copy["on_hand"].items() if k.split("@")[1] in {b["id"] for b in bins}
    }
    assert {k: v for k, v in holding.items() if v} == _stock(admin)
    assert copy["items"][items[2]["id"]] == renamed == admin.get(f"/v1/items/{items[2]['id']}").json
    assert set(copy["locations"]) == {warehouse["id"], *(b["id"] for b in bins)}
    # Nothing new: an empty page with the same position.
    page = viewer.get("/v1/events", params={"cursor": copy["position"]}).json
    assert (page["data"], page["next_cursor"], page["position"]) == ([], None, copy["position"])


def test_types_filter_and_unknown_types_are_422_with_the_path(admin: Api) -> None:
    item = create_item(admin)
    warehouse = create_location(admin, "WH")
    receive(admin, item["id"], warehouse["id"], 3)
    page = admin.get("/v1/events", params={"types": "movement.posted,item.created"}).json
    assert [e["type"] for e in page["data"]] == ["item.created", "movement.posted"]
    assert page["data"][0]["data"] == admin.get(f"/v1/items/{item['id']}").json
    result = admin.get("/v1/events", params={"types": "item.created,item.deleted,nope"})
    assert result.status_code == 422
    assert [e["path"] for e in result.json["errors"]] == ["$.types[1]", "$.types[2]"]


def test_a_cursor_older_than_the_retention_is_410(world: World, admin: Api) -> None:
    create_item(admin, "OLD-1")
    early = admin.get("/v1/events", params={"limit": "1"}).json["position"]
    create_item(admin, "OLD-2")
    world.clock.advance(days=40)
    admin = world.as_("admin")  # the session of 40 days ago has ended
    create_item(admin, "NEW-1")
    assert world.inventory.execute(None, PurgeEvents(world.clock.now() - timedelta(days=30))) == 2
    result = admin.get("/v1/events", params={"cursor": early})
    assert result.status_code == 410
    assert result.json["type"].endswith(":cursor-expired")
    fresh = admin.get("/v1/events").json
    assert [e["data"]["sku"] for e in fresh["data"]] == ["NEW-1"]


def test_the_feed_needs_a_login(world: World) -> None:
    assert world.client().get("/v1/events").status_code == 401
