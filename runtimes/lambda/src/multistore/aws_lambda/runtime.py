"""One execution environment: the gateway, its event loop and its backend connections.

Lambda runs one invocation at a time per container and keeps the process warm between
them. Everything expensive is built on the first invocation and kept: the config, the
gateway with its extensions and backends, one event loop (``asyncio.run`` per invocation
would close it and orphan every pooled connection), and the pooled backend client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from multidict import CIMultiDict

from multistore.aws_lambda import events, limits
from multistore.aws_lambda.events import LambdaRequest, Shape
from multistore.core.access import AccessLineWriter, AccessRecord
from multistore.core.errors import S3Error
from multistore.core.gateway import Handled, ProxyGateway
from multistore.core.http import BytesBody, RequestInfo, Response, StreamingResponse
from multistore.core.router import Router
from multistore.http_client import HttpClient

logger = logging.getLogger("multistore.aws_lambda")

FORM_BODY_LIMIT = 64 << 10
_NO_BODY_STATUSES = frozenset({204, 304})


async def healthz(request: RequestInfo) -> Response:
    """``/.multistore/healthz``: for ALB health checks; answers once the gateway is built."""
    return Response(200, CIMultiDict({"Content-Type": "text/plain"}), b"ok\n")


class Container:
    """The gateway of this execution environment, built on first use."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env
        self.loop = asyncio.new_event_loop()
        self._gateway: ProxyGateway | None = None
        self.client: HttpClient | None = None
        self.access: AccessLineWriter | None = None

    def gateway(self) -> ProxyGateway:
        if self._gateway is None:
            self._gateway = self.loop.run_until_complete(self._build())
        return self._gateway

    async def _build(self) -> ProxyGateway:
        # Imported here: a container that never gets an event pays nothing for them.
        from multistore.aws_lambda.settings import LambdaSettings
        from multistore.static_config import ReloadableProvider, load_config
        from multistore.static_config.assembly import assemble_gateway

        settings = LambdaSettings.from_env(self._env)
        provider = ReloadableProvider(lambda: load_config(settings.config))
        config = provider.current.config
        if settings.access_log_level(config) in ("DEBUG", "INFO"):
            self.access = AccessLineWriter(json_lines=settings.log_format == "json")
        # Created inside the loop it serves: its connections belong to that loop.
        self.client = HttpClient()
        router = Router()
        router.route("/.multistore/healthz", healthz)
        return assemble_gateway(
            provider,
            self.client,
            router=router,
            options=settings.options(config),
            env=self._env,
            force_path_mapping=settings.path_mapping,
            log=logger,
        )

    def invoke(self, event: Mapping[str, Any]) -> dict[str, Any]:
        request = events.parse(event)
        gateway = self.gateway()
        return self.loop.run_until_complete(serve(gateway, request, self.access))

    def close(self) -> None:
        """What the server does when a worker stops: middlewares (metering writes its
        queued usage events) first, then the backend connections, then the loop."""
        if self._gateway is not None:
            self.loop.run_until_complete(_close_middlewares(self._gateway))
        if self.client is not None:
            self.loop.run_until_complete(self.client.close())
        self.loop.close()


async def _close_middlewares(gateway: ProxyGateway) -> None:
    for middleware in gateway.middlewares:
        close = getattr(middleware, "close", None)
        if close is not None:
            try:
                await close()
            except Exception:
                logger.exception("closing middleware %r failed", middleware)


