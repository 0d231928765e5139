"""Fixtures of the STS tests: real HTTPS OIDC issuers on 127.0.0.1, STS call helpers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest

from multistore.testing.oidc_issuer import OidcIssuer, running_oidc_issuer
from multistore.testing.signing import RawResponse, send
from multistore.testing.tls import TlsFiles

STS_NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
TOKEN_KEY = base64.b64encode(b"multistore-sts-test-key-32-bytes").decode()
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


@pytest.fixture(scope="module")
def issuer(tls_files: TlsFiles) -> Iterator[OidcIssuer]:
    with running_oidc_issuer(tls_files) as server:
        yield server


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    subject: str


@dataclass(frozen=True, slots=True)
class StsFailure:
    status: int
    code: str
    message: str
    request_id: str


def assume_params(role: str, token: str | None, **extra: str) -> dict[str, str]:
    params = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": role}
    if token is not None:
        params["WebIdentityToken"] = token
    params.update(extra)
    return params


def sts_get(url: str, params: dict[str, str]) -> RawResponse:
    return send("GET", f"{url}?{urlencode(params)}")


def sts_post(url: str, params: dict[str, str]) -> RawResponse:
    return send("POST", url, headers=FORM, body=urlencode(params).encode())


def issued(response: RawResponse) -> IssuedCredentials:
    assert response.status == 200, response.body.decode(errors="replace")
    root = ElementTree.fromstring(response.body)
    assert (
        root.tag == "{https://sts.amazonaws.com/doc/2011-06-15/}AssumeRoleWithWebIdentityResponse"
    )
    creds = root.find("sts:AssumeRoleWithWebIdentityResult/sts:Credentials", STS_NS)
    assert creds is not None

    def text(parent: ElementTree.Element, name: str) -> str:
        found = parent.find(f"sts:{name}", STS_NS)
        assert found is not None
        return found.text or ""

    result = root.find("sts:AssumeRoleWithWebIdentityResult", STS_NS)
    assert result is not None
    return IssuedCredentials(
        access_key_id=text(creds, "AccessKeyId"),
        secret_access_key=text(creds, "SecretAccessKey"),
        session_token=text(creds, "SessionToken"),
        expiration=datetime.fromisoformat(text(creds, "Expiration")),
        subject=text(result, "SubjectFromWebIdentityToken"),
    )


def failure(response: RawResponse) -> StsFailure:
    root = ElementTree.fromstring(response.body)
    assert root.tag == "{https://sts.amazonaws.com/doc/2011-06-15/}ErrorResponse", response.body

    def text(path: str) -> str:
        found = root.find(path, STS_NS)
        assert found is not None
        return found.text or ""

    return StsFailure(
        response.status, text("sts:Error/sts:Code"), text("sts:Error/sts:Message"),
        text("sts:RequestId"),
    )  # fmt: skip
