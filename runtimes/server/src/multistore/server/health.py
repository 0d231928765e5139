"""``/.multistore/healthz`` and ``/.multistore/readyz``.

healthz answers while the process serves at all. readyz also says whether the instance is
whole: with a supervisor, every expected worker must be up (a dead worker not yet
replaced, or a pool the supervisor is restarting in a loop, makes it ``503``).
"""

from __future__ import annotations

from multidict import CIMultiDict

from multistore.core.http import RequestInfo, Response
from multistore.server.worker_link import PoolStatus


class Readiness:
    """This process's view of its worker pool (one worker, always ready, when unsupervised)."""

    def __init__(self) -> None:
        self.pool = PoolStatus(ready=1, expected=1, restarts=0)

    def update(self, status: PoolStatus) -> None:
        self.pool = status

    @property
    def ready(self) -> bool:
        return self.pool.ready >= self.pool.expected


READINESS = Readiness()


def _text(status: int, body: str) -> Response:
    return Response(status, CIMultiDict({"Content-Type": "text/plain"}), body.encode())


async def healthz(request: RequestInfo) -> Response | None:
    if request.method not in ("GET", "HEAD"):
        return None
    return _text(200, "ok\n")


async def readyz(request: RequestInfo) -> Response | None:
    if request.method not in ("GET", "HEAD"):
        return None
    pool = READINESS.pool
    if READINESS.ready:
        return _text(200, "ok\n")
    return _text(503, f"not ready: {pool.ready} of {pool.expected} workers up\n")
