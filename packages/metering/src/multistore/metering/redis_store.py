"""The Redis store: every worker and machine pointing at one Redis shares one budget.

Asking Redis on every request would cost each request a round trip (and, on a busy
gateway, most of its throughput), so each worker **leases** a share of every limit it
serves: one Lua script reserves up to ``lease_share`` of the limit (what is left of it at
most) for this worker, and the worker admits requests from its lease without asking again.
Before a lease runs low, or half-way through its life, the worker tops it up in the
background, off the request path; a request waits for Redis only when its lease is empty
(the first request of a caller, or a limit close to exhausted).

In Redis, each limit has two hashes:

- ``<key>``: what was really used, as the ring of time slots of ``windows`` (the sliding
  window). Workers add their requests and bytes to it every ``flush_interval`` seconds, in
  one script call for everything they consumed meanwhile.
- ``<key>:leases``: per worker, the units it holds (reserved, not yet reported as used) and
  when that reservation expires. A worker's report moves units from its reservation to the
  window. A reservation expires ``lease_seconds`` (+ a second of grace) after it was last
  topped up, so a dead worker's share comes back by itself; a live one releases a lease
  it no longer uses at its next report.

A lease is granted only from what neither the window nor any reservation already takes,
so a request-rate limit is never exceeded because of leases: the workers together hold and
use at most the limit. The price is the opposite: while another worker holds part of the
remaining budget, a caller who reaches this worker may be refused up to
``N_workers * lease size`` units early, until that lease is used or expires.
A byte quota, as before, admits a request while room is left and charges what it really
moved afterwards, so a download started with little room left may pass the quota by its
size. Scripts read Redis's clock, so machines whose clocks disagree agree on the windows.

When Redis cannot be reached the store says so at once (:class:`StoreUnavailable`), drops
every lease (so a fail-closed gateway stops serving from them), and does not try Redis again
for ``retry_interval`` seconds, so an outage costs requests no timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from multistore.metering.config import MeteringConfig
from multistore.metering.stores import StoreUnavailable
from multistore.metering.windows import Check

logger = logging.getLogger("multistore.metering")

LEASE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local me = ARGV[1]
local count = #KEYS / 2
local results, mine, mine_expires, modes = {}, {}, {}, {}
local refused = false
for i = 1, count do
  local base = 1 + (i - 1) * 8
  local limit = tonumber(ARGV[base + 1])
  local window = tonumber(ARGV[base + 2])
  local slot = tonumber(ARGV[base + 3])
  local want = tonumber(ARGV[base + 4])
  local need = tonumber(ARGV[base + 5])
  local consumed = tonumber(ARGV[base + 6])
  local usage, leases = KEYS[2 * i - 1], KEYS[2 * i]
  if consumed > 0 then
    redis.call('HINCRBY', usage, string.format('%d', math.floor(now / slot)), consumed)
    redis.call('PEXPIRE', usage, window + slot)
  end
  local held, others = 0, 0
  mine_expires[i] = 0
  local entries = redis.call('HGETALL', leases)
  for j = 1, #entries, 2 do
    local amount, expires = string.match(entries[j + 1], '^(%d+):(%d+)$')
    amount, expires = tonumber(amount), tonumber(expires)
    if expires <= now then
      redis.call('HDEL', leases, entries[j])
    elseif entries[j] == me then
      held, mine_expires[i] = amount, expires
    else
      others = others + amount
    end
  end
  modes[i] = ARGV[base + 8]
  if modes[i] == 'release' then held = 0 else held = math.max(0, held - consumed) end
  mine[i] = held
  local grant = 0
  if want > 0 then
    local oldest = math.floor((now - window) / slot) + 1
    local fields = redis.call('HGETALL', usage)
    local used, first = 0, nil
    for j = 1, #fields, 2 do
      local index = tonumber(fields[j])
      if index < oldest then
        redis.call('HDEL', usage, fields[j])
      else
        used = used + tonumber(fields[j + 1])
        if first == nil or index < first then first = index end
      end
    end
    local room = limit - used - others - held
    if need > 0 and room < need then
      grant = -slot
      if first ~= nil then grant = -math.max(slot, first * slot + window - now + slot) end
      refused = true
    else
      grant = math.max(0, math.min(want, room))
    end
  end
  results[i] = grant
end
for i = 1, count do
  local ttl = tonumber(ARGV[1 + (i - 1) * 8 + 7])
  if refused and results[i] > 0 then results[i] = 0 end
  local held, expires = mine[i], mine_expires[i]
  if results[i] > 0 then
    held = held + results[i]
    expires = now + ttl
  elseif modes[i] == 'renew' and held > 0 then
    expires = now + ttl
  end
  if held > 0 and expires > now then
    redis.call('HSET', KEYS[2 * i], me, string.format('%d:%d', held, expires))
    redis.call('PEXPIRE', KEYS[2 * i], ttl)
  else
    redis.call('HDEL', KEYS[2 * i], me)
  end
end
return results
"""
"""One call, for any number of limits (``KEYS``: usage hash, leases hash per limit;
``ARGV``: the worker's id, then per limit ``limit window_ms slot_ms want need consumed
ttl_ms mode``). Adds what the worker ``consumed`` to the window and takes it off its
reservation; ``mode`` ``release`` forgets the reservation first, ``renew`` extends its
life (the worker is using it), ``keep`` neither. When ``want`` > 0, grants up to
``want`` more units from what is left; a limit with less than ``need`` left refuses (a
negative result: milliseconds to wait) and then nothing is granted for any limit."""

