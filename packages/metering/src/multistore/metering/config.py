"""The ``[metering]`` table: limits, store, sink and what to do when the store is away."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

KEYS = frozenset(
    {"enabled", "store", "redis_url", "key_prefix", "on_store_failure", "sink", "sink_path",
     "sink_stream", "queue_size", "batch_size", "rate_limits", "quotas", "lease_share",
     "lease_seconds"}
)  # fmt: skip
STORES = ("memory", "redis")
SINKS = ("log", "jsonl", "redis", "none")
FAILURE_MODES = ("open", "closed")
_UNITS = {"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
          "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}  # fmt: skip
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_KEY_PREFIX = "multistore:metering"
DEFAULT_STREAM = "multistore:usage"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


@dataclass(frozen=True, slots=True)
class RateLimit:
    requests: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Quota:
    """At most ``bytes`` (in + out) in any ``seconds`` for one bucket (``*``: every bucket).

    ``per = "client"``: each principal (or client IP when anonymous) has its own budget;
    ``per = "bucket"``: all callers of the bucket share one.
    """

    bucket: str
    bytes: int
    seconds: float
    per: str = "client"


@dataclass(frozen=True, slots=True)
class MeteringConfig:
    store: str = "memory"
    redis_url: str = DEFAULT_REDIS_URL
    key_prefix: str = DEFAULT_KEY_PREFIX
    fail_open: bool = True
    sink: str = "log"
    sink_path: str | None = None
    sink_stream: str = DEFAULT_STREAM
    queue_size: int = 10_000
    batch_size: int = 500
    anonymous_rate: RateLimit | None = None
    authenticated_rate: RateLimit | None = None
    quotas: tuple[Quota, ...] = field(default_factory=tuple)
    lease_share: float = 0.05
    """The Redis store: the share of a limit one worker reserves at a time."""
    lease_seconds: float = 2.0
    """The Redis store: how long a worker serves from a lease before renewing it."""


def parse_size(value: object, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match and match.group(2).lower() in _UNITS:
            return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    raise ValueError(f'{where} must be a byte count such as 1048576 or "50GiB", got {value!r}')


def _positive(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{where} must be a positive number, got {value!r}")
    return float(value)


def _choice(options: Mapping[str, object], key: str, choices: tuple[str, ...], default: str) -> str:
    value = options.get(key, default)
    if value not in choices:
        raise ValueError(f"[metering] {key} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _rate(table: object, name: str) -> RateLimit | None:
    if table is None:
        return None
    where = f"[metering.rate_limits] {name}"
    if not isinstance(table, Mapping) or set(table) - {"requests", "seconds"}:
        raise ValueError(f"{where} must be a table with requests and seconds")
    requests = table.get("requests")
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise ValueError(f"{where}.requests must be a positive integer, got {requests!r}")
    return RateLimit(requests, _positive(table.get("seconds"), f"{where}.seconds"))


def _quota(table: object, index: int) -> Quota:
    where = f"[[metering.quotas]] #{index + 1}"
    if not isinstance(table, Mapping) or set(table) - {"bucket", "bytes", "seconds", "per"}:
        raise ValueError(f"{where} must be a table with bucket, bytes, seconds and optional per")
    bucket = table.get("bucket")
    if not isinstance(bucket, str) or not bucket:
        raise ValueError(f'{where}.bucket must be a bucket name or "*"')
    per = table.get("per", "client")
    if per not in ("client", "bucket"):
        raise ValueError(f"{where}.per must be client or bucket, got {per!r}")
    return Quota(
        bucket,
        parse_size(table.get("bytes"), f"{where}.bytes"),
        _positive(table.get("seconds"), f"{where}.seconds"),
        str(per),
    )


def _count(options: Mapping[str, object], key: str, default: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"[metering] {key} must be a positive integer, got {value!r}")
    return value


def parse_metering(options: Mapping[str, object]) -> MeteringConfig:
    """Read a ``[metering]`` table (without ``enabled``); problems are ``ValueError``s."""
    unknown = sorted(set(options) - KEYS)
    if unknown:
        raise ValueError(f"[metering] has unknown key(s): {', '.join(unknown)}")
    rates = options.get("rate_limits", {})
    if not isinstance(rates, Mapping) or set(rates) - {"anonymous", "authenticated"}:
        raise ValueError("[metering.rate_limits] takes only anonymous and authenticated")
    quotas = options.get("quotas", [])
    if not isinstance(quotas, list):
        raise ValueError("[metering] quotas must be a list of tables ([[metering.quotas]])")
    sink = _choice(options, "sink", SINKS, "log")
    sink_path = options.get("sink_path")
    if sink == "jsonl" and not isinstance(sink_path, str):
        raise ValueError('[metering] sink = "jsonl" needs sink_path, the file to append to')
    store = _choice(options, "store", STORES, "memory")
    redis_url = options.get("redis_url", DEFAULT_REDIS_URL)
    if not isinstance(redis_url, str):
        raise ValueError("[metering] redis_url must be a string such as redis://127.0.0.1:6379/0")
    prefix = options.get("key_prefix", DEFAULT_KEY_PREFIX)
    stream = options.get("sink_stream", DEFAULT_STREAM)
    if not isinstance(prefix, str) or not isinstance(stream, str):
        raise ValueError("[metering] key_prefix and sink_stream must be strings")
    share = options.get("lease_share", 0.05)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise ValueError(f"[metering] lease_share must be a number in (0, 1], got {share!r}")
    return MeteringConfig(
        store=store,
        redis_url=redis_url,
        key_prefix=prefix,
        fail_open=_choice(options, "on_store_failure", FAILURE_MODES, "open") == "open",
        sink=sink,
        sink_path=sink_path if isinstance(sink_path, str) else None,
        sink_stream=stream,
        queue_size=_count(options, "queue_size", 10_000),
        batch_size=_count(options, "batch_size", 500),
        anonymous_rate=_rate(rates.get("anonymous"), "anonymous"),
        authenticated_rate=_rate(rates.get("authenticated"), "authenticated"),
        quotas=tuple(_quota(table, i) for i, table in enumerate(quotas)),
        lease_share=float(share),
        lease_seconds=_positive(options.get("lease_seconds", 2.0), "[metering] lease_seconds"),
    )


RESTART_ONLY = ("store", "redis_url", "key_prefix", "sink", "sink_path", "sink_stream",
                "queue_size", "batch_size")  # fmt: skip
"""What a reload (SIGHUP) cannot change: the store's and the sink's connections and files."""


def metering_from_sections(sections: Mapping[str, Mapping[str, object]]) -> MeteringConfig | None:
    """The config file's ``[metering]`` table, or ``None`` when absent or ``enabled = false``."""
    table = sections.get("metering")
    if table is None:
        return None
    options = dict(table)
    enabled = options.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError(f"[metering] enabled must be true or false, got {enabled!r}")
    return parse_metering(options) if enabled else None


__all__ = [
    "RESTART_ONLY",
    "MeteringConfig",
    "Quota",
    "RateLimit",
    "metering_from_sections",
    "parse_metering",
    "parse_size",
]
