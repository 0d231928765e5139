"""``MeteringMiddleware``: refuse callers over their limits, record what every request used."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import ClassVar, Protocol

from multistore.core.errors import SlowDown
from multistore.core.http import GatewayResponse
from multistore.core.middleware import CompletedRequest, DispatchContext, Next
from multistore.metering.config import MeteringConfig, metering_from_sections
from multistore.metering.events import UsageEvent

logger = logging.getLogger("multistore.metering")


class QuotaExceeded(SlowDown):
    """``SlowDown`` with status 429 and ``Retry-After``.

    S3 answers its own throttling with 503; a quota refusal is the caller's doing, not an
    outage, and 429 says so to proxies and dashboards. SDKs retry on the ``SlowDown`` code
    whatever the status, and honour ``Retry-After``.
    """

    status: ClassVar[int] = 429

    def __init__(self, retry_after: float, message: str) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class QuotaChecker(Protocol):
    async def check(self, ctx: DispatchContext) -> None:
        """Raise an ``S3Error`` (``QuotaExceeded``) to refuse the request."""
        ...

    async def record(self, completed: CompletedRequest) -> None:
        """Charge what the request really moved against the byte quotas."""
        ...

    async def flush(self) -> None:
        """Send usage held back for a shared store now; return once it is there."""
        ...

    async def close(self) -> None: ...


class UsageRecorder(Protocol):
    def record(self, event: UsageEvent) -> None:
        """Take the event without waiting (it is written later, in batches)."""
        ...

    async def flush(self) -> None:
        """Write the events taken so far now; return once they are written."""
        ...

    async def close(self) -> None: ...


class NoopQuotaChecker:
    async def check(self, ctx: DispatchContext) -> None:
        return None

    async def record(self, completed: CompletedRequest) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


class NoopRecorder:
    def record(self, event: UsageEvent) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


class MeteringMiddleware:
    def __init__(self, quota_checker: QuotaChecker, usage_recorder: UsageRecorder) -> None:
        self.quota_checker = quota_checker
        self.usage_recorder = usage_recorder
        # Without a sink (``sink = "none"``) no event need be built at all.
        self._records_events = not isinstance(usage_recorder, NoopRecorder)

    async def handle(self, ctx: DispatchContext, next: Next) -> GatewayResponse:
        await self.quota_checker.check(ctx)
        return await next(ctx)

    async def after_dispatch(self, completed: CompletedRequest) -> None:
        if completed.operation is None and completed.error_code is None:
            return  # health checks, metrics scrapes, STS: the gateway's own routes
        # Requests refused before the chain (bad signature, no bucket) are recorded too:
        # they cost a round trip, and an operator wants to see who sends them.
        if self._records_events:
            self.usage_recorder.record(UsageEvent.of(completed))
        await self.quota_checker.record(completed)

    async def flush(self) -> None:
        # multistore.core.middleware.FlushableMiddleware: the Lambda handler calls it after
        # each invocation, since the background writers may never run again.
        await self.usage_recorder.flush()
        await self.quota_checker.flush()

    async def close(self) -> None:
        await self.usage_recorder.close()
        await self.quota_checker.close()

    # A reload (SIGHUP), through multistore.core.plugins.ReconfigurableMiddleware.

    def check_sections(self, sections: Mapping[str, Mapping[str, object]]) -> None:
        metering_from_sections(sections)  # a bad [metering] table rejects the reload

    def reconfigure(self, sections: Mapping[str, Mapping[str, object]]) -> None:
        reconfigure = getattr(self.quota_checker, "reconfigure", None)
        if reconfigure is None:
            return
        # No table, or enabled = false: no limits from now on. The middleware stays in the
        # chain (it was installed at startup) and keeps recording usage events.
        reconfigure(metering_from_sections(sections) or MeteringConfig())

    # For the server's /.multistore/metrics (its CounterSource protocol): what the parts in
    # use count, each part only if it counts anything.

    def counter_families(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        families: dict[str, tuple[str, tuple[str, ...]]] = {}
        for part in (self.usage_recorder, self.quota_checker):
            describe = getattr(part, "counter_families", None)
            if describe is not None:
                families.update(describe())
        return families

    def counter_values(self) -> Iterator[tuple[str, tuple[str, ...], float]]:
        for part in (self.usage_recorder, self.quota_checker):
            values = getattr(part, "counter_values", None)
            if values is not None:
                yield from values()

    def __repr__(self) -> str:
        return f"MeteringMiddleware({self.quota_checker!r}, {self.usage_recorder!r})"


__all__ = [
    "MeteringMiddleware",
    "NoopQuotaChecker",
    "NoopRecorder",
    "QuotaChecker",
    "QuotaExceeded",
    "UsageRecorder",
]