REFUSAL_MEMORY = 0.5
"""Seconds a worker answers a refused caller itself before asking Redis again (capped by
the refusal's own wait), so a client hammering past its limit costs Redis little."""
RETRY_TOP_UP = 0.1
"""Seconds before a top-up that got nothing is tried again."""
ASK = -1.0
"""What ``_from_leases`` says when this worker's leases do not suffice (waits are > 0)."""
GRACE_MS = 1000
"""Redis keeps a reservation this long after the worker stops using it, so a report that
is a little late still finds it."""


class Lease:
    """This worker's share of one limit."""

    __slots__ = ("available", "busy", "check", "expires", "leases_key", "low", "next_try",
                 "pending", "refresh_at", "refused_until", "retry_at", "target")  # fmt: skip

    def __init__(self, check: Check, share: float) -> None:
        self.check = check
        self.leases_key = check.key + ":leases"
        self.target = max(1, int(check.limit * share))
        self.low = self.target // 4
        """Top up in the background once fewer units than this are left."""
        self.available = 0
        """Units this worker may still hand out; a byte lease goes below 0 when a response
        moves more than was left."""
        self.pending = 0
        """Units used and not yet reported to Redis."""
        self.expires = 0.0
        self.refresh_at = 0.0
        self.next_try = 0.0
        self.refused_until = 0.0
        self.retry_at = 0.0
        self.busy: asyncio.Future[None] | None = None
        """Set while a call about this lease is on its way, for others to wait on."""


