"""Inbound SigV4 verification (header auth and presigned URLs), with botocore as the oracle.

Every request is signed by botocore (directly, or by a real boto3 client whose prepared
request is captured just before it would be sent) and rebuilt as the server would receive
it: raw path, raw query and headers exactly as on the wire, the client's own Host.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode
from multidict import CIMultiDict

from multistore.core.auth.canonical import (
    canonical_headers,
    canonical_query_string,
    canonical_request,
    credential_scope,
    derive_signing_key,
    hash_canonical_request,
    signature_hex,
    string_to_sign,
)
from multistore.core.auth.sigv4 import (
    ParsedSignature,
    VerifiedSignature,
    parse_signature,
    verify_signature,
)
from multistore.core.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from multistore.core.http import RequestInfo

ACCESS_KEY = "AKIAGATEWAYTEST"
SECRET = "gateway/secret+key/0123456789abcdefghijklmn"
TOKEN = "session-token/with+odd=chars"
SIGNED_AT = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
NOW = calendar.timegm(SIGNED_AT.utctimetuple())
ENDPOINT = "http://gw.example:8080"

KEYS = [
    "report*.pdf",
    "100%.txt",
    "100%25.txt",
    "a=b",
    "spaces in/every segment.txt",
    "a b/c d",
    "plus+sign.txt",
    "tilde~file",
    "café/naïve.txt",
    "specials !('):@,;$&.bin",
    "brackets[1]{2}.bin",
    "by_country/country_iso=ETH/ETH.pmtiles",
]

QUERIES = [
    "",
    "prefix=a%2Fb&delimiter=%2F&encoding-type=url&list-type=2",
    "uploads",
    "delete",
    "uploadId=2~abc.def-ghi&partNumber=7",
    "versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY",
    "response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22",
]


@pytest.fixture(autouse=True)
def botocore_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Freeze botocore's signing clocks so every signature here is reproducible.

    With awscrt installed (it is here, as for most aws-cli users) boto3 clients sign with
    the CRT signers in ``botocore.crt.auth``, an independent implementation: a second oracle.
    """
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: SIGNED_AT)
    crt_auth = pytest.importorskip("botocore.crt.auth", reason="awscrt not installed")
    monkeypatch.setattr(crt_auth, "get_current_datetime", lambda *a, **k: SIGNED_AT)


def server_view(
    method: str, url: str, headers: Any = (), *, drop: frozenset[str] = frozenset()
) -> RequestInfo:
    """The request as the gateway receives it; ``drop`` removes headers a client never sends."""
    parts = urlsplit(url)
    received: CIMultiDict[str] = CIMultiDict()
    items = list(headers.items()) if hasattr(headers, "items") else list(headers)
    if not any(name.lower() == "host" for name, _ in items):
        received["Host"] = parts.netloc
    for name, value in items:
        if name.lower() not in drop:
            received.add(name, value.decode() if isinstance(value, bytes) else value)
    return RequestInfo(method=method, raw_path=parts.path, raw_query=parts.query, headers=received)


def object_url(key: str, query: str = "", *, bucket: str = "bucket") -> str:
    # Encoded the way botocore's S3 serializer encodes a key in the path.
    url = f"{ENDPOINT}/{bucket}/{percent_encode(key, safe='/~')}"
    return f"{url}?{query}" if query else url


def sign_header_auth(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    token: str | None = None,
    sign_payload: bool = True,
) -> RequestInfo:
    request = AWSRequest(method=method, url=url, headers=headers or {}, data=body)
    if not sign_payload:
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET, token), "s3", "us-east-1").add_auth(
        request
    )
    return server_view(method, request.url, request.headers)


def presign(
    method: str,
    url: str,
    *,
    expires: int = 3600,
    headers: dict[str, str] | None = None,
    token: str | None = None,
) -> str:
    request = AWSRequest(method=method, url=url, headers=headers or {})
    botocore.auth.S3SigV4QueryAuth(
        Credentials(ACCESS_KEY, SECRET, token), "s3", "us-east-1", expires=expires
    ).add_auth(request)
    return str(request.url)


def verify(request: RequestInfo, *, now: float = NOW, secret: str = SECRET) -> VerifiedSignature:
    parsed = parse_signature(request)
    assert parsed is not None
    verified = verify_signature(parsed, request, secret, now=now)
    assert verified is not None
    return verified


