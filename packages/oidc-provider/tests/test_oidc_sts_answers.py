"""How STS answers are read and sorted into 403 / 502 / 503 (AWS's documents, verbatim)."""

from __future__ import annotations

import pytest

from multistore.oidc_provider.aws_sts import (
    StsAccessDenied,
    StsError,
    StsRejected,
    StsUnavailable,
    parse_response,
    session_name_for,
)
from multistore.oidc_provider.backend_auth import StsExchangeFailed

NS = 'xmlns="https://sts.amazonaws.com/doc/2011-06-15/"'


def error(code: str, message: str = "details") -> bytes:
    return (
        f"<ErrorResponse {NS}><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    ).encode()


def test_credentials_are_read_with_or_without_a_namespace() -> None:
    for ns in (NS, ""):
        body = (
            f"<AssumeRoleWithWebIdentityResponse {ns}><AssumeRoleWithWebIdentityResult>"
            "<Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s</SecretAccessKey>"
            "<SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>"
            "</Credentials><Extra/></AssumeRoleWithWebIdentityResult>"
            "</AssumeRoleWithWebIdentityResponse>"
        ).encode()
        issued = parse_response(200, body, where="sts")
        assert issued.credentials.access_key_id == "ASIA1"
        assert issued.credentials.session_token == "t"
        assert issued.valid_for > 0


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (403, error("AccessDenied"), StsAccessDenied, "AccessDenied"),
        (400, error("InvalidIdentityToken"), StsRejected, "InvalidIdentityToken"),
        (400, error("IDPCommunicationError"), StsRejected, "IDPCommunicationError"),
        (400, error("Throttling"), StsUnavailable, "Throttling"),
        (503, error("ServiceUnavailable"), StsUnavailable, "ServiceUnavailable"),
        (502, b"<html>bad gateway</html>", StsUnavailable, ""),
        (404, b"not found", StsRejected, "HTTP404"),
        (200, b"<html/>", StsRejected, "NoCredentials"),
        (200, b"<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
              b"<Credentials><AccessKeyId>A</AccessKeyId></Credentials>"
              b"</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
         StsRejected, "NoCredentials"),
    ],
)  # fmt: skip
def test_failures_are_sorted_by_who_can_fix_them(
    status: int, body: bytes, kind: type[StsError], code: str
) -> None:
    with pytest.raises(kind) as caught:
        parse_response(status, body, where="https://sts.example")
    assert type(caught.value) is kind
    assert caught.value.code == code


def test_the_502_names_the_sts_code_and_nothing_else() -> None:
    error = StsExchangeFailed("STS https://sts.internal answered HTTP 400 X: secret", code="X")
    assert error.status == 502
    assert error.code == "BackendAuthenticationFailed"
    assert error.public_message.endswith("backend (STS error: X).")
    assert "internal" not in error.public_message


@pytest.mark.parametrize(
    ("subject", "name"),
    [
        ("gateway-a", "gateway-a"),
        ("scv1:conn:abc-123", "scv1_conn_abc-123"),
        ("x" * 80, "x" * 64),
        (":", "s3-proxy"),
        ("user@example.com", "user@example.com"),
    ],
)
def test_session_names_follow_sts_rules(subject: str, name: str) -> None:
    assert session_name_for(subject) == name
