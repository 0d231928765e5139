"""Translate aiohttp requests into gateway calls and gateway responses back into HTTP.

Every request ends in exactly one access record, however it ends: answered, refused, cut
off by the client (``error=ClientDisconnected``, status 499 when nothing was sent yet) or
by the backend (``error=BackendDisconnected``, the status already sent). The byte counts
are what actually moved. Only the gateway's own faults are logged with a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import web

from multistore.core.access import AccessRecord, bucket_name, operation_name
from multistore.core.errors import ClientDisconnected, RequestTimeout
from multistore.core.gateway import Handled, ProxyGateway
from multistore.core.http import (
    BytesBody,
    RequestBody,
    RequestInfo,
    Response,
    StreamingResponse,
    TransportError,
)
from multistore.server.access_log import AccessLog
from multistore.server.client_ip import TrustedProxies
from multistore.server.connections import GuardedRequestHandler
from multistore.server.drain import InFlight
from multistore.server.metrics import RECORDER

logger = logging.getLogger("multistore.server")
access_log = AccessLog()

FORM_BODY_LIMIT = 64 << 10
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY_STATUSES = frozenset({204, 304})
CLIENT_CLOSED_REQUEST = 499
"""nginx's status for a request the client abandoned before an answer was sent."""


class ClientBody:
    """The request body, answering ``Expect: 100-continue`` only when first read.

    The gateway reads no body before the caller is authenticated and authorized, so a
    client whose request is refused gets its 403 without having sent a single body byte.
    A client that stops sending for ``idle_timeout`` seconds gets ``RequestTimeout``; one
    that goes away surfaces as :class:`ClientDisconnected`, never as a gateway fault.
    """

    def __init__(self, request: web.BaseRequest, *, idle_timeout: float | None = None) -> None:
        self._request = request
        self._idle_timeout = idle_timeout
        self._first_read = True  # Expect is looked at then: most requests never read a body
        self.bytes_read = 0

    async def read(self, n: int = -1) -> bytes:
        request = self._request
        if not request.body_exists:
            return b""  # GET, HEAD, DELETE: no timer, no 100-continue
        try:
            if self._first_read:
                self._first_read = False
                if request.headers.get("Expect", "").lower() == "100-continue":
                    await request.writer.write(_CONTINUE)
                    # The interim response must not count towards the real response's size.
                    request.writer.output_size = 0
            if self._idle_timeout is None:
                chunk = await request.content.read(n)
            else:
                async with asyncio.timeout(self._idle_timeout):
                    chunk = await request.content.read(n)
        except TimeoutError:
            raise RequestTimeout(
                f"no request body data for {self._idle_timeout:g}s after {self.bytes_read} bytes"
            ) from None
        except (ConnectionError, web.RequestPayloadError) as exc:
            raise ClientDisconnected(
                f"client went away after {self.bytes_read} body bytes: {exc}"
            ) from None
        self.bytes_read += len(chunk)
        return chunk

    @property
    def exhausted(self) -> bool:
        return not self._request.body_exists or self._request.content.is_eof()


def request_info(
    request: web.BaseRequest, trusted_proxies: TrustedProxies | None = None
) -> RequestInfo:
    target = request.raw_path
    raw_path, _, raw_query = target.partition("?")
    protocol = request.protocol
    if isinstance(protocol, GuardedRequestHandler):
        source_ip = protocol.peer_ip
    else:  # another aiohttp server (tests)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        source_ip = peer[0] if peer else None
    if trusted_proxies is not None:
        source_ip = trusted_proxies.client_ip(source_ip, request.headers)
    return RequestInfo(
        method=request.method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=request.headers,
        source_ip=source_ip,
    )


def _is_form_post(request: web.BaseRequest) -> bool:
    if request.method != "POST":
        return False
    content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    length = request.headers.get("Content-Length", "")
    return (
        content_type == "application/x-www-form-urlencoded"
        and length.isdigit()
        and int(length) <= FORM_BODY_LIMIT
    )