def with_header(request: RequestInfo, name: str, value: str) -> RequestInfo:
    headers = CIMultiDict(request.headers)
    headers[name] = value
    return RequestInfo(
        method=request.method, raw_path=request.raw_path, raw_query=request.raw_query,
        headers=headers,
    )  # fmt: skip


# --- header auth: botocore oracle ---------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", QUERIES)
def test_botocore_header_signed_get_verifies(key: str, query: str) -> None:
    request = sign_header_auth("GET", object_url(key, query))
    verified = verify(request)
    assert verified.scope == "20250101/us-east-1/s3/aws4_request"
    assert verified.amz_date == "20250101T120000Z"
    assert request.headers["Authorization"].endswith(verified.seed_signature)
    assert verified.signing_key == derive_signing_key(SECRET, "20250101", "us-east-1", "s3")


@pytest.mark.parametrize("key", KEYS)
def test_botocore_header_signed_put_with_headers_verifies(key: str) -> None:
    body = b"hello, world"
    request = sign_header_auth(
        "PUT",
        object_url(key),
        {
            "Content-Type": "text/plain; charset=utf-8",
            "x-amz-meta-note": "  spaced    out  value ",
            "x-amz-tagging": "a=1&b=2",
            "Content-MD5": "XrY7u+Ae7tCTyyK7j1rNww==",
        },
        body,
        token=TOKEN,
    )
    parsed = parse_signature(request)
    assert parsed is not None
    assert parsed.session_token == TOKEN
    assert len(parsed.payload_hash) == 64
    verify(request)


def test_botocore_header_signed_unsigned_payload_verifies() -> None:
    request = sign_header_auth("PUT", object_url("k"), body=b"data", sign_payload=False)
    parsed = parse_signature(request)
    assert parsed is not None
    assert parsed.payload_hash == "UNSIGNED-PAYLOAD"
    verify(request)


def test_authorization_without_spaces_after_commas_verifies() -> None:
    request = sign_header_auth("GET", object_url("k"))
    compact = request.headers["Authorization"].replace(", ", ",")
    verify(with_header(request, "Authorization", compact))


def test_date_header_fallback_when_x_amz_date_missing() -> None:
    # botocore signs with the Date header instead of X-Amz-Date when one is present.
    request = sign_header_auth("GET", object_url("k"), {"Date": "placeholder"})
    assert "x-amz-date" not in request.headers
    parsed = parse_signature(request)
    assert parsed is not None
    assert parsed.amz_date == "20250101T120000Z"
    verify(request)


# --- header auth: failures ----------------------------------------------------------------


def test_wrong_secret_does_not_match() -> None:
    request = sign_header_auth("GET", object_url("k"))
    with pytest.raises(SignatureDoesNotMatch):
        verify(request, secret=SECRET + "x")


def test_tampered_signed_header_does_not_match() -> None:
    request = sign_header_auth("PUT", object_url("k"), {"x-amz-meta-a": "1"})
    with pytest.raises(SignatureDoesNotMatch):
        verify(with_header(request, "x-amz-meta-a", "2"))


def test_tampered_host_does_not_match() -> None:
    request = sign_header_auth("GET", object_url("k"))
    with pytest.raises(SignatureDoesNotMatch):
        verify(with_header(request, "Host", "gw.example:8081"))


@pytest.mark.parametrize(
    ("key", "raw_path", "raw_query"),
    [
        # The aliasing pair: "100%.txt" goes out as 100%25.txt, "100%25.txt" as 100%2525.txt.
        ("100%.txt", "/bucket/100%2525.txt", ""),
        ("100%25.txt", "/bucket/100%25.txt", ""),
        # Same decoded key, different wire encoding: S3 signs the raw path, so no match.
        ("a=b", "/bucket/a=b", ""),
        ("a b/c d", "/bucket/a+b/c+d", ""),
        ("report*.pdf", "/bucket/report*.pdf", ""),
        # An added query parameter.
        ("k", "/bucket/k", "versionId=1"),
    ],
)
def test_tampered_path_or_query_does_not_match(key: str, raw_path: str, raw_query: str) -> None:
    request = sign_header_auth("GET", object_url(key))
    assert request.raw_path != raw_path or raw_query
    tampered = RequestInfo(
        method="GET", raw_path=raw_path, raw_query=raw_query, headers=request.headers
    )
    with pytest.raises(SignatureDoesNotMatch):
        verify(tampered)


