"""Liveness (``/healthz``) and readiness (``/readyz``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import falcon

from inventory_http.operations import operation
from inventory_http.responses import send_json
from inventory_http.shapes import Health, Readiness, Status

__all__ = ["HealthResource", "ReadinessResource"]

log = logging.getLogger("inventory_http.health")

RETRY_AFTER_SECONDS = 5
"""What a 503 from ``/readyz`` asks to wait (``Retry-After``)."""


def _json(shape: Health | Readiness) -> dict[str, Any]:
    """A health shape as JSON values (its fields are plain strings and a dict of them)."""
    return attrs.asdict(shape)


class HealthResource:
    """``/healthz``: the process is up and serving."""

    @operation(
        "health",
        summary="Check liveness",
        tag="health",
        response=Health,
        public=True,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Always 200 `{"status": "ok"}` while the process serves requests; it checks no
        backing service (`GET /readyz` does)."""
        send_json(resp, _json(Health("ok")))


class ReadinessResource:
    """``/readyz``: every backing service answers: 200, else 503 naming which did not (never
    why: the reason goes to the log, not to whoever can reach the endpoint)."""

    def __init__(self, checks: Mapping[str, Callable[[], None]]) -> None:
        self._checks = dict(checks)

    @operation(
        "readiness",
        summary="Check readiness",
        tag="health",
        response=Readiness,
        errors=(503,),
        public=True,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Checks each backing service (`postgres`, `redis`) and answers 200 when all answer.
        If any does not, the answer is 503 with `Retry-After: 5` and the same body shape, each
        check saying `ok` or `unavailable` (never why). Meant for load balancers."""
        results: dict[str, Status] = {}
        for name, check in self._checks.items():
            try:
                check()
            except Exception:  # any failure means "not ready"; the log keeps the reason
                log.warning("readiness check %s failed", name, exc_info=True)
                results[name] = "unavailable"
            else:
                results[name] = "ok"
        ready = all(v == "ok" for v in results.values())
        if not ready:
            resp.set_header("Retry-After", str(RETRY_AFTER_SECONDS))
        readiness = Readiness("ok" if ready else "unavailable", results)
        send_json(resp, _json(readiness), 200 if ready else 503)
