"""The pure parts: the [metering] table, the memory store's windows, the bounded queue."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from multistore.metering import BatchingRecorder, MemoryStore, UsageEvent, parse_metering
from multistore.metering.windows import Check


def test_the_worked_example_parses() -> None:
    config = parse_metering(
        {"rate_limits": {"anonymous": {"requests": 200, "seconds": 10}},
         "quotas": [{"bucket": "public-data", "bytes": "50GiB", "seconds": 86400}]}
    )  # fmt: skip
    assert config.anonymous_rate is not None
    assert config.anonymous_rate.requests == 200
    assert config.quotas[0].bytes == 50 << 30
    assert config.fail_open
    assert config.store == "memory"
    assert config.sink == "log"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stores": "redis"}, "unknown key"),
        ({"store": "etcd"}, "store must be one of memory, redis"),
        ({"on_store_failure": "maybe"}, "on_store_failure must be one of open, closed"),
        ({"sink": "jsonl"}, "needs sink_path"),
        ({"quotas": [{"bucket": "b", "bytes": "50 parsecs", "seconds": 1}]}, "byte count"),
        ({"rate_limits": {"anonymous": {"requests": 0, "seconds": 1}}}, "positive integer"),
        ({"rate_limits": {"everyone": {"requests": 1, "seconds": 1}}}, "only anonymous"),
        ({"lease_share": 0}, r"lease_share must be a number in \(0, 1\]"),
        ({"lease_share": 1.5}, r"lease_share must be a number in \(0, 1\]"),
        ({"lease_seconds": 0}, "lease_seconds must be a positive number"),
    ],
)
def test_bad_tables_are_startup_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_metering(options)


async def test_memory_store_checks_all_limits_before_taking_any() -> None:
    store = MemoryStore()
    rate = Check("rate", limit=2, window_ms=60_000, counts_request=True)
    quota = Check("bytes", limit=100, window_ms=60_000)
    assert await store.check([rate, quota]) is None
    store.charge([rate, quota], 150)
    wait = await store.check([rate, quota])
    assert wait is not None
    assert 59 <= wait <= 62
    # The refused request took no unit of the rate limit.
    assert await store.check([rate]) is None
    assert await store.check([rate]) is not None


async def test_memory_store_window_slides() -> None:
    store = MemoryStore()
    rate = Check("rate", limit=1, window_ms=300, counts_request=True)
    assert await store.check([rate]) is None
    assert await store.check([rate]) is not None
    await asyncio.sleep(0.32)
    assert await store.check([rate]) is None


class SlowSink:
    def __init__(self) -> None:
        self.written: list[UsageEvent] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def write(self, batch: Sequence[UsageEvent]) -> None:
        self.entered.set()
        await self.release.wait()
        self.written.extend(batch)

    async def close(self) -> None:
        return None


def _event(n: int) -> UsageEvent:
    return UsageEvent(f"r{n}", None, "GetObject", "b", 200, 0, 1, "127.0.0.1", 0.001)


async def test_a_full_queue_drops_and_counts_instead_of_waiting() -> None:
    sink = SlowSink()
    recorder = BatchingRecorder(sink, queue_size=3, batch_size=2)
    recorder.record(_event(0))
    # After its linger the writer takes event 0 and blocks in the sink: the queue is empty.
    await asyncio.wait_for(sink.entered.wait(), 5)
    for n in range(1, 6):
        recorder.record(_event(n))  # never waits
    assert recorder.dropped == 2
    sink.release.set()
    await recorder.close()
    assert [e.request_id for e in sink.written] == ["r0", "r1", "r2", "r3"]
    assert recorder.written == 4


def test_the_worked_config_in_the_docs_is_valid() -> None:
    import tomllib
    from pathlib import Path

    docs = Path(__file__).parents[3] / "docs" / "metering.md"
    text = docs.read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    table = dict(tomllib.loads(block)["metering"])
    config = parse_metering(table)
    assert config.store == "redis"
    assert config.quotas[0].bytes == 50 << 30
    assert config.quotas[0].seconds == 86400
    assert config.anonymous_rate is not None
    assert (config.anonymous_rate.requests, config.anonymous_rate.seconds) == (200, 10)
