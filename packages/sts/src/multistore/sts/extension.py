"""The Router extension: how runtimes find STS without knowing about it.

Registered as the entry point ``sts`` in the group ``multistore.router_extensions``. A
runtime offers every installed extension its Router; this one installs itself when
``SESSION_TOKEN_KEY`` is set and declines (with one log line) when it is not. An invalid
key is a startup error: a gateway silently running without the STS its operator asked for
would fail much later and much more confusingly.
"""

from __future__ import annotations

import logging

from multistore.core.auth.identity import IdentityResolver
from multistore.core.http import HttpTransport
from multistore.core.plugins import ExtensionContext
from multistore.core.registry import CredentialRegistry
from multistore.core.router import Router
from multistore.sts.handler import StsService
from multistore.sts.jwks import JwksCache, JwksSettings
from multistore.sts.token_key import TokenKey
from multistore.sts.web_identity import WebIdentityVerifier

logger = logging.getLogger("multistore.sts")

SESSION_TOKEN_KEY = "SESSION_TOKEN_KEY"
STS_PATH = "/.sts"
DEFAULT_JWKS_SETTINGS = JwksSettings()


def install_sts(
    router: Router,
    *,
    credentials: CredentialRegistry,
    token_key: TokenKey,
    transport: HttpTransport,
    jwks_settings: JwksSettings = DEFAULT_JWKS_SETTINGS,
) -> StsService:
    """Register ``/.sts`` and the STS-only ``/`` handler on ``router``.

    For custom runtimes; pass ``token_key`` to the gateway as its
    ``temporary_credentials`` so the minted credentials are accepted.
    """
    service = StsService(
        credentials=credentials,
        token_key=token_key,
        verifier=WebIdentityVerifier(JwksCache(transport, jwks_settings)),
        identities=IdentityResolver(credentials, temporary_credentials=token_key),
    )
    router.route(STS_PATH, service.handle_sts_path)
    router.route("/", service.handle_root)
    return service


def install(router: Router, context: ExtensionContext) -> bool:
    """Entry point of the ``multistore.router_extensions`` group."""
    raw_key = context.settings.get(SESSION_TOKEN_KEY, "").strip()
    if not raw_key:
        logger.info(
            "STS disabled: %s is not set, so there is no %s route and session tokens are "
            "refused", SESSION_TOKEN_KEY, STS_PATH,
        )  # fmt: skip
        return False
    token_key = TokenKey.from_base64(raw_key)
    transport = context.services.get("transport")
    if transport is None:
        raise RuntimeError(
            "multistore-sts needs the runtime's HTTP transport (services['transport']) "
            "to fetch OIDC signing keys"
        )
    install_sts(router, credentials=context.credentials, token_key=token_key, transport=transport)
    context.installed["temporary_credentials"] = token_key
    logger.info("STS enabled at %s (and for STS calls at /)", STS_PATH)
    return True
