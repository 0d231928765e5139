"""Entry-point discovery of plugins (Router extensions, backends, middleware).

A plugin that cannot be imported because an optional dependency is missing is skipped with
a log line; any other failure is a startup error. Plugins load in name order so that the
outcome never depends on install order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, runtime_checkable

from multistore.core.backends.credentials import BackendCredentialSource
from multistore.core.mapping import AddressMapping, RequestMapperFactory
from multistore.core.middleware import Middleware
from multistore.core.registry import BucketRegistry, CredentialRegistry
from multistore.core.router import Router

ROUTER_EXTENSIONS = "multistore.router_extensions"
BACKENDS = "multistore.backends"
MIDDLEWARE = "multistore.middleware"
CONFIG_PROVIDERS = "multistore.config_providers"
REQUEST_MAPPERS = "multistore.request_mappers"
# Named by the ``auth_type`` bucket option they serve (e.g. ``oidc``).
BACKEND_CREDENTIALS = "multistore.backend_credentials"

logger = logging.getLogger("multistore.core.plugins")


@dataclass(frozen=True, slots=True)
class ExtensionContext:
    """What a Router extension may look at when deciding to install itself.

    ``settings`` holds runtime settings (environment variables such as
    ``SESSION_TOKEN_KEY``); ``services`` holds shared objects such as the HTTP transport.
    An extension registers what it needs on ``installed`` (e.g. a credential resolver).
    """

    settings: Mapping[str, str]
    credentials: CredentialRegistry
    services: Mapping[str, Any] = field(default_factory=dict)
    installed: dict[str, Any] = field(default_factory=dict)


class RouterExtension(Protocol):
    """``install`` returns ``True`` when it registered routes, ``False`` when it declined."""

    def __call__(self, router: Router, context: ExtensionContext) -> bool: ...


@cache
def _group(group: str) -> tuple[EntryPoint, ...]:
    # entry_points() scans every dist-info on sys.path: do it once per process.
    return tuple(sorted(entry_points(group=group), key=lambda ep: ep.name))


def discover(group: str) -> tuple[EntryPoint, ...]:
    return _group(group)


def load_entry_point(ep: EntryPoint) -> Any | None:
    try:
        return ep.load()
    except ModuleNotFoundError as exc:
        logger.warning("plugin %s (%s) skipped: %s is not installed", ep.name, ep.value, exc.name)
        return None
    except Exception:
        logger.exception("plugin %s (%s) failed to load", ep.name, ep.value)
        raise


@dataclass(frozen=True, slots=True)
class ExtensionReport:
    installed: tuple[str, ...]
    declined: tuple[str, ...]


def install_router_extensions(
    router: Router, context: ExtensionContext, *, disabled: frozenset[str] = frozenset()
) -> ExtensionReport:
    """Offer the router to every installed extension, in name order."""
    installed: list[str] = []
    declined: list[str] = []
    for ep in discover(ROUTER_EXTENSIONS):
        if ep.name in disabled or "*" in disabled:
            declined.append(ep.name)
            continue
        install = load_entry_point(ep)
        if install is None:
            declined.append(ep.name)
            continue
        if install(router, context):
            installed.append(ep.name)
        else:
            declined.append(ep.name)
    return ExtensionReport(tuple(installed), tuple(declined))


class BackendCredentialsInstaller(Protocol):
    """Returns the credential source for its ``auth_type``, or ``None`` when it declines."""

    def __call__(self, context: ExtensionContext) -> BackendCredentialSource | None: ...


def backend_credentials_available(auth_type: str) -> bool:
    """Whether a plugin for ``auth_type`` is installed (config validation asks this)."""
    return any(ep.name == auth_type for ep in discover(BACKEND_CREDENTIALS))


def install_backend_credentials(
    context: ExtensionContext,
) -> tuple[dict[str, BackendCredentialSource], ExtensionReport]:
    """The credential sources of every installed plugin that accepted, by ``auth_type``."""
    sources: dict[str, BackendCredentialSource] = {}
    declined: list[str] = []
    for ep in discover(BACKEND_CREDENTIALS):
        install = load_entry_point(ep)
        source = None if install is None else install(context)
        if source is None:
            declined.append(ep.name)
        else:
            sources[ep.name] = source
    return sources, ExtensionReport(tuple(sources), tuple(declined))


def backend_factories() -> dict[str, Any]:
    """``backend_type`` → factory, from the ``multistore.backends`` group."""
    factories: dict[str, Any] = {}
    for ep in discover(BACKENDS):
        factory = load_entry_point(ep)
        if factory is not None:
            factories[ep.name] = factory
    return factories


class MiddlewareFactory(Protocol):
    """Builds a middleware from the config's top-level tables, or ``None`` when not enabled.

    Each plugin decides from its own table (``[metering]``) whether it is on; a table it
    cannot serve is a ``ValueError`` (a startup error).
    """

    def __call__(
        self, sections: Mapping[str, Mapping[str, object]], context: ExtensionContext
    ) -> Middleware | None: ...


@runtime_checkable
class ReconfigurableMiddleware(Protocol):
    """A middleware that takes a reloaded configuration (SIGHUP) without a restart."""

    def check_sections(self, sections: Mapping[str, Mapping[str, object]]) -> None:
        """Raise ``ValueError`` when a reload must be rejected (its table is bad)."""
        ...

    def reconfigure(self, sections: Mapping[str, Mapping[str, object]]) -> None:
        """Apply the reloaded tables (already checked)."""
        ...


def install_middleware(
    sections: Mapping[str, Mapping[str, object]], context: ExtensionContext
) -> tuple[list[Middleware], ExtensionReport]:
    """The middleware of every installed ``multistore.middleware`` plugin that is enabled.

    Name order is execution order, so the chain never depends on install order.
    """
    middlewares: list[Middleware] = []
    installed: list[str] = []
    declined: list[str] = []
    for ep in discover(MIDDLEWARE):
        factory = load_entry_point(ep)
        middleware = None if factory is None else factory(sections, context)
        if middleware is None:
            declined.append(ep.name)
        else:
            middlewares.append(middleware)
            installed.append(ep.name)
    return middlewares, ExtensionReport(tuple(installed), tuple(declined))


class PluginNotInstalled(ValueError):
    """A plugin the configuration asks for is not installed: a startup error, not a 404 later."""


def request_mapper_factory(name: str, *, distribution: str) -> RequestMapperFactory:
    """The ``multistore.request_mappers`` entry point called ``name``.

    Only called when the configuration enables that mapper, so a missing plugin names the
    distribution to install.
    """
    for ep in discover(REQUEST_MAPPERS):
        if ep.name == name:
            factory = load_entry_point(ep)
            if factory is not None:
                return factory  # type: ignore[no-any-return]
    raise PluginNotInstalled(
        f"{name} is enabled but not installed: install {distribution} next to the runtime"
    )


def configured_request_mapper(
    name: str,
    table: Mapping[str, object] | None,
    buckets: BucketRegistry,
    *,
    forced: bool,
    distribution: str,
) -> AddressMapping | None:
    """The request mapper a runtime should serve with, or ``None`` when it is not asked for.

    It is on when the config has its table (``[path_mapping]``) without ``enabled = false``,
    or when the runtime's flag ``forced`` it; the rest of the table goes to the plugin.
    Every runtime enables mappers through this one function, so they cannot disagree.
    """
    options = dict(table or {})
    enabled = options.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError(f"[{name}] enabled must be true or false, got {enabled!r}")
    if not forced and not (table is not None and enabled):
        return None
    factory = request_mapper_factory(name, distribution=distribution)
    return factory(options, buckets)