class Outcome:
    """How far the answer got: what the access log and middleware are told."""

    __slots__ = ("bytes_out", "error", "headers_sent", "status")

    def __init__(self) -> None:
        self.status = CLIENT_CLOSED_REQUEST
        self.error: str | None = None
        self.headers_sent = False
        self.bytes_out = 0

    def client_gone(self) -> None:
        self.error = ClientDisconnected.code
        if not self.headers_sent:
            self.status = CLIENT_CLOSED_REQUEST


async def handle(
    request: web.BaseRequest,
    gateway: ProxyGateway,
    *,
    body_timeout: float | None = None,
    in_flight: InFlight | None = None,
    trusted_proxies: TrustedProxies | None = None,
) -> web.StreamResponse:
    """Serve one request; ``in_flight`` counts it for a drain, and says when the server
    drains (answers then carry ``Connection: close``)."""
    started = time.perf_counter()
    info = request_info(request, trusted_proxies)
    client_body = ClientBody(request, idle_timeout=body_timeout)
    outcome = Outcome()
    handled = Handled()
    RECORDER.in_flight += 1
    if in_flight is not None:
        in_flight.enter()
    try:
        body: RequestBody = client_body
        if _is_form_post(request):
            # Route handlers (STS) look at form bodies; the same bytes go on to the S3
            # pipeline so a mislabeled S3 POST loses nothing.
            form = await _read_form(client_body)
            info.form_body = form
            body = BytesBody(form)
        await gateway.handle(info, body, progress=handled)
        assert handled.response is not None
        outcome.status = handled.response.status
        outcome.error = handled.error.code if handled.error else None
        if isinstance(handled.error, ClientDisconnected):
            raise handled.error
        # The answer is sent inside _write, so whether the connection closes after it must
        # be known before its headers go: a drain, or unread body bytes (a refused upload),
        # which would otherwise be parsed as the next request. Clients must see
        # ``Connection: close`` or they reuse a connection the gateway is about to close.
        close = not client_body.exhausted or (in_flight is not None and in_flight.draining)
        response = await _write(request, handled, outcome, close=close)
        if isinstance(handled.error, RequestTimeout):
            # A stalled client gets no lingering read of the rest of its body either.
            _drop_connection(request)
        elif in_flight is not None and in_flight.draining:
            response.force_close()  # the drain began while this answer was being sent
        return response
    except ClientDisconnected:
        # Nobody is left to answer; the connection goes with the request.
        outcome.client_gone()
        _drop_connection(request)
        return web.StreamResponse(status=CLIENT_CLOSED_REQUEST)
    except asyncio.CancelledError:
        # aiohttp cancels the handler when the connection is lost (handler_cancellation).
        outcome.client_gone()
        raise
    finally:
        RECORDER.in_flight -= 1
        duration = time.perf_counter() - started
        RECORDER.observe_request(
            operation_name(handled) or "-", outcome.status, bucket_name(handled) or "",
            client_body.bytes_read, outcome.bytes_out, duration,
        )  # fmt: skip
        logged, metered = access_log.enabled, gateway.has_middlewares
        try:
            if logged or metered:
                record = AccessRecord.of(
                    info, handled, outcome.status, outcome.error, client_body.bytes_read,
                    outcome.bytes_out, duration,
                )  # fmt: skip
                if logged:
                    access_log.write(record)
                if metered:
                    await gateway.complete(record.completed(handled))
        finally:
            if in_flight is not None:
                in_flight.leave()  # after the middlewares heard of it: a drain waits for them


async def _read_form(client_body: ClientBody) -> bytes:
    form = await client_body.read(FORM_BODY_LIMIT + 1)
    while len(form) <= FORM_BODY_LIMIT and not client_body.exhausted:
        more = await client_body.read(FORM_BODY_LIMIT + 1 - len(form))
        if not more:
            break
        form += more
    return form


def _drop_connection(request: web.BaseRequest) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()


