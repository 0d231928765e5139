"""One keep-alive HTTP/1.1 connection to a backend, as an :class:`asyncio.Protocol`.

It carries one exchange at a time: the request head (and body, with backpressure) goes out
through ``transport.write``; whatever arrives is fed to llhttp (``httptools``), whose
callbacks fill in the response head and queue body chunks for the consumer. Nothing here
knows about pools: :mod:`.pool` decides what happens to a connection between exchanges.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from multistore.core.http import OutboundBody, TransportError
from multistore.http_client.request_head import RequestHead
from multistore.http_client.settings import ClientSettings

_CHUNKED_END = b"0\r\n\r\n"
# Below this an in-memory body rides in the same write (and usually the same segment) as
# the head; above it the copy of joining them costs more than a second write.
_COALESCE_LIMIT = 64 << 10


class BackendConnection(asyncio.Protocol):
    """A connection and the state of the exchange it is carrying."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        settings: ClientSettings,
        description: str,
    ) -> None:
        self._loop = loop
        self._read_timeout = settings.read_timeout
        self._buffer_high = settings.read_buffer_high
        self._buffer_low = settings.read_buffer_low
        self.description = description
        self._transport: asyncio.Transport | None = None
        self._parser = HttpResponseParser(self)
        # After a HEAD response llhttp still expects the body its Content-Length announced;
        # the next exchange then starts with a fresh parser.
        self._parser_spent = False

        # Connection state.
        self._lost = False
        self._error: TransportError | None = None
        self._writing_paused = False
        self._reading_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._last_progress = 0.0
        # Set by the pool: called when the server closes the connection while it is idle.
        self.on_idle_lost: Callable[[BackendConnection], None] | None = None
        self.busy = True
        self.dropped = False
        self.exchanges = 0
        self.idle_since = 0.0

        # Exchange state.
        self._head_only = False
        self._request_close = False
        self._got_data = False
        self._interim = False
        self._head_done = False
        # Until a request is sent, any byte from the server is unsolicited.
        self._body_done = True
        self._keep_alive = False
        self._broke_framing = False
        self.status = 0
        # The response's header fields as they came, undecoded: most of them are only
        # looked at once, by whoever filters them, so nothing is built per field here.
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self._chunks: deque[bytes] = deque()
        self._buffered = 0

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._error is None:
            if not self._body_done and exc is None and self._head_done and self._close_delimited():
                # RFC 9112 §6.3: no Content-Length and not chunked: the body ends here.
                self._body_done = True
            if self._body_done:
                self._error = TransportError(f"{self.description} closed the connection")
            elif self._got_data:
                self._error = TransportError(
                    f"{self.description} closed the connection mid-response: {exc!r}"
                )
            else:
                self._error = TransportError(
                    f"{self.description} closed the connection before answering: {exc!r}"
                )
        if not self.busy and self.on_idle_lost is not None:
            self.on_idle_lost(self)
        self._wake()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._last_progress = self._loop.time()
        self._wake()

    def data_received(self, data: bytes) -> None:
        if self._body_done or self._error is not None:
            # Bytes after the response (or before any request): nobody asked for them, and
            # the connection's framing can no longer be trusted.
            self._fail(TransportError(f"{self.description} sent data outside a response"))
            return
        self._got_data = True
        self._last_progress = self._loop.time()
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade:
            self._fail(TransportError(f"{self.description} tried to switch protocols"))
        except HttpParserError as exc:
            self._fail(TransportError(f"malformed response from {self.description}: {exc}"))

    def eof_received(self) -> bool | None:
        # Returning a false value closes the transport: a half-closed backend is done.
        return None

    # --- llhttp callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._body_done:
            # A second response to one request: the connection is spent, and the headers
            # already handed out stay those of the first.
            self._broke_framing = True
            return
        # A new list: the previous response's (held by its ClientResponse) stays as it was.
        self.raw_headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._head_done:  # after the head: trailers, not part of the headers
            self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._head_done:
            return
        status = self._parser.get_status_code()
        if status < 200:
            # 1xx interim responses (100 Continue, 103 Early Hints) carry nothing for us.
            self._interim = True
            return
        self.status = status
        self._head_done = True
        if self._head_only:
            # A HEAD response ends with its head whatever it announces (RFC 9110 §9.3.2).
            self._body_done = True
            self._keep_alive = self._parser.should_keep_alive()
            self._parser_spent = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._body_done or self._interim:
            self._broke_framing = True
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > self._buffer_high and not self._reading_paused and not self._lost:
            self._reading_paused = True
            assert self._transport is not None
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self._body_done:
            return
        self._body_done = True
        self._keep_alive = self._parser.should_keep_alive()
        self._wake()

    # --- the exchange ----------------------------------------------------------------------

    @property
    def reused(self) -> bool:
        return self.exchanges > 1

    @property
    def lost_before_response(self) -> bool:
        """The server closed the connection before a single byte of the response came."""
        return self._lost and not self._got_data

    @property
    def reusable(self) -> bool:
        """Fit for another exchange: the last one ended cleanly and both sides keep it."""
        return (
            not self._lost
            and self._error is None
            and self._body_done
            and self._keep_alive
            and not self._request_close
            and not self._broke_framing
            and not self._chunks
        )

    @property
    def body_consumed(self) -> bool:
        return self._body_done and not self._chunks

    @property
    def buffered_bytes(self) -> int:
        return self._buffered

    async def exchange(self, request: RequestHead, body: OutboundBody, *, head_only: bool) -> None:
        """Send one request and return once the final response head has arrived.

        Raises :class:`TransportError` when the backend fails, and whatever a streamed
        ``body`` raises, unchanged: that is the caller's error to report (a bad digest, a
        short upload), not a backend failure.
        """
        self._start(head_only=head_only, close=request.close)
        transport = self._transport
        assert transport is not None
        head = request.head
        if body is None:
            transport.write(head)
        elif isinstance(body, bytes):
            if len(body) <= _COALESCE_LIMIT:
                transport.write(head + body)
            else:
                transport.write(head)
                transport.write(body)
        else:
            transport.write(head)
            await self._send_stream(
                body, transport, content_length=request.content_length, chunked=request.chunked
            )
        while not self._head_done:
            if self._error is not None:
                raise self._error
            # ``_wait`` inlined: every exchange waits here once, and a coroutine per
            # request is a measurable part of a small GET.
            try:
                await self._new_waiter()
            finally:
                self._waiter = None

    def _start(self, *, head_only: bool, close: bool) -> None:
        if self._parser_spent:
            self._parser = HttpResponseParser(self)
            self._parser_spent = False
        self.exchanges += 1
        self._got_data = False
        if self._error is not None:
            # Closed by the server between exchanges, before the pool noticed.
            raise self._error
        self._head_only = head_only
        self._request_close = close
        self._interim = False
        self._head_done = False
        self._body_done = False
        self._keep_alive = False
        self.status = 0
        self._last_progress = self._loop.time()

    async def _send_stream(
        self,
        body: AsyncIterator[bytes],
        transport: asyncio.Transport,
        *,
        content_length: int | None,
        chunked: bool,
    ) -> None:
        sent = 0
        async for chunk in body:
            if self._lost or self._body_done or self._error is not None:
                # The backend closed the connection, failed, or already answered in full
                # (a 4xx before reading the upload): what is left of the body has nowhere
                # to go. Whatever response there is decides the outcome.
                self._broke_framing = True
                await _close_iterator(body)
                return
            if not chunk:
                continue  # an empty chunk would end a chunked body early
            sent += len(chunk)
            if chunked:
                transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            else:
                if content_length is not None and sent > content_length:
                    raise TransportError(
                        f"upload body longer than its content-length {content_length}"
                    )
                transport.write(chunk)
            while self._writing_paused and not self._lost and not self._body_done:
                await self._wait()
        if chunked:
            if not self._lost:
                transport.write(_CHUNKED_END)
        elif content_length is not None and sent != content_length and not self._lost:
            raise TransportError(
                f"upload body of {sent} bytes, its content-length said {content_length}"
            )

    def take_body(self) -> list[bytes]:
        """Every buffered chunk, once the body has ended (the connection is then reusable)."""
        assert self._body_done
        chunks = list(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        if self._reading_paused:
            self._reading_paused = False
            if not self._lost:
                assert self._transport is not None
                self._transport.resume_reading()
        return chunks

    @property
    def body_done(self) -> bool:
        """The whole body has arrived (some of it may still be buffered)."""
        return self._body_done

    def next_chunk(self) -> bytes | None:
        """The oldest buffered body chunk, or ``None`` when none is waiting."""
        if not self._chunks:
            return None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._reading_paused and self._buffered <= self._buffer_low:
            self._reading_paused = False
            if not self._lost:
                assert self._transport is not None
                # The backend was silent because we stopped reading: that is not its delay.
                self._last_progress = self._loop.time()
                self._transport.resume_reading()
        return chunk

    async def wait_for_body(self) -> None:
        """Wait until more of the body has arrived, it ended, or the connection failed."""
        if self._error is None:
            await self._wait()
        if self._error is not None and not self._chunks and not self._body_done:
            raise self._error

    # --- plumbing --------------------------------------------------------------------------

    async def _wait(self) -> None:
        try:
            await self._new_waiter()
        finally:
            self._waiter = None

    def _new_waiter(self) -> asyncio.Future[None]:
        """The future the next event wakes, with the silence watchdog armed."""
        waiter = self._waiter = self._loop.create_future()
        if self._watchdog is None and not self._lost:
            self._watchdog = self._loop.call_at(
                self._last_progress + self._read_timeout, self._check_progress
            )
        return waiter

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _check_progress(self) -> None:
        # One timer per busy connection, re-armed only when it fires, instead of a timer
        # per read: the deadline moves with every byte without touching the timer heap.
        self._watchdog = None
        waiter = self._waiter
        if waiter is None or waiter.done() or self._lost:
            return
        deadline = self._last_progress + self._read_timeout
        if self._loop.time() >= deadline:
            self._fail(
                TransportError(f"{self.description} sent nothing for {self._read_timeout:g} s")
            )
        else:
            self._watchdog = self._loop.call_at(deadline, self._check_progress)

    def _fail(self, error: TransportError) -> None:
        if self._error is None:
            self._error = error
        self.abort()
        self._wake()

    def _close_delimited(self) -> bool:
        for name, value in self.raw_headers:
            lowered = name.lower()
            if lowered == b"content-length":
                return False
            if lowered == b"transfer-encoding" and b"chunked" in value.lower():
                return False
        return True

    def close(self) -> None:
        """End a connection in a clean state (idle, expired)."""
        if self._transport is not None and not self._lost:
            self._transport.close()

    def abort(self) -> None:
        """End a connection in the middle of something: no graceful shutdown, no flush."""
        if self._transport is not None and not self._lost:
            self._transport.abort()


async def _close_iterator(body: AsyncIterator[bytes]) -> None:
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()