def test_tampered_query_value_does_not_match() -> None:
    request = sign_header_auth("GET", f"{ENDPOINT}/bucket?list-type=2&prefix=a%2Fb")
    tampered = RequestInfo(
        method="GET",
        raw_path=request.raw_path,
        raw_query="list-type=2&prefix=a%2Fc",
        headers=request.headers,
    )
    with pytest.raises(SignatureDoesNotMatch):
        verify(tampered)


def test_tampered_method_does_not_match() -> None:
    request = sign_header_auth("GET", object_url("k"))
    tampered = RequestInfo(
        method="DELETE", raw_path=request.raw_path, raw_query="", headers=request.headers
    )
    with pytest.raises(SignatureDoesNotMatch):
        verify(tampered)


def test_zero_signature_does_not_match() -> None:
    request = sign_header_auth("GET", object_url("k"))
    auth = request.headers["Authorization"]
    zeroed = auth[: auth.index("Signature=") + len("Signature=")] + "0" * 64
    with pytest.raises(SignatureDoesNotMatch):
        verify(with_header(request, "Authorization", zeroed))


@pytest.mark.parametrize("minutes", [-14, 14, 15])
def test_clock_skew_within_fifteen_minutes_is_accepted(minutes: int) -> None:
    verify(sign_header_auth("GET", object_url("k")), now=NOW + minutes * 60)


@pytest.mark.parametrize("minutes", [-16, 16])
def test_clock_skew_beyond_fifteen_minutes_is_rejected(minutes: int) -> None:
    with pytest.raises(RequestTimeTooSkewed) as caught:
        verify(sign_header_auth("GET", object_url("k")), now=NOW + minutes * 60)
    assert caught.value.status == 403


def test_scope_date_must_match_request_date() -> None:
    request = sign_header_auth("GET", object_url("k"))
    auth = request.headers["Authorization"].replace("/20250101/", "/20241231/")
    with pytest.raises(AuthorizationHeaderMalformed) as caught:
        verify(with_header(request, "Authorization", auth))
    assert caught.value.status == 400


def test_invalid_x_amz_date_is_denied() -> None:
    request = with_header(sign_header_auth("GET", object_url("k")), "x-amz-date", "2025-01-01")
    with pytest.raises(AccessDenied):
        verify(request)


def test_missing_date_headers_are_denied() -> None:
    request = sign_header_auth("GET", object_url("k"))
    headers = CIMultiDict(request.headers)
    del headers["x-amz-date"]
    stripped = RequestInfo(method="GET", raw_path=request.raw_path, raw_query="", headers=headers)
    with pytest.raises(AccessDenied):
        parse_signature(stripped)


def test_invalid_content_sha256_is_rejected() -> None:
    request = with_header(sign_header_auth("GET", object_url("k")), "x-amz-content-sha256", "abc")
    with pytest.raises(InvalidArgument):
        parse_signature(request)


def test_mismatch_logs_canonical_request_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="multistore.core.auth")
    request = sign_header_auth("GET", object_url("café/naïve.txt"))
    with pytest.raises(SignatureDoesNotMatch):
        verify(request, secret="wrong")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "mismatch" in logged
    assert f"GET\n{request.raw_path}\n" in logged
    assert "StringToSign" in logged


# --- parsing: malformed and unsupported ---------------------------------------------------


def _request_with_authorization(value: str, raw_query: str = "") -> RequestInfo:
    headers = CIMultiDict(
        [("Host", "gw.example"), ("Authorization", value), ("x-amz-date", "20250101T120000Z"),
         ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]
    )  # fmt: skip
    return RequestInfo(method="GET", raw_path="/b/k", raw_query=raw_query, headers=headers)


GOOD_CREDENTIAL = f"{ACCESS_KEY}/20250101/us-east-1/s3/aws4_request"


