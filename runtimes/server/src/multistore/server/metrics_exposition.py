"""``GET /.multistore/metrics``: every worker's counts, added up, in Prometheus text format.

prometheus_client renders the text (its metric families and ``generate_latest``); the
counting itself is ours (``metrics``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from multidict import CIMultiDict
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from multistore.core.http import RequestInfo, Response
from multistore.server.health import READINESS
from multistore.server.metrics import LATENCY_BUCKETS, RECORDER, SnapshotDirectory

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# name → (help, label names); the names without their ``_total`` suffix for counters.
COUNTERS = {
    "multistore_requests": ("Requests answered, by S3 operation, status class and bucket.",
                            ("operation", "status_class", "bucket")),
    "multistore_received_bytes": ("Request body bytes read from clients.",
                                  ("operation", "bucket")),
    "multistore_sent_bytes": ("Response body bytes written to clients.",
                              ("operation", "bucket")),
    "multistore_backend_errors": ("Backend exchanges that failed: transport (unreachable, "
                                  "reset, timeout) or status_5xx.", ("backend", "kind")),
    "multistore_config_reloads": ("Configuration reloads by outcome (each worker reloads "
                                  "on SIGHUP).", ("outcome",)),
    "multistore_connections_dropped": ("Client connections closed by the gateway: "
                                       "header_timeout or over_limit.", ("reason",)),
}  # fmt: skip
HISTOGRAMS = {
    "multistore_request_duration_seconds": (
        "Time from request to the end of the response body.",
        ("operation", "status_class"),
    ),
    "multistore_backend_request_duration_seconds": (
        "Time from sending a backend request to its response head.",
        ("backend",),
    ),
}
GAUGES = {
    "multistore_requests_in_flight": ("Requests being handled now.", ()),
    "multistore_client_connections": ("Open client connections.", ()),
    "multistore_backend_connections": ("Backend connections held in the pools, by state.",
                                       ("backend", "state")),
}  # fmt: skip


class GatewayCollector(Collector):
    def __init__(self, shared: SnapshotDirectory | None) -> None:
        self._shared = shared

    def collect(self) -> Iterator[Metric]:
        own = RECORDER.snapshot()
        if self._shared is not None:
            self._shared.publish(own)
            others = self._shared.others(own["pid"])
        else:
            others = []
        snapshots = [(own, True), *others]
        yield from _counters(snapshots)
        yield from _histograms(snapshots)
        yield from _gauges(snapshots)
        pool = READINESS.pool
        restarts = CounterMetricFamily(
            "multistore_worker_restarts", "Workers the supervisor has replaced."
        )
        restarts.add_metric([], pool.restarts)
        yield restarts
        workers = GaugeMetricFamily(
            "multistore_workers", "Worker processes, by state.", labels=["state"]
        )
        workers.add_metric(["ready"], pool.ready)
        workers.add_metric(["expected"], pool.expected)
        yield workers


def _summed(snapshots: list[tuple[dict[str, Any], bool]], kind: str, name: str) -> dict[Any, Any]:
    totals: dict[Any, Any] = {}
    for snapshot, alive in snapshots:
        if kind == "gauges" and not alive:
            continue
        for labels, *values in snapshot.get(kind, {}).get(name, []):
            key = tuple(labels)
            if kind == "histograms":
                counts, total = values
                previous = totals.get(key)
                if previous is None:
                    totals[key] = (list(counts), total)
                else:
                    totals[key] = (
                        [a + b for a, b in zip(previous[0], counts, strict=True)],
                        previous[1] + total,
                    )
            else:
                totals[key] = totals.get(key, 0) + values[0]
    return totals


def _counters(snapshots: list[tuple[dict[str, Any], bool]]) -> Iterator[Metric]:
    for name, (help_text, labels) in {**COUNTERS, **RECORDER.extra_counters}.items():
        family = CounterMetricFamily(name, help_text, labels=list(labels))
        for key, value in sorted(_summed(snapshots, "counters", f"{name}_total").items()):
            family.add_metric(list(key), value)
        yield family


def _histograms(snapshots: list[tuple[dict[str, Any], bool]]) -> Iterator[Metric]:
    bounds = [*(repr(b) for b in LATENCY_BUCKETS), "+Inf"]
    for name, (help_text, labels) in HISTOGRAMS.items():
        family = HistogramMetricFamily(name, help_text, labels=list(labels))
        for key, (counts, total) in sorted(_summed(snapshots, "histograms", name).items()):
            cumulative, running = [], 0
            for bound, count in zip(bounds, counts, strict=True):
                running += count
                cumulative.append((bound, running))
            family.add_metric(list(key), cumulative, total)
        yield family


def _gauges(snapshots: list[tuple[dict[str, Any], bool]]) -> Iterator[Metric]:
    for name, (help_text, labels) in GAUGES.items():
        family = GaugeMetricFamily(name, help_text, labels=list(labels))
        for key, value in sorted(_summed(snapshots, "gauges", name).items()):
            family.add_metric(list(key), value)
        yield family


class MetricsEndpoint:
    """The Router handler for ``/.multistore/metrics``."""

    def __init__(self, shared: SnapshotDirectory | None) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(GatewayCollector(shared))

    async def __call__(self, request: RequestInfo) -> Response | None:
        if request.method not in ("GET", "HEAD"):
            return None
        body = generate_latest(self._registry)
        return Response(200, CIMultiDict({"Content-Type": CONTENT_TYPE}), body)
