"""The Redis store: every worker and machine pointing at one Redis shares one budget.

A check is one round trip: one Lua script reads and prunes every window the request is
subject to, and admits it (taking a unit of each rate limit) only if all have room, so two
workers can never both take the last unit. The script reads Redis's clock, so machines whose
clocks disagree still agree on the windows. When Redis cannot be reached the store says so
at once (:class:`StoreUnavailable`) and does not try again for ``retry_interval`` seconds,
so a Redis outage costs requests no timeouts.

Bytes are charged in the background: each worker adds up what its requests moved and sends
it every ``charge_interval`` seconds in one script call, instead of one round trip per
request. A quota therefore sees another worker's usage up to that interval late.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from multistore.metering.stores import StoreUnavailable
from multistore.metering.windows import SLOTS, Check

logger = logging.getLogger("multistore.metering")

_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

CHECK_SCRIPT = (
    _NOW
    + """
local wait = 0
for i = 1, #KEYS do
  local base = (i - 1) * 5
  local limit = tonumber(ARGV[base + 1])
  local window = tonumber(ARGV[base + 2])
  local slot = tonumber(ARGV[base + 3])
  local cost = tonumber(ARGV[base + 4])
  local oldest = math.floor((now - window) / slot) + 1
  local fields = redis.call('HGETALL', KEYS[i])
  local used = 0
  local first = nil
  for j = 1, #fields, 2 do
    local index = tonumber(fields[j])
    if index < oldest then
      redis.call('HDEL', KEYS[i], fields[j])
    else
      used = used + tonumber(fields[j + 1])
      if first == nil or index < first then first = index end
    end
  end
  local over = used >= limit or (ARGV[base + 5] ~= '1' and used + cost > limit)
  if over then
    local span = slot
    if first ~= nil then span = math.max(slot, first * slot + window - now + slot) end
    if span > wait then wait = span end
  end
end
if wait > 0 then return wait end
for i = 1, #KEYS do
  local base = (i - 1) * 5
  if ARGV[base + 5] == '1' then
    local slot = tonumber(ARGV[base + 3])
    redis.call('HINCRBY', KEYS[i], string.format('%d', math.floor(now / slot)), 1)
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[base + 2]) + slot)
  end
end
return 0
"""
)

CHARGE_SCRIPT = (
    _NOW
    + """
for i = 1, #KEYS do
  local window = tonumber(ARGV[2 * i - 1])
  local amount = tonumber(ARGV[2 * i])
  local slot = math.max(1, math.floor(window / """
    + str(SLOTS)
    + """))
  redis.call('HINCRBY', KEYS[i], string.format('%d', math.floor(now / slot)), amount)
  redis.call('PEXPIRE', KEYS[i], window + slot)
end
return 0
"""
)


class RedisStore:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.5,
        retry_interval: float = 1.0,
        charge_interval: float = 0.1,
        client: Any = None,
    ) -> None:
        # No retries inside redis-py: a refused check must come back in one timeout at most.
        self.client: Redis = client or Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )
        self._check = self.client.register_script(CHECK_SCRIPT)
        self._charge = self.client.register_script(CHARGE_SCRIPT)
        self._retry_interval = retry_interval
        self._retry_at = 0.0
        self._charge_interval = charge_interval
        self._pending: dict[tuple[str, int], int] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._waiting: list[tuple[list[str], list[int], asyncio.Future[int]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def _run(self, script: Any, keys: list[str], args: list[int]) -> Any:
        if time.monotonic() < self._retry_at:
            raise StoreUnavailable("redis unreachable moments ago, not retried yet")
        try:
            return await script(keys=keys, args=args)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            # Only an unreachable Redis is an outage; any other error is a bug and says so.
            self._retry_at = time.monotonic() + self._retry_interval
            raise StoreUnavailable(f"redis: {exc}") from None

    async def check(self, checks: Sequence[Check]) -> float | None:
        if time.monotonic() < self._retry_at:
            raise StoreUnavailable("redis unreachable moments ago, not retried yet")
        args: list[int] = []
        for check in checks:
            args += [check.limit, check.window_ms, check.slot_ms, check.cost]
            args.append(int(check.counts_request))
        # Checks that arrive in the same turn of the event loop share one pipeline: still one
        # script (atomic) per check, but one round trip for all of them.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._waiting.append(([c.key for c in checks], args, future))
        if len(self._waiting) == 1:
            loop.call_soon(self._send_waiting)
        wait = await future
        return wait / 1000 if wait else None

    def _send_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        task = asyncio.get_running_loop().create_task(self._pipeline(waiting))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _pipeline(
        self, waiting: list[tuple[list[str], list[int], asyncio.Future[int]]]
    ) -> None:
        try:
            if time.monotonic() < self._retry_at:
                raise StoreUnavailable("redis unreachable moments ago, not retried yet")
            pipeline = self.client.pipeline(transaction=False)
            for keys, args, _ in waiting:
                await self._check(keys=keys, args=args, client=pipeline)
            try:
                results = await pipeline.execute()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                self._retry_at = time.monotonic() + self._retry_interval
                raise StoreUnavailable(f"redis: {exc}") from None
        except Exception as exc:
            for _, _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), result in zip(waiting, results, strict=True):
            if not future.done():
                future.set_result(int(result))

    async def charge(self, keys: Sequence[tuple[str, int]], amount: int) -> None:
        for key in keys:
            self._pending[key] = self._pending.get(key, 0) + amount
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._charge_interval)
        await self.flush()

    async def flush(self) -> None:
        """Send the bytes charged since the last flush (one round trip)."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        args: list[int] = []
        for (_, window), amount in pending.items():
            args += [window, amount]
        try:
            await self._run(self._charge, [key for key, _ in pending], args)
        except StoreUnavailable:
            # The usage stream still has these bytes; the quotas miss them (documented).
            logger.debug("redis unavailable: %d quota charges not applied", len(pending))

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self.flush()
        await self.client.aclose()

    def __repr__(self) -> str:
        return "RedisStore()"


__all__ = ["CHARGE_SCRIPT", "CHECK_SCRIPT", "RedisStore"]
