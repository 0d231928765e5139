"""Assemble the gateway and the aiohttp application around it."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web, web_response

from multistore.core.gateway import GatewayOptions, ProxyGateway
from multistore.core.http import HttpTransport
from multistore.core.router import Router
from multistore.http_client import HttpClient
from multistore.server import heap
from multistore.server.client_ip import TrustedProxies
from multistore.server.connections import ConnectionLimits, GatewayServer
from multistore.server.demo import demo_config
from multistore.server.drain import InFlight
from multistore.server.handler import handle
from multistore.server.health import healthz, readyz
from multistore.server.housekeeping import clean_periodically
from multistore.server.metrics import (
    RECORDER,
    CounterSource,
    Labels,
    SnapshotDirectory,
    publish_periodically,
)
from multistore.server.metrics_exposition import MetricsEndpoint
from multistore.server.settings import ServerSettings, mute_config_warnings
from multistore.static_config import (
    ReloadableProvider,
    StaticConfig,
    load_config,
    parse_config,
)
from multistore.static_config.assembly import assemble_gateway, new_backend_pool

logger = logging.getLogger("multistore.server")

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
    router = Router()
    router.route("/.multistore/healthz", healthz)
    router.route("/.multistore/readyz", readyz)
    shared = SnapshotDirectory(settings.shared_dir) if settings.shared_dir else None
    router.route("/.multistore/metrics", MetricsEndpoint(shared))
    return assemble_gateway(
        provider,
        transport,
        router=router,
        options=GatewayOptions(
            virtual_host_domain=settings.domain,
            max_object_size=settings.max_object_size,
            debug_errors=settings.debug_errors,
            cors_origins=settings.cors_origins,
        ),
        env=os.environ if env is None else env,
        force_path_mapping=settings.path_mapping,
        announce=announce,
        log=logger,
    )


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
        if outcome == "success":
            heap.settle()  # the replaced config is collectable garbage now

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
    for middleware in gateway.middlewares:
        if isinstance(middleware, CounterSource):
            RECORDER.add_counters(middleware)  # e.g. metering's dropped usage events
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
    trusted = worker.trusted_proxies

    # A partial, not a wrapping coroutine: one coroutine frame less per request.
    handler = functools.partial(
        handle,
        gateway=gateway,
        body_timeout=body_timeout,
        in_flight=in_flight,
        trusted_proxies=trusted,
    )

    return GatewayServer(
        handler,
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
