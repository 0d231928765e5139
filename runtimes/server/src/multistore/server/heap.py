"""Tuning of the cyclic garbage collector for a worker that serves many small requests.

Measured on a worker under 1 KiB GETs at 64 connections (docs/performance.md, issue 14
point 8): with CPython's default thresholds the collector ran about 30 times a second and
cost 15-20 µs of CPU per request, roughly a tenth of the whole request, while finding
almost no garbage. Two things made it expensive:

- the youngest generation is collected every 700 net allocations of container objects,
  and 64 requests in flight hold thousands of live objects between them, so collections
  kept scanning (and promoting) objects that reference counting frees moments later;
- each full collection walked the tens of thousands of objects created at startup
  (modules, the config, the gateway), which live as long as the process.

So once the worker has started, the startup objects are moved out of the collector's sight
(``gc.freeze``) and the youngest generation is collected only every ``YOUNG_THRESHOLD`` net
allocations, which under that load is never. Real reference cycles are still collected, a
few thousand objects later than before.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 7000
"""Net container allocations between two collections of the youngest generation."""


def settle() -> None:
    """Collect once, then exempt everything alive now from later collections.

    Called when the worker is ready to serve and again after each config reload, so the
    objects a reload replaced are collected (``gc.unfreeze`` first) instead of being kept
    forever in the frozen set.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
