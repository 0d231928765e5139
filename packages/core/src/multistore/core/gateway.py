"""The gateway pipeline: route → parse → authenticate → authorize → middleware → dispatch.

``ProxyGateway.handle_request`` is the whole product in one call. Runtimes translate HTTP in
and out and nothing else, so the server and Lambda runtimes cannot drift apart.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from random import getrandbits

from multidict import CIMultiDict

from multistore.core.auth.authorize import may_know_bucket
from multistore.core.auth.identity import Authentication, Identity, IdentityResolver
from multistore.core.backends.pool import BackendPool
from multistore.core.config import BucketConfig
from multistore.core.cors import CorsPolicy, is_preflight
from multistore.core.errors import (
    AccessDenied,
    InternalError,
    NoSuchBucket,
    S3Error,
    render_error_xml,
)
from multistore.core.http import GatewayResponse, RequestBody, RequestInfo, Response
from multistore.core.mapping import RequestMapper
from multistore.core.middleware import (
    CompletedRequest,
    DispatchContext,
    FlushableMiddleware,
    Middleware,
    build_chain,
)
from multistore.core.registry import BucketRegistry, CredentialRegistry, TemporaryCredentialResolver
from multistore.core.router import Router
from multistore.core.s3.handlers import S3Dispatcher
from multistore.core.s3.operations import Op, S3Request, parse_s3_request, split_bucket_and_key

logger = logging.getLogger("multistore.core.gateway")


def new_request_id() -> str:
    # 16 upper-case hex characters, the shape S3 uses. Request ids correlate logs; they are
    # not secrets, so the non-cryptographic generator (no syscall) is the right tool.
    return f"{getrandbits(64):016X}"


@dataclass(slots=True)
class Handled:
    """A response plus what the access log and metering need to know about it.

    ``operation`` and ``identity`` are filled in as soon as they are known, so a request
    refused half-way (bad signature, access denied) is still logged with what it asked for.
    """

    response: GatewayResponse | None = None
    request_id: str = ""
    context: DispatchContext | None = None
    error: S3Error | None = None
    operation: S3Request | None = None
    identity: Identity | None = None


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    virtual_host_domain: str | None = None
    max_object_size: int | None = None
    debug_errors: bool = False
    cors_origins: tuple[str, ...] = ()
    """Origins allowed for buckets with no ``cors_origins`` of their own; ``()`` = CORS off."""


class ProxyGateway:
    """Runs every request through the pipeline; built once per process."""

    def __init__(
        self,
        *,
        buckets: BucketRegistry,
        credentials: CredentialRegistry,
        backends: BackendPool,
        router: Router | None = None,
        middlewares: Sequence[Middleware] = (),
        temporary_credentials: TemporaryCredentialResolver | None = None,
        options: GatewayOptions = GatewayOptions(),
        mapper: RequestMapper | None = None,
    ) -> None:
        self.buckets = buckets
        self._mapper = mapper
        self.router = router or Router()
        self.options = options
        self._middlewares = tuple(middlewares)
        self._flushable = tuple(m for m in self._middlewares if isinstance(m, FlushableMiddleware))
        self._identities = IdentityResolver(
            credentials, temporary_credentials=temporary_credentials
        )
        self._dispatcher = S3Dispatcher(
            buckets=buckets, backends=backends, max_object_size=options.max_object_size
        )
        self._chain = build_chain(self._middlewares, self._dispatch)
        self._cors = CorsPolicy(options.cors_origins)

    async def handle_request(self, request: RequestInfo, body: RequestBody) -> GatewayResponse:
        handled = await self.handle(request, body)
        assert handled.response is not None
        return handled.response

    async def handle(
        self, request: RequestInfo, body: RequestBody, *, progress: Handled | None = None
    ) -> Handled:
        """Run the pipeline; the result always carries a response.

        ``progress`` is filled in as the request advances, so a runtime whose request is
        cancelled half-way (the client went away) can still log what it was.
        """
        request.request_id = request.request_id or new_request_id()
        handled = progress if progress is not None else Handled()
        handled.request_id = request.request_id
        # The only CORS cost of a request without Origin is this one lookup.
        origin = request.headers.get("Origin")
        if origin is not None and is_preflight(request):
            return await self._answer_preflight(request, handled)
        try:
            # Matched here rather than through ``Router.dispatch``: most requests are S3
            # requests, and this spares each of them a coroutine.
            route = self.router.match(request.path)
            routed = None if route is None else await self.router.answer(route, request)
            if routed is not None:
                routed.headers.setdefault("x-amz-request-id", request.request_id)
                handled.response = routed
            else:
                handled.context = context = await self.authorize(request, progress=handled)
                context.body = body
                response = await self._chain(context)
                response.headers["x-amz-request-id"] = request.request_id
                handled.response = response
        except S3Error as error:
            handled.error = error
            handled.response = self.error_response(error, request)
        except Exception as exc:
            logger.exception("request %s failed: %s", request.request_id, exc)
            handled.error = InternalError(str(exc))
            handled.response = self.error_response(handled.error, request)
        if origin is not None:
            await self._grant_origin(request, handled, origin)
        return handled

    async def _answer_preflight(self, request: RequestInfo, handled: Handled) -> Handled:
        # Browsers never sign a preflight, so it is answered before (and without) any
        # authentication, from the CORS configuration alone.
        try:
            response = self._cors.preflight(request, await self._cors_bucket(request))
            response.headers["x-amz-request-id"] = request.request_id
            handled.response = response
        except S3Error as error:
            handled.error = error
            handled.response = self.error_response(error, request)
        except Exception as exc:
            logger.exception("preflight %s failed: %s", request.request_id, exc)
            handled.error = InternalError(str(exc))
            handled.response = self.error_response(handled.error, request)
        return handled

    async def _grant_origin(self, request: RequestInfo, handled: Handled, origin: str) -> None:
        assert handled.response is not None
        try:
            context = handled.context
            if context is not None:
                # Authorized: the bucket is already resolved (None for ListBuckets).
                bucket = context.bucket_config
            else:
                # Refused before the bucket was resolved, or a routed request.
                bucket = await self._cors_bucket(request)
            self._cors.decorate(handled.response.headers, origin, bucket)
        except Exception:
            # The response itself is fine; without the grant the browser only sees less.
            logger.exception("request %s: could not apply CORS", request.request_id)

    async def _cors_bucket(self, request: RequestInfo) -> BucketConfig | None:
        """The configured bucket the request names, or ``None`` (unknown, none, bad path)."""
        try:
            routed = await self._route(request)
            name, _, _ = split_bucket_and_key(routed, self.options.virtual_host_domain)
        except S3Error:
            return None
        if not name:
            return None
        resolved = await self.buckets.get_bucket(name)
        return resolved.config if resolved is not None else None

    async def authorize(
        self, request: RequestInfo, *, progress: Handled | None = None
    ) -> DispatchContext:
        """Parse, authenticate and authorize without touching the body.

        No body byte is read before this has passed, which is what lets the runtime answer
        ``Expect: 100-continue`` only for authorized requests. ``progress`` records what is
        known at each step for the access log.
        """
        progress = progress or Handled()
        routed = request if self._mapper is None else await self._route(request)
        operation = parse_s3_request(routed, virtual_host_domain=self.options.virtual_host_domain)
        progress.operation = operation
        # Always the request as sent: that is what the client signed.
        auth = await self._identities.authenticate(
            request,
            virtual_hosted_bucket=operation.bucket if operation.virtual_hosted else None,
        )
        progress.identity = auth.identity
        context = DispatchContext(
            request=routed,
            request_id=request.request_id,
            identity=auth.identity,
            operation=operation,
        )
        context.extensions["authentication"] = auth
        if self._mapper is not None:
            context.handler = await self._mapper.handler_for(operation, self)
            if context.handler is not None:
                return context
        if operation.op is not Op.LIST_BUCKETS:
            await self._authorize_operation(context)
        return context

    async def dispatch_as(
        self, identity: Identity, request: RequestInfo, body: RequestBody
    ) -> GatewayResponse:
        """Run an internal request for an authenticated caller (a mapper's sub-request).

        The request is path-style, unsigned and unmapped; its bucket is authorized exactly
        like a client's, and it passes the middleware chain (backend credentials, quotas).
        """
        operation = parse_s3_request(request)
        context = DispatchContext(
            request=request, request_id=request.request_id, identity=identity, operation=operation
        )
        context.extensions["authentication"] = Authentication(identity)
        context.body = body
        if operation.op is not Op.LIST_BUCKETS:
            await self._authorize_operation(context)
        return await self._chain(context)

    async def _authorize_operation(self, context: DispatchContext) -> None:
        """Resolve the bucket of ``context`` and decide whether its caller may go ahead."""
        operation, identity = context.operation, context.identity
        resolved = await self.buckets.get_bucket(operation.bucket)
        if resolved is None:
            raise _missing_bucket(identity, operation.bucket)
        context.bucket_config = resolved.config
        context.list_rewrite = resolved.list_rewrite
        context.display_name = resolved.display_name
        if not self._dispatcher.is_allowed(identity, resolved.config, operation, context.request):
            logger.info(
                "access denied: %s may not %s on %s/%s",
                identity.display,
                operation.action.value,
                operation.bucket,
                operation.key,
            )
            raise AccessDenied()
        if operation.copy_source is not None:
            await self._dispatcher.authorize_copy_source(identity, operation)

    async def _route(self, request: RequestInfo) -> RequestInfo:
        """The request as the mapper (if any) presents it; virtual-hosted ones stay as sent."""
        if self._mapper is None:
            return request
        domain = self.options.virtual_host_domain
        if domain and request.header("host").split(":", 1)[0].endswith("." + domain):
            return request
        return await self._mapper.map_request(request)

    def _dispatch(self, context: DispatchContext) -> Awaitable[GatewayResponse]:
        # Hands back the handler's coroutine rather than awaiting it in one of its own: a
        # coroutine level less to create and to resume on every request.
        if context.handler is not None:
            return context.handler(context)
        return self._dispatcher.dispatch(context)

    def error_response(self, error: S3Error, request: RequestInfo) -> Response:
        level = error.level
        if logger.isEnabledFor(level):
            logger.log(level, "request %s: %s %s", request.request_id, error.code, error.message)
        body = render_error_xml(
            error,
            request_id=request.request_id,
            # Not ``request.path``: for a path that is not valid UTF-8 that raises again,
            # here, on the error path (issue #15).
            resource=request.resource,
            show_internal=self.options.debug_errors,
        )
        headers = CIMultiDict(
            {"Content-Type": "application/xml", "x-amz-request-id": request.request_id}
        )
        headers.update(error.headers())
        return Response(error.status, headers, body)

    @property
    def middlewares(self) -> tuple[Middleware, ...]:
        return self._middlewares

    @property
    def has_middlewares(self) -> bool:
        """Whether anyone listens to :meth:`complete` (runtimes skip building the record)."""
        return bool(self._middlewares)

    async def complete(self, completed: CompletedRequest) -> None:
        """Tell every middleware how the request ended (runtimes call this after streaming)."""
        for middleware in self._middlewares:
            try:
                await middleware.after_dispatch(completed)
            except Exception:
                logger.exception("after_dispatch of %r failed", middleware)

    async def flush(self) -> None:
        """Have every middleware write out what it holds back, now (``FlushableMiddleware``).

        For runtimes that cannot count on background tasks running after a request: Lambda
        freezes the process once the handler returns, and may retire it frozen. A
        middleware's failure is logged; the others still flush.
        """
        for middleware in self._flushable:
            try:
                await middleware.flush()
            except Exception:
                logger.exception("flush of %r failed", middleware)


def _missing_bucket(identity: Identity, name: str) -> S3Error:
    # Only a caller who could otherwise see the bucket learns that it does not exist.
    if may_know_bucket(identity, name):
        return NoSuchBucket(f"The specified bucket does not exist: {name}", resource=f"/{name}")
    return AccessDenied()


__all__ = [
    "Authentication",
    "GatewayOptions",
    "Handled",
    "ProxyGateway",
    "S3Request",
    "new_request_id",
]
