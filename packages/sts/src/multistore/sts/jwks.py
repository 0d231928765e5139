"""Async JWKS cache: an issuer's signing keys, found through OIDC discovery.

``{issuer}/.well-known/openid-configuration`` names ``jwks_uri``; the key set found there
is cached per issuer for ``ttl`` seconds. What keeps a slow or hostile issuer from hurting
the gateway:

- issuers and ``jwks_uri`` must be ``https://`` (a key fetched in clear text proves nothing);
- every fetch has a deadline, answers other than ``200`` are failures, and documents are
  read up to ``max_document_bytes``;
- a failure is remembered for ``failure_backoff`` seconds, during which the issuer is not
  contacted again (a flood of tokens for a dead issuer costs one fetch per back-off);
- concurrent requests for the same issuer share one fetch (single flight);
- a token whose ``kid`` is not in the cached set triggers one refetch — issuers rotate keys
  and publish the new one before using it — but at most once per ``unknown_kid_cooldown``,
  so made-up ``kid`` values cannot turn the gateway into a JWKS request cannon.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jwt import PyJWK
from jwt.exceptions import PyJWTError

from multistore.core.http import HttpTransport, TransportError

logger = logging.getLogger("multistore.sts.jwks")

USER_AGENT = "multistore-sts"
DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True, slots=True)
class JwksSettings:
    ttl: float = 15 * 60
    failure_backoff: float = 30.0
    unknown_kid_cooldown: float = 30.0
    fetch_timeout: float = 10.0
    max_document_bytes: int = 1 << 20


class JwksError(Exception):
    """Base of the JWKS cache's failures; messages are safe to show the token's holder."""


class InsecureIssuerError(JwksError):
    """The issuer (or its ``jwks_uri``) is not an https URL: a configuration problem."""


class JwksFetchError(JwksError):
    """Discovery or the key set could not be fetched or parsed."""


class UnknownKeyError(JwksError):
    """The issuer publishes no usable RS256 key with the token's ``kid``."""


@dataclass(slots=True)
class _IssuerState:
    keys: dict[str, PyJWK] | None = None
    fetched_at: float = -math.inf
    failed_until: float = -math.inf
    failure: str = ""
    last_unknown_kid_refetch: float = -math.inf
    inflight: asyncio.Task[dict[str, PyJWK]] | None = None


@dataclass(slots=True)
class JwksCache:
    """Per-issuer signing keys, fetched through ``transport`` (the runtime's HTTP client)."""

    transport: HttpTransport
    settings: JwksSettings = JwksSettings()
    clock: Callable[[], float] = time.monotonic
    _issuers: dict[str, _IssuerState] = field(default_factory=dict)

    async def get_key(self, issuer: str, kid: str) -> PyJWK:
        """The key ``kid`` of ``issuer``; raises a :class:`JwksError` subclass otherwise."""
        issuer = issuer.rstrip("/")
        _require_https(issuer, what="issuer")
        state = self._issuers.setdefault(issuer, _IssuerState())
        now = self.clock()
        if state.keys is not None and now - state.fetched_at < self.settings.ttl:
            key = state.keys.get(kid)
            if key is not None:
                return key
            if now - state.last_unknown_kid_refetch < self.settings.unknown_kid_cooldown:
                raise UnknownKeyError(f"key {kid!r} not found in the JWKS of {issuer}")
            state.last_unknown_kid_refetch = now
            logger.info("kid %r unknown for %s: refetching its JWKS", kid, issuer)
        keys = await self._refresh(issuer, state)
        key = keys.get(kid)
        if key is None:
            raise UnknownKeyError(f"key {kid!r} not found in the JWKS of {issuer}")
        return key

    def clear(self) -> None:
        self._issuers.clear()

    async def _refresh(self, issuer: str, state: _IssuerState) -> dict[str, PyJWK]:
        if self.clock() < state.failed_until:
            raise JwksFetchError(
                f"JWKS fetch for {issuer} recently failed ({state.failure}); retrying after backoff"
            )
        if state.inflight is None:
            task = asyncio.ensure_future(self._fetch_and_store(issuer, state))
            # A waiter may be cancelled (client gone); the fetch goes on for the others, and
            # its outcome is always retrieved so asyncio never reports it as lost.
            task.add_done_callback(_retrieve_outcome)
            state.inflight = task
        return await asyncio.shield(state.inflight)

    async def _fetch_and_store(self, issuer: str, state: _IssuerState) -> dict[str, PyJWK]:
        try:
            keys = await self._fetch(issuer)
        except JwksError as exc:
            state.failed_until = self.clock() + self.settings.failure_backoff
            state.failure = str(exc)
            logger.warning("JWKS fetch for %s failed: %s", issuer, exc)
            raise
        finally:
            state.inflight = None
        state.keys = keys
        state.fetched_at = self.clock()
        state.failed_until = -math.inf
        logger.info("JWKS for %s: %d usable key(s)", issuer, len(keys))
        return keys

    async def _fetch(self, issuer: str) -> dict[str, PyJWK]:
        discovery = await self._get_json(issuer + DISCOVERY_PATH)
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise JwksFetchError(f"the discovery document of {issuer} has no jwks_uri")
        _require_https(jwks_uri, what="jwks_uri")
        return parse_key_set(await self._get_json(jwks_uri), source=jwks_uri)

    async def _get_json(self, url: str) -> dict[str, Any]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        try:
            async with asyncio.timeout(self.settings.fetch_timeout):
                response = await self.transport.request("GET", url, headers=headers)
                try:
                    if response.status != 200:
                        raise JwksFetchError(f"GET {url} answered HTTP {response.status}")
                    body = await response.read(self.settings.max_document_bytes)
                finally:
                    await response.release()
        except TimeoutError as exc:
            raise JwksFetchError(f"GET {url} timed out") from exc
        except TransportError as exc:
            raise JwksFetchError(f"GET {url} failed: {exc}") from exc
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise JwksFetchError(f"GET {url} did not return JSON") from exc
        if not isinstance(document, dict):
            raise JwksFetchError(f"GET {url} did not return a JSON object")
        return document


def parse_key_set(document: dict[str, Any], *, source: str) -> dict[str, PyJWK]:
    """The RS256 signing keys of a JWKS, by ``kid``.

    Keys the gateway cannot use (other types, encryption keys, no ``kid``) are skipped
    rather than failing the whole set: issuers publish mixed sets.
    """
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise JwksFetchError(f"{source} is not a JWKS (no 'keys' list)")
    keys: dict[str, PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        try:
            keys[kid] = PyJWK(entry, algorithm="RS256")
        except PyJWTError:
            logger.info("JWKS %s: skipping unusable key %r", source, kid)
    if not keys:
        raise JwksFetchError(f"{source} has no usable RS256 signing key")
    return keys


def _require_https(url: str, *, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise InsecureIssuerError(f"{what} {url!r} is not an https:// URL")
    # The transport sends URLs as given; anything a client library would have to escape
    # does not belong in an issuer's URL.
    if not url.isascii() or any(ch.isspace() or ord(ch) < 0x21 for ch in url):
        raise InsecureIssuerError(f"{what} {url!r} contains characters not allowed in a URL")


def _retrieve_outcome(task: asyncio.Task[dict[str, PyJWK]]) -> None:
    if not task.cancelled():
        task.exception()
