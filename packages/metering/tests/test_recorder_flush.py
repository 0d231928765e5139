"""``flush()`` of the usage recorder and the Redis store, racing their background writers.

Lambda calls ``flush`` after each invocation, while the background writer of the recorder
may be lingering or half-way through a batch, and the Redis store's reporter may be asleep
or on its way to Redis: every event must be written once, every unit counted once.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from multistore.metering import BatchingRecorder, JsonLinesSink, UsageEvent
from multistore.metering.redis_store import RedisStore
from multistore.metering.windows import Check
from multistore.testing.redis_server import RedisServer


def _event(n: int) -> UsageEvent:
    return UsageEvent(f"r{n}", None, "GetObject", "b", 200, 0, n, "127.0.0.1", 0.001)


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["request_id"] for line in path.read_text().splitlines()]


def _finishes_at_once(work: Coroutine[Any, Any, None]) -> bool:
    """Whether ``work`` completes without ever suspending (no I/O, not even a task switch)."""
    try:
        work.send(None)
    except StopIteration:
        return True
    work.close()
    return False


class GatedSink:
    """Writes only when ``release`` is set, so a test can hold the writer mid-batch."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def write(self, batch: Sequence[UsageEvent]) -> None:
        self.entered.set()
        await self.release.wait()
        self.batches.append([event.request_id for event in batch])

    async def close(self) -> None:
        return None


async def test_flush_writes_a_lingering_batch_at_once_and_the_writer_adds_nothing(
    tmp_path: Path,
) -> None:
    usage = tmp_path / "usage.jsonl"
    recorder = BatchingRecorder(JsonLinesSink(str(usage)))
    recorder.LINGER = 0.05
    try:
        recorder.record(_event(0))
        recorder.record(_event(1))
        await asyncio.sleep(0)  # the writer wakes and lingers, the events still queued
        await recorder.flush()
        assert _ids(usage) == ["r0", "r1"]  # written now, not after the linger
        recorder.record(_event(2))  # arrives while the writer still lingers
        await recorder.flush()
        assert _ids(usage) == ["r0", "r1", "r2"]
        await asyncio.sleep(4 * recorder.LINGER)  # the writer's linger ends: nothing left
        assert _ids(usage) == ["r0", "r1", "r2"]
        assert recorder.written == 3
        # Nothing queued: flush returns without a write or a task switch.
        assert _finishes_at_once(recorder.flush())
    finally:
        await recorder.close()
    assert _ids(usage) == ["r0", "r1", "r2"]


async def test_flush_waits_for_the_batch_being_written_then_writes_the_rest() -> None:
    sink = GatedSink()
    recorder = BatchingRecorder(sink, batch_size=3)
    for n in range(3):
        recorder.record(_event(n))  # a full batch: written without lingering
    await asyncio.wait_for(sink.entered.wait(), 5)
    recorder.record(_event(3))
    recorder.record(_event(4))
    flushing = asyncio.create_task(recorder.flush())
    for _ in range(10):
        await asyncio.sleep(0)
    # The writer holds r0-r2 in the sink: flush must not return before they are written.
    assert not flushing.done()
    sink.release.set()
    await asyncio.wait_for(flushing, 5)
    assert sink.batches == [["r0", "r1", "r2"], ["r3", "r4"]]
    await recorder.close()
    assert sink.batches == [["r0", "r1", "r2"], ["r3", "r4"]]
    assert (recorder.written, recorder.dropped) == (5, 0)


class JitterySink:
    """Takes a random short while per batch, so flushes and the writer interleave."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.written: list[str] = []

    async def write(self, batch: Sequence[UsageEvent]) -> None:
        await asyncio.sleep(self.random.choice([0, 0, 0.001, 0.003]))
        self.written.extend(event.request_id for event in batch)

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_racing_flushes_and_the_writer_write_each_event_once_in_order(seed: int) -> None:
    sink = JitterySink(seed)
    recorder = BatchingRecorder(sink, batch_size=7)
    recorder.LINGER = 0.002
    chance = random.Random(seed)
    flushes: list[asyncio.Task[None]] = []
    for n in range(600):
        recorder.record(_event(n))
        roll = chance.random()
        if roll < 0.1:
            flushes.append(asyncio.create_task(recorder.flush()))
        elif roll < 0.2:
            await recorder.flush()
            # Everything recorded so far is written when flush returns.
            assert sink.written == [f"r{i}" for i in range(n + 1)]
        elif roll < 0.4:
            await asyncio.sleep(chance.choice([0, 0.001, 0.003]))
    await asyncio.gather(*flushes)
    await recorder.flush()
    assert sink.written == [f"r{n}" for n in range(600)]
    await recorder.close()
    assert sink.written == [f"r{n}" for n in range(600)]
    assert (recorder.written, recorder.dropped) == (600, 0)


def _counted(client: Redis, rate: Check, quota: Check) -> tuple[int, int]:
    """Requests and bytes Redis has in the windows of ``rate`` and ``quota``."""
    return (
        sum(int(v) for v in client.hvals(rate.key)),
        sum(int(v) for v in client.hvals(quota.key)),
    )


async def test_redis_store_flush_waits_for_the_report_its_reporter_sent(
    redis_server: RedisServer,
) -> None:
    store = RedisStore(redis_server.url, flush_interval=0.01)
    rate = Check("w:rate", limit=1_000_000, window_ms=60_000, counts_request=True)
    quota = Check("w:bytes", limit=10**12, window_ms=60_000)
    client = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        for n in range(1, 21):
            assert await store.check([rate, quota]) is None
            store.charge([rate, quota], 100)
            reports = store.reports
            for _ in range(1_000_000):  # until the reporter has taken the units and sent them
                if store.reports != reports:
                    break
                await asyncio.sleep(0)  # not longer: the report must still be on its way
            assert store.reports == reports + 1
            # Nothing is left to take: flush must wait for that report to land.
            await store.flush()
            assert _counted(client, rate, quota) == (n, 100 * n)
    finally:
        await store.close()
        client.close()


@pytest.mark.parametrize("seed", [7, 8])
async def test_redis_store_flush_reports_everything_once_while_its_reporter_runs(
    redis_server: RedisServer, seed: int
) -> None:
    # A short interval: the background reporter wakes often, and flushes race it.
    store = RedisStore(redis_server.url, flush_interval=0.002, lease_share=0.01)
    rate = Check("f:rate", limit=1_000_000, window_ms=60_000, counts_request=True)
    quota = Check("f:bytes", limit=10**12, window_ms=60_000)
    chance = random.Random(seed)
    client = Redis.from_url(redis_server.url, decode_responses=True)

    def counted() -> tuple[int, int]:
        return _counted(client, rate, quota)

    flushes: list[asyncio.Task[None]] = []
    try:
        requests = moved = 0
        for n in range(1500):
            assert await store.check([rate, quota]) is None
            store.charge([rate, quota], n)
            requests, moved = requests + 1, moved + n
            roll = chance.random()
            if roll < 0.05:
                flushes.append(asyncio.create_task(store.flush()))
            elif roll < 0.08:
                await store.flush()
                # When flush returns Redis has every unit used so far, each once.
                assert counted() == (requests, moved)
            elif roll < 0.2:
                await asyncio.sleep(chance.choice([0, 0.001, 0.003]))
        await asyncio.gather(*flushes)
        await store.flush()
        assert counted() == (requests, moved)
        await asyncio.sleep(0.05)  # top-ups still on their way settle
        # Nothing left to report: no round trip, not even a task switch.
        reports = store.reports
        assert _finishes_at_once(store.flush())
        assert store.reports == reports
    finally:
        await store.close()
        client.close()
