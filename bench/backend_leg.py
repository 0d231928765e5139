"""CPU per request of the backend leg of a small GET alone: ``S3Backend.get_object``, the body
read to its end, the response released, against a real HTTP server on 127.0.0.1.

    uv run python bench/backend_leg.py                    # this tree
    uv run python bench/backend_leg.py --ab-base main     # A/B: REV's packages vs this tree
    uv run python bench/backend_leg.py --floor            # and a bare asyncio client

The backend answers every request with the same 1 KiB object and the headers nginx sends
for a static file; it runs in its own process, so only the gateway side is timed: the
client process's CPU clock (``time.process_time``) over ``--requests`` GETs from
``--concurrency`` tasks on uvloop, best of ``--rounds``. With ``--ab-base`` the packages of
git revision REV (exported to a temporary directory) and this tree's run alternately in
fresh processes, ``--pairs`` times, and each side's best and median are printed. ``--floor``
adds a bare asyncio client (one prebuilt write per request, llhttp for the framing): the
system calls and event loop that any client pays, so what lies above it is Python work.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("packages/core/src", "packages/http-client/src")
BODY = b"x" * 1024
# What nginx sends with a static file (the end-to-end benchmark's backend).
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Server: nginx/1.22.1\r\n"
    b"Date: Fri, 04 Dec 2026 19:00:00 GMT\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Length: 1024\r\n"
    b"Last-Modified: Fri, 04 Dec 2026 18:00:00 GMT\r\n"
    b"Connection: keep-alive\r\n"
    b'ETag: "6751a8e0-400"\r\n'
    b"Accept-Ranges: bytes\r\n"
    b"\r\n" + BODY
)


# --- the backend ---------------------------------------------------------------------------


class _Answerer(asyncio.Protocol):
    """Answers each complete request head with RESPONSE (requests here have no body)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport: asyncio.Transport = transport  # type: ignore[assignment]
        self._pending = b""

    def data_received(self, data: bytes) -> None:
        data = self._pending + data
        count = data.count(b"\r\n\r\n")
        self._pending = data[data.rfind(b"\r\n\r\n") + 4 :] if count else data
        if count:
            self._transport.write(RESPONSE * count)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Answerer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    server.close()


# --- the client ----------------------------------------------------------------------------


async def _client(port: int, requests: int, concurrency: int, rounds: int) -> list[float]:
    from multidict import CIMultiDict, CIMultiDictProxy, MultiDict

    from multistore.core.backends.base import BackendServices, ObjectRequest
    from multistore.core.backends.s3 import S3Backend
    from multistore.core.config import BucketConfig
    from multistore.http_client import HttpClient

    client = HttpClient()
    config = BucketConfig(
        name="bench",
        backend_type="s3",
        backend_options={
            "endpoint": f"http://127.0.0.1:{port}",
            "bucket_name": "bench",
            "skip_signature": "true",
        },
    )
    backend = S3Backend(config, BackendServices(transport=client))
    # What a SigV4 client's GET carries into the gateway (the backend forwards none of it).
    headers = CIMultiDictProxy(
        CIMultiDict(
            {
                "Host": "127.0.0.1:9000",
                "User-Agent": "wrk",
                "Accept-Encoding": "identity",
                "X-Amz-Date": "20261204T190000Z",
                "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
                "Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20261204/us-east-1/s3/"
                "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
            }
        )
    )
    request = ObjectRequest(key="data/1k.bin", headers=headers, query=MultiDict())

    async def one() -> None:
        result = await backend.get_object(request)
        size = 0
        async for chunk in result.body:
            size += len(chunk)
        await result.close()
        assert result.status == 200
        assert size == len(BODY)

    async def worker(count: int) -> None:
        for _ in range(count):
            await one()

    async def round_() -> float:
        share = requests // concurrency
        started = time.process_time()
        await asyncio.gather(*(worker(share) for _ in range(concurrency)))
        return (time.process_time() - started) / (share * concurrency) * 1e6

    await round_()  # warm: connections open, caches filled
    results = [await round_() for _ in range(rounds)]
    await client.close()
    return results


class _FloorConnection(asyncio.Protocol):
    """The least a client can do: one prebuilt write, llhttp told only of the message end."""

    def __init__(self) -> None:
        import httptools

        self._parser = httptools.HttpResponseParser(self)
        self.done: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body = body

    def on_message_complete(self) -> None:
        assert self.done is not None
        self.done.set_result(None)


async def _floor(port: int, requests: int, concurrency: int, rounds: int) -> list[float]:
    loop = asyncio.get_running_loop()
    head = b"GET /bench/data/1k.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: multistore\r\n\r\n"
    connections = [
        (await loop.create_connection(_FloorConnection, "127.0.0.1", port))[1]
        for _ in range(concurrency)
    ]

    async def worker(connection: _FloorConnection, count: int) -> None:
        for _ in range(count):
            connection.done = loop.create_future()
            connection.transport.write(head)
            await connection.done

    async def round_() -> float:
        share = requests // concurrency
        started = time.process_time()
        await asyncio.gather(*(worker(c, share) for c in connections))
        return (time.process_time() - started) / (share * concurrency) * 1e6

    await round_()
    results = [await round_() for _ in range(rounds)]
    for connection in connections:
        connection.transport.close()
    return results


def _run_client(args: argparse.Namespace) -> None:
    import uvloop

    run = _floor if args.floor else _client
    results = uvloop.run(run(args.port, args.requests, args.concurrency, args.rounds))
    print(min(results))


# --- the driver ----------------------------------------------------------------------------


def _export(rev: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev, *PACKAGES],
        check=True,
        capture_output=True,
    ).stdout
    path = into / "base.tar"
    path.write_bytes(archive)
    with tarfile.open(path) as tar:
        tar.extractall(into, filter="data")


def _measure(port: int, args: argparse.Namespace, root: Path, *, floor: bool = False) -> float:
    env = dict(os.environ)
    # Ahead of the workspace's editable installs: this side imports ``root``'s packages.
    env["PYTHONPATH"] = os.pathsep.join(str(root / p) for p in PACKAGES)
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--client",
            "--port",
            str(port),
            "--requests",
            str(args.requests),
            "--concurrency",
            str(args.concurrency),
            "--rounds",
            str(args.rounds),
            *(["--floor"] if floor else []),
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2048)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--ab-base", metavar="REV")
    parser.add_argument(
        "--floor", action="store_true", help="also time a bare asyncio client (the syscalls)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        import uvloop

        uvloop.run(_serve())
        return
    if args.client:
        _run_client(args)
        return
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with tempfile.TemporaryDirectory() as scratch:
            sides = [("this tree", REPO, False)]
            if args.ab_base:
                _export(args.ab_base, Path(scratch))
                sides.insert(0, (args.ab_base, Path(scratch), False))
            if args.floor:
                sides.append(("floor", REPO, True))
            figures: dict[str, list[float]] = {name: [] for name, _, _ in sides}
            for _ in range(args.pairs if args.ab_base or args.floor else 1):
                for name, root, floor in sides:
                    figures[name].append(_measure(port, args, root, floor=floor))
            for name, values in figures.items():
                print(
                    f"{name:>12}: best {min(values):6.1f} µs/request, "
                    f"median {statistics.median(values):6.1f} "
                    f"({', '.join(f'{v:.1f}' for v in values)})"
                )
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
