"""Sliding windows kept as a ring of time slots: the arithmetic both stores share.

A window of ``window_ms`` is cut into ``SLOTS`` slots; a slot's total counts while any part
of it is inside the window. Memory per key is bounded (at most ``SLOTS`` numbers) whatever
the traffic, and the same layout lives in a Redis hash, so the two stores agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

SLOTS = 60


@dataclass(frozen=True, slots=True)
class Check:
    """One limit to test for a request.

    ``counts_request``: a request-rate limit, which takes one unit when it admits the
    request. Otherwise a byte quota: admitted while ``used < limit`` and
    ``used + cost <= limit`` (``cost`` is the bytes the request announces it will upload),
    charged later with what really moved.
    """

    key: str
    limit: int
    window_ms: int
    cost: int = 0
    counts_request: bool = False

    @property
    def slot_ms(self) -> int:
        return max(1, self.window_ms // SLOTS)


def live_slots(slots: dict[int, int], now_ms: int, window_ms: int, slot_ms: int) -> int:
    """Drop slots that left the window; the oldest slot still inside comes first."""
    oldest = (now_ms - window_ms) // slot_ms + 1
    for index in [i for i in slots if i < oldest]:
        del slots[index]
    return oldest


def retry_after_ms(slots: dict[int, int], now_ms: int, window_ms: int, slot_ms: int) -> int:
    """When the oldest usage still counted leaves the window (at least one slot away)."""
    if not slots:
        return slot_ms
    first = min(slots)
    return max(slot_ms, (first * slot_ms + window_ms) - now_ms + slot_ms)
