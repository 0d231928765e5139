"""What-if patches for pricing proposed changes, applied in every gateway process.

``run.py --experiment NAME[,NAME]`` puts this directory on the gateway's PYTHONPATH and
names the patches in ``MULTISTORE_BENCH_EXPERIMENTS``. Measurement only: each patch stands
in for a change proposed in docs/performance.md and is deleted once the real change lands.

- ``coalesce``: response headers go out with the first body bytes (one send, not two).
"""

from __future__ import annotations

import os

_WANTED = {
    name.strip()
    for name in os.environ.get("MULTISTORE_BENCH_EXPERIMENTS", "").split(",")
    if name.strip()
}


def _coalesce() -> None:
    from aiohttp import web_response

    web_response.StreamResponse._send_headers_immediately = False  # type: ignore[attr-defined]


_PATCHES = {"coalesce": _coalesce}

for _name in sorted(_WANTED):
    if _name not in _PATCHES:
        raise SystemExit(f"unknown experiment {_name!r}; known: {', '.join(_PATCHES)}")
    _PATCHES[_name]()
