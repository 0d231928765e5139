"""``LimitsChecker``: the configured rate limits and byte quotas over a store."""

from __future__ import annotations

import logging

from multistore.core.auth.identity import Identity
from multistore.core.errors import ServiceUnavailable
from multistore.core.middleware import CompletedRequest, DispatchContext
from multistore.metering.config import MeteringConfig, Quota
from multistore.metering.middleware import QuotaExceeded
from multistore.metering.stores import QuotaStore, StoreUnavailable
from multistore.metering.windows import Check

logger = logging.getLogger("multistore.metering")


def client_key(identity: Identity | None, source_ip: str | None) -> str:
    """Who a budget belongs to: the principal, or the client IP for anonymous callers."""
    if identity is not None and not identity.is_anonymous:
        return f"auth:{identity.principal}"
    return f"anon:{source_ip or 'unknown'}"


class LimitsChecker:
    def __init__(self, config: MeteringConfig, store: QuotaStore) -> None:
        self.config = config
        self.store = store
        self._store_down = False

    def _quotas(self, bucket: str) -> list[Quota]:
        return [q for q in self.config.quotas if q.bucket in (bucket, "*")]

    def _quota_key(self, quota: Quota, bucket: str, who: str) -> str:
        owner = "bucket" if quota.per == "bucket" else who
        return f"{self.config.key_prefix}:bytes:{int(quota.seconds * 1000)}:{bucket}:{owner}"

    def checks(self, ctx: DispatchContext) -> list[Check]:
        bucket = ctx.operation.bucket or "-"
        who = client_key(ctx.identity, ctx.source_ip)
        anonymous = ctx.identity.is_anonymous
        rate = self.config.anonymous_rate if anonymous else self.config.authenticated_rate
        found: list[Check] = []
        if rate is not None:
            window = int(rate.seconds * 1000)
            key = f"{self.config.key_prefix}:rate:{window}:{bucket}:{who}"
            found.append(Check(key, rate.requests, window, counts_request=True))
        announced = _content_length(ctx)
        for quota in self._quotas(bucket):
            key = self._quota_key(quota, bucket, who)
            found.append(Check(key, quota.bytes, int(quota.seconds * 1000), cost=announced))
        return found

    async def check(self, ctx: DispatchContext) -> None:
        checks = self.checks(ctx)
        if not checks:
            return
        try:
            wait = await self.store.check(checks)
        except StoreUnavailable as exc:
            self._went_down(exc)
            if self.config.fail_open:
                return
            raise ServiceUnavailable(f"metering store unavailable: {exc}") from None
        self._came_back()
        if wait is not None:
            raise QuotaExceeded(wait, "Please reduce your request rate or transfer volume.")

    async def record(self, completed: CompletedRequest) -> None:
        moved = completed.bytes_in + completed.bytes_out
        if moved <= 0 or completed.operation is None:
            return
        bucket = completed.bucket or "-"
        who = client_key(completed.identity, completed.source_ip)
        keys = [
            (self._quota_key(quota, bucket, who), int(quota.seconds * 1000))
            for quota in self._quotas(bucket)
        ]
        if not keys:
            return
        try:
            await self.store.charge(keys, moved)
        except StoreUnavailable as exc:
            # The bytes are in the usage stream all the same; only the quota misses them.
            self._went_down(exc)
            return
        self._came_back()

    def _went_down(self, exc: Exception) -> None:
        if not self._store_down:
            self._store_down = True
            mode = "letting requests through" if self.config.fail_open else "refusing requests"
            logger.warning("metering store unavailable (%s): %s until it is back", exc, mode)

    def _came_back(self) -> None:
        if self._store_down:
            self._store_down = False
            logger.warning("metering store is back: limits apply again")

    async def close(self) -> None:
        await self.store.close()

    def __repr__(self) -> str:
        return f"LimitsChecker(store={type(self.store).__name__})"


def _content_length(ctx: DispatchContext) -> int:
    value = ctx.request.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else 0
