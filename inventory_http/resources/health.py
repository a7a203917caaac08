"""Liveness (``/healthz``) and readiness (``/readyz``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import falcon

from inventory_http.resources._common import send_json

__all__ = ["HealthResource", "ReadinessResource"]

log = logging.getLogger("inventory_http.health")


class HealthResource:
    """The process is up and serving."""

    public_methods = frozenset({"GET"})

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Always 200."""
        send_json(resp, {"status": "ok"})


class ReadinessResource:
    """Every backing service answers: 200, else 503 naming which did not (never why: the
    reason goes to the log, not to whoever can reach the endpoint)."""

    public_methods = frozenset({"GET"})

    def __init__(self, checks: Mapping[str, Callable[[], None]]) -> None:
        self._checks = dict(checks)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Run each check; any that raises makes the answer 503."""
        results: dict[str, str] = {}
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
            resp.set_header("Retry-After", "5")
        send_json(
            resp,
            {"status": "ok" if ready else "unavailable", "checks": results},
            200 if ready else 503,
        )
