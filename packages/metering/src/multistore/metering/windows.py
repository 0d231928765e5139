"""Sliding windows kept as a ring of time slots: the arithmetic both stores share.

A window of ``window_ms`` is cut into ``SLOTS`` slots; a slot's total counts while any part
of it is inside the window. Memory per key is bounded (at most ``SLOTS`` numbers) whatever
the traffic, and the same layout lives in a Redis hash, so the two stores agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SLOTS = 60


@dataclass(frozen=True, slots=True)
class Check:
    """One limit a request is subject to.

    ``counts_request``: a request-rate limit, which takes one unit when it admits the
    request. Otherwise a byte quota: admitted while ``used < limit`` and
    ``used + cost <= limit`` (``cost`` is the bytes the request announces it will upload,
    given to the store's ``check``), charged later with what really moved.

    Checks are built once per (limit, bucket, caller) and reused, so they carry what every
    request would otherwise recompute.
    """

    key: str
    limit: int
    window_ms: int
    counts_request: bool = False
    slot_ms: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "slot_ms", max(1, self.window_ms // SLOTS))


def oldest_live_slot(now_ms: int, window_ms: int, slot_ms: int) -> int:
    """The oldest slot index still (partly) inside the window that ends now."""
    return (now_ms - window_ms) // slot_ms + 1


def retry_after_ms(first_slot: int | None, now_ms: int, window_ms: int, slot_ms: int) -> int:
    """When the oldest usage still counted leaves the window (at least one slot away)."""
    if first_slot is None:
        return slot_ms
    return max(slot_ms, (first_slot * slot_ms + window_ms) - now_ms + slot_ms)
