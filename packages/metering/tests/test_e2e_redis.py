"""Two gateway processes sharing one Redis: one budget, and the outage behaviour."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from redis import Redis

from multistore.metering.redis_store import REFUSAL_MEMORY
from multistore.testing.gateway import running_gateway
from multistore.testing.metrics import scrape, value
from multistore.testing.redis_server import RedisServer
from multistore.testing.signing import send

from .conftest import metered_config


def _metering(redis: RedisServer, **options: Any) -> dict[str, Any]:
    return {"store": "redis", "redis_url": redis.url, "sink": "none", **options}


def test_two_gateways_share_one_rate_limit_and_one_byte_quota(
    root: Path, tmp_path: Path, redis_server: RedisServer
) -> None:
    (root / "small.txt").write_bytes(b"s")
    (root / "blob.bin").write_bytes(b"b" * 300_000)
    metering = _metering(
        redis_server,
        rate_limits={"anonymous": {"requests": 6, "seconds": 3}},
        quotas=[{"bucket": "public", "bytes": 700_000, "seconds": 60}],
    )
    config = metered_config(root, metering)
    with ExitStack() as stack:
        first = stack.enter_context(running_gateway(config, tmp_path / "a"))
        second = stack.enter_context(running_gateway(config, tmp_path / "b"))
        small = "/public/small.txt"
        statuses = [send("GET", gw.url + small).status for gw in (first, second) * 3]
        assert statuses == [200] * 6
        # The budget is spent across both: each refuses the seventh.
        assert send("GET", first.url + small).status == 429
        assert send("GET", second.url + small).status == 429
        time.sleep(3.2)  # the window slides: room again
        blob = "/public/blob.bin"
        # 300 kB from each, then 600 kB + 300 kB would pass 700 kB only once charged.
        # Each worker sends its charges within 0.1 s (charge_interval).
        for gateway in (first, second, first):
            assert send("GET", gateway.url + blob).status == 200
            time.sleep(0.3)
        refused = send("GET", second.url + blob)
        assert refused.status == 429
        assert b"<Code>SlowDown</Code>" in refused.body
        assert int(refused.headers["Retry-After"]) > 50


def test_leases_admit_at_most_the_limit_across_two_gateways_and_usage_is_exact(
    root: Path, tmp_path: Path, redis_server: RedisServer
) -> None:
    (root / "small.txt").write_bytes(b"s")
    limit, share = 60, 0.1  # each worker leases 6 requests at a time
    lease = int(limit * share)
    metering = _metering(
        redis_server,
        rate_limits={"anonymous": {"requests": limit, "seconds": 120}},
        quotas=[{"bucket": "public", "bytes": "1GiB", "seconds": 120}],
        lease_share=share,
    )
    config = metered_config(root, metering)
    with ExitStack() as stack:
        gateways = [stack.enter_context(running_gateway(config, tmp_path / name)) for name in "ab"]
        urls = [gateway.url + "/public/small.txt" for gateway in gateways] * 80
        # Eight clients at once, alternating between the workers: leases are taken, topped
        # up and raced for concurrently.
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda url: send("GET", url), urls))
        time.sleep(0.5)  # each worker reports what it used within 0.1 s
        counted = [scrape(gateway) for gateway in gateways]
        client = Redis.from_url(redis_server.url, decode_responses=True)
        try:
            rate_key = "multistore:metering:rate:120000:public:anon:127.0.0.1"
            bytes_key = "multistore:metering:bytes:120000:public:anon:127.0.0.1"
            requests_counted = sum(int(v) for v in client.hvals(rate_key))
            bytes_counted = sum(int(v) for v in client.hvals(bytes_key))
        finally:
            client.close()
    statuses = [answer.status for answer in answers]
    admitted = statuses.count(200)
    assert set(statuses) == {200, 429}
    # Never more than the limit: a lease is granted only from what no one holds or used.
    assert admitted <= limit
    # At most what the other worker still held when this one was refused is left unused.
    assert admitted >= limit - 2 * lease
    for gateway_statuses in (statuses[0::2], statuses[1::2]):
        assert 200 in gateway_statuses
        assert 429 in gateway_statuses
    # What Redis counted is exactly what happened: every admitted request, and every body
    # byte that crossed the wire (refusals' error documents included).
    assert requests_counted == admitted
    assert bytes_counted == sum(len(answer.body) for answer in answers)
    for samples, gateway_statuses in zip(counted, (statuses[0::2], statuses[1::2]), strict=True):
        refused = value(samples, "multistore_metering_refused_total")
        assert refused == gateway_statuses.count(429)
        # Far fewer round trips than requests: one per lease, plus the reports.
        leases = value(samples, "multistore_metering_redis_calls_total", kind="lease")
        assert 1 <= leases <= len(gateway_statuses) // 2
        assert value(samples, "multistore_metering_redis_calls_total", kind="report") >= 1
        assert value(samples, "multistore_metering_redis_errors_total") == 0


def test_a_dead_workers_lease_returns_to_the_others_when_it_expires(
    root: Path, tmp_path: Path, redis_server: RedisServer
) -> None:
    (root / "small.txt").write_bytes(b"s")
    # Leases of 5 requests (half of 10) that Redis keeps 2 + 1 s after their last top-up.
    metering = _metering(
        redis_server,
        rate_limits={"anonymous": {"requests": 10, "seconds": 60}},
        lease_share=0.5,
        lease_seconds=2,
    )
    config = metered_config(root, metering)
    with ExitStack() as stack:
        first, second = (
            stack.enter_context(running_gateway(config, tmp_path / name)) for name in "ab"
        )
        assert send("GET", first.url + "/public/small.txt").status == 200  # leases 5, uses 1
        time.sleep(0.5)  # its use is reported (every 0.1 s)
        os.kill(first.pid, signal.SIGKILL)  # no goodbye: its 4 other units stay reserved
        killed = time.monotonic()
        url = second.url + "/public/small.txt"
        statuses = [send("GET", url).status for _ in range(6)]
        # (The reservation lasts 3 s from its top-up, 2.5 s from the kill.)
        assert time.monotonic() - killed < 2.4, "too slow to see the reservation held"
        assert statuses == [200] * 5 + [429]
        time.sleep(3)  # the dead worker's reservation expires: its share is back
        assert [send("GET", url).status for _ in range(5)] == [200] * 4 + [429]


def test_redis_outage_fail_open_lets_requests_through_and_limits_come_back(
    root: Path, tmp_path: Path, redis_server: RedisServer
) -> None:
    (root / "small.txt").write_bytes(b"s")
    metering = _metering(redis_server, rate_limits={"anonymous": {"requests": 2, "seconds": 30}})
    with running_gateway(metered_config(root, metering), tmp_path / "gw") as gateway:
        url = gateway.url + "/public/small.txt"
        assert [send("GET", url).status for _ in range(3)] == [200, 200, 429]
        redis_server.stop()
        # The worker answers a caller Redis just refused by itself for up to half a second
        # (REFUSAL_MEMORY); after that it asks Redis, finds it gone, and lets requests pass.
        time.sleep(REFUSAL_MEMORY + 0.1)
        started = time.monotonic()
        assert [send("GET", url).status for _ in range(20)] == [200] * 20
        assert time.monotonic() - started < 10  # no per-request timeouts piling up
        samples = scrape(gateway)
        assert value(samples, "multistore_metering_store_unavailable_total") == 20
        assert value(samples, "multistore_metering_redis_errors_total") >= 1
        redis_server.start()  # an empty Redis: the budget starts again
        time.sleep(1.1)  # the store tries Redis again a second after the last failure
        assert [send("GET", url).status for _ in range(3)] == [200, 200, 429]
        log = gateway.wait_for_log("metering store is back")
    assert log.count("metering store unavailable") == 1
    assert log.count("letting requests through until it is back") == 1


def test_redis_outage_fail_closed_answers_503_and_recovers(
    root: Path, tmp_path: Path, redis_server: RedisServer
) -> None:
    (root / "small.txt").write_bytes(b"s")
    metering = _metering(
        redis_server,
        on_store_failure="closed",
        rate_limits={"anonymous": {"requests": 100, "seconds": 10}},
    )
    with running_gateway(metered_config(root, metering), tmp_path / "gw") as gateway:
        url = gateway.url + "/public/small.txt"
        assert send("GET", url).status == 200
        redis_server.stop()
        # The first request leased 5 units (lease_share 0.05 of 100) and used one: the rest
        # may still be served, already counted in Redis; then the worker finds Redis gone,
        # drops its leases, and refuses everything.
        answers = [send("GET", url) for _ in range(10)]
        statuses = [r.status for r in answers]
        served = statuses.index(503)
        assert served <= 4
        assert statuses[served:] == [503] * (10 - served)
        refused = answers[served]
        assert b"<Code>ServiceUnavailable</Code>" in refused.body
        assert b"redis" not in refused.body.lower()  # internals stay in the log
        redis_server.start()
        time.sleep(1.1)
        assert send("GET", url).status == 200
        log = gateway.wait_for_log("metering store is back")
    # Once per outage from metering (each refused request has its own access line).
    assert log.count("refusing requests until it is back") == 1


def test_usage_events_reach_a_redis_stream(
    root: Path, tmp_path: Path, redis_server: RedisServer
) -> None:
    (root / "small.txt").write_bytes(b"0123456789")
    metering = {"sink": "redis", "redis_url": redis_server.url, "sink_stream": "usage"}
    with running_gateway(metered_config(root, metering), tmp_path / "gw") as gateway:
        for _ in range(3):
            assert send("GET", gateway.url + "/public/small.txt").status == 200
        client = Redis.from_url(redis_server.url, decode_responses=True)
        try:
            deadline = time.monotonic() + 10
            while client.xlen("usage") < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            entries = client.xrange("usage")
        finally:
            client.close()
    assert len(entries) == 3
    fields = entries[0][1]
    assert fields["operation"] == "GetObject"
    assert fields["bucket"] == "public"
    assert fields["bytes_out"] == "10"
    assert fields["principal"] == ""
    assert fields["source_ip"] == "127.0.0.1"
    assert json.loads(fields["status"]) == 200