@pytest.mark.parametrize(
    "authorization",
    [
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20250101/us-east-1/s3, "
        "SignedHeaders=host, Signature=" + "a" * 64,
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20250101/us-east-1/s3/aws5_request, "
        "SignedHeaders=host, Signature=" + "a" * 64,
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20250101/us-east-1/s3/extra/aws4_request, "
        "SignedHeaders=host, Signature=" + "a" * 64,
        "AWS4-HMAC-SHA256 Credential=/20250101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=" + "a" * 64,
        f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=host",
        f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, Signature=" + "a" * 64,
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + "a" * 64,
        f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=host;;x-amz-date, "
        "Signature=" + "a" * 64,
        "AWS4-HMAC-SHA256",
    ],
)
def test_malformed_authorization_header_is_400(authorization: str) -> None:
    with pytest.raises(AuthorizationHeaderMalformed) as caught:
        parse_signature(_request_with_authorization(authorization))
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "authorization",
    [
        # How SDKs write it (the regular-expression fast path) ...
        f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=host;x-amz-date, "
        "Signature=" + "ab" * 32,
        f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL},SignedHeaders=host;x-amz-date,"
        "Signature=" + "ab" * 32,
        # ... and spellings only the general parser takes: the same fields either way.
        f"  AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL} ,  SignedHeaders=host;x-amz-date, "
        "Signature=" + "ab" * 32 + " ",
        f"AWS4-HMAC-SHA256 Signature={'ab' * 32}, Credential={GOOD_CREDENTIAL}, "
        "SignedHeaders=host;x-amz-date",
    ],
)
def test_every_spelling_of_the_authorization_header_parses_alike(authorization: str) -> None:
    parsed = parse_signature(_request_with_authorization(authorization))
    assert parsed is not None
    assert (parsed.access_key_id, parsed.scope_date, parsed.region, parsed.service) == (
        ACCESS_KEY, "20250101", "us-east-1", "s3"
    )  # fmt: skip
    assert parsed.signed_headers == ("host", "x-amz-date")
    assert parsed.signature == "ab" * 32


