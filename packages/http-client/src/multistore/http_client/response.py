"""A backend response: its head, and its body streamed off the connection as it arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator

from multidict import CIMultiDict, CIMultiDictProxy

from multistore.core.http import TransportError
from multistore.http_client.connection import BackendConnection
from multistore.http_client.pool import OriginPool


class ClientResponse:
    """Core's ``TransportResponse``; ``release`` must be awaited once the body is done with.

    The connection goes back to the pool as soon as the last body chunk is handed out (so
    a later ``release`` is free); a body left unread closes the connection instead.
    ``raw_headers`` are the header fields as received, ``(name, value)`` bytes in order
    (as aiohttp's client has them); ``headers`` decodes them on first use.
    """

    __slots__ = ("_connection", "_headers", "_pool", "raw_headers", "status")

    def __init__(self, connection: BackendConnection, pool: OriginPool) -> None:
        self._connection: BackendConnection | None = connection
        self._pool = pool
        self.status = connection.status
        self.raw_headers = connection.raw_headers
        self._headers: CIMultiDictProxy[str] | None = None

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        headers = self._headers
        if headers is None:
            # As aiohttp's parser does: UTF-8 where it decodes, raw bytes kept otherwise.
            headers = self._headers = CIMultiDictProxy(
                CIMultiDict(
                    [
                        (
                            name.decode("utf-8", "surrogateescape"),
                            value.decode("utf-8", "surrogateescape"),
                        )
                        for name, value in self.raw_headers
                    ]
                )
            )
        return headers

    @property
    def buffered_bytes(self) -> int:
        """Body bytes received and not yet handed to the consumer (0 once released)."""
        connection = self._connection
        return 0 if connection is None else connection.buffered_bytes

    def take_complete_body(self, limit: int) -> bytes | None:
        """The whole body if it has already arrived and is at most ``limit`` bytes; the
        connection is then back in the pool and ``release`` is free. ``None`` (and nothing
        taken) while some of it is still to come, or when it is larger.

        A small object usually arrives in the same segment as the head: its answer needs
        neither a wait nor the connection any more.
        """
        connection = self._connection
        if connection is None or not connection.body_done or connection.buffered_bytes > limit:
            return None
        chunks = connection.take_body()
        self._connection = None
        self._pool.release(connection)
        if len(chunks) == 1:
            return chunks[0]
        return b"".join(chunks)

    def iter_chunks(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            raise TransportError("the response body was released before it was read")
        while True:
            chunk = connection.next_chunk()
            if chunk is not None:
                if connection.body_consumed:
                    # The last chunk: the connection can carry another exchange while this
                    # one is still being sent on (a small body is often one chunk).
                    self._connection = None
                    self._pool.release(connection)
                    yield chunk
                    return
                yield chunk
                if self._connection is not connection:
                    # Released while the consumer held a chunk: the connection may
                    # already carry someone else's exchange.
                    raise TransportError("the response body was released while being read")
                continue
            if connection.body_consumed:
                break
            await connection.wait_for_body()
        self._connection = None
        self._pool.release(connection)

    async def read(self, limit: int) -> bytes:
        """The whole body; :class:`TransportError` if it is larger than ``limit`` bytes."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self._chunks():
            size += len(chunk)
            if size > limit:
                raise TransportError(f"backend body larger than {limit} bytes")
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def release(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._connection = None
        if connection.body_consumed:
            self._pool.release(connection)
        else:
            # Reading the rest just to keep the connection could mean a whole object.
            self._pool.drop(connection)
