"""Middleware around the S3 dispatch: quotas, metering, backend credential injection.

A middleware runs after the caller is authenticated and authorized, and wraps the terminal
dispatch. It may short-circuit with its own response, change the :class:`DispatchContext`
(e.g. swap the bucket config to inject backend credentials) or observe the outcome in
:meth:`Middleware.after_dispatch`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from multistore.core.auth.identity import Identity
from multistore.core.config import BucketConfig
from multistore.core.http import EmptyBody, GatewayResponse, RequestBody, RequestInfo
from multistore.core.registry import ListRewrite
from multistore.core.s3.operations import S3Request


@dataclass(slots=True)
class DispatchContext:
    """Everything known about a request once it is authorized."""

    request: RequestInfo
    request_id: str
    identity: Identity
    operation: S3Request
    bucket_config: BucketConfig | None = None
    body: RequestBody = field(default_factory=EmptyBody)
    list_rewrite: ListRewrite | None = None
    display_name: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)
    handler: Next | None = None
    """Set when a :class:`~multistore.core.mapping.RequestMapper` answers the request itself."""

    @property
    def source_ip(self) -> str | None:
        return self.request.source_ip


@dataclass(slots=True)
class CompletedRequest:
    """What happened to a request, for metering and logging.

    Byte counts are what actually moved, counted as the bodies streamed; for a streamed
    response they are final only once the runtime has written the body, which is why the
    runtime reports completion, not the gateway.

    Read-only by convention, not ``frozen``: one is built per request, and a frozen
    dataclass takes about three times as long to build (each field goes through
    ``object.__setattr__``), a few µs of a small GET.
    """

    request_id: str
    identity: Identity | None
    operation: S3Request | None
    bucket: str | None
    status: int
    bytes_in: int
    bytes_out: int
    source_ip: str | None
    duration: float
    error_code: str | None = None


Next = Callable[[DispatchContext], Awaitable[GatewayResponse]]


class Middleware(Protocol):
    async def handle(self, ctx: DispatchContext, next: Next) -> GatewayResponse: ...

    async def after_dispatch(self, completed: CompletedRequest) -> None: ...


@runtime_checkable
class FlushableMiddleware(Protocol):
    """A middleware that holds work back (queued usage events, batched reports) and can
    write it out on request, through ``ProxyGateway.flush``.

    Its background tasks do that work on their own in a process that keeps running. A
    runtime whose process is frozen between requests (Lambda) asks for it after each one.
    """

    async def flush(self) -> None:
        """Write out what is queued now; return once it is written."""
        ...


class BaseMiddleware:
    """Convenience base with a no-op ``after_dispatch``."""

    async def handle(self, ctx: DispatchContext, next: Next) -> GatewayResponse:
        return await next(ctx)

    async def after_dispatch(self, completed: CompletedRequest) -> None:
        return None


def build_chain(middlewares: Sequence[Middleware], terminal: Next) -> Next:
    """Compose once at startup: registration order is execution order."""
    chain = terminal
    for middleware in reversed(middlewares):
        chain = _bind(middleware, chain)
    return chain


def _bind(middleware: Middleware, next: Next) -> Next:
    async def call(ctx: DispatchContext) -> GatewayResponse:
        return await middleware.handle(ctx, next)

    return call
