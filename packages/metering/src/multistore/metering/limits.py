"""``LimitsChecker``: the configured rate limits and byte quotas over a store."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace

from multistore.core.auth.identity import Identity
from multistore.core.errors import ServiceUnavailable
from multistore.core.middleware import CompletedRequest, DispatchContext
from multistore.metering.config import RESTART_ONLY, MeteringConfig, Quota
from multistore.metering.middleware import QuotaExceeded
from multistore.metering.stores import QuotaStore, StoreUnavailable
from multistore.metering.windows import Check

logger = logging.getLogger("multistore.metering")


def client_key(identity: Identity | None, source_ip: str | None) -> str:
    """Who a budget belongs to: the principal, or the client IP for anonymous callers."""
    if identity is not None and not identity.is_anonymous:
        return f"auth:{identity.principal}"
    return f"anon:{source_ip or 'unknown'}"


@dataclass(frozen=True, slots=True)
class Plan:
    """The limits one (bucket, caller) is subject to, built once and reused."""

    checks: tuple[Check, ...]
    """Rate limits, then byte quotas: what a request is checked against."""
    quotas: tuple[Check, ...]
    """The byte quotas alone: what its bytes are charged to."""


class LimitsChecker:
    PLAN_CACHE = 8192
    """Plans kept per worker; the cache starts afresh when it is full (one dict, no LRU)."""

    def __init__(self, config: MeteringConfig, store: QuotaStore) -> None:
        self.config = config
        self.store = store
        self._store_down = False
        self._plans: dict[tuple[str, str | None, str | None], Plan] = {}
        self.refused = 0
        self.unavailable = 0

    def _quotas(self, bucket: str) -> list[Quota]:
        return [q for q in self.config.quotas if q.bucket in (bucket, "*")]

    def _quota_key(self, quota: Quota, bucket: str, who: str) -> str:
        owner = "bucket" if quota.per == "bucket" else who
        return f"{self.config.key_prefix}:bytes:{int(quota.seconds * 1000)}:{bucket}:{owner}"

    def plan(self, bucket: str, identity: Identity | None, source_ip: str | None) -> Plan:
        # An authenticated caller's budget does not depend on the address it calls from.
        if identity is None or identity.is_anonymous:
            cache_key: tuple[str, str | None, str | None] = (bucket, None, source_ip)
        else:
            cache_key = (bucket, identity.principal, None)
        plan = self._plans.get(cache_key)
        if plan is None:
            anonymous = cache_key[1] is None
            plan = self._build_plan(bucket, client_key(identity, source_ip), anonymous)
            if len(self._plans) >= self.PLAN_CACHE:
                self._plans.clear()
            self._plans[cache_key] = plan
        return plan

    def _build_plan(self, bucket: str, who: str, anonymous: bool) -> Plan:
        rate = self.config.anonymous_rate if anonymous else self.config.authenticated_rate
        checks: list[Check] = []
        if rate is not None:
            window = int(rate.seconds * 1000)
            key = f"{self.config.key_prefix}:rate:{window}:{bucket}:{who}"
            checks.append(Check(key, rate.requests, window, counts_request=True))
        # A "*" quota and one for the bucket with the same window and owner are one budget
        # (one key): the smaller limit holds, and bytes are charged to it once.
        by_key: dict[str, Check] = {}
        for quota in self._quotas(bucket):
            check = Check(
                self._quota_key(quota, bucket, who), quota.bytes, int(quota.seconds * 1000)
            )
            if check.key not in by_key or check.limit < by_key[check.key].limit:
                by_key[check.key] = check
        quotas = tuple(by_key.values())
        return Plan((*checks, *quotas), quotas)

    def checks(self, ctx: DispatchContext) -> tuple[Check, ...]:
        return self.plan(ctx.operation.bucket or "-", ctx.identity, ctx.source_ip).checks

    async def check(self, ctx: DispatchContext) -> None:
        checks = self.checks(ctx)
        if not checks:
            return
        try:
            wait = await self.store.check(checks, _content_length(ctx))
        except StoreUnavailable as exc:
            self.unavailable += 1
            self._went_down(exc)
            if self.config.fail_open:
                return
            raise ServiceUnavailable(f"metering store unavailable: {exc}") from None
        if self._store_down:
            self._came_back()
        if wait is not None:
            self.refused += 1
            raise QuotaExceeded(wait, "Please reduce your request rate or transfer volume.")

    async def record(self, completed: CompletedRequest) -> None:
        moved = completed.bytes_in + completed.bytes_out
        if moved <= 0 or completed.operation is None:
            return
        quotas = self.plan(completed.bucket or "-", completed.identity, completed.source_ip).quotas
        if quotas:
            # Never waits: the store sends charges in batches (the Redis store) or adds them
            # at once (the memory store). What it cannot send is in the usage stream still.
            self.store.charge(quotas, moved)

    def _went_down(self, exc: Exception) -> None:
        if not self._store_down:
            self._store_down = True
            mode = "letting requests through" if self.config.fail_open else "refusing requests"
            logger.warning("metering store unavailable (%s): %s until it is back", exc, mode)

    def _came_back(self) -> None:
        if self._store_down:
            self._store_down = False
            logger.warning("metering store is back: limits apply again")

    def reconfigure(self, config: MeteringConfig) -> None:
        """Take reloaded limits; what needs a restart (``RESTART_ONLY``) is kept."""
        kept = [
            name for name in RESTART_ONLY if getattr(config, name) != getattr(self.config, name)
        ]
        if kept:
            logger.warning("[metering] %s changed: kept until a restart", ", ".join(kept))
        self.config = replace(config, **{name: getattr(self.config, name) for name in RESTART_ONLY})
        self._plans.clear()  # plans hold the old limits
        reconfigure = getattr(self.store, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(self.config)
        rates = [r for r in (self.config.anonymous_rate, self.config.authenticated_rate) if r]
        logger.info(
            "metering limits reloaded: %d rate limit(s), %d quota(s)",
            len(rates),
            len(self.config.quotas),
        )

    async def flush(self) -> None:
        # Redis away: the next check finds the outage and logs it, once, as for any report.
        with contextlib.suppress(StoreUnavailable):
            await self.store.flush()

    async def close(self) -> None:
        await self.store.close()

    def counter_families(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        families: dict[str, tuple[str, tuple[str, ...]]] = {
            "multistore_metering_refused": (
                "Requests refused with 429 SlowDown: over a rate limit or byte quota.",
                (),
            ),
            "multistore_metering_store_unavailable": (
                "Metered requests that found the quota store unreachable (served with "
                'on_store_failure = "open", 503 with "closed").',
                (),
            ),
        }
        describe = getattr(self.store, "counter_families", None)
        if describe is not None:
            families.update(describe())
        return families

    def counter_values(self) -> Iterator[tuple[str, tuple[str, ...], float]]:
        yield "multistore_metering_refused_total", (), self.refused
        yield "multistore_metering_store_unavailable_total", (), self.unavailable
        values = getattr(self.store, "counter_values", None)
        if values is not None:
            yield from values()

    def __repr__(self) -> str:
        return f"LimitsChecker(store={type(self.store).__name__})"


def _content_length(ctx: DispatchContext) -> int:
    value = ctx.request.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else 0