@pytest.mark.parametrize(
    "authorization",
    [
        f"AWS {ACCESS_KEY}:frJIUN8DYpKDtOLCwo//yllqDzg=",
        "AWS4-ECDSA-P256-SHA256 Credential=x, SignedHeaders=host, Signature=00",
        "Bearer token",
        "",
    ],
)
def test_other_authorization_schemes_are_invalid_requests(authorization: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_signature(_request_with_authorization(authorization))
    assert caught.value.status == 400
    assert "AWS4-HMAC-SHA256" in caught.value.message


def test_sigv2_header_message_names_sigv4() -> None:
    with pytest.raises(InvalidRequest, match="Signature Version 4"):
        parse_signature(_request_with_authorization(f"AWS {ACCESS_KEY}:c2lnbmF0dXJl"))


def test_header_and_query_auth_together_are_rejected() -> None:
    url = presign("GET", object_url("k"))
    request = sign_header_auth("GET", object_url("k"))
    both = RequestInfo(
        method="GET",
        raw_path=request.raw_path,
        raw_query=urlsplit(url).query,
        headers=request.headers,
    )
    with pytest.raises(InvalidArgument) as caught:
        parse_signature(both)
    assert caught.value.status == 400


def test_anonymous_request_parses_to_none() -> None:
    assert parse_signature(server_view("GET", object_url("k", "list-type=2"))) is None
    # A session token without a signature does not make a request authenticated.
    token_only = server_view(
        "GET", object_url("k", f"X-Amz-Security-Token={TOKEN}"), {"x-amz-security-token": TOKEN}
    )
    assert parse_signature(token_only) is None


def test_parsed_header_signature_fields() -> None:
    request = sign_header_auth("GET", object_url("k"), token=TOKEN)
    parsed = parse_signature(request)
    assert parsed == ParsedSignature(
        kind="header",
        access_key_id=ACCESS_KEY,
        signature=request.headers["Authorization"][-64:],
        session_token=TOKEN,
        amz_date="20250101T120000Z",
        scope_date="20250101",
        region="us-east-1",
        service="s3",
        signed_headers=("host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"),
        payload_hash="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    )


# --- presigned URLs (SigV4 query auth) ----------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", QUERIES)
def test_botocore_presigned_url_verifies(key: str, query: str) -> None:
    url = presign("GET", object_url(key, query))
    verified = verify(server_view("GET", url))
    assert url.endswith(f"X-Amz-Signature={verified.seed_signature}")


def test_presigned_url_with_token_and_signed_content_type() -> None:
    url = presign(
        "PUT", object_url("up/load.bin"), headers={"Content-Type": "text/csv"}, token=TOKEN
    )
    request = server_view("PUT", url, {"Content-Type": "text/csv"})
    parsed = parse_signature(request)
    assert parsed is not None
    assert parsed.kind == "query"
    assert parsed.session_token == TOKEN
    assert parsed.signed_headers == ("content-type", "host")
    assert parsed.payload_hash == "UNSIGNED-PAYLOAD"
    assert parsed.expires == 3600
    verify(request)
    with pytest.raises(SignatureDoesNotMatch):
        verify(server_view("PUT", url, {"Content-Type": "text/html"}))


def test_presigned_url_ignores_client_payload_header() -> None:
    # A client uploading to a presigned URL may add its own x-amz-content-sha256; the URL
    # signed UNSIGNED-PAYLOAD and that is what counts.
    url = presign("PUT", object_url("k"))
    verify(server_view("PUT", url, {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}))


def test_presigned_url_expiry_boundaries() -> None:
    url = presign("GET", object_url("k"), expires=60)
    request = server_view("GET", url)
    verify(request, now=NOW + 60)
    with pytest.raises(AccessDenied, match="Request has expired"):
        verify(request, now=NOW + 61)


def test_presigned_url_from_the_future_is_skewed() -> None:
    url = presign("GET", object_url("k"))
    verify(server_view("GET", url), now=NOW - 14 * 60)
    with pytest.raises(RequestTimeTooSkewed):
        verify(server_view("GET", url), now=NOW - 16 * 60)


@pytest.mark.parametrize("expires", [604801, 10**9])
def test_presigned_url_longer_than_a_week_is_rejected(expires: int) -> None:
    url = presign("GET", object_url("k"), expires=expires)
    with pytest.raises(AuthorizationQueryParametersError) as caught:
        parse_signature(server_view("GET", url))
    assert caught.value.status == 400


def test_presigned_url_of_exactly_a_week_is_accepted() -> None:
    url = presign("GET", object_url("k"), expires=604800)
    verify(server_view("GET", url), now=NOW + 604800)


def _replace_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    pieces = [
        f"{name}={value}" if piece.partition("=")[0] == name else piece
        for piece in parts.query.split("&")
    ]
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{'&'.join(pieces)}"


def _drop_param(url: str, name: str) -> str:
    parts = urlsplit(url)
    pieces = [piece for piece in parts.query.split("&") if piece.partition("=")[0] != name]
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{'&'.join(pieces)}"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Amz-Expires", "0"),
        ("X-Amz-Expires", "-5"),
        ("X-Amz-Expires", "ten"),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA1"),
        ("X-Amz-Credential", f"{ACCESS_KEY}%2F20250101%2Fus-east-1%2Fs3"),
        ("X-Amz-Date", "20250101"),
        ("X-Amz-SignedHeaders", "host%3B%3B"),
    ],
)
def test_malformed_presign_parameters_are_400(name: str, value: str) -> None:
    url = _replace_param(presign("GET", object_url("k")), name, value)
    with pytest.raises(AuthorizationQueryParametersError) as caught:
        parse_signature(server_view("GET", url))
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "name", ["X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
             "X-Amz-Signature", "X-Amz-Algorithm"]
)  # fmt: skip
def test_presign_missing_parameter_is_400(name: str) -> None:
    url = _drop_param(presign("GET", object_url("k")), name)
    with pytest.raises(AuthorizationQueryParametersError):
        parse_signature(server_view("GET", url))


def test_presign_scope_date_mismatch_is_400() -> None:
    url = _replace_param(
        presign("GET", object_url("k")),
        "X-Amz-Credential",
        f"{ACCESS_KEY}%2F20241231%2Fus-east-1%2Fs3%2Faws4_request",
    )
    with pytest.raises(AuthorizationQueryParametersError):
        verify(server_view("GET", url))


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-Amz-Expires", "7200"), ("X-Amz-Signature", "0" * 64), ("prefix", "other")],
)
def test_tampered_presigned_url_does_not_match(name: str, value: str) -> None:
    url = _replace_param(presign("GET", f"{ENDPOINT}/bucket?list-type=2&prefix=p"), name, value)
    with pytest.raises(SignatureDoesNotMatch):
        verify(server_view("GET", url))


