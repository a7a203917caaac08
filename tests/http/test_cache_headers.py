"""Cache-Control is chosen by the route Falcon served, not by how the client spelt the path
(issue 14: ``//v1/session`` was routed to the session resource without ``no-store``)."""

from __future__ import annotations

import pytest

from tests.http.conftest import Api, World, create_item, receive

NO_STORE = "no-store"
REVALIDATE = "private, no-cache"


@pytest.mark.parametrize("prefix", ["", "/", "//", "///"])
def test_session_routes_are_no_store_however_the_path_is_spelt(
    world: World, viewer: Api, prefix: str
) -> None:
    for path in ("/v1/session", "/v1/sessions"):
        result = viewer.get(prefix + path)
        assert result.status_code == 200, (prefix + path, result.text)
        assert result.headers["cache-control"] == NO_STORE, prefix + path
    anonymous = world.client().get(prefix + "/v1/session")
    assert anonymous.status_code == 401
    assert anonymous.headers["cache-control"] == NO_STORE


@pytest.mark.parametrize("prefix", ["/", "//"])
def test_a_login_on_a_doubled_slash_is_no_store(world: World, prefix: str) -> None:
    api = world.client()
    result = api.client.simulate_post(
        prefix + "/v1/session", json={"username": "viewer", "password": "viewer-pass-2b6w"}
    )
    assert result.status_code == 201
    assert "inventory_session" in result.cookies
    assert result.headers["cache-control"] == NO_STORE


@pytest.mark.parametrize("prefix", ["", "/", "//"])
def test_data_routes_must_be_revalidated_however_the_path_is_spelt(
    manager: Api, prefix: str
) -> None:
    item = create_item(manager)
    warehouse = manager.post(
        "/v1/locations", json={"code": "W1", "name": "W", "kind": "warehouse"}
    ).json
    receive(manager, item["id"], warehouse["id"], 3)
    for path in ("/v1/items", f"/v1/items/{item['id']}", f"/v1/items/{item['id']}/stock"):
        result = manager.get(prefix + path)
        assert result.status_code == 200, (prefix + path, result.text)
        assert result.headers["cache-control"] == REVALIDATE, prefix + path


def test_unrouted_paths_are_judged_with_their_slashes_collapsed(viewer: Api) -> None:
    # Falcon does not route these (404), but they still say which family they belong to.
    for path, expected in [
        ("/v1//session", NO_STORE),
        ("//v1//sessions//", NO_STORE),
        ("/v1//nothing-here", REVALIDATE),
    ]:
        result = viewer.get(path)
        assert result.status_code == 404, path
        assert result.headers["cache-control"] == expected, path


def test_a_password_change_sets_a_cookie_so_it_is_no_store(world: World) -> None:
    api = world.as_("viewer")
    wrong = {"current_password": "not-the-password", "new_password": "brand-new-pass-77"}
    refused = api.put("/v1/users/me/password", json=wrong)
    assert refused.status_code == 401
    assert refused.headers["cache-control"] == NO_STORE
    right = {"current_password": "viewer-pass-2b6w", "new_password": "brand-new-pass-77"}
    changed = api.put("//v1/users/me/password", json=right)
    assert changed.status_code == 200
    assert "inventory_session" in changed.cookies
    assert changed.headers["cache-control"] == NO_STORE
