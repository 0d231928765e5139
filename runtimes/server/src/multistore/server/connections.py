"""What one client connection may cost a worker: time limits and a cap on their number.

aiohttp closes a connection only when it has been idle for ``keepalive_timeout`` after a
response. A client that trickles a request head (or sends half a request line and waits)
is not idle in that sense, and nothing caps how many connections a worker holds. This
module adds what a production server needs on top of aiohttp's protocol:

- a **header timeout**: the request head must be complete within ``header_timeout``
  seconds of the connection opening or of the first byte of a later request on it;
- the **keep-alive timeout**: aiohttp's own, here with a value an operator chooses;
- a **connection cap** per worker: beyond it, a new connection is answered with
  ``503 SlowDown`` and closed, which SDKs retry with backoff.

The body inactivity timeout lives with the body reader (``handler.ClientBody``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from multistore.server.metrics import RECORDER, Labels

logger = logging.getLogger("multistore.server")


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float = 30.0
    keepalive_timeout: float = 75.0
    body_timeout: float = 60.0
    max_connections: int = 1024


_REFUSAL_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Too many connections; please reduce your request rate.</Message></Error>"
)
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n"
    + f"Content-Length: {len(_REFUSAL_BODY)}\r\n\r\n".encode()
    + _REFUSAL_BODY
)


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection protocol with a header timeout and the connection cap."""

    def __init__(self, manager: GatewayServer, *, limits: ConnectionLimits, **kwargs: Any):
        super().__init__(manager, keepalive_timeout=limits.keepalive_timeout, **kwargs)
        self._header_timeout = limits.header_timeout
        # One timer per connection, re-armed only when it fires, rather than a timer per
        # request: a complete head just clears the deadline, which the timer then finds gone.
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_deadline: float | None = None
        self._refused = False
        self._gateway_server = manager
        self._counted = False
        self.peer_ip: str | None = None
        """The client's address, looked up once per connection instead of per request."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self._gateway_server
        if server.open_connections >= server.limits.max_connections:
            self._refused = True
            RECORDER.count("multistore_connections_dropped_total", ("over_limit",))
            logger.debug("connection refused: this worker holds its maximum of connections")
            # uvloop's transports do not subclass asyncio.Transport; they have its methods.
            writable = cast(asyncio.Transport, transport)
            writable.write(_REFUSAL)
            writable.close()
            return
        server.open_connections += 1
        self._counted = True
        peer = transport.get_extra_info("peername")
        self.peer_ip = peer[0] if peer else None
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._head_deadline = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._counted:
            # aiohttp's own list keeps a closed connection until its handler task ends.
            self._counted = False
            self._gateway_server.open_connections -= 1
        if self._refused:
            return  # never reached aiohttp: there is nothing of it to tear down
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._head_deadline is None and not self._request_in_progress and not self._messages:
            # The first byte of the next request on a kept-alive connection.
            self._start_head_timer()
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:
            self._head_deadline = None  # the head is complete

    def _start_head_timer(self) -> None:
        if self._header_timeout > 0:
            deadline = self._head_deadline = self._loop.time() + self._header_timeout
            if self._head_timer is None:
                self._head_timer = self._loop.call_at(deadline, self._check_head)

    def _check_head(self) -> None:
        self._head_timer = None
        deadline = self._head_deadline
        if deadline is None:
            return  # no head pending: the next request's first byte arms the timer again
        if self._loop.time() < deadline:
            # A later request's head: its deadline is still ahead.
            self._head_timer = self._loop.call_at(deadline, self._check_head)
            return
        self._head_deadline = None
        if self._request_in_progress or self._messages:
            return
        RECORDER.count("multistore_connections_dropped_total", ("header_timeout",))
        peer = self.transport.get_extra_info("peername") if self.transport else None
        # DEBUG: under a slow-loris attack this fires for every connection.
        logger.debug("closing connection from %s: no complete request head in time", peer)
        self.force_close()


class GatewayServer(web.Server):
    """``web.Server`` whose connections are :class:`GuardedRequestHandler`."""

    def __init__(self, *args: Any, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.open_connections = 0
        RECORDER.gauge_sources.append(self._gauges)

    def _gauges(self) -> list[tuple[str, Labels, float]]:
        return [("multistore_client_connections", (), self.open_connections)]

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, limits=self.limits, **self._kwargs)
