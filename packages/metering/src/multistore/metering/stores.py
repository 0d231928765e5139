"""Where limits keep their counts: the one-process memory store and the store protocol."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from multistore.metering.windows import SLOTS, Check, live_slots, retry_after_ms


class StoreUnavailable(Exception):
    """The shared store cannot be reached; the configured failure mode decides."""


class QuotaStore(Protocol):
    async def check(self, checks: Sequence[Check]) -> float | None:
        """Admit (``None``) or refuse (seconds to wait) a request, atomically over ``checks``.

        An admitted request takes one unit of every request-rate limit among ``checks``.
        """
        ...

    async def charge(self, keys: Sequence[tuple[str, int]], amount: int) -> None:
        """Add ``amount`` bytes to each ``(key, window_ms)`` byte quota."""
        ...

    async def close(self) -> None: ...


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class MemoryStore:
    """Counts held in this process: right for one worker, and for tests."""

    SWEEP_EVERY = 4096

    def __init__(self) -> None:
        self._windows: dict[str, dict[int, int]] = {}
        self._spans: dict[str, int] = {}
        self._operations = 0

    async def check(self, checks: Sequence[Check]) -> float | None:
        now = _now_ms()
        wait = 0
        for check in checks:
            slots = self._windows.get(check.key, {})
            live_slots(slots, now, check.window_ms, check.slot_ms)
            used = sum(slots.values())
            over = used >= check.limit or (
                not check.counts_request and used + check.cost > check.limit
            )
            if over:
                span = retry_after_ms(slots, now, check.window_ms, check.slot_ms)
                wait = max(wait, span)
        if wait:
            return wait / 1000
        for check in checks:
            if check.counts_request:
                self._add(check.key, check.window_ms, check.slot_ms, now, 1)
        self._sweep(now)
        return None

    async def charge(self, keys: Sequence[tuple[str, int]], amount: int) -> None:
        now = _now_ms()
        for key, window_ms in keys:
            self._add(key, window_ms, max(1, window_ms // SLOTS), now, amount)

    def _add(self, key: str, window_ms: int, slot_ms: int, now: int, amount: int) -> None:
        slots = self._windows.setdefault(key, {})
        self._spans[key] = window_ms
        index = now // slot_ms
        slots[index] = slots.get(index, 0) + amount

    def _sweep(self, now: int) -> None:
        # Keys of clients that went quiet would otherwise stay forever.
        self._operations += 1
        if self._operations % self.SWEEP_EVERY:
            return
        for key in list(self._windows):
            span = self._spans.get(key, 0)
            slots = self._windows[key]
            live_slots(slots, now, span, max(1, span // SLOTS))
            if not slots:
                del self._windows[key]
                self._spans.pop(key, None)

    async def close(self) -> None:
        return None


__all__ = ["MemoryStore", "QuotaStore", "StoreUnavailable"]
