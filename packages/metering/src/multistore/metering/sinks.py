"""Where usage events go: a JSON-lines file, the log or a Redis stream, written in batches.

Recording never waits: events go into a bounded queue that one background task drains in
batches. When the sink cannot keep up the queue fills and further events are dropped and
counted (``dropped``), so a slow disk or a Redis outage never slows requests down.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from multistore.metering.events import UsageEvent

logger = logging.getLogger("multistore.metering")
usage_logger = logging.getLogger("multistore.metering.usage")


class UsageSink(Protocol):
    async def write(self, batch: Sequence[UsageEvent]) -> None: ...

    async def close(self) -> None: ...


def _lines(batch: Sequence[UsageEvent]) -> bytes:
    return "".join([event.json_line() for event in batch]).encode()


class JsonLinesSink:
    """Appends one JSON object per line. Each batch is one ``write`` on an ``O_APPEND``
    descriptor, so several workers appending to one file do not interleave lines."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    async def write(self, batch: Sequence[UsageEvent]) -> None:
        await asyncio.to_thread(os.write, self._fd, _lines(batch))

    async def close(self) -> None:
        os.close(self._fd)


class LogSink:
    """One ``multistore.metering.usage`` log line per event, its JSON as the message."""

    async def write(self, batch: Sequence[UsageEvent]) -> None:
        for event in batch:
            usage_logger.info("%s", event.json_line()[:-1])

    async def close(self) -> None:
        return None


class RedisStreamSink:
    """``XADD`` of each event's fields to a capped stream, one pipeline per batch."""

    def __init__(self, client: Any, stream: str, *, max_length: int = 1_000_000) -> None:
        self.client = client
        self.stream = stream
        self.max_length = max_length

    async def write(self, batch: Sequence[UsageEvent]) -> None:
        pipeline = self.client.pipeline(transaction=False)
        for event in batch:
            fields = {k: "" if v is None else str(v) for k, v in event.as_json().items()}
            pipeline.xadd(self.stream, fields, maxlen=self.max_length, approximate=True)
        await pipeline.execute()

    async def close(self) -> None:
        await self.client.aclose()


class BatchingRecorder:
    """A ``UsageRecorder`` that hands events to ``sink`` in batches, off the request path.

    ``queue_size`` bounds the events waiting to be written (those the writer has taken do
    not count); what does not fit is dropped and counted in ``dropped``. A background task
    writes a batch once it is full or has lingered ``LINGER`` seconds; :meth:`flush` writes
    what is queued at once, for a process that may not run its background tasks again.
    """

    CLOSE_TIMEOUT = 5.0
    LINGER = 0.1
    """Seconds a partial batch waits for more events before it is written."""

    def __init__(self, sink: UsageSink, *, queue_size: int = 10_000, batch_size: int = 500):
        self.sink = sink
        self.batch_size = batch_size
        self.queue_size = queue_size
        self.dropped = 0
        self.written = 0
        # A deque and one wake-up future: an asyncio.Queue costs a request several times
        # as much (its put does bookkeeping for join() and wakes a getter every time).
        self._queue: deque[UsageEvent] = deque()
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()
        """Held while events are taken from the queue and written. The background writer and
        ``flush`` take turns, so each event is written once and batches keep queue order."""
        self._failing = False

    def record(self, event: UsageEvent) -> None:
        queue = self._queue
        if len(queue) >= self.queue_size:
            self.dropped += 1
            return
        queue.append(event)
        if self._wake is not None:
            if not self._wake.done():
                self._wake.set_result(None)
            self._wake = None
        elif self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                self._wake = asyncio.get_running_loop().create_future()
                await self._wake
            if len(queue) < self.batch_size:
                # Let a batch gather: one write per interval, not one per request. The
                # events stay queued meanwhile, where ``flush`` finds them.
                await asyncio.sleep(self.LINGER)
            await self._write_queued(self.batch_size)

    async def flush(self) -> None:
        """Write what is queued now, without the linger; return once it is written.

        A batch the background writer is writing is waited for, not written again.
        """
        if not self._queue and not self._writing.locked():
            return  # nothing queued, nothing on its way: no write, not even a task switch
        await self._write_queued(len(self._queue))

    async def _write_queued(self, count: int) -> None:
        """Take up to ``count`` events off the queue and write them, a batch at a time."""
        async with self._writing:
            queue = self._queue
            while count > 0 and queue:
                batch = [queue.popleft() for _ in range(min(count, self.batch_size, len(queue)))]
                count -= len(batch)
                await self._write(batch)

    async def _write(self, batch: list[UsageEvent]) -> None:
        try:
            await self.sink.write(batch)
        except asyncio.CancelledError:
            self.dropped += len(batch)  # a hung sink given up on at close
            raise
        except Exception as exc:
            self.dropped += len(batch)
            if not self._failing:
                self._failing = True
                logger.warning("usage sink %s failing, events dropped: %s", self.sink, exc)
            return
        self.written += len(batch)
        if self._failing:
            self._failing = False
            logger.warning("usage sink %s is writing again (%d dropped so far)", self.sink,
                           self.dropped)  # fmt: skip

    async def close(self) -> None:
        try:
            # What is queued is written before the process goes, unless the sink hangs.
            await asyncio.wait_for(self._flush_all(), self.CLOSE_TIMEOUT)
        except TimeoutError:
            logger.warning("usage sink %s did not finish writing in %.0f s", self.sink,
                           self.CLOSE_TIMEOUT)  # fmt: skip
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.dropped += len(self._queue)
        self._queue.clear()
        if self.dropped:
            logger.warning("usage events dropped in this process: %d", self.dropped)
        await self.sink.close()

    async def _flush_all(self) -> None:
        while self._queue or self._writing.locked():
            await self.flush()

    def counter_families(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        return {
            "multistore_metering_events_written": ("Usage events written to the sink.", ()),
            "multistore_metering_events_dropped": (
                "Usage events dropped: the queue was full (queue_size) or the sink failed.",
                (),
            ),
        }

    def counter_values(self) -> Iterator[tuple[str, tuple[str, ...], float]]:
        yield "multistore_metering_events_written_total", (), self.written
        yield "multistore_metering_events_dropped_total", (), self.dropped

    def __repr__(self) -> str:
        return f"BatchingRecorder({type(self.sink).__name__})"


__all__ = ["BatchingRecorder", "JsonLinesSink", "LogSink", "RedisStreamSink", "UsageSink"]