def test_presign_with_wrong_secret_does_not_match() -> None:
    with pytest.raises(SignatureDoesNotMatch):
        verify(server_view("GET", presign("GET", object_url("k"))), secret="nope")


def test_presign_with_both_v4_and_v2_params_is_rejected() -> None:
    url = presign("GET", object_url("k", "AWSAccessKeyId=AK&Signature=abc&Expires=1"))
    with pytest.raises(InvalidArgument):
        parse_signature(server_view("GET", url))


def test_half_built_presigned_url_is_400_not_anonymous() -> None:
    url = object_url(
        "k", f"X-Amz-Credential={ACCESS_KEY}%2F20250101%2Fus-east-1%2Fs3%2Faws4_request"
    )
    with pytest.raises(AuthorizationQueryParametersError):
        parse_signature(server_view("GET", url))


# --- a real boto3 client ------------------------------------------------------------------


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


@pytest.fixture
def boto3_client() -> Iterator[Any]:
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
        aws_session_token=TOKEN,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )

    def capture(request: Any, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send.s3.*", capture)
    yield client
    client.close()


def _captured_request(call: Any, **params: Any) -> RequestInfo:
    with pytest.raises(_Captured) as caught:
        call(**params)
    sent = caught.value.request
    return server_view(sent.method, sent.url, sent.headers)


@pytest.mark.parametrize("key", KEYS)
def test_boto3_object_operations_verify(boto3_client: Any, key: str) -> None:
    c = boto3_client
    calls: list[tuple[Any, dict[str, Any]]] = [
        (c.get_object, {"Key": key, "Range": "bytes=0-9"}),
        (c.head_object, {"Key": key, "IfNoneMatch": '"etag"'}),
        (
            c.put_object,
            {"Key": key, "Body": b"data", "ContentType": "text/plain",
             "Metadata": {"note": "two  spaces"}, "Tagging": "a=1&b=x y"},
        ),
        (c.delete_object, {"Key": key}),
        (c.create_multipart_upload, {"Key": key}),
        (c.upload_part, {"Key": key, "UploadId": "up/id+1", "PartNumber": 3, "Body": b"x"}),
        (c.list_parts, {"Key": key, "UploadId": "up/id+1"}),
        (c.copy_object, {"Key": key, "CopySource": {"Bucket": "src", "Key": key}}),
        (c.get_object, {"Key": key, "ResponseContentDisposition": 'attachment; filename="x y"'}),
    ]  # fmt: skip
    for call, params in calls:
        request = _captured_request(call, Bucket="bucket", **params)
        verified = verify(request)
        assert request.headers["Authorization"].endswith(verified.seed_signature)


@pytest.mark.parametrize(
    "params",
    [
        {"Prefix": "a/b c+d", "Delimiter": "/", "EncodingType": "url"},
        {"Prefix": "café/", "StartAfter": "café/naïve.txt", "MaxKeys": 10},
        {"ContinuationToken": "tok/en+==", "FetchOwner": True},
    ],
)
def test_boto3_list_objects_verify(boto3_client: Any, params: dict[str, Any]) -> None:
    verify(_captured_request(boto3_client.list_objects_v2, Bucket="bucket", **params))
    v1_params = {k: v for k, v in params.items() if k in ("Prefix", "Delimiter", "EncodingType")}
    verify(_captured_request(boto3_client.list_objects, Bucket="bucket", **v1_params))


def test_boto3_delete_objects_verifies(boto3_client: Any) -> None:
    objects = [{"Key": key} for key in KEYS]
    request = _captured_request(
        boto3_client.delete_objects, Bucket="bucket", Delete={"Objects": objects, "Quiet": True}
    )
    assert request.raw_query == "delete"
    verify(request)


def test_boto3_list_buckets_and_location_verify(boto3_client: Any) -> None:
    verify(_captured_request(boto3_client.list_buckets))
    verify(_captured_request(boto3_client.get_bucket_location, Bucket="bucket"))


@pytest.mark.parametrize("key", KEYS)
def test_boto3_sigv4_presigned_urls_verify(key: str) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="eu-west-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    try:
        for method, operation, extra in [
            ("GET", "get_object", {"ResponseContentType": "text/plain; charset=utf-8"}),
            ("PUT", "put_object", {}),
            ("HEAD", "head_object", {}),
        ]:
            url = client.generate_presigned_url(
                operation, Params={"Bucket": "bucket", "Key": key, **extra}, ExpiresIn=900
            )
            verified = verify(server_view(method, url))
            assert verified.scope == "20250101/eu-west-1/s3/aws4_request"
    finally:
        client.close()


def test_non_ascii_signed_header_verifies() -> None:
    verify(sign_header_auth("PUT", object_url("k"), {"x-amz-meta-city": "Zürich café"}))


def test_undecodable_signature_is_a_mismatch_not_a_crash() -> None:
    request = sign_header_auth("GET", object_url("k"))
    auth = request.headers["Authorization"]
    broken = auth[: auth.index("Signature=") + len("Signature=")] + "\udcff" * 64
    with pytest.raises(SignatureDoesNotMatch):
        verify(with_header(request, "Authorization", broken))


def test_nothing_is_logged_unless_debug_is_enabled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="multistore.core.auth")
    request = sign_header_auth("GET", object_url("k"))
    verify(request)
    with pytest.raises(SignatureDoesNotMatch):
        verify(request, secret="wrong")
    assert not [r for r in caplog.records if r.name == "multistore.core.auth"]


