"""The keep-alive connections to one origin: at most ``pool_size`` of them, handed out in turn.

A connection is either idle (in ``_idle``, newest at the right) or owned by one exchange.
Every open or opening connection holds one of ``pool_size`` slots; a request that finds
none free waits in line (first come, first served) for a connection someone releases or a
slot someone frees. Idle connections are closed after ``keepalive_timeout`` by one timer
per pool, not one per connection.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque

from multistore.core.http import TransportError
from multistore.http_client.connection import BackendConnection
from multistore.http_client.origin import Origin
from multistore.http_client.settings import ClientSettings


class OriginPool:
    def __init__(
        self,
        origin: Origin,
        settings: ClientSettings,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.origin = origin
        self._settings = settings
        self._ssl_context = ssl_context
        self._loop = asyncio.get_running_loop()
        self._description = str(origin)
        self._idle: deque[BackendConnection] = deque()
        # Slots in use: connections open or being opened, idle or not.
        self._slots = 0
        # ``None`` hands a waiter a free slot to connect with, a connection hands it that.
        self._waiters: deque[asyncio.Future[BackendConnection | None]] = deque()
        self._connections: set[BackendConnection] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    @property
    def open_count(self) -> int:
        return self._slots

    def take_idle(self) -> BackendConnection | None:
        """The most recently used idle connection, if any: :meth:`acquire` without a
        coroutine, for the common case of a warm pool."""
        idle = self._idle
        if not idle or self._closed:
            return None
        connection = idle.pop()
        connection.busy = True
        return connection

    async def acquire(self, *, fresh: bool = False) -> BackendConnection:
        """A connection for one exchange: an idle one (unless ``fresh``), a new one, or the
        next one released, in that order of preference."""
        if self._closed:
            raise TransportError("the HTTP client is closed")
        idle = self._idle
        if not fresh:
            if idle:
                # The most recently used connection is the least likely to have been closed
                # by the server in the meantime.
                connection = idle.pop()
                connection.busy = True
                return connection
        elif idle and self._slots >= self._settings.pool_size:
            # Make room for the new connection: the oldest idle one is the likeliest stale.
            self._drop_idle(idle[0])
        if self._slots < self._settings.pool_size:
            self._slots += 1
            return await self._connect()
        waiter: asyncio.Future[BackendConnection | None] = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            handed = await waiter
        except asyncio.CancelledError:
            if waiter.cancelled():
                # Still in line (or woken and cancelled at once): leave the line.
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            else:
                # Given a slot or a connection in the same step the request was cancelled.
                late: BackendConnection | None = waiter.result()
                if late is None:
                    self._free_slot()
                else:
                    self.release(late)
            raise
        if handed is not None:
            return handed
        return await self._connect()

    async def _connect(self) -> BackendConnection:
        """Open a connection in the slot the caller holds; the slot is freed on failure."""
        settings = self._settings
        origin = self.origin
        try:
            async with asyncio.timeout(settings.connect_timeout):
                _, connection = await self._loop.create_connection(
                    self._new_connection,
                    origin.host,
                    origin.port,
                    ssl=self._ssl_context,
                    server_hostname=origin.host if self._ssl_context is not None else None,
                    ssl_handshake_timeout=(
                        settings.connect_timeout if self._ssl_context is not None else None
                    ),
                )
        except TimeoutError as exc:
            self._free_slot()
            raise TransportError(
                f"connecting to {self._description} timed out after {settings.connect_timeout:g} s"
            ) from exc
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            self._free_slot()
            raise TransportError(f"cannot connect to {self._description}: {exc!r}") from exc
        except BaseException:
            self._free_slot()
            raise
        if self._closed:
            connection.abort()
            self._free_slot()
            raise TransportError("the HTTP client is closed")
        self._connections.add(connection)
        return connection

    def _new_connection(self) -> BackendConnection:
        connection = BackendConnection(self._loop, self._settings, self._description)
        connection.on_idle_lost = self._drop_idle
        return connection

    def release(self, connection: BackendConnection) -> None:
        """Take back a connection after an exchange; reused when it is fit for another."""
        if self._closed or not connection.reusable:
            self.drop(connection)
            return
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        connection.busy = False
        connection.idle_since = self._loop.time()
        self._idle.append(connection)
        if self._sweeper is None:
            self._sweeper = self._loop.call_at(
                connection.idle_since + self._settings.keepalive_timeout, self._sweep
            )

    def drop(self, connection: BackendConnection) -> None:
        """Close a connection that must not be reused and free its slot (idempotent)."""
        if connection.dropped:
            return
        connection.dropped = True
        self._connections.discard(connection)
        connection.abort()
        self._free_slot()

    def _drop_idle(self, connection: BackendConnection) -> None:
        if connection.dropped:
            return
        connection.dropped = True
        self._idle.remove(connection)
        self._connections.discard(connection)
        connection.close()
        self._free_slot()

    def _free_slot(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                # The slot passes to the first in line, who connects with it.
                waiter.set_result(None)
                return
        self._slots -= 1

    def _sweep(self) -> None:
        self._sweeper = None
        idle = self._idle
        expired_before = self._loop.time() - self._settings.keepalive_timeout
        while idle and idle[0].idle_since <= expired_before:
            self._drop_idle(idle[0])
        if idle:
            self._sweeper = self._loop.call_at(
                idle[0].idle_since + self._settings.keepalive_timeout, self._sweep
            )

    def close(self) -> None:
        """Close every connection, idle or busy, and fail everyone waiting for one."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        error = TransportError("the HTTP client is closed")
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        while self._idle:
            self._drop_idle(self._idle[0])
        for connection in list(self._connections):
            self.drop(connection)
