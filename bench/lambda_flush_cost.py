"""Milliseconds the Lambda handler's flush after each invocation adds, per metering variant.

    uv run python bench/lambda_flush_cost.py [invocations per round]

Drives ``Container.invoke`` in process with Function URL events for an anonymous 1 KiB GET
from a ``file`` bucket, as Lambda would call the handler, once per variant: no metering;
the memory store with no sink (nothing is ever queued: the flush's cheap path); the memory
store with a JSON-lines sink; the Redis store (a real ``redis-server`` on 127.0.0.1) without
and with the sink. Each variant runs with the handler as built (``gateway.flush()`` after
each invocation) and with the flush replaced by nothing (the background writers then do the
work during later invocations). Rounds are interleaved and the wall-clock time of each
invocation is kept; the report is the median and the 90th percentile over all rounds.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from multistore.aws_lambda.runtime import Container
from multistore.testing.lambda_events import event
from multistore.testing.redis_server import running_redis

ROUNDS = 7
LIMITS = {
    "rate_limits": {"anonymous": {"requests": 10**9, "seconds": 10}},
    "quotas": [{"bucket": "public", "bytes": "1000TiB", "seconds": 86400}],
}


def config(root: Path, metering: dict[str, Any] | None) -> dict[str, Any]:
    built: dict[str, Any] = {
        "buckets": [{"name": "public", "backend_type": "file", "anonymous_access": True,
                     "backend_options": {"root": str(root)}}],
    }  # fmt: skip
    if metering is not None:
        built["metering"] = metering
    return built


async def _no_flush() -> None:
    return None


def container(work: Path, name: str, metering: dict[str, Any] | None, flush: bool) -> Container:
    path = work / f"{name}-{flush}.json"
    path.write_text(json.dumps(config(work / "root", metering)))
    built = Container({"CONFIG_PATH": str(path), "MULTISTORE_LOG_LEVEL": "warning"})
    gateway = built.gateway()
    if not flush:
        gateway.flush = _no_flush  # type: ignore[method-assign]
    return built


def main() -> None:
    per_round = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "root").mkdir()
        (work / "root" / "small.bin").write_bytes(b"s" * 1024)
        with running_redis(work / "redis") as redis:
            sink = {"sink": "jsonl", "sink_path": str(work / "usage.jsonl")}
            variants: dict[str, dict[str, Any] | None] = {
                "no metering": None,
                "memory, no sink": {"sink": "none", **LIMITS},
                "memory + jsonl": {**sink, **LIMITS},
                "redis, no sink": {"store": "redis", "redis_url": redis.url, "sink": "none",
                                   **LIMITS},
                "redis + jsonl": {"store": "redis", "redis_url": redis.url, **sink, **LIMITS},
            }  # fmt: skip
            containers = {
                (name, flush): container(work, name.replace(" ", "_"), metering, flush)
                for name, metering in variants.items()
                for flush in (True, False)
            }
            get = event("function_url", "GET", "https://gw.test/public/small.bin", {}, b"")
            times: dict[tuple[str, bool], list[float]] = {key: [] for key in containers}
            try:
                for _ in range(ROUNDS):
                    for key, built in containers.items():
                        for _ in range(per_round):
                            started = time.perf_counter()
                            answer = built.invoke(get)
                            times[key].append(time.perf_counter() - started)
                            assert answer["statusCode"] == 200, answer
            finally:
                for built in containers.values():
                    built.close()
    print(f"{'variant':<18} {'flush: median':>14} {'p90':>8} {'none: median':>13} {'p90':>8}")
    for name in variants:
        cells = []
        for flush in (True, False):
            samples = sorted(times[(name, flush)])
            median = statistics.median(samples) * 1000
            p90 = samples[int(len(samples) * 0.9)] * 1000
            cells += [f"{median:.3f} ms", f"{p90:.3f}"]
        print(f"{name:<18} {cells[0]:>14} {cells[1]:>8} {cells[2]:>13} {cells[3]:>8}")


if __name__ == "__main__":
    main()
