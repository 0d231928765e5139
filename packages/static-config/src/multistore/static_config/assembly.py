"""Build a gateway from a config provider: what every runtime does once per process.

Both runtimes (the aiohttp server and the Lambda handler) build their gateway here, so
extensions, credential sources, backends and path mapping are found by entry point the same
way in both. A runtime adds its own routes (health, metrics) to ``router`` before calling.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from multistore.core.backends.base import BackendServices
from multistore.core.backends.pool import BackendPool
from multistore.core.gateway import GatewayOptions, ProxyGateway
from multistore.core.http import HttpTransport
from multistore.core.mapping import AddressMapping
from multistore.core.plugins import (
    ExtensionContext,
    ReconfigurableMiddleware,
    backend_factories,
    configured_request_mapper,
    install_backend_credentials,
    install_middleware,
    install_router_extensions,
)
from multistore.core.router import Router
from multistore.static_config.cached import CachedProvider
from multistore.static_config.model import StaticConfig
from multistore.static_config.reloading import ReloadableProvider

USER_AGENT = "multistore/0.1.0"

logger = logging.getLogger("multistore")


def assemble_gateway(
    provider: ReloadableProvider,
    transport: HttpTransport,
    *,
    router: Router,
    options: GatewayOptions,
    env: Mapping[str, str],
    force_path_mapping: bool = False,
    announce: bool = True,
    log: logging.Logger = logger,
) -> ProxyGateway:
    """The gateway over ``provider``; raises ``ValueError`` for a config it cannot serve.

    ``announce``: log (to ``log``, the runtime's logger) what was installed.
    """
    credentials = CachedProvider(provider)
    # A reload must not serve keys from the old file out of the cache.
    provider.on_reload.append(credentials.clear)
    context = ExtensionContext(
        settings=dict(env), credentials=credentials, services={"transport": transport}
    )
    report = install_router_extensions(router, context)
    if announce:
        log.info(
            "router extensions installed: %s; declined: %s",
            ", ".join(report.installed) or "none",
            ", ".join(report.declined) or "none",
        )
    credential_sources, sources_report = install_backend_credentials(context)
    if announce and (sources_report.installed or sources_report.declined):
        log.info(
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
    mapping = path_mapping(provider, forced=force_path_mapping, announce=announce, log=log)
    # Like path mapping, middleware is installed from its table at startup; one that can
    # take a reloaded table (metering's limits) gets it, and can reject a bad one.
    middlewares, middleware_report = install_middleware(
        provider.current.config.extra_sections, context
    )
    for middleware in middlewares:
        if isinstance(middleware, ReconfigurableMiddleware):
            _follow_reloads(provider, middleware)
    if announce and middleware_report.installed:
        log.info("middleware installed: %s", ", ".join(middleware_report.installed))
    return ProxyGateway(
        buckets=mapping.buckets if mapping is not None else provider,
        mapper=mapping,
        credentials=credentials,
        backends=backends,
        router=router,
        temporary_credentials=context.installed.get("temporary_credentials"),
        middlewares=middlewares,
        options=options,
    )


def _follow_reloads(provider: ReloadableProvider, middleware: ReconfigurableMiddleware) -> None:
    provider.validators.append(lambda config: middleware.check_sections(config.extra_sections))
    provider.on_reload.append(
        lambda: middleware.reconfigure(provider.current.config.extra_sections)
    )


def path_mapping(
    provider: ReloadableProvider,
    *,
    forced: bool = False,
    announce: bool = True,
    log: logging.Logger = logger,
) -> AddressMapping | None:
    """Path mapping, when forced (``--path-mapping``) or a ``[path_mapping]`` table turns it on.

    Its options are read once at startup; a reload changes buckets, not the mapping.
    """
    mapping = configured_request_mapper(
        "path_mapping",
        provider.current.config.extra_sections.get("path_mapping"),
        provider,
        forced=forced,
        distribution="multistore-path-mapping",
    )
    if mapping is None:
        return None
    if announce:
        log.info("path mapping on: %r", mapping)
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
