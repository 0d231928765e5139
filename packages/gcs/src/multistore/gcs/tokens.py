"""OAuth2 access tokens for a service account: the JWT-bearer grant (RFC 7523).

The gateway signs a short JWT with the key's RSA private key, trades it at the key's
``token_uri`` for an access token, and sends that token as ``Authorization: Bearer`` on every
GCS request. The token is cached until shortly before it expires, and one refresh serves
every request that is waiting for it (single flight), so a burst of requests after expiry
costs one token exchange.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import urlencode

import jwt

from multistore.core.errors import BadGateway, ServiceUnavailable
from multistore.core.http import HttpTransport, TransportError
from multistore.gcs.options import ServiceAccountKey

logger = logging.getLogger("multistore.gcs.tokens")

SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600
# Renew this long before the token expires, so no request goes out with a token that dies
# on the way.
REFRESH_MARGIN = 300
MAX_TOKEN_RESPONSE = 64 << 10


class AccessTokens:
    """The current bearer token of one service account."""

    def __init__(self, key: ServiceAccountKey, transport: HttpTransport, user_agent: str) -> None:
        self._key = key
        self._transport = transport
        self._user_agent = user_agent
        self._token = ""
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def authorization(self) -> str:
        """``Bearer <token>``, minting a new token first when the cached one is due."""
        if self._token and time.monotonic() < self._renew_at:
            return f"Bearer {self._token}"
        async with self._lock:
            # Whoever held the lock before may have renewed it already.
            if not self._token or time.monotonic() >= self._renew_at:
                await self._renew()
        return f"Bearer {self._token}"

    def forget(self, authorization: str) -> None:
        """Drop the cached token if it is still ``authorization`` (GCS refused it: revoked,
        or expired early), so the next request mints a new one."""
        if authorization == f"Bearer {self._token}":
            self._renew_at = 0.0

    def assertion(self, now: int) -> str:
        claims = {
            "iss": self._key.client_email,
            "scope": SCOPE,
            "aud": self._key.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        headers = {"kid": self._key.private_key_id} if self._key.private_key_id else None
        try:
            return jwt.encode(claims, self._key.signing_key, algorithm="RS256", headers=headers)
        except (ValueError, TypeError) as exc:
            raise BadGateway(f"the service-account key cannot sign: {exc}") from None

    async def _renew(self) -> None:
        started = time.monotonic()
        body = urlencode(
            {"grant_type": GRANT_TYPE, "assertion": self.assertion(int(time.time()))}
        ).encode()
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "user-agent": self._user_agent,
        }
        try:
            response = await self._transport.request(
                "POST", self._key.token_uri, headers=headers, body=body
            )
            try:
                raw = await response.read(MAX_TOKEN_RESPONSE)
            finally:
                await response.release()
        except TransportError as exc:
            raise ServiceUnavailable(f"token endpoint unreachable: {exc}") from exc
        if response.status != 200:
            logger.warning(
                "token endpoint answered %s for %s: %s",
                response.status,
                self._key.client_email,
                raw[:500].decode("utf-8", "replace"),
            )
            raise BadGateway("the storage backend refused the gateway's service account")
        try:
            document = json.loads(raw)
            token = str(document["access_token"])
            lifetime = int(document.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise BadGateway("unreadable answer from the token endpoint") from None
        self._token = token
        self._renew_at = started + max(lifetime - REFRESH_MARGIN, lifetime / 2)
        logger.debug("access token for %s valid for %ss", self._key.client_email, lifetime)
