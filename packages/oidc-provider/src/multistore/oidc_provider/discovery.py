"""``/.well-known/openid-configuration`` and ``/.well-known/jwks.json``.

What a verifier (AWS IAM, multistore-sts, any OIDC library) fetches to check the gateway's
tokens. Both documents are fixed for the life of the process, so they are rendered once,
carry a strong ``ETag`` and are cacheable: the discovery document for an hour (it never
changes for an issuer), the key set for five minutes — no longer than a token lives — so
a key added for rotation reaches caching verifiers before tokens signed by it expire.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from multidict import CIMultiDict

from multistore.core.http import RequestInfo, Response
from multistore.core.router import Router
from multistore.oidc_provider.issuer import GatewayIssuer

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
JWKS_SUFFIX = "/.well-known/jwks.json"
DISCOVERY_MAX_AGE = 3600
JWKS_MAX_AGE = 300


@dataclass(frozen=True, slots=True)
class StaticDocument:
    """A JSON document answered to GET and HEAD; other methods go on to the S3 pipeline."""

    body: bytes
    etag: str
    max_age: int

    @classmethod
    def render(cls, document: object, *, max_age: int) -> StaticDocument:
        body = json.dumps(document, separators=(",", ":")).encode()
        return cls(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"', max_age)

    async def __call__(self, request: RequestInfo) -> Response | None:
        if request.method not in ("GET", "HEAD"):
            return None
        headers = CIMultiDict(
            {
                "Content-Type": "application/json",
                "Cache-Control": f"public, max-age={self.max_age}",
                "ETag": self.etag,
            }
        )
        if self.etag in _etags(request.headers.get("If-None-Match", "")):
            return Response(304, headers)
        return Response(200, headers, self.body)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def register_discovery_routes(router: Router, issuer: GatewayIssuer) -> tuple[str, str]:
    """Register both documents below the issuer's path; returns their paths."""
    discovery_path = issuer.path + DISCOVERY_SUFFIX
    jwks_path = issuer.path + JWKS_SUFFIX
    router.route(
        discovery_path,
        StaticDocument.render(issuer.discovery_document(), max_age=DISCOVERY_MAX_AGE),
    )
    router.route(jwks_path, StaticDocument.render(issuer.keys.jwks(), max_age=JWKS_MAX_AGE))
    return discovery_path, jwks_path
