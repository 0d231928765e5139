"""Where limits keep their counts: the one-process memory store and the store protocol."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from multistore.metering.windows import Check, oldest_live_slot, retry_after_ms


class StoreUnavailable(Exception):
    """The shared store cannot be reached; the configured failure mode decides."""


class QuotaStore(Protocol):
    async def check(self, checks: Sequence[Check], cost: int = 0) -> float | None:
        """Admit (``None``) or refuse (seconds to wait) a request, atomically over ``checks``.

        An admitted request takes one unit of every request-rate limit among ``checks``;
        ``cost`` is what the request announces it will upload, tested against byte quotas.
        """
        ...

    def charge(self, checks: Sequence[Check], amount: int) -> None:
        """Add ``amount`` bytes to each byte quota among ``checks``; never waits."""
        ...

    async def flush(self) -> None:
        """Send what the store holds back for a shared store now (usage not yet reported)."""
        ...

    async def close(self) -> None: ...


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class Window:
    """One limit's sliding window: slot index → amount, and their running total.

    Slots that left the window are dropped only when time has crossed a slot boundary since
    the last look, so reading the total is O(1) on the request path.
    """

    __slots__ = ("prune_at", "slot_ms", "slots", "total", "window_ms")

    def __init__(self, window_ms: int, slot_ms: int) -> None:
        self.slots: dict[int, int] = {}
        self.total = 0
        self.prune_at = 0
        """When the oldest slot next leaves the window (ms): until then nothing to drop."""
        self.window_ms = window_ms
        self.slot_ms = slot_ms

    def used(self, now_ms: int) -> int:
        if now_ms >= self.prune_at:
            oldest = oldest_live_slot(now_ms, self.window_ms, self.slot_ms)
            self.prune_at = oldest * self.slot_ms + self.window_ms
            slots = self.slots
            for index in [i for i in slots if i < oldest]:
                self.total -= slots.pop(index)
        return self.total

    def add(self, now_ms: int, amount: int) -> None:
        index = now_ms // self.slot_ms
        slots = self.slots
        slots[index] = slots.get(index, 0) + amount
        self.total += amount

    def retry_after_ms(self, now_ms: int) -> int:
        first = min(self.slots) if self.slots else None
        return retry_after_ms(first, now_ms, self.window_ms, self.slot_ms)


class MemoryStore:
    """Counts held in this process: right for one worker, and for tests."""

    SWEEP_EVERY = 4096

    def __init__(self) -> None:
        self._windows: dict[str, Window] = {}
        self._operations = 0

    def _window(self, check: Check) -> Window:
        window = self._windows.get(check.key)
        if window is None:
            window = self._windows[check.key] = Window(check.window_ms, check.slot_ms)
        return window

    async def check(self, checks: Sequence[Check], cost: int = 0) -> float | None:
        now = monotonic_ms()
        wait = 0
        for check in checks:
            window = self._window(check)
            used = window.used(now)
            if used >= check.limit or (not check.counts_request and used + cost > check.limit):
                wait = max(wait, window.retry_after_ms(now))
        if wait:
            return wait / 1000
        for check in checks:
            if check.counts_request:
                self._windows[check.key].add(now, 1)
        self._operations += 1
        if not self._operations % self.SWEEP_EVERY:
            self._sweep(now)
        return None

    def charge(self, checks: Sequence[Check], amount: int) -> None:
        now = monotonic_ms()
        for check in checks:
            if not check.counts_request:
                self._window(check).add(now, amount)

    def _sweep(self, now: int) -> None:
        # Windows of clients that went quiet would otherwise stay forever.
        for key, window in list(self._windows.items()):
            if not window.used(now):
                del self._windows[key]

    async def flush(self) -> None:
        return None  # every count is in place the moment it is made

    async def close(self) -> None:
        return None


__all__ = ["MemoryStore", "QuotaStore", "StoreUnavailable", "Window", "monotonic_ms"]
