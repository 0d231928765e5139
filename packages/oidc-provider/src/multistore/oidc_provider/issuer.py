"""The gateway's identity as an OIDC issuer: its URL, its keys, the tokens it signs.

Tokens are short-lived (five minutes): they only carry the gateway to one
``AssumeRoleWithWebIdentity`` call, and the credentials that call returns are what the
gateway keeps.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt

from multistore.oidc_provider.keys import KeySet, load_key_set

KEY_VARIABLE = "OIDC_PROVIDER_KEY"
ISSUER_VARIABLE = "OIDC_PROVIDER_ISSUER"
TOKEN_TTL_SECONDS = 300
_PLAIN_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)*")


class IssuerConfigError(ValueError):
    """The issuer's variables are set but unusable: a startup error."""


@dataclass(frozen=True, slots=True)
class GatewayIssuer:
    """``url`` is the ``iss`` claim exactly (no trailing slash); ``keys`` sign and publish."""

    url: str
    keys: KeySet
    token_ttl: int = TOKEN_TTL_SECONDS

    @property
    def path(self) -> str:
        """The issuer URL's path: where the ``/.well-known`` documents live below it."""
        return urlsplit(self.url).path

    @property
    def jwks_uri(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    def mint(self, *, subject: str, audience: str, now: float | None = None) -> str:
        """A signed RS256 ID token for ``subject``, valid for ``token_ttl`` seconds."""
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.url,
            "sub": subject,
            "aud": audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + self.token_ttl,
            "jti": str(uuid.uuid4()),
        }
        signer = self.keys.signing
        return jwt.encode(claims, signer.private_key, algorithm="RS256",
                          headers={"kid": signer.kid, "typ": "JWT"})  # fmt: skip

    def discovery_document(self) -> dict[str, object]:
        return {
            "issuer": self.url,
            "jwks_uri": self.jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"],
        }


def issuer_from_settings(settings: Mapping[str, str]) -> GatewayIssuer | None:
    """The issuer configured by the environment, ``None`` when neither variable is set.

    One variable without the other, an issuer that is not a plain https URL, or a key that
    cannot sign raise :class:`IssuerConfigError`: a gateway half-configured as an issuer
    would only fail later, at its first backend request.
    """
    raw_key = settings.get(KEY_VARIABLE, "").strip()
    raw_url = settings.get(ISSUER_VARIABLE, "").strip()
    if not raw_key and not raw_url:
        return None
    if not raw_key or not raw_url:
        missing = KEY_VARIABLE if not raw_key else ISSUER_VARIABLE
        present = ISSUER_VARIABLE if not raw_key else KEY_VARIABLE
        raise IssuerConfigError(f"{present} is set but {missing} is not; set both or neither")
    try:
        keys = load_key_set(raw_key)
    except ValueError as exc:
        raise IssuerConfigError(str(exc)) from exc
    return GatewayIssuer(url=_issuer_url(raw_url), keys=keys)


def _issuer_url(raw: str) -> str:
    # The trailing slash is dropped so that `iss`, the discovery document and the URL an
    # AWS IAM identity provider is created with all agree on one spelling.
    url = raw.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise IssuerConfigError(
            f"{ISSUER_VARIABLE} must be an https:// URL (STS fetches the keys over https "
            f"only), got {raw!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise IssuerConfigError(
            f"{ISSUER_VARIABLE} may not carry a query, fragment or credentials: {raw!r}"
        )
    if not url.isascii() or any(ch.isspace() for ch in url):
        raise IssuerConfigError(f"{ISSUER_VARIABLE} must be a plain ASCII URL: {raw!r}")
    # The discovery routes are registered below this path, verbatim.
    if not _PLAIN_PATH.fullmatch(parts.path):
        raise IssuerConfigError(
            f"{ISSUER_VARIABLE}'s path may only hold letters, digits and -._~/: {raw!r}"
        )
    return url
