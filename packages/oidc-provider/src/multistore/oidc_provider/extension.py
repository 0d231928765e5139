"""Entry points: how runtimes find the OIDC provider without knowing about it.

- ``oidc_provider`` in ``multistore.router_extensions`` serves the discovery document and
  the JWKS when ``OIDC_PROVIDER_KEY`` and ``OIDC_PROVIDER_ISSUER`` are set, and declines
  with one log line when neither is;
- ``oidc`` in ``multistore.backend_credentials`` gives ``auth_type = "oidc"`` buckets their
  credentials under the same condition.

Half a configuration (one variable), an unreadable key or an invalid margin stop startup.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache

from multistore.core.http import HttpTransport
from multistore.core.plugins import ExtensionContext
from multistore.core.router import Router
from multistore.oidc_provider.backend_auth import OidcCredentialSource
from multistore.oidc_provider.cache import CacheSettings, CredentialCache
from multistore.oidc_provider.discovery import register_discovery_routes
from multistore.oidc_provider.issuer import (
    ISSUER_VARIABLE,
    KEY_VARIABLE,
    GatewayIssuer,
    issuer_from_settings,
)

logger = logging.getLogger("multistore.oidc_provider")

REFRESH_MARGIN_VARIABLE = "OIDC_PROVIDER_REFRESH_MARGIN_SECS"


def install_routes(router: Router, context: ExtensionContext) -> bool:
    """Entry point of the ``multistore.router_extensions`` group."""
    issuer = _issuer(context.settings)
    if issuer is None:
        logger.info(
            "OIDC provider disabled: %s and %s are not set, so there are no /.well-known "
            "routes and auth_type = \"oidc\" buckets cannot be served",
            KEY_VARIABLE, ISSUER_VARIABLE,
        )  # fmt: skip
        return False
    discovery, jwks = register_discovery_routes(router, issuer)
    logger.info(
        "OIDC provider enabled: issuer %s, %d published key(s), signing with %s; serving %s "
        "and %s", issuer.url, len(issuer.keys.keys), issuer.keys.signing.kid, discovery, jwks,
    )  # fmt: skip
    return True


def install_backend_credentials(context: ExtensionContext) -> OidcCredentialSource | None:
    """Entry point of the ``multistore.backend_credentials`` group (``auth_type = "oidc"``)."""
    issuer = _issuer(context.settings)
    if issuer is None:
        return None  # install_routes has said why, once
    transport = context.services.get("transport")
    if transport is None:
        raise RuntimeError(
            "multistore-oidc-provider needs the runtime's HTTP transport "
            "(services['transport']) to call STS"
        )
    return credential_source(issuer, transport, settings=context.settings)


def credential_source(
    issuer: GatewayIssuer, transport: HttpTransport, *, settings: Mapping[str, str] | None = None
) -> OidcCredentialSource:
    """The ``oidc`` source for custom runtimes (pass it in ``BackendServices``)."""
    cache_settings = CacheSettings(refresh_margin=_refresh_margin(settings or {}))
    return OidcCredentialSource(issuer, transport, cache=CredentialCache(cache_settings))


def _issuer(settings: Mapping[str, str]) -> GatewayIssuer | None:
    return _parsed_issuer(settings.get(KEY_VARIABLE, ""), settings.get(ISSUER_VARIABLE, ""))


@lru_cache(maxsize=4)
def _parsed_issuer(key: str, url: str) -> GatewayIssuer | None:
    # Both entry points read the same variables; parse the keys once.
    return issuer_from_settings({KEY_VARIABLE: key, ISSUER_VARIABLE: url})


def _refresh_margin(settings: Mapping[str, str]) -> float:
    raw = settings.get(REFRESH_MARGIN_VARIABLE, "").strip()
    if not raw:
        return CacheSettings().refresh_margin
    try:
        margin = float(raw)
    except ValueError:
        margin = -1.0
    if not 0 <= margin <= 3600:
        raise ValueError(f"{REFRESH_MARGIN_VARIABLE} must be seconds from 0 to 3600, got {raw!r}")
    return margin
