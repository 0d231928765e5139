"""The backend HTTP client: core's ``HttpTransport`` over pooled keep-alive connections."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Mapping

from multistore.core.http import OutboundBody, TransportError
from multistore.http_client.origin import parse_origin, split_url
from multistore.http_client.pool import OriginPool
from multistore.http_client.request_head import build_request_head
from multistore.http_client.response import ClientResponse
from multistore.http_client.settings import ClientSettings

ExchangeObserver = Callable[[str, float, str | None], None]
"""Told of every exchange: origin, seconds to the response head, failure kind or None."""


class HttpClient:
    """Sends each request as given (URL verbatim, headers untouched) and streams the answer.

    One pool of keep-alive connections per origin. ``https`` origins are verified with
    ``ssl_context``, by default :func:`ssl.create_default_context` (the system's CAs, or
    ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set). Bodies are never decompressed.
    """

    def __init__(
        self,
        *,
        settings: ClientSettings | None = None,
        ssl_context: ssl.SSLContext | None = None,
        observer: ExchangeObserver | None = None,
    ) -> None:
        self._observer = observer
        self._settings = settings if settings is not None else ClientSettings()
        self._ssl_context = ssl_context
        self._pools: dict[str, OriginPool] = {}
        self._closed = False

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: OutboundBody = None,
    ) -> ClientResponse:
        # One coroutine from here to the response head: on a small GET each extra layer
        # costs as much as some of the work it would wrap.
        origin_text, target = split_url(url)
        observer = self._observer
        started = time.perf_counter() if observer is not None else 0.0
        try:
            pool = self._pools.get(origin_text)
            if pool is None:
                pool = self._new_pool(origin_text)
            request = build_request_head(method, target, pool.origin.authority, headers, body)
            head_only = method == "HEAD"
            connection = pool.take_idle()
            if connection is None:
                connection = await pool.acquire()
            try:
                await connection.exchange(request, body, head_only=head_only)
            except TransportError:
                pool.drop(connection)
                # A kept-alive connection the server closed while it sat idle fails on
                # reuse before any answer: nothing reached the server's application, and a
                # body in memory can go again. (A streamed body is half consumed: the
                # caller decides.)
                if not (
                    connection.reused
                    and connection.lost_before_response
                    and (body is None or isinstance(body, bytes))
                ):
                    raise
                connection = await pool.acquire(fresh=True)
                try:
                    await connection.exchange(request, body, head_only=head_only)
                except BaseException:
                    pool.drop(connection)
                    raise
            except BaseException:
                # Cancelled, or the body iterator failed: the request is half sent, the
                # connection unusable, and the caller's exception is the one to see.
                pool.drop(connection)
                raise
        except TransportError:
            if observer is not None:
                observer(origin_text, time.perf_counter() - started, "transport")
            raise
        response = ClientResponse(connection, pool)
        if observer is not None:
            observer(
                origin_text,
                time.perf_counter() - started,
                "status_5xx" if response.status >= 500 else None,
            )
        return response

    def _new_pool(self, origin_text: str) -> OriginPool:
        if self._closed:
            raise TransportError("the HTTP client is closed")
        origin = parse_origin(origin_text)
        context = None
        if origin.tls:
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            context = self._ssl_context
        pool = OriginPool(origin, self._settings, context)
        self._pools[origin_text] = pool
        return pool

    def pool_usage(self) -> list[tuple[str, int, int]]:
        """``(origin, connections open, of which idle)`` for every pool (for metrics)."""
        return [(name, pool.open_count, pool.idle_count) for name, pool in self._pools.items()]

    def pool_for(self, origin: str) -> OriginPool | None:
        """The pool of ``scheme://authority``, if a request went there (for monitoring)."""
        return self._pools.get(origin)

    async def close(self) -> None:
        """Close every connection; requests still waiting for one fail."""
        self._closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        # Let the transports' connection_lost callbacks run before the loop may close.
        await asyncio.sleep(0)
