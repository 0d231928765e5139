"""The JWKS cache against a real HTTPS issuer, through the server runtime's HTTP client."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Iterator

import pytest

from multistore.http_client import HttpClient
from multistore.sts.jwks import (
    InsecureIssuerError,
    JwksCache,
    JwksFetchError,
    JwksSettings,
    UnknownKeyError,
)
from multistore.testing.oidc_issuer import IssuerKey, OidcIssuer, running_oidc_issuer
from multistore.testing.tls import TlsFiles


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fresh_issuer(tls_files: TlsFiles) -> Iterator[OidcIssuer]:
    # Each test bends the issuer (statuses, delays, rotation): one of its own.
    with running_oidc_issuer(tls_files) as server:
        yield server


@pytest.fixture
async def transport(tls_files: TlsFiles) -> AsyncIterator[HttpClient]:
    client = HttpClient(ssl_context=ssl.create_default_context(cafile=str(tls_files.ca_cert)))
    yield client
    await client.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def cache(transport: HttpClient, clock: FakeClock, **settings: float) -> JwksCache:
    return JwksCache(transport, JwksSettings(**settings), clock)  # type: ignore[arg-type]


async def test_keys_are_cached_for_the_ttl(
    fresh_issuer: OidcIssuer, transport: HttpClient, clock: FakeClock
) -> None:
    jwks = cache(transport, clock, ttl=900)
    kid = fresh_issuer.signing_key.kid
    first = await jwks.get_key(fresh_issuer.url, kid)
    assert first.key_id == kid
    assert (await jwks.get_key(fresh_issuer.url + "/", kid)).key_id == kid
    assert (fresh_issuer.discovery_requests, fresh_issuer.jwks_requests) == (1, 1)
    clock.now += 899
    await jwks.get_key(fresh_issuer.url, kid)
    assert fresh_issuer.jwks_requests == 1
    clock.now += 2
    await jwks.get_key(fresh_issuer.url, kid)
    assert (fresh_issuer.discovery_requests, fresh_issuer.jwks_requests) == (2, 2)


async def test_unknown_kid_refetches_once_per_cooldown(
    fresh_issuer: OidcIssuer, transport: HttpClient, clock: FakeClock
) -> None:
    jwks = cache(transport, clock, unknown_kid_cooldown=30)
    await jwks.get_key(fresh_issuer.url, fresh_issuer.signing_key.kid)
    rotated = fresh_issuer.rotate()
    # The issuer published a new key: the first token signed with it triggers a refetch.
    assert (await jwks.get_key(fresh_issuer.url, rotated.kid)).key_id == rotated.kid
    assert fresh_issuer.jwks_requests == 2
    # Made-up kids within the cooldown cost nothing.
    for _ in range(5):
        with pytest.raises(UnknownKeyError):
            await jwks.get_key(fresh_issuer.url, "made-up")
    assert fresh_issuer.jwks_requests == 2
    clock.now += 31
    with pytest.raises(UnknownKeyError, match="made-up"):
        await jwks.get_key(fresh_issuer.url, "made-up")
    assert fresh_issuer.jwks_requests == 3


async def test_concurrent_requests_share_one_fetch(
    fresh_issuer: OidcIssuer, transport: HttpClient, clock: FakeClock
) -> None:
    fresh_issuer.delay = 0.2
    jwks = cache(transport, clock)
    kid = fresh_issuer.signing_key.kid
    keys = await asyncio.gather(*(jwks.get_key(fresh_issuer.url, kid) for _ in range(20)))
    assert {key.key_id for key in keys} == {kid}
    assert (fresh_issuer.discovery_requests, fresh_issuer.jwks_requests) == (1, 1)


async def test_failures_are_backed_off(
    fresh_issuer: OidcIssuer, transport: HttpClient, clock: FakeClock
) -> None:
    jwks = cache(transport, clock, failure_backoff=30)
    kid = fresh_issuer.signing_key.kid
    fresh_issuer.jwks_status = 503
    with pytest.raises(JwksFetchError, match="HTTP 503"):
        await jwks.get_key(fresh_issuer.url, kid)
    fresh_issuer.jwks_status = 200
    for _ in range(3):
        with pytest.raises(JwksFetchError, match="recently failed"):
            await jwks.get_key(fresh_issuer.url, kid)
    assert fresh_issuer.jwks_requests == 1
    clock.now += 31
    assert (await jwks.get_key(fresh_issuer.url, kid)).key_id == kid
    assert fresh_issuer.jwks_requests == 2


async def test_oversized_and_malformed_documents_are_refused(
    fresh_issuer: OidcIssuer, transport: HttpClient, clock: FakeClock
) -> None:
    kid = fresh_issuer.signing_key.kid
    fresh_issuer.jwks_body = b'{"keys": [' + b" " * (1 << 20) + b"]}"
    with pytest.raises(JwksFetchError, match="larger than"):
        await cache(transport, clock).get_key(fresh_issuer.url, kid)
    fresh_issuer.jwks_body = b"<html>not json</html>"
    with pytest.raises(JwksFetchError, match="JSON"):
        await cache(transport, clock).get_key(fresh_issuer.url, kid)
    fresh_issuer.jwks_body = b'{"keys": []}'
    with pytest.raises(JwksFetchError, match="no usable"):
        await cache(transport, clock).get_key(fresh_issuer.url, kid)


async def test_unusable_keys_are_skipped_not_fatal(
    fresh_issuer: OidcIssuer, transport: HttpClient, clock: FakeClock
) -> None:
    good = fresh_issuer.signing_key.public_jwk()
    no_kid = {k: v for k, v in IssuerKey.generate().public_jwk().items() if k != "kid"}
    encryption = {**IssuerKey.generate("enc").public_jwk(), "use": "enc"}
    ec = {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"}
    fresh_issuer.jwks_body = json.dumps({"keys": [ec, no_kid, encryption, good]}).encode()
    jwks = cache(transport, clock)
    assert (await jwks.get_key(fresh_issuer.url, good["kid"])).key_id == good["kid"]
    with pytest.raises(UnknownKeyError):
        await jwks.get_key(fresh_issuer.url, "enc")


async def test_slow_issuer_times_out(
    fresh_issuer: OidcIssuer, transport: HttpClient, clock: FakeClock
) -> None:
    fresh_issuer.delay = 2.0
    with pytest.raises(JwksFetchError, match="timed out"):
        await cache(transport, clock, fetch_timeout=0.2).get_key(
            fresh_issuer.url, fresh_issuer.signing_key.kid
        )


async def test_only_https_issuers_and_key_sets(
    fresh_issuer: OidcIssuer, transport: HttpClient, clock: FakeClock
) -> None:
    jwks = cache(transport, clock)
    with pytest.raises(InsecureIssuerError):
        await jwks.get_key(f"http://127.0.0.1:{fresh_issuer.port}", "k")
    assert fresh_issuer.discovery_requests == 0
    fresh_issuer.discovery_overrides = {"jwks_uri": f"http://127.0.0.1:{fresh_issuer.port}/jwks"}
    with pytest.raises(InsecureIssuerError):
        await jwks.get_key(fresh_issuer.url, fresh_issuer.signing_key.kid)
    assert fresh_issuer.jwks_requests == 0
