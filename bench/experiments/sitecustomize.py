"""What-if patches for pricing proposed changes, applied in every gateway process.

``run.py --experiment NAME[,NAME]`` puts this directory on the gateway's PYTHONPATH and
names the patches in ``MULTISTORE_BENCH_EXPERIMENTS``. Measurement only: each patch stands
in for a change proposed in docs/performance.md and is deleted once the real change lands.

None is pending: the last one, ``coalesce`` (response headers with the first body bytes),
landed in ``multistore.server.handler`` (issue 14 point 8).
"""

from __future__ import annotations

import os
from collections.abc import Callable

_WANTED = {
    name.strip()
    for name in os.environ.get("MULTISTORE_BENCH_EXPERIMENTS", "").split(",")
    if name.strip()
}


_PATCHES: dict[str, Callable[[], None]] = {}

for _name in sorted(_WANTED):
    if _name not in _PATCHES:
        raise SystemExit(f"unknown experiment {_name!r}; known: {', '.join(_PATCHES)}")
    _PATCHES[_name]()
