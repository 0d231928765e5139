"""Microseconds of the gateway's own pipeline per 1 KiB GET, without any HTTP around it.

    uv run python bench/pipeline_microbench.py [iterations]

Builds the benchmark's gateway (``stack.Stack.gateway_config``: bucket ``bench`` on an
``s3`` backend, the benchmark's key) over an in-memory transport that answers every backend
request at once with a 1 KiB body, then times ``ProxyGateway.handle`` plus reading the body
and releasing the response, for an anonymous and a SigV4 GET (headers signed by botocore,
replayed as ``run.py`` does). Sockets, aiohttp and the event loop's I/O are left out, and
the clock is the process's CPU time (time spent preempted by other work does not count),
so the best of the rounds is stable enough to price a change of a few microseconds that
the end-to-end benchmark cannot see through the noise of a shared machine.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from multidict import CIMultiDict, CIMultiDictProxy
from signing import signed_headers
from stack import BUCKET_READ, Stack

from multistore.core.gateway import GatewayOptions, ProxyGateway
from multistore.core.http import EmptyBody, OutboundBody, RequestInfo, StreamingResponse
from multistore.core.router import Router
from multistore.static_config import ReloadableProvider, parse_config
from multistore.static_config.assembly import assemble_gateway

ENDPOINT = "127.0.0.1:9"  # never dialled: the transport answers in memory
GATEWAY = "127.0.0.1:8000"
BODY = bytes(1024)
ROUNDS = 7


class InstantResponse:
    """What the pooled client returns, minus the connection: head and body already here."""

    status = 200

    def __init__(self) -> None:
        self.headers = CIMultiDictProxy(
            CIMultiDict(
                {
                    "Server": "nginx/1.22.1",
                    "Date": "Fri, 04 Dec 2026 08:00:00 GMT",
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(len(BODY)),
                    "Last-Modified": "Fri, 04 Dec 2026 07:00:00 GMT",
                    "Connection": "keep-alive",
                    "ETag": '"6751c4e0-400"',
                    "Accept-Ranges": "bytes",
                }
            )
        )

    async def _chunks(self) -> AsyncIterator[bytes]:
        yield BODY

    def iter_chunks(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def read(self, limit: int) -> bytes:
        return BODY

    async def release(self) -> None:
        return None


class InstantTransport:
    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str], body: OutboundBody = None
    ) -> InstantResponse:
        return InstantResponse()


def build(workdir: Path) -> ProxyGateway:
    stack = Stack(workdir=workdir, group=None)  # type: ignore[arg-type]
    stack.ports["static"] = 9
    stack.files_root.mkdir()
    config = stack.gateway_config_data()
    provider = ReloadableProvider(lambda: parse_config(config))
    return assemble_gateway(
        provider,
        InstantTransport(),  # type: ignore[arg-type]
        router=Router(),
        options=GatewayOptions(),
        env={},
        announce=False,
    )


async def serve_one(gateway: ProxyGateway, headers: CIMultiDictProxy[str]) -> None:
    info = RequestInfo(
        method="GET", raw_path=f"/{BUCKET_READ}/1k.bin", raw_query="", headers=headers
    )
    handled = await gateway.handle(info, EmptyBody())
    response = handled.response
    assert response is not None
    assert response.status == 200, response
    assert isinstance(response, StreamingResponse)
    async for _ in response.body:
        pass
    await response.close()


async def measure(name: str, gateway: ProxyGateway, headers: dict[str, str], n: int) -> None:
    wire = CIMultiDictProxy(
        CIMultiDict({**headers, "User-Agent": "wrk", "Accept": "*/*", "Host": GATEWAY})
    )
    for _ in range(min(n, 2_000)):
        await serve_one(gateway, wire)
    rounds = []
    for _ in range(ROUNDS):
        start = time.process_time_ns()
        for _ in range(n):
            await serve_one(gateway, wire)
        rounds.append((time.process_time_ns() - start) / n / 1000)
    print(f"{name:<12} {min(rounds):7.2f} CPU µs/req (median {statistics.median(rounds):.2f})")


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        await run(build(Path(workdir)), n)


async def run(gateway: ProxyGateway, n: int) -> None:
    print(f"{ROUNDS} rounds of {n} requests each, Python {sys.version.split()[0]}")
    await measure("anonymous", gateway, {}, n)
    await measure(
        "SigV4", gateway, signed_headers("GET", f"http://{GATEWAY}/{BUCKET_READ}/1k.bin"), n
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
