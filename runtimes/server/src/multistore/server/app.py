"""Assemble the gateway and the aiohttp application around it."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web, web_response

from multistore.core.backends.base import BackendServices
from multistore.core.backends.pool import BackendPool
from multistore.core.gateway import GatewayOptions, ProxyGateway
from multistore.core.http import HttpTransport
from multistore.core.mapping import AddressMapping
from multistore.core.plugins import (
    ExtensionContext,
    backend_factories,
    configured_request_mapper,
    install_backend_credentials,
    install_middleware,
    install_router_extensions,
)
from multistore.core.router import Router
from multistore.server.client_ip import TrustedProxies
from multistore.server.connections import ConnectionLimits, GatewayServer
from multistore.server.demo import demo_config
from multistore.server.drain import InFlight
from multistore.server.handler import handle
from multistore.server.health import healthz, readyz
from multistore.server.housekeeping import clean_periodically
from multistore.server.http_client import HttpClient
from multistore.server.metrics import RECORDER, Labels, SnapshotDirectory, publish_periodically
from multistore.server.metrics_exposition import MetricsEndpoint
from multistore.server.settings import ServerSettings, mute_config_warnings
from multistore.static_config import (
    CachedProvider,
    ReloadableProvider,
    StaticConfig,
    load_config,
    parse_config,
)

logger = logging.getLogger("multistore.server")

USER_AGENT = "multistore/0.1.0"
SERVER_HEADER = "multistore"
"""Our ``Server`` header: a product name without versions (S3 itself sends ``AmazonS3``)."""


def load_static_config(settings: ServerSettings) -> StaticConfig:
    if settings.config is None:
        return parse_config(demo_config(settings.data_dir))
    return load_config(settings.config)


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
    router.route("/.multistore/healthz", healthz)
    router.route("/.multistore/readyz", readyz)
    shared = SnapshotDirectory(settings.shared_dir) if settings.shared_dir else None
    router.route("/.multistore/metrics", MetricsEndpoint(shared))
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
    credential_sources, sources_report = install_backend_credentials(context)
    if announce and (sources_report.installed or sources_report.declined):
        logger.info(
            "backend credential sources installed: %s; declined: %s",
            ", ".join(sources_report.installed) or "none",
            ", ".join(sources_report.declined) or "none",
        )
    services = BackendServices(transport, USER_AGENT, credential_sources)
    backends = BackendPool(backend_factories(), services)
    # A bucket whose backend is not installed or cannot be built (missing file root, bad
    # endpoint) is a startup error, not a 500 at its first request; reloads are held to the
    # same rule.
    provider.validators.append(lambda config: check_backends(config, backends))
    provider.validate_current()
    mapping = path_mapping(settings, provider, announce=announce)
    # Like path mapping, middleware reads its table once at startup.
    middlewares, middleware_report = install_middleware(
        provider.current.config.extra_sections, context
    )
    if announce and middleware_report.installed:
        logger.info("middleware installed: %s", ", ".join(middleware_report.installed))
    return ProxyGateway(
        buckets=mapping.buckets if mapping is not None else provider,
        mapper=mapping,
        credentials=credentials,
        backends=backends,
        router=router,
        temporary_credentials=context.installed.get("temporary_credentials"),
        middlewares=middlewares,
        options=GatewayOptions(
            virtual_host_domain=settings.domain,
            max_object_size=settings.max_object_size,
            debug_errors=settings.debug_errors,
            cors_origins=settings.cors_origins,
        ),
    )


def path_mapping(
    settings: ServerSettings, provider: ReloadableProvider, *, announce: bool = True
) -> AddressMapping | None:
    """Path mapping, when ``--path-mapping`` or a ``[path_mapping]`` table turns it on.

    Its options are read once at startup; a reload changes buckets, not the mapping.
    """
    mapping = configured_request_mapper(
        "path_mapping",
        provider.current.config.extra_sections.get("path_mapping"),
        provider,
        forced=settings.path_mapping,
        distribution="multistore-path-mapping",
    )
    if mapping is None:
        return None
    if announce:
        logger.info("path mapping on: %r", mapping)
    return mapping


def new_backend_pool(transport: HttpTransport) -> BackendPool:
    """Backends without credential sources: enough for housekeeping on ``file`` buckets."""
    return BackendPool(backend_factories(), BackendServices(transport, USER_AGENT))


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


@dataclass(slots=True)
class Worker:
    """What one worker process serves with: the gateway, its config and its backend pool."""

    gateway: ProxyGateway
    config: ReloadableProvider
    client: HttpClient
    shared_metrics: SnapshotDirectory | None = None
    trusted_proxies: TrustedProxies | None = None
    """``[server] trusted_proxies``: whose ``X-Forwarded-For``/``Forwarded`` are believed."""
    background: list[asyncio.Task[None]] = field(default_factory=list)

    def reload(self) -> None:
        """Reload the config file (SIGHUP), counting the outcome for the metrics."""
        outcome = "success" if self.config.reload() else "rejected"
        RECORDER.count("multistore_config_reloads_total", (outcome,))

    async def close(self) -> None:
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        for middleware in self.gateway.middlewares:
            # Metering flushes its queued usage events and closes its Redis connections.
            close = getattr(middleware, "close", None)
            if close is not None:
                try:
                    await close()
                except Exception:
                    logger.exception("closing middleware %r failed", middleware)
        if self.shared_metrics is not None:
            # The last counts of this process outlive it (counters never go down).
            self.shared_metrics.publish(RECORDER.snapshot())
        await self.client.close()


def _pool_gauges(client: HttpClient) -> Callable[[], list[tuple[str, Labels, float]]]:
    def gauges() -> list[tuple[str, Labels, float]]:
        found: list[tuple[str, Labels, float]] = []
        for origin, open_count, idle in client.pool_usage():
            found.append(("multistore_backend_connections", (origin, "in_use"), open_count - idle))
            found.append(("multistore_backend_connections", (origin, "idle"), idle))
        return found

    return gauges


async def assemble(settings: ServerSettings, *, announce: bool = True) -> Worker:
    """Build everything a worker needs; raises ``ValueError`` for a config it cannot serve.

    ``announce``: log what was loaded and the config's warnings. With several workers only
    the first one does, so each line appears once.
    """
    if not announce:
        mute_config_warnings()
    # One pool of backend connections per worker process, shared by every bucket and STS.
    client = HttpClient(observer=RECORDER.observe_backend)
    try:
        provider = ReloadableProvider(lambda: load_static_config(settings))
        gateway = build_gateway(settings, client, provider, announce=announce)
    except BaseException:
        await client.close()
        raise
    RECORDER.gauge_sources.append(_pool_gauges(client))
    worker = Worker(gateway, provider, client)
    if settings.trusted_proxies:
        worker.trusted_proxies = TrustedProxies(settings.trusted_proxies)
    if settings.stale_upload_age > 0:
        # Its own file backends: they share the serving ones' on-disk locks (flock).
        cleanup = clean_periodically(
            provider,
            new_backend_pool(client),
            max_age=settings.stale_upload_age,
            shared_dir=settings.shared_dir,
        )
        worker.background.append(asyncio.create_task(cleanup))
    if settings.shared_dir is not None:
        worker.shared_metrics = SnapshotDirectory(settings.shared_dir)
        worker.background.append(asyncio.create_task(publish_periodically(worker.shared_metrics)))
    if announce:
        log_loaded(provider.current.config, settings)
    return worker


def log_loaded(config: StaticConfig, settings: ServerSettings) -> None:
    source = str(settings.config) if settings.config else "demo mode"
    logger.info(
        "loaded %d bucket(s), %d credential(s) and %d role(s) from %s",
        len(config.buckets),
        len(config.credentials),
        len(config.roles),
        source,
    )
    if not config.buckets:
        logger.warning("no buckets configured: every S3 request will be refused")
    elif not config.credentials and not config.roles:
        logger.warning("no credentials or roles configured: only anonymous access is possible")


def create_server(
    worker: Worker,
    limits: ConnectionLimits | None = None,
    *,
    in_flight: InFlight | None = None,
) -> web.Server:
    """aiohttp's low-level server around the gateway.

    No ``Application``: there is one handler, so a URL dispatcher and middleware plumbing
    would only add per-request work. The low-level server also sends no ``100 Continue`` on
    its own, which is exactly what the gateway needs: the body reader sends it once the
    request is authorized (``handler.ClientBody``).
    """
    gateway = worker.gateway
    # aiohttp fills in ``Server: Python/3.x aiohttp/3.y`` on every response it writes, its own
    # 400s for malformed requests included, and has no option for it: the default is this
    # module global, read as each response's headers are prepared. Versions help attackers,
    # not clients.
    web_response.SERVER_SOFTWARE = SERVER_HEADER  # type: ignore[attr-defined]
    limits = limits or ConnectionLimits()
    body_timeout = limits.body_timeout or None
    closing = (lambda: in_flight.draining) if in_flight is not None else None
    trusted = worker.trusted_proxies

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        return await handle(
            request, gateway, body_timeout=body_timeout, closing=closing, trusted_proxies=trusted
        )

    return GatewayServer(
        in_flight.wrap(handler) if in_flight is not None else handler,
        limits=limits,
        handler_cancellation=True,
        access_log=None,  # the gateway writes its own structured access line
        # Request bodies are object bytes: a PUT with ``Content-Encoding: gzip`` is stored
        # compressed, exactly as sent and as its signed x-amz-content-sha256 promises.
        auto_decompress=False,
        max_field_size=16 << 10,
    )


def connection_limits(settings: ServerSettings) -> ConnectionLimits:
    return ConnectionLimits(
        header_timeout=settings.header_timeout,
        keepalive_timeout=settings.keepalive_timeout,
        body_timeout=settings.body_timeout,
        max_connections=settings.max_connections,
    )


__all__ = ["Worker", "assemble", "build_gateway", "connection_limits", "create_server"]
