"""Metering's counters in ``/.multistore/metrics``, added up across workers."""

from __future__ import annotations

import time
from pathlib import Path

from multistore.testing.gateway import running_gateway
from multistore.testing.metrics import scrape, value
from multistore.testing.ports import free_port
from multistore.testing.signing import send

from .conftest import metered_config


def test_dropped_usage_events_are_counted_across_workers(root: Path, tmp_path: Path) -> None:
    (root / "a.txt").write_bytes(b"hello")
    # A Redis stream sink with no Redis behind it: every batch fails and is dropped.
    metering = {"sink": "redis", "redis_url": f"redis://127.0.0.1:{free_port()}/0",
                "rate_limits": {"anonymous": {"requests": 5, "seconds": 60}}}  # fmt: skip
    config = metered_config(root, metering)
    with running_gateway(config, tmp_path / "gw", args=["--workers", "2"]) as gateway:
        # New connections each: both workers get some.
        statuses = [send("GET", f"{gateway.url}/public/a.txt").status for _ in range(12)]
        deadline = time.monotonic() + 15
        while True:
            samples = scrape(gateway)
            dropped = value(samples, "multistore_metering_events_dropped_total")
            if dropped >= 12 or time.monotonic() > deadline:
                break
            time.sleep(0.2)  # workers publish their counts every second
    assert dropped == 12
    assert value(samples, "multistore_metering_events_written_total") == 0
    # Each worker allows 5 (the memory store is per worker): the rest were refused.
    assert value(samples, "multistore_metering_refused_total") == statuses.count(429)
    assert statuses.count(429) >= 2
    # The memory store has no Redis counters to show.
    assert not any(name.startswith("multistore_metering_redis") for name, _ in samples)
