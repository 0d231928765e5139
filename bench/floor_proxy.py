"""The least a small GET can cost through a Python proxy on each server layer: floors, not products.

    python bench/floor_proxy.py --layer aiohttp  --listen 127.0.0.1:9000 --upstream http://127.0.0.1:9001
    python bench/floor_proxy.py --layer protocol --listen 127.0.0.1:9000 --upstream http://127.0.0.1:9001

Both forward ``GET <path>`` to the upstream with the gateway's own backend client
(``multistore.http_client``, pooled keep-alive connections) and answer with the upstream's
status and body, on uvloop, in ``--workers`` processes sharing the port with
``SO_REUSEPORT``, as the gateway's workers do. No authentication, no S3, no metrics, no
access log: whatever the gateway's pipeline costs comes on top of these.

- ``aiohttp``: aiohttp's low-level server (``web.Server``, the gateway's server layer)
  answering with a ``web.Response`` holding the whole small body, aiohttp's cheapest answer
  (head and body in one ``write``).
- ``protocol``: an ``asyncio.Protocol`` parsing requests with httptools (the parser
  aiohttp's own C parser is built from) and answering with one ``transport.write``; a task
  per request, as aiohttp has. This is proposal 6 of docs/performance.md at its barest.

Only for ``bench/run.py --floors``: it answers nothing but small GETs (bodies up to 1 MiB,
request bodies ignored) and has no timeouts or limits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from email.utils import formatdate

import httptools
import uvloop
from aiohttp import web

from multistore.http_client import HttpClient

BODY_LIMIT = 1 << 20


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _fetch(client: HttpClient, url: str) -> tuple[int, str, bytes]:
    response = await client.request("GET", url, headers={})
    body = await response.read(BODY_LIMIT)
    return response.status, response.headers.get("Content-Type", "application/octet-stream"), body


async def serve_aiohttp(sock: socket.socket, upstream: str) -> None:
    client = HttpClient()

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        status, content_type, body = await _fetch(client, upstream + request.raw_path)
        return web.Response(status=status, body=body, headers={"Content-Type": content_type})

    server = web.Server(handler, access_log=None)
    loop = asyncio.get_running_loop()
    await loop.create_server(server, sock=sock)
    await asyncio.Event().wait()


class _RequestProtocol(asyncio.Protocol):
    """One connection: parse heads with httptools, answer each GET with one write."""

    def __init__(self, client: HttpClient, upstream: str) -> None:
        self._client = client
        self._upstream = upstream
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        # Pipelined requests are answered in order: each waits for the one before it.
        self._previous: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            assert self._transport is not None
            self._transport.close()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_message_complete(self) -> None:
        url, self._url = self._url.decode("latin-1"), b""
        keep_alive = self._parser.should_keep_alive()
        self._previous = asyncio.get_running_loop().create_task(
            self._answer(url, keep_alive, self._previous)
        )

    async def _answer(
        self, url: str, keep_alive: bool, previous: asyncio.Task[None] | None
    ) -> None:
        status, content_type, body = await _fetch(self._client, self._upstream + url)
        if previous is not None:
            await previous
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        head = (
            f"HTTP/1.1 {status} OK\r\nServer: floor\r\nDate: {formatdate(usegmt=True)}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"{'' if keep_alive else 'Connection: close' + chr(13) + chr(10)}\r\n"
        ).encode("latin-1")
        transport.write(head + body)
        if not keep_alive:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def serve_protocol(sock: socket.socket, upstream: str) -> None:
    client = HttpClient()
    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: _RequestProtocol(client, upstream), sock=sock)
    await asyncio.Event().wait()


def _child(layer: str, host: str, port: int, upstream: str) -> None:
    sock = _listening_socket(host, port)
    serve = serve_aiohttp if layer == "aiohttp" else serve_protocol
    uvloop.run(serve(sock, upstream))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", choices=("aiohttp", "protocol"), required=True)
    parser.add_argument("--listen", required=True, help="HOST:PORT")
    parser.add_argument("--upstream", required=True, help="http://HOST:PORT")
    parser.add_argument(
        "--workers", type=int, default=2, help="0: serve in this process (bench/instructions.py)"
    )
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    upstream = args.upstream.rstrip("/")
    if args.workers == 0:
        _child(args.layer, host, int(port), upstream)
        return
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _child(args.layer, host, int(port), upstream)
            os._exit(0)
        children.append(pid)

    def stop(signum: int, frame: object) -> None:
        for child in children:
            os.kill(child, signal.SIGTERM)
        for child in children:
            os.waitpid(child, 0)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
