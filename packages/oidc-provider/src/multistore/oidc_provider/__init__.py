"""The multistore gateway as its own OIDC issuer, and backend credentials through it."""

from __future__ import annotations

from multistore.oidc_provider.backend_auth import (
    ExchangeTarget,
    OidcCredentialSource,
    StsExchangeFailed,
    exchange_target,
)
from multistore.oidc_provider.cache import CacheSettings, CredentialCache
from multistore.oidc_provider.discovery import register_discovery_routes
from multistore.oidc_provider.extension import (
    credential_source,
    install_backend_credentials,
    install_routes,
)
from multistore.oidc_provider.issuer import GatewayIssuer, IssuerConfigError, issuer_from_settings
from multistore.oidc_provider.keys import KeySet, ProviderKeyError, SigningKey, load_key_set

__all__ = [
    "CacheSettings",
    "CredentialCache",
    "ExchangeTarget",
    "GatewayIssuer",
    "IssuerConfigError",
    "KeySet",
    "OidcCredentialSource",
    "ProviderKeyError",
    "SigningKey",
    "StsExchangeFailed",
    "credential_source",
    "exchange_target",
    "install_backend_credentials",
    "install_routes",
    "issuer_from_settings",
    "load_key_set",
    "register_discovery_routes",
]