async def serve(
    gateway: ProxyGateway, request: LambdaRequest, access: AccessLineWriter | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    info = RequestInfo(
        method=request.method,
        raw_path=request.raw_path,
        raw_query=request.raw_query,
        headers=request.headers,
        source_ip=request.source_ip,
    )
    handled = Handled()
    answer, own_error = await _answer_for(gateway, request, info, handled)
    if access is None and not gateway.has_middlewares:
        return answer
    error = own_error or handled.error
    record = AccessRecord.of(
        info, handled, answer["statusCode"], error.code if error else None, len(request.body),
        body_size(answer), time.perf_counter() - started,
    )  # fmt: skip
    if access is not None:
        access.write(record)
    if gateway.has_middlewares:
        await gateway.complete(record.completed(handled))
        # Lambda freezes the environment once the handler returns and may retire it
        # frozen: what middlewares queued for their background tasks (usage events, quota
        # reports) is written now, while the environment is sure to run.
        await gateway.flush()
    return answer


async def _answer_for(
    gateway: ProxyGateway, request: LambdaRequest, info: RequestInfo, handled: Handled
) -> tuple[dict[str, Any], S3Error | None]:
    """The response dict, and the error this runtime answered with itself, if any."""
    body_limit = limits.body_limit(request.shape)
    if len(request.body) > body_limit:
        # Lambda itself refuses larger events; a smaller configured limit ends here too,
        # before authentication and before any backend write.
        error: S3Error = limits.UploadTooLarge(
            limits.too_large_upload(request.shape, len(request.body))
        )
        return _error(request, gateway, error, _with_id(info)), error
    if _is_form_post(request):
        info.form_body = request.body  # STS and other routes read form bodies
    await gateway.handle(info, BytesBody(request.body), progress=handled)
    result = handled.response
    assert result is not None
    head = request.method == "HEAD"
    if isinstance(result, Response):
        body = b"" if head or result.status in _NO_BODY_STATUSES else result.body
        answer = _answer(request, result, body, result.body if head else None)
    else:
        body_or_error = await _buffer_stream(request, result, body_limit, head=head)
        if isinstance(body_or_error, S3Error):
            return _error(request, gateway, body_or_error, info), body_or_error
        answer = _answer(request, result, body_or_error, content_length=result.content_length)
    if not limits.fits(request.shape, answer):
        error = limits.ResponseTooLarge(limits.too_large_response(request.shape, None))
        return _error(request, gateway, error, info), error
    return answer, None


def body_size(answer: Mapping[str, Any]) -> int:
    """The body's length in bytes, exactly, without decoding it again."""
    body = answer.get("body") or ""
    if not answer.get("isBase64Encoded"):
        return len(str(body).encode())
    padding = 2 if body.endswith("==") else 1 if body.endswith("=") else 0
    return len(body) // 4 * 3 - padding


def _error(
    request: LambdaRequest, gateway: ProxyGateway, error: S3Error, info: RequestInfo
) -> dict[str, Any]:
    response = gateway.error_response(error, info)
    head = request.method == "HEAD"
    return _answer(request, response, b"" if head else response.body, response.body)


def _with_id(info: RequestInfo) -> RequestInfo:
    from multistore.core.gateway import new_request_id

    info.request_id = info.request_id or new_request_id()
    return info


async def _buffer_stream(
    request: LambdaRequest, result: StreamingResponse, body_limit: int, *, head: bool
) -> bytes | S3Error:
    """Read a backend body into memory, giving up as soon as it cannot fit."""
    try:
        if head or result.status in _NO_BODY_STATUSES:
            return b""
        size = result.content_length
        if size is not None and size > body_limit:
            return limits.ResponseTooLarge(limits.too_large_response(request.shape, size))
        chunks: list[bytes] = []
        total = 0
        async for chunk in result.body:
            total += len(chunk)
            if total > body_limit:
                return limits.ResponseTooLarge(limits.too_large_response(request.shape, None))
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        await result.close()


def _answer(
    request: LambdaRequest,
    result: Response | StreamingResponse,
    body: bytes,
    head_body: bytes | None = None,
    *,
    content_length: int | None = None,
) -> dict[str, Any]:
    headers = CIMultiDict(result.headers)
    # Lambda's front ends frame the body they get; a HEAD answer must still tell the
    # object's length, as the server's does.
    if request.method == "HEAD":
        if content_length is None and head_body is not None:
            content_length = len(head_body)
        if content_length is not None:
            headers["Content-Length"] = str(content_length)
    elif result.status not in _NO_BODY_STATUSES:
        headers["Content-Length"] = str(len(body))
    return events.response(request, result.status, headers.items(), body)


def _is_form_post(request: LambdaRequest) -> bool:
    content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return (
        request.method == "POST"
        and content_type == "application/x-www-form-urlencoded"
        and len(request.body) <= FORM_BODY_LIMIT
    )


_CONTAINER: Container | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point: ``multistore.aws_lambda.handler``."""
    global _CONTAINER
    if _CONTAINER is None:
        _CONTAINER = Container()
    try:
        return _CONTAINER.invoke(event)
    except events.EventError as exc:
        return {"statusCode": 400, "headers": {"Content-Type": "text/plain"}, "body": str(exc)}


__all__ = ["Container", "Shape", "handler"]
