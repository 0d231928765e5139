"""STS for multistore: exchange OIDC web identity tokens for sealed temporary credentials."""

from __future__ import annotations

from multistore.sts.extension import install, install_sts
from multistore.sts.handler import StsService
from multistore.sts.jwks import JwksCache, JwksSettings
from multistore.sts.token_key import TokenKey, TokenKeyError
from multistore.sts.web_identity import VerifiedToken, WebIdentityVerifier

__all__ = [
    "JwksCache",
    "JwksSettings",
    "StsService",
    "TokenKey",
    "TokenKeyError",
    "VerifiedToken",
    "WebIdentityVerifier",
    "install",
    "install_sts",
]
