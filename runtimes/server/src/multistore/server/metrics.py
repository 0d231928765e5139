"""What each worker counts for ``/.multistore/metrics``, in plain dictionaries.

Counting costs a request about 2 µs this way. prometheus_client's multi-process mode
(an mmap write under a lock per value, plus a label lookup per metric) measured 17 µs per
request here, a tenth of a small GET's whole CPU budget (docs/performance.md). So each
worker counts in memory and publishes a snapshot of its counts to a shared directory once
a second; the worker that answers a scrape adds them up (``metrics_exposition``).

Counters of a worker that died stay in its last snapshot, so totals never go down;
gauges (in flight, connections) count only live workers.
"""

from __future__ import annotations

import asyncio
import json
import os
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""Seconds; the last bucket (+Inf) is implicit."""

Labels = tuple[str, ...]

_STATUS_CLASSES = tuple(f"{n}xx" for n in range(10))


@dataclass(slots=True)
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds


@runtime_checkable
class CounterSource(Protocol):
    """Something outside the server that counts for the metrics, such as a middleware.

    Its counters are totals since the process started; they are published with the
    worker's own and added up across workers like them.
    """

    def counter_families(self) -> Mapping[str, tuple[str, Sequence[str]]]:
        """Name (without ``_total``) → help text and label names."""
        ...

    def counter_values(self) -> Iterable[tuple[str, Labels, float]]:
        """``(name_total, labels, total)`` for each series."""
        ...


class Recorder:
    """One worker's counts since it started."""

    def __init__(self) -> None:
        self.counters: dict[str, dict[Labels, float]] = {}
        self.histograms: dict[str, dict[Labels, Histogram]] = {}
        self.in_flight = 0
        self.version = 0
        """Bumped by every count: a snapshot of an unchanged recorder need not be written."""
        self.gauge_sources: list[Callable[[], Iterable[tuple[str, Labels, float]]]] = []
        self.counter_sources: list[Callable[[], Iterable[tuple[str, Labels, float]]]] = []
        """Totals that others keep (a middleware's), read at each snapshot."""
        self.extra_counters: dict[str, tuple[str, tuple[str, ...]]] = {}
        """Their families: name without ``_total`` → help text and label names."""
        # The hot counters, bound once.
        self._requests = self.counter("multistore_requests_total")
        self._received = self.counter("multistore_received_bytes_total")
        self._sent = self.counter("multistore_sent_bytes_total")
        self._durations = self.histogram("multistore_request_duration_seconds")
        self._backend_durations = self.histogram("multistore_backend_request_duration_seconds")
        self._backend_errors = self.counter("multistore_backend_errors_total")

    def counter(self, name: str) -> dict[Labels, float]:
        return self.counters.setdefault(name, {})

    def histogram(self, name: str) -> dict[Labels, Histogram]:
        return self.histograms.setdefault(name, {})

    def count(self, name: str, labels: Labels = (), amount: float = 1) -> None:
        self.version += 1
        series = self.counter(name)
        series[labels] = series.get(labels, 0) + amount

    def observe_request(
        self,
        operation: str,
        status: int,
        bucket: str,
        bytes_in: int,
        bytes_out: int,
        seconds: float,
    ) -> None:
        self.version += 1
        status_class = _STATUS_CLASSES[status // 100] if 0 < status < 1000 else f"{status // 100}xx"
        key = (operation, status_class, bucket)
        requests = self._requests
        requests[key] = requests.get(key, 0) + 1
        if bytes_in:
            sized = (operation, bucket)
            self._received[sized] = self._received.get(sized, 0) + bytes_in
        if bytes_out:
            sized = (operation, bucket)
            self._sent[sized] = self._sent.get(sized, 0) + bytes_out
        timed = (operation, status_class)
        histogram = self._durations.get(timed)
        if histogram is None:
            histogram = self._durations[timed] = Histogram()
        histogram.observe(seconds)

    def observe_backend(self, backend: str, seconds: float, error: str | None) -> None:
        """One backend exchange (to the response head): ``error`` is its kind, if it failed."""
        self.version += 1
        key = (backend,)
        histogram = self._backend_durations.get(key)
        if histogram is None:
            histogram = self._backend_durations[key] = Histogram()
        histogram.observe(seconds)
        if error is not None:
            failed = (backend, error)
            self._backend_errors[failed] = self._backend_errors.get(failed, 0) + 1

    def add_counters(self, source: CounterSource) -> None:
        """Publish ``source``'s counters with this worker's (e.g. a middleware's)."""
        self.extra_counters.update(
            {
                name: (text, tuple(labels))
                for name, (text, labels) in source.counter_families().items()
            }
        )
        self.counter_sources.append(source.counter_values)

    def snapshot(self) -> dict[str, Any]:
        gauges: dict[str, list[Any]] = {
            "multistore_requests_in_flight": [[[], self.in_flight]],
        }
        for source in self.gauge_sources:
            for name, labels, value in source():
                gauges.setdefault(name, []).append([list(labels), value])
        counters = {
            name: [[list(labels), value] for labels, value in series.items()]
            for name, series in self.counters.items()
        }
        for counter_source in self.counter_sources:
            for name, labels, value in counter_source():
                counters.setdefault(name, []).append([list(labels), value])
        return {
            "pid": os.getpid(),
            "counters": counters,
            "histograms": {
                name: [[list(labels), h.counts, h.total] for labels, h in series.items()]
                for name, series in self.histograms.items()
            },
            "gauges": gauges,
        }


RECORDER = Recorder()


class SnapshotDirectory:
    """Where the workers of one supervisor publish their snapshots, one file per process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def publish(self, snapshot: dict[str, Any]) -> None:
        target = self.path / f"worker-{snapshot['pid']}.json"
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(snapshot, separators=(",", ":")))
        os.replace(partial, target)  # readers never see half a file

    def others(self, own_pid: int) -> list[tuple[dict[str, Any], bool]]:
        """Every other process's last snapshot, and whether that process still lives."""
        found = []
        for path in sorted(self.path.glob("worker-*.json")):
            try:
                snapshot = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # replaced or removed while we looked
            pid = snapshot.get("pid")
            if not isinstance(pid, int) or pid == own_pid:
                continue
            found.append((snapshot, _alive(pid)))
        return found


async def publish_periodically(
    directory: SnapshotDirectory, interval: float = 1.0, *, refresh_every: int = 10
) -> None:
    """Publish when something was counted, and every ``refresh_every`` intervals anyway
    (gauges such as pooled connections change without requests)."""
    published, ticks = -1, 0
    while True:
        if RECORDER.version != published or ticks >= refresh_every:
            published, ticks = RECORDER.version, 0
            directory.publish(RECORDER.snapshot())
        ticks += 1
        await asyncio.sleep(interval)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
