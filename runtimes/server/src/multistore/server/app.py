"""Assemble the gateway and the aiohttp application around it."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping

from aiohttp import web
from multidict import CIMultiDict

from multistore.core.backends.base import BackendServices
from multistore.core.backends.pool import BackendPool
from multistore.core.gateway import GatewayOptions, ProxyGateway
from multistore.core.http import HttpTransport, RequestInfo, Response
from multistore.core.plugins import ExtensionContext, backend_factories, install_router_extensions
from multistore.core.router import Router
from multistore.server.demo import demo_config
from multistore.server.handler import handle
from multistore.server.http_client import HttpClient
from multistore.server.settings import ServerSettings
from multistore.static_config import (
    CachedProvider,
    ReloadableProvider,
    StaticConfig,
    load_config,
    parse_config,
)

logger = logging.getLogger("multistore.server")

USER_AGENT = "multistore/0.1.0"
GATEWAY = web.AppKey("gateway", ProxyGateway)
SETTINGS = web.AppKey("settings", ServerSettings)
CONFIG = web.AppKey("config", ReloadableProvider)


def load_static_config(settings: ServerSettings) -> StaticConfig:
    if settings.config is None:
        return parse_config(demo_config(settings.data_dir))
    return load_config(settings.config)


async def _health(request: RequestInfo) -> Response | None:
    if request.method not in ("GET", "HEAD"):
        return None
    return Response(200, CIMultiDict({"Content-Type": "text/plain"}), b"ok\n")


def build_gateway(
    settings: ServerSettings,
    transport: HttpTransport,
    provider: ReloadableProvider,
    *,
    env: Mapping[str, str] | None = None,
    announce: bool = True,
) -> ProxyGateway:
    env = os.environ if env is None else env
    credentials = CachedProvider(provider)
    # A reload must not serve keys from the old file out of the cache.
    provider.on_reload.append(credentials.clear)
    router = Router()
    router.route("/.multistore/healthz", _health)
    router.route("/.multistore/readyz", _health)
    context = ExtensionContext(
        settings=dict(env), credentials=credentials, services={"transport": transport}
    )
    report = install_router_extensions(router, context)
    if announce:
        logger.info(
            "router extensions installed: %s; declined: %s",
            ", ".join(report.installed) or "none",
            ", ".join(report.declined) or "none",
        )
    backends = BackendPool(backend_factories(), BackendServices(transport, USER_AGENT))
    # A bucket whose backend is not installed or cannot be built (missing file root, bad
    # endpoint) is a startup error, not a 500 at its first request; reloads are held to the
    # same rule.
    provider.validators.append(lambda config: check_backends(config, backends))
    provider.validate_current()
    return ProxyGateway(
        buckets=provider,
        credentials=credentials,
        backends=backends,
        router=router,
        temporary_credentials=context.installed.get("temporary_credentials"),
        options=GatewayOptions(
            virtual_host_domain=settings.domain,
            max_object_size=settings.max_object_size,
            debug_errors=settings.debug_errors,
            cors_origins=settings.cors_origins,
        ),
    )


def check_backends(config: StaticConfig, backends: BackendPool) -> None:
    problems = []
    for bucket in config.buckets:
        if not backends.supports(bucket.backend_type):
            problems.append(
                f"bucket {bucket.name!r}: backend_type {bucket.backend_type!r} is not installed"
            )
            continue
        try:
            backends.build(bucket)
        except (ValueError, OSError) as exc:
            problems.append(str(exc))  # backends name the bucket in their messages
    if problems:
        raise ValueError("; ".join(problems))


async def _gateway_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # One pool of backend connections per worker process, shared by every bucket and STS.
    transport = HttpClient()
    provider = ReloadableProvider(lambda: load_static_config(settings))
    app[CONFIG] = provider
    app[GATEWAY] = build_gateway(settings, transport, provider)
    yield
    await transport.close()


async def _handler(request: web.Request) -> web.StreamResponse:
    return await handle(request, request.app[GATEWAY])


async def _defer_continue(request: web.Request) -> None:
    # ``100 Continue`` is sent by the body reader once the request is authorized.
    return None


def create_app(settings: ServerSettings) -> web.Application:
    # client_max_size applies only to request.read(); bodies are streamed, never read whole.
    app = web.Application(handler_args={"max_field_size": 16 << 10})
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_gateway_context)
    # [\s\S] rather than ".": a decoded path may contain a newline, which must reach the
    # gateway (and be refused as a bad key) instead of falling into aiohttp's 404.
    app.router.add_route("*", r"/{tail:[\s\S]*}", _handler, expect_handler=_defer_continue)
    return app


__all__ = ["CONFIG", "GATEWAY", "build_gateway", "create_app"]
