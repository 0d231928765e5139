"""The ``multistore.middleware`` entry point: a ``[metering]`` table → ``MeteringMiddleware``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from multistore.metering.config import MeteringConfig, metering_from_sections
from multistore.metering.limits import LimitsChecker
from multistore.metering.middleware import MeteringMiddleware
from multistore.metering.sinks import (
    BatchingRecorder,
    JsonLinesSink,
    LogSink,
    RedisStreamSink,
    UsageSink,
)
from multistore.metering.stores import MemoryStore, QuotaStore

logger = logging.getLogger("multistore.metering")


def _redis_client(config: MeteringConfig) -> Any:
    try:
        from redis.asyncio import Redis
    except ModuleNotFoundError:
        raise ValueError(
            "[metering] uses Redis but the redis client is not installed: "
            "install multistore-metering[redis]"
        ) from None
    return Redis.from_url(config.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)


def build_store(config: MeteringConfig) -> QuotaStore:
    if config.store == "memory":
        return MemoryStore()
    _redis_client(config)  # the clear message when the extra is missing
    from multistore.metering.redis_store import RedisStore

    return RedisStore(
        config.redis_url, lease_share=config.lease_share, lease_seconds=config.lease_seconds
    )


def build_sink(config: MeteringConfig) -> UsageSink | None:
    if config.sink == "none":
        return None
    if config.sink == "log":
        return LogSink()
    if config.sink == "jsonl":
        assert config.sink_path is not None
        try:
            return JsonLinesSink(config.sink_path)
        except OSError as exc:
            raise ValueError(f"[metering] sink_path {config.sink_path!r}: {exc}") from None
    return RedisStreamSink(_redis_client(config), config.sink_stream)


def create(
    sections: Mapping[str, Mapping[str, object]], context: object
) -> MeteringMiddleware | None:
    """On when the config has a ``[metering]`` table without ``enabled = false``."""
    config = metering_from_sections(sections)
    if config is None:
        return None
    sink = build_sink(config)
    from multistore.metering.middleware import NoopRecorder, UsageRecorder

    recorder: UsageRecorder = (
        NoopRecorder()
        if sink is None
        else BatchingRecorder(sink, queue_size=config.queue_size, batch_size=config.batch_size)
    )
    return MeteringMiddleware(LimitsChecker(config, build_store(config)), recorder)


__all__ = ["build_sink", "build_store", "create"]
