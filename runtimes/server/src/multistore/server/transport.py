"""The pooled aiohttp client that carries every backend request of a process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from multistore.core.http import OutboundBody, TransportError

# Backend responses are relayed as they arrive; these bound how long a silent backend can
# hold a request.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10, sock_read=120)


class AiohttpTransportResponse:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self._response.headers

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransportError(f"backend stream failed: {exc!r}") from exc

    async def read(self, limit: int) -> bytes:
        data = bytearray()
        async for chunk in self._response.content.iter_any():
            data += chunk
            if len(data) > limit:
                raise TransportError(f"backend body larger than {limit} bytes")
        return bytes(data)

    async def release(self) -> None:
        self._response.release()


class AiohttpTransport:
    """``HttpTransport`` over one shared :class:`aiohttp.ClientSession`."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    @classmethod
    def create_session(cls, *, pool_size: int = 256) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=pool_size, limit_per_host=pool_size, ttl_dns_cache=300, keepalive_timeout=30
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=DEFAULT_TIMEOUT,
            # Objects stored gzip-encoded must reach the client byte for byte.
            auto_decompress=False,
            # Signed requests carry exactly the headers that were signed.
            skip_auto_headers=("Accept-Encoding", "Accept", "Content-Type"),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: OutboundBody = None,
    ) -> AiohttpTransportResponse:
        relay = _BodyRelay(body) if body is not None and not isinstance(body, bytes) else None
        try:
            response = await self._session.request(
                method,
                # The URL is already encoded exactly as signed; yarl must not touch it.
                URL(url, encoded=True),
                headers=headers,
                data=relay.stream() if relay is not None else body,
                allow_redirects=False,
                compress=None,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            if relay is not None and relay.error is not None:
                # The upload failed because the client's body did (bad digest, short body):
                # that is the error to report, not the broken backend connection.
                raise relay.error from exc
            raise TransportError(f"{method} {url.split('?', 1)[0]}: {exc!r}") from exc
        if relay is not None and relay.error is not None:
            response.release()
            raise relay.error
        return AiohttpTransportResponse(response)


class _BodyRelay:
    """Streams an outbound body and remembers why it stopped, if it failed."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source
        self.error: Exception | None = None

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._source:
                yield chunk
        except Exception as exc:
            self.error = exc
            raise
