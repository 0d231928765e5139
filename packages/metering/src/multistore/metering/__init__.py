"""Usage accounting, bandwidth quotas and request-rate limits for the multistore gateway."""

from multistore.metering.config import MeteringConfig, Quota, RateLimit, parse_metering
from multistore.metering.events import UsageEvent
from multistore.metering.limits import LimitsChecker
from multistore.metering.middleware import (
    MeteringMiddleware,
    NoopQuotaChecker,
    NoopRecorder,
    QuotaChecker,
    QuotaExceeded,
    UsageRecorder,
)
from multistore.metering.sinks import BatchingRecorder, JsonLinesSink, LogSink, RedisStreamSink
from multistore.metering.stores import MemoryStore, QuotaStore, StoreUnavailable

__all__ = [
    "BatchingRecorder",
    "JsonLinesSink",
    "LimitsChecker",
    "LogSink",
    "MemoryStore",
    "MeteringConfig",
    "MeteringMiddleware",
    "NoopQuotaChecker",
    "NoopRecorder",
    "Quota",
    "QuotaChecker",
    "QuotaExceeded",
    "QuotaStore",
    "RateLimit",
    "RedisStreamSink",
    "StoreUnavailable",
    "UsageEvent",
    "UsageRecorder",
    "parse_metering",
]
