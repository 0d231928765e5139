"""The gateway's view of HTTP: what a runtime hands in and what it gets back.

Core never imports an HTTP framework. A runtime translates its request into a
:class:`RequestInfo` plus a :class:`RequestBody`, and writes out the returned
:class:`Response` (complete body) or :class:`StreamingResponse` (body streamed from the
backend). Outbound backend calls go through an :class:`HttpTransport` the runtime supplies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, unquote

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiMapping

from multistore.core.errors import InvalidURI

Headers = CIMultiDict[str] | CIMultiDictProxy[str]


class RequestBody(Protocol):
    """An incoming request body read in pieces; ``read`` returns ``b""`` at the end."""

    async def read(self, n: int = -1) -> bytes: ...


class EmptyBody:
    """A body with nothing in it (GET, HEAD, DELETE, tests)."""

    async def read(self, n: int = -1) -> bytes:
        return b""


class BytesBody:
    """A body already in memory (Lambda events, small test bodies)."""

    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._offset = 0

    async def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n < 0 else min(len(self._view), self._offset + n)
        chunk = bytes(self._view[self._offset : end])
        self._offset = end
        return chunk


@dataclass(slots=True)
class RequestInfo:
    """One incoming request as the gateway sees it.

    ``raw_path`` and ``raw_query`` are exactly as they came off the wire: SigV4 signs them.
    ``path`` is the percent-decoded path used for routing, decoded once.
    """

    method: str
    raw_path: str
    raw_query: str
    headers: Headers
    source_ip: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    form_body: bytes | None = None
    request_id: str = ""
    _path: str | None = None
    _query: MultiDict[str] | None = None

    @property
    def path(self) -> str:
        if self._path is None:
            self._path = decode_path(self.raw_path)
        return self._path

    @property
    def query(self) -> MultiDict[str]:
        """Query parameters decoded with form rules; value-less keys map to ``""``."""
        if self._query is None:
            self._query = decode_query(self.raw_query)
        return self._query

    @property
    def resource(self) -> str:
        """The path for an error's ``<Resource>``; never raises, even for a bad path."""
        try:
            return self.path
        except InvalidURI:
            return self.raw_path

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)


def decode_path(raw_path: str) -> str:
    """Percent-decode a wire path once; invalid UTF-8 is a client error, not a replacement char."""
    if "%" not in raw_path:
        return raw_path
    try:
        return unquote(raw_path, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidURI("the request path is not valid UTF-8 after percent-decoding") from exc


def decode_query(raw_query: str) -> MultiDict[str]:
    """Form-decode a query; invalid UTF-8 is refused rather than turned into U+FFFD, which
    would make two different wire values (say ``%FF`` and ``%FE``) the same parameter."""
    if not raw_query:
        return MultiDict()  # most requests: a plain GET or PUT has no query at all
    try:
        return MultiDict(parse_qsl(raw_query, keep_blank_values=True, errors="strict"))
    except UnicodeDecodeError as exc:
        raise InvalidURI("the query string is not valid UTF-8 after percent-decoding") from exc


@dataclass(slots=True)
class Response:
    """A complete response built by the gateway (errors, XML documents, small bodies)."""

    status: int
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    body: bytes = b""


@dataclass(slots=True)
class StreamingResponse:
    """A response whose body streams from a backend to the client.

    ``content_length`` is the backend's declared length (also for HEAD, where the body is
    empty). ``release`` must be awaited once the runtime is done with the body, whether it
    finished or the client went away.
    """

    status: int
    headers: CIMultiDict[str]
    body: AsyncIterator[bytes]
    content_length: int | None
    release: Callable[[], Awaitable[None]] | None = None

    async def close(self) -> None:
        if self.release is not None:
            release, self.release = self.release, None
            await release()


class ChunkBody:
    """A response body already in memory, as one chunk (or none): an async iterator that
    is not an async generator, whose first step would register it with the event loop's
    finalizer bookkeeping (a weak set, in Python) on every small GET."""

    __slots__ = ("_chunk",)

    def __init__(self, chunk: bytes = b"") -> None:
        self._chunk = chunk

    def __aiter__(self) -> ChunkBody:
        return self

    async def __anext__(self) -> bytes:
        chunk = self._chunk
        if not chunk:
            raise StopAsyncIteration
        self._chunk = b""
        return chunk


SMALL_BODY = 64 << 10
"""A backend body up to this size that arrived whole with its head is answered from memory."""


def backend_body(
    response: TransportResponse, *, head: bool = False
) -> tuple[AsyncIterator[bytes], Callable[[], Awaitable[None]] | None]:
    """The body a :class:`StreamingResponse` of ``response`` streams, and its ``release``.

    A transport that can hand over a body which arrived whole with the head (the server
    runtime's ``multistore.http_client``: ``take_complete_body``) gives it at once: the
    connection is back in its pool before the client is answered, and nothing is left to
    release. Any other body streams chunk by chunk as it comes.
    """
    take: Callable[[int], bytes | None] | None = getattr(response, "take_complete_body", None)
    whole = None if take is None else take(0 if head else SMALL_BODY)
    if whole is not None:
        return (ChunkBody() if head else ChunkBody(whole)), None
    return (ChunkBody() if head else response.iter_chunks()), response.release


GatewayResponse = Response | StreamingResponse


class TransportResponse(Protocol):
    """A backend response as the transport exposes it."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> MultiMapping[str]: ...

    def iter_chunks(self) -> AsyncIterator[bytes]: ...

    async def read(self, limit: int) -> bytes:
        """Read the whole body, failing if it is larger than ``limit`` bytes."""
        ...

    async def release(self) -> None: ...


OutboundBody = bytes | AsyncIterator[bytes] | None


class HttpTransport(Protocol):
    """How core reaches HTTP backends; the runtime owns the connection pool behind it.

    ``url`` is already percent-encoded exactly as it must go on the wire and must not be
    re-encoded. ``headers`` are sent as given (the request is already signed).
    """

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: OutboundBody = None,
    ) -> TransportResponse: ...


class TransportError(Exception):
    """The backend could not be reached or stopped answering (connect, reset, timeout)."""


class IteratorBody:
    """A :class:`RequestBody` over an async iterator of chunks (a backend download)."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    async def read(self, n: int = -1) -> bytes:
        if not self._pending:
            self._pending = await anext(self._chunks, b"")
        if n < 0 or len(self._pending) <= n:
            chunk, self._pending = self._pending, b""
            return chunk
        chunk, self._pending = self._pending[:n], self._pending[n:]
        return chunk
