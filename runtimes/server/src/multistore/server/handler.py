"""Translate aiohttp requests into gateway calls and gateway responses back into HTTP."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from multistore.core.gateway import Handled, ProxyGateway
from multistore.core.http import BytesBody, RequestBody, RequestInfo, Response
from multistore.core.middleware import CompletedRequest
from multistore.server.access_log import AccessLog

logger = logging.getLogger("multistore.server")
access_log = AccessLog()

FORM_BODY_LIMIT = 64 << 10
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY_STATUSES = frozenset({204, 304})


class ClientBody:
    """The request body, answering ``Expect: 100-continue`` only when first read.

    The gateway reads no body before the caller is authenticated and authorized, so a
    client whose request is refused gets its 403 without having sent a single body byte.
    """

    def __init__(self, request: web.BaseRequest) -> None:
        self._request = request
        self._content = request.content
        self._continue_pending = request.headers.get("Expect", "").lower() == "100-continue"
        self.bytes_read = 0

    async def read(self, n: int = -1) -> bytes:
        if self._continue_pending:
            self._continue_pending = False
            await self._request.writer.write(_CONTINUE)
            # The interim response must not count towards the real response's size.
            self._request.writer.output_size = 0
        chunk = await self._content.read(n)
        self.bytes_read += len(chunk)
        return chunk

    @property
    def exhausted(self) -> bool:
        return not self._request.body_exists or self._content.is_eof()


def request_info(request: web.BaseRequest) -> RequestInfo:
    target = request.raw_path
    raw_path, _, raw_query = target.partition("?")
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return RequestInfo(
        method=request.method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=request.headers,
        source_ip=peer[0] if peer else None,
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


async def handle(request: web.BaseRequest, gateway: ProxyGateway) -> web.StreamResponse:
    started = time.perf_counter()
    info = request_info(request)
    client_body = ClientBody(request)
    body: RequestBody = client_body
    if _is_form_post(request):
        # Route handlers (STS) look at form bodies; the same bytes go on to the S3 pipeline
        # so a mislabeled S3 POST loses nothing.
        form = await client_body.read(FORM_BODY_LIMIT + 1)
        while len(form) <= FORM_BODY_LIMIT and not client_body.exhausted:
            more = await client_body.read(FORM_BODY_LIMIT + 1 - len(form))
            if not more:
                break
            form += more
        info.form_body = form
        body = BytesBody(form)
    handled = await gateway.handle(info, body)
    assert handled.response is not None
    bytes_out = 0
    status = handled.response.status
    try:
        response, bytes_out = await _write(request, handled)
    finally:
        elapsed = time.perf_counter() - started
        _log_access(info, handled, status, client_body.bytes_read, bytes_out, elapsed)
        if gateway.has_middlewares:
            await _complete(
                gateway, info, handled, status, client_body.bytes_read, bytes_out, elapsed
            )
    if not client_body.exhausted:
        # Unread body bytes (a refused upload) would be parsed as the next request.
        response.force_close()
    return response


async def _write(request: web.BaseRequest, handled: Handled) -> tuple[web.StreamResponse, int]:
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
        return out, 0 if no_body else len(result.body)
    stream = web.StreamResponse(status=result.status, headers=result.headers)
    if result.content_length is not None:
        stream.content_length = result.content_length
    sent = 0
    try:
        await stream.prepare(request)
        if not head and result.status not in _NO_BODY_STATUSES:
            async for chunk in result.body:
                await stream.write(chunk)
                sent += len(chunk)
        await stream.write_eof()
    except Exception:
        # Headers are already out: the only honest signal left is a broken connection.
        logger.warning(
            "request %s: stream to client aborted after %d bytes",
            handled.request_id,
            sent,
            exc_info=True,
        )
        stream.force_close()
        raise
    finally:
        await result.close()
    return stream, sent


def _log_access(
    info: RequestInfo, handled: Handled, status: int, bytes_in: int, bytes_out: int, elapsed: float
) -> None:
    if not access_log.enabled:
        return
    operation, identity = handled.operation, handled.identity
    op = operation.op.value if operation else ("route" if handled.error is None else "-")
    access_log.write(
        f"id={handled.request_id} ip={info.source_ip or '-'} "
        f"identity={identity.display if identity else '-'} op={op} "
        f"bucket={(operation.bucket or '-') if operation else '-'} method={info.method} "
        f"status={status} error={handled.error.code if handled.error else '-'} "
        f"in={bytes_in} out={bytes_out} ms={elapsed * 1000:.1f}"
    )


async def _complete(
    gateway: ProxyGateway,
    info: RequestInfo,
    handled: Handled,
    status: int,
    bytes_in: int,
    bytes_out: int,
    elapsed: float,
) -> None:
    operation = handled.operation
    await gateway.complete(
        CompletedRequest(
            request_id=handled.request_id,
            identity=handled.identity,
            operation=operation,
            bucket=(operation.bucket or None) if operation else None,
            status=status,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            source_ip=info.source_ip,
            duration=elapsed,
            error_code=handled.error.code if handled.error else None,
        )
    )
