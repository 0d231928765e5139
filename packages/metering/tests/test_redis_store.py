"""The Redis store in process, against a real redis-server: how often it asks Redis."""

from __future__ import annotations

from redis import Redis

from multistore.metering.redis_store import RedisStore
from multistore.metering.windows import Check
from multistore.testing.redis_server import RedisServer


async def test_requests_are_admitted_from_leases_and_counted_exactly(
    redis_server: RedisServer,
) -> None:
    store = RedisStore(redis_server.url)
    rate = Check("t:rate", limit=1_000_000, window_ms=60_000, counts_request=True)
    quota = Check("t:bytes", limit=10**12, window_ms=60_000)
    try:
        for _ in range(3000):
            assert await store.check([rate, quota]) is None
            store.charge([rate, quota], 1024)
        # One call took both leases (5% of each limit); 3000 requests needed no other but
        # the background top-up every lease_seconds / 2 (1 s) that a slow machine may see.
        assert 1 <= store.lease_calls <= 3
        await store.flush()
    finally:
        await store.close()
    client = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        assert sum(int(v) for v in client.hvals("t:rate")) == 3000
        assert sum(int(v) for v in client.hvals("t:bytes")) == 3000 * 1024
        # Closing handed the unused part of both leases back.
        assert client.hgetall("t:rate:leases") == {}
        assert client.hgetall("t:bytes:leases") == {}
    finally:
        client.close()