# --- verification spells out canonical.py's steps: hold it to them ------------------------


def _signed_by_the_helpers(headers: list[tuple[str, str]], signed: tuple[str, ...]) -> RequestInfo:
    """A request signed with canonical.py's step functions, as the outbound signer does."""
    raw_query = "b=2&a=%7e+x"
    received = CIMultiDict(headers)
    creq = canonical_request(
        "PUT",
        "/bucket/caf%C3%A9",
        canonical_query_string(raw_query),
        canonical_headers(received, signed),
        ";".join(signed),
        "UNSIGNED-PAYLOAD",
    )
    scope = credential_scope("20250101", "us-east-1", "s3")
    sts = string_to_sign("20250101T120000Z", scope, hash_canonical_request(creq))
    signature = signature_hex(derive_signing_key(SECRET, "20250101", "us-east-1", "s3"), sts)
    received["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={signature}"
    )
    return RequestInfo(
        method="PUT", raw_path="/bucket/caf%C3%A9", raw_query=raw_query, headers=received
    )


def test_verification_builds_the_same_canonical_request_as_the_helpers() -> None:
    headers = [
        ("Host", "gw.example"), ("X-Amz-Date", "20250101T120000Z"),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"), ("X-Amz-Meta-Note", "  a   b \t c "),
        ("x-amz-meta-note", "second"), ("X-Amz-Meta-Raw", "caf\udce9"), ("Range", "bytes=0-1"),
    ]  # fmt: skip
    signed = ("host", "x-amz-content-sha256", "x-amz-date", "x-amz-meta-note", "x-amz-meta-raw")
    request = _signed_by_the_helpers(headers, signed)
    assert verify(request).seed_signature == request.headers["Authorization"][-64:]
    verify(with_header(request, "Range", "bytes=0-2"))  # not signed: may change
    with pytest.raises(SignatureDoesNotMatch):
        verify(with_header(request, "X-Amz-Meta-Note", "a b c,third"))


def test_a_remembered_authorization_head_parses_as_the_first_time() -> None:
    head = f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=host;x-amz-date, "
    for _ in range(2):  # the second round finds the head remembered
        parsed = parse_signature(_request_with_authorization(head + "Signature=" + "ab" * 32))
        assert parsed is not None
        assert (parsed.access_key_id, parsed.signed_headers) == (ACCESS_KEY, ("host", "x-amz-date"))
        # Not lower-case hex: the general parser's fields, then a mismatch, as before.
        upper = parse_signature(_request_with_authorization(head + "Signature=" + "AB" * 32))
        assert upper is not None
        assert (upper.access_key_id, upper.signature) == (ACCESS_KEY, "AB" * 32)
        with pytest.raises(AuthorizationHeaderMalformed, match="Signature"):
            parse_signature(_request_with_authorization(head + "Signature="))
        spaced = parse_signature(_request_with_authorization(head + "Signature= " + "ab" * 32))
        assert spaced is not None
        assert spaced.signature == "ab" * 32
        with pytest.raises(SignatureDoesNotMatch):
            verify(_request_with_authorization(head + "Signature=" + "ab" * 32))
