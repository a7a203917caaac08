"""``GET /metrics``: Prometheus metrics, when ``INVENTORY_METRICS=true``."""

from __future__ import annotations

import falcon

from inventory_http.metrics import Metrics
from inventory_http.operations import operation

__all__ = ["MetricsResource"]


class MetricsResource:
    """The metrics of every worker, in the Prometheus text format."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    @operation(
        "metrics",
        summary="Prometheus metrics",
        tag="health",
        public=True,
        media_type="text/plain",
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Requests, latency, pool use, backing-service errors and feed lag in the Prometheus
        text format (docs/operations.md lists them). Served only with `INVENTORY_METRICS=true`;
        it needs no session, so keep it on a private network."""
        body, content_type = self._metrics.scrape()
        resp.content_type = content_type
        resp.data = body
