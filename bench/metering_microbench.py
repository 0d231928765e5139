"""Microseconds of CPU that ``[metering]`` adds to a 1 KiB GET, without HTTP around it.

    uv run python bench/metering_microbench.py [requests per round]

Builds the gateway over a ``file`` bucket the way the server does (``assemble_gateway``),
once without metering and once per metering variant (as in ``metering_cost.py``: a rate
limit and a byte quota that are never reached; the memory store without and with a
JSON-lines sink; the Redis store, with a real ``redis-server`` on 127.0.0.1, and the sink).
Each request is ``ProxyGateway.handle``, reading the body, and the server's completion path
(``AccessRecord`` and its ``CompletedRequest`` to ``ProxyGateway.complete``) when a middleware
listens. The process's CPU time (every thread: the sink's writes included) is taken per
round; rounds are interleaved across variants and the least is reported, so the figures
price a change of a microsecond that the end-to-end benchmark cannot see on a shared machine.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from multistore.core.access import AccessRecord
from multistore.core.gateway import GatewayOptions, ProxyGateway
from multistore.core.http import EmptyBody, RequestInfo, StreamingResponse
from multistore.core.router import Router
from multistore.static_config import ReloadableProvider, parse_config
from multistore.static_config.assembly import assemble_gateway
from multistore.testing.redis_server import running_redis

ROUNDS = 9
LIMITS = {
    "rate_limits": {"anonymous": {"requests": 10**9, "seconds": 10}},
    "quotas": [{"bucket": "public", "bytes": "1000TiB", "seconds": 86400}],
}


def build(root: Path, metering: dict[str, Any] | None) -> ProxyGateway:
    config: dict[str, Any] = {
        "buckets": [{"name": "public", "backend_type": "file", "anonymous_access": True,
                     "backend_options": {"root": str(root)}}],
    }  # fmt: skip
    if metering is not None:
        config["metering"] = metering
    provider = ReloadableProvider(lambda: parse_config(config))
    return assemble_gateway(
        provider,
        None,  # type: ignore[arg-type]  # a file bucket never dials out
        router=Router(),
        options=GatewayOptions(),
        env={},
        announce=False,
    )


async def serve_one(gateway: ProxyGateway, headers: CIMultiDictProxy[str]) -> None:
    info = RequestInfo(
        method="GET", raw_path="/public/1k.bin", raw_query="", headers=headers,
        source_ip="127.0.0.1", request_id="B1E5C0FFEE000001",
    )  # fmt: skip
    started = time.perf_counter()
    handled = await gateway.handle(info, EmptyBody())
    response = handled.response
    assert response is not None, handled
    assert response.status == 200, response
    sent = 0
    if isinstance(response, StreamingResponse):
        async for chunk in response.body:
            sent += len(chunk)
        await response.close()
    if gateway.has_middlewares:  # what the server's handler does once the body is out
        record = AccessRecord.of(info, handled, 200, None, 0, sent, time.perf_counter() - started)
        await gateway.complete(record.completed(handled))


async def run(work: Path, redis_url: str, n: int) -> None:
    root = work / "root"
    root.mkdir()
    (root / "1k.bin").write_bytes(bytes(1024))
    jsonl = {"sink": "jsonl", "sink_path": str(work / "usage.jsonl")}
    variants = {
        "off": None,
        "memory, no sink": {"store": "memory", "sink": "none", **LIMITS},
        "memory": {"store": "memory", **jsonl, **LIMITS},
        "redis": {"store": "redis", "redis_url": redis_url, **jsonl, **LIMITS},
    }
    gateways = {name: build(root, metering) for name, metering in variants.items()}
    wire = CIMultiDictProxy(
        CIMultiDict({"User-Agent": "wrk", "Accept": "*/*", "Host": "127.0.0.1:8000"})
    )
    for gateway in gateways.values():
        for _ in range(min(n, 2_000)):
            await serve_one(gateway, wire)
    rounds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(ROUNDS):
        for name, gateway in gateways.items():
            start = time.process_time_ns()
            for _ in range(n):
                await serve_one(gateway, wire)
            await asyncio.sleep(0.15)  # the sink's and the store's background work, counted
            rounds[name].append((time.process_time_ns() - start) / n / 1000)
    base = min(rounds["off"])
    print(f"{ROUNDS} interleaved rounds of {n} requests, Python {sys.version.split()[0]}")
    for name, values in rounds.items():
        least = min(values)
        print(
            f"{name:>15}: {least:6.2f} µs/req (+{least - base:5.2f}), "
            f"median {statistics.median(values):6.2f}"
        )
    for gateway in gateways.values():
        for middleware in gateway.middlewares:
            await middleware.close()  # type: ignore[attr-defined]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    with tempfile.TemporaryDirectory() as tmp, running_redis(Path(tmp) / "redis") as redis:
        asyncio.run(run(Path(tmp), redis.url, n))


if __name__ == "__main__":
    main()
