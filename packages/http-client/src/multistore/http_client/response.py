"""A backend response: its head, and its body streamed off the connection as it arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator

from multidict import CIMultiDictProxy

from multistore.core.http import TransportError
from multistore.http_client.connection import BackendConnection
from multistore.http_client.pool import OriginPool


class ClientResponse:
    """Core's ``TransportResponse``; ``release`` must be awaited once the body is done with.

    The connection goes back to the pool as soon as the body has been read to its end (so
    a later ``release`` is free); a body left unread closes the connection instead.
    """

    __slots__ = ("_connection", "_pool", "headers", "status")

    def __init__(self, connection: BackendConnection, pool: OriginPool) -> None:
        self._connection: BackendConnection | None = connection
        self._pool = pool
        self.status = connection.status
        self.headers = CIMultiDictProxy(connection.headers)

    @property
    def buffered_bytes(self) -> int:
        """Body bytes received and not yet handed to the consumer (0 once released)."""
        connection = self._connection
        return 0 if connection is None else connection.buffered_bytes

    def iter_chunks(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            raise TransportError("the response body was released before it was read")
        while True:
            chunk = connection.next_chunk()
            if chunk is not None:
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
