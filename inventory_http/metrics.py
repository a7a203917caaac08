"""Prometheus metrics of the API (DESIGN §13): off unless ``INVENTORY_METRICS=true``.

Under gunicorn every worker is its own process, so the metrics use prometheus-client's
multiprocess mode: ``inventory serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory
before the workers start, each worker writes its samples there, and a scrape of any worker sums
them (:class:`~prometheus_client.multiprocess.MultiProcessCollector`). Without that variable
(tests, a WSGI server of your own with one process) the samples stay in this process.

What is measured:

- ``inventory_http_requests_total{route, method, status}`` and
  ``inventory_http_request_duration_seconds{route, method}``: per route *template*
  (``/v1/items/{item_id}``), never the raw path, so ids do not explode the label space;
- ``inventory_backing_service_errors_total{service}``: requests that found Postgres or Redis
  unavailable;
- ``inventory_db_pool_connections{state}``: connections of this process's pool in use, idle and
  waited for (summed over live workers);
- ``inventory_feed_lag_seconds``: now minus the ``recorded_at`` of the newest movement the feed
  serves (read when scraped).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import falcon

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric

__all__ = [
    "MULTIPROCESS_DIR_VARIABLE",
    "Metrics",
    "MetricsMiddleware",
    "forget_worker",
    "prepare_multiprocess_dir",
    "remove_multiprocess_dir",
    "service_of",
]

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_MADE_PREFIX = "inventory-metrics-"
# prometheus-client picks its storage (in memory, or files for multiprocess mode) when it is
# first imported, from this variable. So it is imported only where metrics are made -- in the
# workers, after the master has set the variable -- never when this module loads.


def prepare_multiprocess_dir() -> str:
    """In gunicorn's master, before the workers start: an empty directory for the workers'
    samples, named in ``PROMETHEUS_MULTIPROC_DIR`` (which the workers inherit). Under
    ``/dev/shm`` when it exists, as the samples are written on every request."""
    given = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if given:  # the operator chose one: start it empty (samples of dead processes mislead)
        path = Path(given)
        if path.is_dir():
            for entry in path.iterdir():
                if entry.is_file() and entry.suffix == ".db":
                    entry.unlink()
        else:
            path.mkdir(parents=True)
        return given
    shm = "/dev/shm"  # noqa: S108 -- mkdtemp below makes a private (0700) directory in it
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    made = tempfile.mkdtemp(prefix=_MADE_PREFIX, dir=base)
    os.environ[MULTIPROCESS_DIR_VARIABLE] = made
    return made


def forget_worker(pid: int) -> None:
    """In gunicorn's master when a worker exits: drop its live gauges (``livesum``)."""
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        from prometheus_client import multiprocess  # noqa: PLC0415 -- see above

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def remove_multiprocess_dir() -> None:
    """When the master stops: remove the directory :func:`prepare_multiprocess_dir` made (one
    an operator named is left in place)."""
    path = os.environ.get(MULTIPROCESS_DIR_VARIABLE, "")
    if Path(path).name.startswith(_MADE_PREFIX):
        shutil.rmtree(path, ignore_errors=True)


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def service_of(error: BaseException) -> str:
    """Which backing service an ``Unavailable`` came from, by the driver error behind it."""
    cause = error.__cause__ or error.__context__
    package = type(cause).__module__.split(".", 1)[0] if cause is not None else ""
    return {"psycopg": "postgres", "psycopg_pool": "postgres", "redis": "redis"}.get(
        package, "other"
    )


class _FeedLagCollector:
    """Reads the feed lag when scraped (one cheap query), in the scraping process only."""

    def __init__(self, feed_lag: Callable[[], float | None]) -> None:
        self._feed_lag = feed_lag

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily  # noqa: PLC0415 -- see the top

        lag = self._feed_lag()
        family = GaugeMetricFamily(
            "inventory_feed_lag_seconds",
            "Seconds between now and the recorded_at of the newest movement the feed serves.",
        )
        if lag is not None:
            family.add_metric([], lag)
        yield family


class Metrics:
    """The API's metrics and the text a scrape returns."""

    def __init__(
        self,
        *,
        pool_stats: Callable[[], Mapping[str, int]] | None = None,
        feed_lag: Callable[[], float | None] | None = None,
    ) -> None:
        from prometheus_client import (  # noqa: PLC0415 -- see the top of the module
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
        )

        self._registry = CollectorRegistry()  # this app's own: several apps may share a process
        self._multiprocess = bool(os.environ.get(MULTIPROCESS_DIR_VARIABLE))
        self._pool_stats = pool_stats
        self._feed_lag = feed_lag
        self.requests = Counter(
            "inventory_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self._registry,
        )
        self.latency = Histogram(
            "inventory_http_request_duration_seconds",
            "Time to answer a request, by route template and method.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self._registry,
        )
        self.service_errors = Counter(
            "inventory_backing_service_errors",
            "Requests that found a backing service unavailable, by service.",
            ["service"],
            registry=self._registry,
        )
        self.pool = Gauge(
            "inventory_db_pool_connections",
            "Database pool connections of the live workers: in use, idle, and requests waiting.",
            ["state"],
            registry=self._registry,
            multiprocess_mode="livesum",
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)
        if self._pool_stats is not None:
            stats = self._pool_stats()
            size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
            self.pool.labels("in_use").set(size - available)
            self.pool.labels("idle").set(available)
            self.pool.labels("waiting").set(stats.get("requests_waiting", 0))

    def scrape(self) -> tuple[bytes, str]:
        """The exposition text of every metric (every worker's, in multiprocess mode)."""
        from prometheus_client import (  # noqa: PLC0415 -- see the top of the module
            CONTENT_TYPE_LATEST,
            CollectorRegistry,
            generate_latest,
        )
        from prometheus_client.multiprocess import MultiProcessCollector  # noqa: PLC0415

        registry = self._registry
        if self._multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if self._feed_lag is not None:
            registry = _with(registry, _FeedLagCollector(self._feed_lag))
        return generate_latest(registry), CONTENT_TYPE_LATEST


class _Existing:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()


def _with(registry: CollectorRegistry, collector: _FeedLagCollector) -> CollectorRegistry:
    from prometheus_client import CollectorRegistry  # noqa: PLC0415 -- see the top

    combined = CollectorRegistry()
    combined.register(_Existing(registry))
    combined.register(collector)
    return combined


class MetricsMiddleware:
    """Times and counts every request by the route template Falcon matched."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_started = time.perf_counter()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        started = getattr(req.context, "metrics_started", None)
        if started is None:
            return
        route = req.uri_template or "unmatched"
        status = int(str(resp.status).split(" ", 1)[0])
        self._metrics.observe(route, req.method, status, time.perf_counter() - started)
