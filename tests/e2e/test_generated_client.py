"""A client generated from the served OpenAPI document works against a real server.

``openapi-python-client generate --fail-on-warning`` turns the document that ``inventory serve``
(the embedded default, no database) serves into a Python package; the test imports it and drives
a short flow through the generated functions: log in, create an item, a warehouse and a bin in
it, post a receipt twice with one Idempotency-Key (the second is a replay), read the stock. A
second flow authenticates with an API token alone: ``AuthenticatedClient(token=…)``, nothing
else (no cookie, no CSRF header), as DESIGN §10 promises generated clients.

The test relies only on operation ids (not on tags, which name the generated subpackages), on
the response fields ``id``, ``csrf_token`` and ``on_hand``, and on the headers the API documents.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import secrets
import subprocess
import sys
import types
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import inventory_env, running_server

pytestmark = pytest.mark.slow

CSRF_HEADER = "X-CSRF-Token"
REPLAYED_HEADER = "Idempotent-Replayed"


def generate(document: Path, output: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """``openapi-python-client generate`` into ``output`` (the package directory itself, with
    ``--meta none``), failing on any warning; no post hooks (they would run ruff from PATH)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(output),
            "--meta",
            "none",
            "--config",
            str(config),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_config(directory: Path, package: str) -> Path:
    config = directory / "generator-config.json"  # JSON is read as JSON by the generator
    config.write_text(
        json.dumps(
            {
                "project_name_override": package,
                "package_name_override": package,
                "post_hooks": [],
            }
        )
    )
    return config


def snake_case(operation_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


@pytest.fixture
def import_generated(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], Any]]:
    """Import a generated package from its directory; forget it (and sys.path) afterwards."""
    imported: list[str] = []

    def load(package_dir: Path) -> Any:
        monkeypatch.syspath_prepend(str(package_dir.parent))
        imported.append(package_dir.name)
        return importlib.import_module(package_dir.name)

    yield load
    for name in list(sys.modules):
        if any(name == p or name.startswith(p + ".") for p in imported):
            del sys.modules[name]


class Operations:
    """The generated endpoint modules of a package, by operation id."""

    def __init__(self, package: types.ModuleType) -> None:
        self._modules: dict[str, types.ModuleType] = {}
        prefix = package.__name__ + ".api."
        api = importlib.import_module(prefix.rstrip("."))
        for info in pkgutil.walk_packages(api.__path__, prefix):
            module = importlib.import_module(info.name)
            if hasattr(module, "sync_detailed"):
                self._modules[info.name.rsplit(".", 1)[1]] = module

    def __call__(self, operation_id: str, *args: Any, **fields: Any) -> Any:
        """Call ``sync_detailed`` of the operation; ``body`` (a dict) becomes the body model,
        ``idempotency_key`` goes to whatever the Idempotency-Key parameter is called."""
        module = self._modules.get(snake_case(operation_id))
        assert module is not None, (
            f"no generated module for {operation_id}: {sorted(self._modules)}"
        )
        function = module.sync_detailed
        parameters = inspect.signature(function).parameters
        kwargs = dict(fields)
        if "body" in kwargs:
            kwargs["body"] = body_model(parameters["body"].annotation).from_dict(kwargs["body"])
        if "idempotency_key" in kwargs:
            [name] = [p for p in parameters if "idempotency" in p]
            kwargs[name] = kwargs.pop("idempotency_key")
        return function(*args, **kwargs)


def body_model(annotation: Any) -> Any:
    """The model class of a ``body`` parameter (``Model`` or ``Model | Unset``)."""
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    [model] = [c for c in candidates if hasattr(c, "from_dict")]
    return model


def check(response: Any, status: int) -> Any:
    assert response.status_code == status, (response.status_code, response.content)
    assert response.parsed is not None, response.content  # the documented schema parsed
    return response.parsed


def receive_twice_and_read_the_stock(call: Operations, client: Any, password: str) -> None:
    """The flow, through the generated functions on one logged-in client."""
    session = check(
        call("login", client=client, body={"username": "admin", "password": password}), 201
    )
    # The httpx client of this Client keeps the session cookie in its jar.
    http = client.get_httpx_client()
    assert len(http.cookies) == 1, http.cookies
    # The cookie alone is not enough for an unsafe method (403, not 401: the cookie was sent).
    item = {"sku": f"GEN-{secrets.token_hex(3)}", "name": "Generated client item"}
    check(call("createItem", client=client, body=item), 403)

    # Not client.with_headers(): that returns a *new* Client whose new httpx client has an
    # empty cookie jar (401). The header goes onto this client's own httpx client.
    http.headers[CSRF_HEADER] = session.csrf_token
    item_id = check(call("createItem", client=client, body=item), 201).id
    warehouse = {"code": "GEN-WH", "name": "Generated warehouse", "kind": "warehouse"}
    warehouse_id = check(call("createLocation", client=client, body=warehouse), 201).id
    bin_ = {"code": "GEN-WH-A1", "name": "Generated bin", "kind": "internal"}
    bin_["parent_id"] = str(warehouse_id)
    bin_id = check(call("createLocation", client=client, body=bin_), 201).id

    line = {"item_id": str(item_id), "quantity": 17, "to_location_id": str(bin_id)}
    receipt = {"kind": "receipt", "reference": "PO-GEN", "lines": [line]}
    key = f"gen-{secrets.token_hex(8)}"
    first = call("postMovement", client=client, body=receipt, idempotency_key=key)
    movement_id = check(first, 201).id
    assert first.headers.get(REPLAYED_HEADER) != "true", first.headers
    again = call("postMovement", client=client, body=receipt, idempotency_key=key)
    assert check(again, 201).id == movement_id
    assert again.headers.get(REPLAYED_HEADER) == "true", again.headers

    stock = check(call("getItemStock", item_id, client=client), 200)
    assert stock.on_hand == 17  # once, though posted twice


