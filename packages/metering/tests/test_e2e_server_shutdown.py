"""The server calls no flush per request (its background writers run), so its way out must
write everything: a worker stopped right after a request still records and reports it."""

from __future__ import annotations

import json
from pathlib import Path

from redis import Redis

from multistore.testing.gateway import running_gateway
from multistore.testing.redis_server import RedisServer
from multistore.testing.signing import send

from .conftest import metered_config


def test_a_stopping_server_writes_queued_events_and_reports_used_units(
    root: Path, tmp_path: Path, redis_server: RedisServer
) -> None:
    (root / "last.bin").write_bytes(b"L" * 2048)
    usage = tmp_path / "usage.jsonl"
    metering = {
        "store": "redis", "redis_url": redis_server.url, "sink": "jsonl", "sink_path": str(usage),
        "rate_limits": {"anonymous": {"requests": 1000, "seconds": 60}},
        "quotas": [{"bucket": "public", "bytes": "1GiB", "seconds": 60}],
    }  # fmt: skip
    with running_gateway(metered_config(root, metering), tmp_path / "gw") as gateway:
        # Lingering events and an unsent report: SIGTERM comes right after the answer.
        answers = [send("GET", f"{gateway.url}/public/last.bin") for _ in range(3)]
    assert [answer.status for answer in answers] == [200, 200, 200]
    events = [json.loads(line) for line in usage.read_text().splitlines()]
    assert [e["request_id"] for e in events] == [a.headers["x-amz-request-id"] for a in answers]
    client = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        prefix = "multistore:metering"
        requests = client.hvals(f"{prefix}:rate:60000:public:anon:127.0.0.1")
        moved = client.hvals(f"{prefix}:bytes:60000:public:anon:127.0.0.1")
        assert sum(int(v) for v in requests) == 3
        assert sum(int(v) for v in moved) == 3 * 2048
        # The stopping worker handed back what it still held of its leases.
        assert client.hgetall(f"{prefix}:rate:60000:public:anon:127.0.0.1:leases") == {}
    finally:
        client.close()
