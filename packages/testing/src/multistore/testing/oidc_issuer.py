"""A real OIDC issuer for tests: HTTPS on 127.0.0.1, discovery + JWKS, RS256 tokens.

It runs an aiohttp server on its own event loop in a background thread, so synchronous
tests (boto3, subprocesses) and a gateway subprocess can all reach it while the test
blocks. The certificate comes from the test's throwaway CA (:mod:`multistore.testing.tls`);
a gateway subprocess trusts it through ``SSL_CERT_FILE``.

Knobs for failure tests: ``jwks_status`` (answer the JWKS with that status),
``jwks_body`` (serve these bytes instead), ``discovery_overrides`` (fields replacing those
of the discovery document), ``delay`` (seconds before answering).
``discovery_requests`` and ``jwks_requests`` count what the issuer was asked.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import ssl
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from multistore.testing.tls import TlsFiles


@dataclass(frozen=True, slots=True)
class IssuerKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str | None = None) -> IssuerKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid or f"key-{uuid.uuid4().hex[:12]}", key)

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return jwk


class OidcIssuer:
    """Serves ``/.well-known/openid-configuration`` and ``/jwks.json``; mints tokens."""

    def __init__(self, tls: TlsFiles) -> None:
        self._tls = tls
        self.signing_key = IssuerKey.generate()
        self.published: list[IssuerKey] = [self.signing_key]
        self.jwks_status = 200
        self.jwks_body: bytes | None = None
        self.discovery_overrides: dict[str, Any] = {}
        self.delay = 0.0
        self.discovery_requests = 0
        self.jwks_requests = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The issuer identifier (``iss``), without a trailing slash."""
        return f"https://127.0.0.1:{self.port}"

    # --- tokens -------------------------------------------------------------------------

    def mint(
        self,
        *,
        sub: str = "user",
        aud: str | Sequence[str] | None = "sts.amazonaws.com",
        expires_in: float | None = 300,
        claims: Mapping[str, Any] | None = None,
        omit: Sequence[str] = (),
        algorithm: str = "RS256",
        kid: str | None = None,
        key: IssuerKey | None = None,
    ) -> str:
        """An id token; ``claims`` override or add to the defaults, ``omit`` removes some.

        ``key`` signs with another key (e.g. an unpublished one, for a bad signature) while
        ``kid`` overrides the header's key id.
        """
        now = int(time.time())
        payload: dict[str, Any] = {"iss": self.url, "sub": sub, "iat": now}
        if aud is not None:
            payload["aud"] = aud if isinstance(aud, str) else list(aud)
        if expires_in is not None:
            payload["exp"] = int(now + expires_in)
        payload.update(claims or {})
        for name in omit:
            payload.pop(name, None)
        signer = key or self.signing_key
        headers = {"kid": kid if kid is not None else signer.kid}
        if algorithm == "RS256":
            return jwt.encode(payload, signer.private_key, algorithm="RS256", headers=headers)
        if algorithm == "none":
            return jwt.encode(payload, "", algorithm="none", headers=headers)
        return _hmac_signed(payload, headers, algorithm, signer)

    def rotate(self, *, keep_previous: bool = False) -> IssuerKey:
        """Start signing with a new key and publish it (dropping the old one by default)."""
        new = IssuerKey.generate()
        self.published = [*self.published, new] if keep_previous else [new]
        self.signing_key = new
        return new

    # --- server -------------------------------------------------------------------------

    def start(self) -> OidcIssuer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="oidc-issuer", daemon=True)
        self._thread.start()
        ready.wait(timeout=30)
        if failure:
            raise RuntimeError("OIDC issuer failed to start") from failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=15)
        self._thread = None
        self._loop = None

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks.json", self._jwks)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self._tls.server_cert), str(self._tls.server_key))
        # A test may leave a deliberately slow request behind; stopping must not wait for it.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _discovery(self, request: web.Request) -> web.Response:
        self.discovery_requests += 1
        await asyncio.sleep(self.delay)
        document = {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks.json",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            **self.discovery_overrides,
        }
        return web.json_response(document)

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_requests += 1
        await asyncio.sleep(self.delay)
        if self.jwks_body is not None:
            return web.Response(status=self.jwks_status, body=self.jwks_body,
                                content_type="application/json")  # fmt: skip
        keys = {"keys": [key.public_jwk() for key in self.published]}
        return web.json_response(keys, status=self.jwks_status)


_HMAC_DIGESTS = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}


def _hmac_signed(
    payload: Mapping[str, Any], headers: Mapping[str, Any], algorithm: str, key: IssuerKey
) -> str:
    """The algorithm-confusion attack: HMAC keyed with the issuer's *public* key PEM.

    Built by hand because PyJWT (rightly) refuses to use a public key as an HMAC secret.
    """
    pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": algorithm, "typ": "JWT", **headers}
    signing_input = b".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)
    )
    signature = hmac.digest(pem, signing_input, _HMAC_DIGESTS[algorithm])
    return (signing_input + b"." + _b64url(signature)).decode()


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@contextmanager
def running_oidc_issuer(tls: TlsFiles) -> Iterator[OidcIssuer]:
    issuer = OidcIssuer(tls).start()
    try:
        yield issuer
    finally:
        issuer.stop()