def test_a_generated_client_drives_a_real_server(
    tmp_path: Path, import_generated: Callable[[Path], Any]
) -> None:
    password = secrets.token_urlsafe(16)
    env = inventory_env(INVENTORY_PASSWORD=password, INVENTORY_LOG_LEVEL="WARNING")
    with running_server(env) as server:
        with urllib.request.urlopen(f"{server.base_url}/openapi.json", timeout=10) as response:
            assert response.status == 200
            document = tmp_path / "openapi.json"
            document.write_bytes(response.read())

        package = f"inventory_client_{secrets.token_hex(4)}"
        result = generate(document, tmp_path / package, write_config(tmp_path, package))
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"generation failed:\n{output}"
        assert "Warning" not in output, output
        generated = import_generated(tmp_path / package)

        # raise_on_unexpected_status: a status the document does not list fails the test.
        client = generated.Client(base_url=server.base_url, raise_on_unexpected_status=True)
        with client:  # closes the httpx client and its connections at the end
            receive_twice_and_read_the_stock(Operations(generated), client, password)

        assert server.stop() == 0, server.output()


def test_a_generated_authenticated_client_needs_only_the_token(
    tmp_path: Path, import_generated: Callable[[Path], Any]
) -> None:
    password = secrets.token_urlsafe(16)
    env = inventory_env(INVENTORY_PASSWORD=password, INVENTORY_LOG_LEVEL="WARNING")
    with running_server(env) as server:
        with urllib.request.urlopen(f"{server.base_url}/openapi.json", timeout=10) as response:
            document = tmp_path / "openapi.json"
            document.write_bytes(response.read())
        package = f"inventory_client_{secrets.token_hex(4)}"
        result = generate(document, tmp_path / package, write_config(tmp_path, package))
        assert result.returncode == 0, result.stdout + result.stderr
        generated = import_generated(tmp_path / package)
        call = Operations(generated)

        # The token comes from a login, as a person setting up an integration gets one.
        with generated.Client(base_url=server.base_url) as login_client:
            body = {"username": "admin", "password": password}
            session = check(call("login", client=login_client, body=body), 201)
            login_client.get_httpx_client().headers[CSRF_HEADER] = session.csrf_token
            issued = check(
                call("createToken", client=login_client, body={"name": "generated"}), 201
            )
        assert issued.token.startswith("inv_")

        client = generated.AuthenticatedClient(
            base_url=server.base_url, token=issued.token, raise_on_unexpected_status=True
        )
        with client:
            item = {"sku": f"TOK-{secrets.token_hex(3)}", "name": "Token client item"}
            item_id = check(call("createItem", client=client, body=item), 201).id
            warehouse = {"code": "TOK-WH", "name": "Token warehouse", "kind": "warehouse"}
            warehouse_id = check(call("createLocation", client=client, body=warehouse), 201).id
            bin_ = {"code": "TOK-WH-A1", "name": "Token bin", "kind": "internal"}
            bin_["parent_id"] = str(warehouse_id)
            bin_id = check(call("createLocation", client=client, body=bin_), 201).id
            line = {"item_id": str(item_id), "quantity": 4, "to_location_id": str(bin_id)}
            receipt = {"kind": "receipt", "reference": "PO-TOK", "lines": [line]}
            check(call("postMovement", client=client, body=receipt), 201)
            stock = check(call("getItemStock", item_id, client=client), 200)
            assert stock.on_hand == 4
            http = client.get_httpx_client()
            assert len(http.cookies) == 0  # the token alone did it
            assert CSRF_HEADER not in http.headers

            # A revoked token: the documented 401, parsed as the documented problem.
            revoked = call("revokeToken", issued.id, client=client)
            assert revoked.status_code == 204, revoked.content
            refused = call("listItems", client=client)
            assert refused.status_code == 401, refused.content
            assert refused.headers["WWW-Authenticate"] == "Bearer"

        assert server.stop() == 0, server.output()


def test_fail_on_warning_fails_generation_on_a_broken_document(tmp_path: Path) -> None:
    """--fail-on-warning does fail: a parameter whose $ref leads nowhere is only a warning."""
    document = tmp_path / "broken.json"
    missing = {"$ref": "#/components/schemas/Missing"}
    parameter = {"name": "p", "in": "query", "schema": missing}
    document.write_text(
        json.dumps(
            {
                "openapi": "3.1.0",
                "info": {"title": "broken", "version": "1"},
                "paths": {
                    "/x": {
                        "get": {
                            "operationId": "getX",
                            "parameters": [parameter],
                            "responses": {"200": {"description": "ok"}},
                        }
                    }
                },
            }
        )
    )
    package = "broken_client"
    result = generate(document, tmp_path / package, write_config(tmp_path, package))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Warning" in output, output
    assert "Could not find reference" in output, output