class RedisStore:
    FLUSH_INTERVAL = 0.1

    def __init__(
        self,
        url: str,
        *,
        lease_share: float = 0.05,
        lease_seconds: float = 2.0,
        timeout: float = 0.5,
        retry_interval: float = 1.0,
        flush_interval: float = FLUSH_INTERVAL,
        client: Any = None,
    ) -> None:
        # No retries inside redis-py: a refused check must come back in one timeout at most.
        self.client: Redis = client or Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )
        self._script = self.client.register_script(LEASE_SCRIPT)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lease_share = lease_share
        self.lease_seconds = lease_seconds
        self._ttl_ms = int(lease_seconds * 1000) + GRACE_MS
        self._retry_interval = retry_interval
        self._retry_at = 0.0
        self._sweep_at = 0.0
        self._flush_interval = flush_interval
        self._leases: dict[str, Lease] = {}
        self._dirty: set[Lease] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._waiting: list[tuple[list[str], list[int | str], asyncio.Future[list[int]]]] = []
        # What /.multistore/metrics shows (``counter_values``).
        self.lease_calls = 0
        self.reports = 0
        self.errors = 0

    # The request path.

    async def check(self, checks: Sequence[Check], cost: int = 0) -> float | None:
        verdict = self._from_leases(checks, cost, time.monotonic())
        if verdict != ASK:
            return verdict
        return await self._check_slowly(checks, cost)

    def _from_leases(self, checks: Sequence[Check], cost: int, now: float) -> float | None:
        """The verdict this worker can give alone, or ``ASK`` when its leases fall short."""
        if now < self._retry_at:
            raise StoreUnavailable("redis unreachable moments ago, not retried yet")
        leases = self._leases
        wait = 0.0
        ask = False
        for check in checks:
            lease = leases.get(check.key)
            if lease is None:
                ask = True
            elif lease.refused_until > now:
                wait = max(wait, lease.retry_at - now)
            elif lease.expires <= now or lease.available < (
                1 if check.counts_request else max(1, cost)
            ):
                ask = True
        if wait:
            return wait
        if ask:
            return ASK
        for check in checks:
            lease = leases[check.key]
            if check.counts_request:
                lease.available -= 1
                lease.pending += 1
                self._dirty.add(lease)
            if (
                lease.busy is None
                and (lease.available < lease.low or now >= lease.refresh_at)
                and now >= lease.next_try
            ):
                self._top_up_soon(lease)
        if self._dirty:
            self._flush_soon()
        return None

    async def _check_slowly(self, checks: Sequence[Check], cost: int) -> float | None:
        for _ in range(4):
            busy = {
                lease.busy
                for check in checks
                if (lease := self._leases.get(check.key)) is not None and lease.busy is not None
            }
            if busy:
                await asyncio.wait(busy)  # someone is already asking about these limits
            else:
                wait = await self._ask(checks, cost, required=True)
                if wait is not None:
                    return wait
            verdict = self._from_leases(checks, cost, time.monotonic())
            if verdict != ASK:
                return verdict
        # Other requests took the units as fast as they came: this one asks again later.
        return self.lease_seconds / 4

    def charge(self, checks: Sequence[Check], amount: int) -> None:
        if time.monotonic() < self._retry_at:
            return  # Redis is away: the usage stream still has these bytes, quotas miss them
        for check in checks:
            if check.counts_request:
                continue
            lease = self._leases.get(check.key)
            if lease is None:
                lease = self._leases[check.key] = Lease(check, self.lease_share)
            lease.available -= amount
            lease.pending += amount
            self._dirty.add(lease)
        self._flush_soon()

    # Talking to Redis.

    async def _ask(self, checks: Sequence[Check], cost: int, *, required: bool) -> float | None:
        """One round trip: top up the leases of ``checks``, reporting what they consumed.

        ``required``: the request waits on this call, and is refused (the seconds to wait
        are returned) when a limit has not enough left for it.
        """
        now = time.monotonic()
        keys: list[str] = []
        args: list[int | str] = [self.worker_id]
        leases = []
        for check in checks:
            lease = self._leases.get(check.key)
            if lease is None or lease.check.limit != check.limit:
                # A new limit (a reload): a lease sized for it. What the old one used is
                # still reported; what it held is released below (it counts as expired).
                old, lease = lease, Lease(check, self.lease_share)
                self._leases[check.key] = lease
                if old is not None:
                    lease.pending, lease.expires = old.pending, -1.0
            expired = lease.expires <= now
            if expired:
                lease.available = 0
            held = max(0, lease.available)
            needed = (1 if check.counts_request else max(1, cost)) - held if required else 0
            need = max(0, needed)
            want = max(need, lease.target - held)
            consumed, lease.pending = lease.pending, 0
            self._dirty.discard(lease)
            keys += [check.key, lease.leases_key]
            args += [check.limit, check.window_ms, check.slot_ms, want, need, consumed,
                     self._ttl_ms, "release" if expired else "renew"]  # fmt: skip
            leases.append(lease)
        busy: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for lease in leases:
            lease.busy = busy
        try:
            self.lease_calls += 1
            results = await self._call(keys, args)
        finally:
            for lease in leases:
                lease.busy = None
            busy.set_result(None)
        now = time.monotonic()
        wait = 0.0
        for lease, result in zip(leases, results, strict=True):
            if result < 0:
                seconds = -result / 1000
                lease.retry_at = now + seconds
                lease.refused_until = now + min(seconds, REFUSAL_MEMORY)
                wait = max(wait, seconds)
        if wait:
            return wait
        for lease, granted in zip(leases, results, strict=True):
            lease.refused_until = 0.0
            if granted > 0 or lease.available > 0:
                # Redis renewed what this worker holds, and added what it granted.
                lease.available = max(0, lease.available) + granted
                lease.expires = now + self.lease_seconds
                lease.refresh_at = now + self.lease_seconds / 2
            # Nothing left to grant: do not ask again at once (the budget is nearly spent).
            lease.next_try = 0.0 if granted > 0 else now + RETRY_TOP_UP
        return None

    def _top_up_soon(self, lease: Lease) -> None:
        lease.next_try = time.monotonic() + RETRY_TOP_UP
        self._in_background(self._ask([lease.check], 0, required=False))

    def _in_background(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        # An outage is remembered by _pipeline and reported by the next check.
        if error is not None and not isinstance(error, StoreUnavailable):
            logger.error("metering: a call to redis failed", exc_info=error)

    def _flush_soon(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._flush_interval)
        self._flusher = None  # what is used from now on is reported by the next flush
        with contextlib.suppress(StoreUnavailable):  # the next check says Redis is away
            await self._report()

    async def flush(self) -> None:
        """Report now what this worker consumed, and return once Redis counts all of it.

        For a process that may not run its background tasks again (Lambda freezes it after
        each invocation). The units a call on its way (a report, a top-up) took with it
        are counted when it lands, so this waits for those calls, and for those of a lease
        (its remaining units are reported after that call); the rest goes in one report.
        """
        if not (self._dirty or self._waiting or self._background):
            return  # nothing to report, nothing on its way: no round trip
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()  # still in its sleep (it clears the field when it wakes)
        while True:
            if self._waiting:
                self._send_waiting()  # queued this turn of the loop: sent now
            on_the_way: set[asyncio.Future[Any]] = set(self._background)
            on_the_way.update(lease.busy for lease in self._dirty if lease.busy is not None)
            if on_the_way:
                await asyncio.wait(on_the_way)
            elif self._dirty:
                await self._report()
            else:
                return

    async def _report(self) -> None:
        """Report what this worker consumed since the last report (one round trip), and
        release the leases it has stopped using."""
        now = time.monotonic()
        reported, self._dirty = self._dirty, set()
        if now >= self._sweep_at:
            # Leases that lapsed: hand back what Redis still reserves for them (sooner than
            # its own expiry would), and forget those with nothing left to say.
            self._sweep_at = now + self.lease_seconds / 4
            lapsed = [lease for lease in self._leases.values() if lease.expires <= now]
            reported |= {lease for lease in lapsed if lease.expires}
        else:
            lapsed = []
        for lease in lapsed:
            if lease.busy is None and not lease.pending and lease.refused_until <= now:
                del self._leases[lease.check.key]
        # A lease with a call on its way is reported next time (the call may be taking its
        # pending units right now).
        waiting = {lease for lease in reported if lease.busy is not None}
        if waiting:
            self._dirty |= waiting
            self._flush_soon()
            reported -= waiting
        if not reported:
            return
        keys: list[str] = []
        args: list[int | str] = [self.worker_id]
        for lease in reported:
            check = lease.check
            release = lease.expires <= now
            consumed, lease.pending = lease.pending, 0
            keys += [check.key, lease.leases_key]
            args += [check.limit, check.window_ms, check.slot_ms, 0, 0, consumed,
                     self._ttl_ms, "release" if release else "keep"]  # fmt: skip
            if release:
                lease.expires = 0.0
        self.reports += 1
        await self._call(keys, args)

    async def _call(self, keys: list[str], args: list[int | str]) -> list[int]:
        if time.monotonic() < self._retry_at:
            raise StoreUnavailable("redis unreachable moments ago, not retried yet")
        # Calls made in the same turn of the event loop share one pipeline: still one
        # atomic script each, one round trip for all.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()
        self._waiting.append((keys, args, future))
        if len(self._waiting) == 1:
            loop.call_soon(self._send_waiting)
        return await future

    def _send_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        if waiting:  # empty when flush() sent them before this turn came
            self._in_background(self._pipeline(waiting))

    async def _pipeline(
        self, waiting: list[tuple[list[str], list[int | str], asyncio.Future[list[int]]]]
    ) -> None:
        try:
            try:
                if len(waiting) == 1:
                    # One call: EVALSHA alone. A pipeline would first ask SCRIPT EXISTS,
                    # a second round trip.
                    keys, args, _ = waiting[0]
                    results = [await self._script(keys=keys, args=args)]
                else:
                    pipeline = self.client.pipeline(transaction=False)
                    for keys, args, _ in waiting:
                        await self._script(keys=keys, args=args, client=pipeline)
                    results = await pipeline.execute()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                # Only an unreachable Redis is an outage; any other error is a bug and says so.
                self._outage()
                raise StoreUnavailable(f"redis: {exc}") from None
        except Exception as exc:
            for _, _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), result in zip(waiting, results, strict=True):
            if not future.done():
                future.set_result([int(value) for value in result])

    def _outage(self) -> None:
        self.errors += 1
        self._retry_at = time.monotonic() + self._retry_interval
        # Without Redis no lease can be reported or renewed: serving from them would be
        # serving unmetered, which a fail-closed gateway must not do. What they consumed and
        # did not report is lost to the quotas (the usage stream has it).
        self._leases.clear()
        self._dirty.clear()

    def reconfigure(self, config: MeteringConfig) -> None:
        """Reloaded limits: leases sized for the old ones are handed back at the next
        report, and new ones are taken at the new size."""
        self.lease_share = config.lease_share
        self.lease_seconds = config.lease_seconds
        self._ttl_ms = int(config.lease_seconds * 1000) + GRACE_MS
        for lease in self._leases.values():
            if lease.expires:
                lease.expires = -1.0
        self._sweep_at = 0.0
        self._flush_soon()

    def counter_families(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        return {
            "multistore_metering_redis_calls": (
                "Script calls to Redis: lease (take or top up leases) or report (usage, "
                "released leases).",
                ("kind",),
            ),
            "multistore_metering_redis_errors": (
                "Redis outages seen: calls that found it unreachable.",
                (),
            ),
        }

    def counter_values(self) -> Iterator[tuple[str, tuple[str, ...], float]]:
        yield "multistore_metering_redis_calls_total", ("lease",), self.lease_calls
        yield "multistore_metering_redis_calls_total", ("report",), self.reports
        yield "multistore_metering_redis_errors_total", (), self.errors

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        # Calls on their way finish first, so nothing is busy when the last report goes.
        await asyncio.gather(*self._background, return_exceptions=True)
        for lease in self._leases.values():
            if lease.expires:
                lease.expires = -1.0  # lapsed now: the report below hands it back
        self._sweep_at = 0.0
        with contextlib.suppress(StoreUnavailable):
            await self._report()
        await self.client.aclose()

    def __repr__(self) -> str:
        return "RedisStore()"


__all__ = ["LEASE_SCRIPT", "Lease", "RedisStore"]
