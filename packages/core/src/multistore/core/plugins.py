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
from typing import Any, Protocol

from multistore.core.registry import CredentialRegistry
from multistore.core.router import Router

ROUTER_EXTENSIONS = "multistore.router_extensions"
BACKENDS = "multistore.backends"
MIDDLEWARE = "multistore.middleware"
CONFIG_PROVIDERS = "multistore.config_providers"
BACKEND_AUTH = "multistore.backend_auth"
"""Backend credential providers: one entry point per ``auth_type`` value a bucket's
``backend_options`` may name (``oidc``: multistore-oidc-provider). Config validation refuses
an ``auth_type`` no installed package provides, so such a bucket never goes out unsigned."""

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


def backend_factories() -> dict[str, Any]:
    """``backend_type`` → factory, from the ``multistore.backends`` group."""
    factories: dict[str, Any] = {}
    for ep in discover(BACKENDS):
        factory = load_entry_point(ep)
        if factory is not None:
            factories[ep.name] = factory
    return factories


def backend_auth_types() -> frozenset[str]:
    """The ``auth_type`` values an installed package provides (names only, nothing loaded)."""
    return frozenset(ep.name for ep in discover(BACKEND_AUTH))