async def _write(
    request: web.BaseRequest, handled: Handled, outcome: Outcome, *, close: bool = False
) -> web.StreamResponse:
    """Send the answer; a connection that breaks on the way is recorded, not raised."""
    result = handled.response
    assert result is not None
    head = request.method == "HEAD"
    if isinstance(result, Response):
        no_body = head or result.status in _NO_BODY_STATUSES
        out = web.Response(
            status=result.status, headers=result.headers, body=None if no_body else result.body
        )
        if no_body and result.status not in _NO_BODY_STATUSES and result.body:
            out.headers["Content-Length"] = str(len(result.body))
        if close:
            out.force_close()
        try:
            # Sent here rather than by aiohttp after return, so the access record knows
            # whether the bytes left.
            await out.prepare(request)
            await out.write_eof()
        except ConnectionError:
            outcome.client_gone()
            return out
        outcome.headers_sent = True
        outcome.bytes_out = 0 if no_body else len(result.body)
        return out
    try:
        first: bytes | None = None  # stays None without a body
        if not head and result.status not in _NO_BODY_STATUSES:
            try:
                first = await anext(aiter(result.body))
            except StopAsyncIteration:
                first = None  # an empty body
            except Exception as exc:
                stream = await _start(request, result, outcome, close)
                if outcome.headers_sent:
                    _backend_broke(request, handled.request_id, outcome, exc)
                return stream
        # Started only now, with the first body bytes in hand: head and body leave in one
        # send, and a small object's whole answer is one segment.
        stream = await _start(request, result, outcome, close)
        if not outcome.headers_sent:
            return stream
        complete, finished = True, False
        if first is not None:
            complete, finished = await _stream_body(
                request, handled.request_id, first, result, stream, outcome
            )
        if complete and not finished:
            try:
                await stream.write_eof()
            except ConnectionError:
                outcome.client_gone()
    finally:
        await result.close()
    return stream


async def _start(
    request: web.BaseRequest, result: StreamingResponse, outcome: Outcome, close: bool
) -> web.StreamResponse:
    """Prepare the streamed answer; its head goes out with the first body write."""
    stream = web.StreamResponse(status=result.status, headers=result.headers)
    if result.content_length is not None:
        stream.content_length = result.content_length
    if close:
        stream.force_close()
    stream._send_headers_immediately = False
    try:
        await stream.prepare(request)
    except ConnectionError:
        outcome.client_gone()
        return stream
    outcome.headers_sent = True
    return stream


def _flush_head(request: web.BaseRequest) -> None:
    """Send a response head still waiting for body bytes (a no-op once they went with it)."""
    # A client gone by now is recorded by the body write that follows.
    with contextlib.suppress(ConnectionError):
        request.writer.send_headers()


BACKEND_DISCONNECTED = "BackendDisconnected"


async def _stream_body(
    request: web.BaseRequest,
    request_id: str,
    first: bytes,
    result: StreamingResponse,
    stream: web.StreamResponse,
    outcome: Outcome,
) -> tuple[bool, bool]:
    """Copy the body to the client, from its ``first`` chunk (already read) on: (``False``
    if either side broke off, whether the response is finished already).

    The chunk that completes the declared length goes out with ``write_eof``: a small
    object's head, body and end leave in one call instead of three.
    """
    chunks = aiter(result.body)
    declared = result.content_length
    finished = False
    chunk = first
    while True:
        try:
            if declared is not None and outcome.bytes_out + len(chunk) == declared:
                # The iterator is still drained (it hands the connection back to the pool).
                await stream.write_eof(chunk)
                finished = True
            else:
                await stream.write(chunk)
        except ConnectionError:
            outcome.client_gone()
            return False, finished
        outcome.bytes_out += len(chunk)
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            return True, finished
        except Exception as exc:
            _backend_broke(request, request_id, outcome, exc)
            return False, finished


def _backend_broke(
    request: web.BaseRequest, request_id: str, outcome: Outcome, exc: Exception
) -> None:
    """The body failed after the head was prepared: the only honest signal left is a broken
    connection. Closing (not finishing) the response makes the client see a short body."""
    if isinstance(exc, (TransportError, OSError)):
        logger.warning(
            "request %s: backend stream broke after %d bytes: %s",
            request_id,
            outcome.bytes_out,
            exc,
        )
        outcome.error = BACKEND_DISCONNECTED
    else:
        logger.error(
            "request %s: response stream failed after %d bytes",
            request_id,
            outcome.bytes_out,
            exc_info=exc,
        )
        outcome.error = "InternalError"
    _flush_head(request)  # the head was waiting for body bytes that will never come
    _drop_connection(request)
