"""The issuer's pure parts: key loading, kid thumbprints, tokens, settings, discovery."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from multidict import CIMultiDict

from multistore.core.http import RequestInfo
from multistore.core.router import Router
from multistore.oidc_provider.discovery import register_discovery_routes
from multistore.oidc_provider.issuer import IssuerConfigError, issuer_from_settings
from multistore.oidc_provider.keys import ProviderKeyError, jwk_thumbprint, load_key_set

from .conftest import PemKey, make_key

ISSUER = "https://gateway.example.com"


def settings(key: str, url: str = ISSUER) -> dict[str, str]:
    return {"OIDC_PROVIDER_KEY": key, "OIDC_PROVIDER_ISSUER": url}


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # The example key of RFC 7638 §3.1 and the thumbprint the RFC gives for it.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
        "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWh"
        "AI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    modulus = int.from_bytes(jwt.utils.base64url_decode(n), "big")
    public = rsa.RSAPublicNumbers(65537, modulus).public_key()
    assert jwk_thumbprint(public) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_pkcs1_and_pkcs8_keys_load_oldest_first_and_the_newest_signs(
    old_key: PemKey, new_key: PemKey
) -> None:
    keys = load_key_set(old_key.pkcs1 + "\n" + new_key.pkcs8)
    assert [k.kid for k in keys.keys] == [old_key.kid, new_key.kid]
    assert keys.signing.kid == new_key.kid
    jwks = keys.jwks()["keys"]
    assert [(k["kty"], k["alg"], k["use"], k["kid"]) for k in jwks] == [
        ("RSA", "RS256", "sig", old_key.kid), ("RSA", "RS256", "sig", new_key.kid)
    ]  # fmt: skip
    # The published modulus and exponent are the key's own.
    public = jwt.PyJWK(jwks[0]).key
    assert public.public_numbers() == old_key.private_key.public_key().public_numbers()


def test_a_pem_on_one_line_with_escaped_newlines_loads(old_key: PemKey) -> None:
    one_line = old_key.pkcs8.strip().replace("\n", "\\n")
    assert load_key_set(one_line).signing.kid == old_key.kid


def _pem(key: object, fmt: serialization.PrivateFormat, password: bytes | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()  # type: ignore[attr-defined]


def test_unusable_keys_are_refused_with_the_reason(old_key: PemKey) -> None:
    pkcs8 = serialization.PrivateFormat.PKCS8
    public_pem = (
        old_key.private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    cases = {
        "no pem": ("just text", "holds no PEM private key"),
        "public key": (public_pem, "key 1 (PUBLIC KEY): not a private key"),
        "EC key": (_pem(ec.generate_private_key(ec.SECP256R1()), pkcs8), "needs an RSA key"),
        "short RSA": (make_key(1024).pkcs8, "1024-bit RSA is too short"),
        "encrypted": (_pem(old_key.private_key, pkcs8, b"pw"), "encrypted keys are not supported"),
        "twice": (old_key.pkcs1 + old_key.pkcs8, f"lists the key {old_key.kid} twice"),
    }
    for name, (text, fragment) in cases.items():
        with pytest.raises(ProviderKeyError) as caught:
            load_key_set(text)
        assert fragment in str(caught.value), name


def test_minted_tokens_verify_against_the_published_keys(old_key: PemKey) -> None:
    issuer = issuer_from_settings(settings(old_key.pkcs1, ISSUER + "/"))
    assert issuer is not None
    assert issuer.url == ISSUER  # the trailing slash is not part of `iss`
    token = issuer.mint(subject="gateway-a", audience="sts.amazonaws.com", now=1_700_000_000)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": old_key.kid}
    (jwk,) = issuer.keys.jwks()["keys"]
    claims = jwt.decode(
        token, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience="sts.amazonaws.com",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )  # fmt: skip
    assert claims.pop("jti")
    assert claims == {"iss": ISSUER, "sub": "gateway-a", "aud": "sts.amazonaws.com",
                      "iat": 1_700_000_000, "nbf": 1_700_000_000, "exp": 1_700_000_300}  # fmt: skip


def test_settings(old_key: PemKey) -> None:
    assert issuer_from_settings({}) is None
    assert issuer_from_settings(settings("", "")) is None
    problems = {
        "key only": ({"OIDC_PROVIDER_KEY": old_key.pkcs8}, "OIDC_PROVIDER_ISSUER is not"),
        "issuer only": ({"OIDC_PROVIDER_ISSUER": ISSUER}, "OIDC_PROVIDER_KEY is not"),
        "http": (settings(old_key.pkcs8, "http://gw.example.com"), "must be an https:// URL"),
        "query": (settings(old_key.pkcs8, ISSUER + "?x=1"), "may not carry a query"),
        "odd path": (settings(old_key.pkcs8, ISSUER + "/{x}"), "path may only hold"),
        "bad key": (settings("-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----"),
                    "unreadable PEM"),
    }  # fmt: skip
    for name, (values, fragment) in problems.items():
        with pytest.raises(IssuerConfigError) as caught:
            issuer_from_settings(values)
        assert fragment in str(caught.value), name


def request(method: str, path: str, **headers: str) -> RequestInfo:
    return RequestInfo(method=method, raw_path=path, raw_query="", headers=CIMultiDict(headers))


async def test_discovery_routes_live_below_the_issuer_path(old_key: PemKey) -> None:
    issuer = issuer_from_settings(settings(old_key.pkcs8, ISSUER + "/tenants/a"))
    assert issuer is not None
    router = Router()
    paths = register_discovery_routes(router, issuer)
    assert paths == ("/tenants/a/.well-known/openid-configuration",
                     "/tenants/a/.well-known/jwks.json")  # fmt: skip
    response = await router.dispatch(request("GET", paths[0]))
    assert response is not None
    assert response.headers["Content-Type"] == "application/json"
    document = json.loads(response.body)
    assert document["issuer"] == ISSUER + "/tenants/a"
    assert document["jwks_uri"] == ISSUER + "/tenants/a/.well-known/jwks.json"
    # Other methods are not ours: they go on to the S3 pipeline.
    assert await router.dispatch(request("POST", paths[0])) is None
    assert await router.dispatch(request("GET", "/.well-known/jwks.json")) is None
