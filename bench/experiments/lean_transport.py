"""A measurement prototype, not product code: the smallest keep-alive HTTP/1.1 client that
satisfies core's ``HttpTransport`` protocol, to price aiohttp's ClientSession overhead.

Supports what the benchmark's backend sends (responses with ``Content-Length``, bodies as
bytes or async iterators with a ``content-length`` header). Anything else raises.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterator, Mapping

from multidict import CIMultiDict

from multistore.core.http import OutboundBody, TransportError

_READ_HIGH_WATER = 1 << 20
_NO_BODY_STATUSES = frozenset({204, 304})


class _Connection(asyncio.Protocol):
    def __init__(self, pool: list[_Connection]) -> None:
        self._pool = pool
        self.transport: asyncio.Transport | None = None
        self._head = bytearray()
        self._head_future: asyncio.Future[None] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._remaining = 0
        self._waiter: asyncio.Future[None] | None = None
        self._write_ready: asyncio.Future[None] | None = None
        self._reading_paused = False
        self.closed = False
        self.status = 0
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.body_done = True
        self.head_only = False

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        error = TransportError(f"backend connection lost: {exc!r}")
        for future in (self._head_future, self._waiter, self._write_ready):
            if future is not None and not future.done():
                future.set_exception(error)

    def pause_writing(self) -> None:
        self._write_ready = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_result(None)
        self._write_ready = None

    def data_received(self, data: bytes) -> None:
        if self._head_future is not None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            rest = bytes(self._head[end + 4 :])
            self._parse_head(bytes(self._head[:end]))
            self._head.clear()
            future, self._head_future = self._head_future, None
            future.set_result(None)
            if rest:
                self._feed(rest)
        else:
            self._feed(data)

    # --- request/response ------------------------------------------------------------------

    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ", 2)[1])
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.add(name, value.strip())
        self.headers = headers
        if self.head_only or self.status in _NO_BODY_STATUSES:
            self._remaining = 0
        elif "Content-Length" in headers:
            self._remaining = int(headers["Content-Length"])
        else:
            raise TransportError("prototype transport needs Content-Length responses")
        self.body_done = self._remaining == 0

    def _feed(self, data: bytes) -> None:
        if self._remaining <= 0:
            return
        if len(data) > self._remaining:
            data = data[: self._remaining]
        self._remaining -= len(data)
        self._chunks.append(data)
        self._buffered += len(data)
        if self._remaining == 0:
            self.body_done = True
        if self._buffered > _READ_HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self._reading_paused = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def send(self, head: bytes, body: OutboundBody, head_only: bool) -> None:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.head_only = head_only
        self._head_future = loop.create_future()
        if isinstance(body, bytes):
            self.transport.write(head + body)
        else:
            self.transport.write(head)
            if body is not None:
                async for chunk in body:
                    self.transport.write(chunk)
                    if self._write_ready is not None:
                        await self._write_ready
        await self._head_future

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while True:
            while self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._reading_paused and self._buffered < _READ_HIGH_WATER // 2:
                    self._reading_paused = False
                    assert self.transport is not None
                    self.transport.resume_reading()
                yield chunk
            if self.body_done:
                return
            if self.closed:
                raise TransportError("backend closed mid-body")
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
            self._waiter = None

    def release(self) -> None:
        reusable = self.body_done and not self._chunks and not self.closed
        if reusable and self.headers.get("Connection", "").lower() != "close":
            self._pool.append(self)
            return
        if self.transport is not None:
            self.transport.close()


class LeanResponse:
    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    @property
    def status(self) -> int:
        return self._connection.status

    @property
    def headers(self) -> CIMultiDict[str]:
        return self._connection.headers

    def iter_chunks(self) -> AsyncIterator[bytes]:
        return self._connection.iter_chunks()

    async def read(self, limit: int) -> bytes:
        data = bytearray()
        async for chunk in self._connection.iter_chunks():
            data += chunk
            if len(data) > limit:
                raise TransportError(f"backend body larger than {limit} bytes")
        return bytes(data)

    async def release(self) -> None:
        self._connection.release()


class LeanTransport:
    """Drop-in for ``AiohttpTransport`` (same constructor shape, session ignored)."""

    def __init__(self, session: object = None) -> None:
        self._pools: dict[tuple[str, int], list[_Connection]] = {}

    @classmethod
    def create_session(cls, *, pool_size: int = 256) -> _NullSession:
        return _NullSession()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: OutboundBody = None,
    ) -> LeanResponse:
        if not url.startswith("http://"):
            raise TransportError("prototype transport speaks plain http only")
        authority, slash, path = url[7:].partition("/")
        host, _, port = authority.partition(":")
        key = (host, int(port or 80))
        lines = [f"{method} /{path if slash else ''} HTTP/1.1\r\nHost: {authority}\r\n"]
        for name, value in headers.items():
            lines.append(f"{name}: {value}\r\n")
        if isinstance(body, bytes) and "content-length" not in headers:
            lines.append(f"content-length: {len(body)}\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        pool = self._pools.setdefault(key, [])
        while pool:
            connection = pool.pop()
            if not connection.closed:
                break
        else:
            loop = asyncio.get_running_loop()
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(pool), host, key[1]
                )
            except OSError as exc:
                raise TransportError(f"connect {authority}: {exc!r}") from exc
        await connection.send(head, body, method == "HEAD")
        return LeanResponse(connection)


class _NullSession:
    async def close(self) -> None:
        return None
