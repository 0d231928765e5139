"""The outbound signer: byte-identical to botocore, and accepted by the gateway's verifier."""

from __future__ import annotations

import calendar
import hashlib
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from multistore.core.auth.canonical import (
    EMPTY_SHA256,
    STREAMING_AWS4_HMAC_SHA256_PAYLOAD,
    STREAMING_UNSIGNED_PAYLOAD_TRAILER,
    UNSIGNED_PAYLOAD,
    canonical_query_from_params,
)
from multistore.core.auth.signing import RequestSigner, SigningCredentials
from multistore.core.auth.sigv4 import parse_signature, verify_signature
from multistore.core.http import RequestInfo
from multistore.core.s3.keys import encode_wire_path

ACCESS_KEY = "AKIABACKENDTEST"
SECRET = "backend/secret+key/0123456789abcdefghijklmn"
TOKEN = "backend-session-token+/="
SIGNED_AT = datetime(2025, 3, 9, 23, 59, 58, tzinfo=UTC)
NOW = calendar.timegm(SIGNED_AT.utctimetuple())
HOST = "minio.internal:9000"

KEYS = [
    "report*.pdf",
    "100%.txt",
    "100%25.txt",
    "a=b",
    "a b/c d",
    "plus+sign.txt",
    "tilde~file",
    "café/naïve.txt",
    "specials !('):@,;$&.bin",
    "literal-%3D-triplet.txt",
    # Keys S3 accepts that look like paths: signed as sent, never normalised (issue 8).
    "folder/",
    "a//b",
    "../x/./y",
    "/lead",
    "ctrl\x01\x7f\ttab",
]

QUERY_PARAMS: list[list[tuple[str, str]]] = [
    [],
    [("uploads", "")],
    [("partNumber", "3"), ("uploadId", "up/id+1~x")],
    [("list-type", "2"), ("prefix", "a/b c"), ("delimiter", "/"), ("encoding-type", "url")],
    [("response-content-disposition", 'attachment; filename="x y.txt"')],
]

PAYLOAD_HASHES = [
    EMPTY_SHA256,
    hashlib.sha256(b"payload").hexdigest(),
    UNSIGNED_PAYLOAD,
    STREAMING_UNSIGNED_PAYLOAD_TRAILER,
    STREAMING_AWS4_HMAC_SHA256_PAYLOAD,
]


class PinnedPayloadS3SigV4Auth(botocore.auth.S3SigV4Auth):
    """botocore's S3 header signer with the payload hash given rather than computed."""

    def __init__(self, credentials: Credentials, payload_hash: str) -> None:
        super().__init__(credentials, "s3", "eu-central-1")
        self._payload_hash = payload_hash

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash


@pytest.fixture(autouse=True)
def botocore_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: SIGNED_AT)


def signer(*, token: str | None = None) -> RequestSigner:
    return RequestSigner(SigningCredentials(ACCESS_KEY, SECRET, token), region="eu-central-1")


def botocore_authorization(
    method: str,
    url: str,
    headers: dict[str, str],
    payload_hash: str,
    *,
    token: str | None = None,
) -> AWSRequest:
    request = AWSRequest(method=method, url=url, headers=headers)
    PinnedPayloadS3SigV4Auth(Credentials(ACCESS_KEY, SECRET, token), payload_hash).add_auth(request)
    return request


def server_view(method: str, path: str, query: str, headers: dict[str, str]) -> RequestInfo:
    return RequestInfo(method=method, raw_path=path, raw_query=query, headers=CIMultiDict(headers))


# --- identity with botocore ---------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("params", QUERY_PARAMS)
@pytest.mark.parametrize("payload_hash", PAYLOAD_HASHES)
def test_sign_headers_matches_botocore(
    key: str, params: list[tuple[str, str]], payload_hash: str
) -> None:
    path = f"/backend-bucket/{encode_wire_path(key)}"
    query = canonical_query_from_params(params)
    extra = {
        "Content-Type": "application/octet-stream",
        "x-amz-meta-note": " two  spaces ",
        "x-amz-copy-source": f"/src/{encode_wire_path(key)}",
        "Content-MD5": "XrY7u+Ae7tCTyyK7j1rNww==",
        "If-None-Match": "*",
    }
    ours = signer(token=TOKEN).sign_headers(
        "PUT",
        HOST,
        path,
        query,
        # Headers the signer must leave unsigned, which botocore never sees here.
        {**extra, "Content-Length": "7", "User-Agent": "multistore", "Expect": "100-continue"},
        payload_hash,
        now=NOW,
    )
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    theirs = botocore_authorization("PUT", url, dict(extra), payload_hash, token=TOKEN)
    assert ours["authorization"] == theirs.headers["Authorization"]
    assert ours["x-amz-date"] == theirs.headers["X-Amz-Date"] == "20250309T235958Z"
    assert ours["x-amz-content-sha256"] == theirs.headers["X-Amz-Content-SHA256"] == payload_hash
    assert ours["x-amz-security-token"] == theirs.headers["X-Amz-Security-Token"] == TOKEN
    assert ours["host"] == HOST


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("params", QUERY_PARAMS)
@pytest.mark.parametrize("token", [None, TOKEN])
def test_presign_matches_botocore(
    key: str, params: list[tuple[str, str]], token: str | None
) -> None:
    path = f"/backend-bucket/{encode_wire_path(key)}"
    ours = signer(token=token).presign("GET", HOST, path, params, expires=300, now=NOW)

    url = f"http://{HOST}{path}"
    if params:
        url += f"?{canonical_query_from_params(params)}"
    request = AWSRequest(method="GET", url=url)
    botocore.auth.S3SigV4QueryAuth(
        Credentials(ACCESS_KEY, SECRET, token), "s3", "eu-central-1", expires=300
    ).add_auth(request)
    theirs = urlsplit(request.url).query

    ours_pairs = parse_qsl(ours, keep_blank_values=True)
    assert sorted(ours_pairs) == sorted(parse_qsl(theirs, keep_blank_values=True))
    assert ours_pairs[-1][0] == "X-Amz-Signature"
    # Everything before the signature is in canonical order, as promised.
    assert ours.rpartition("&X-Amz-Signature=")[0] == canonical_query_from_params(ours_pairs[:-1])


def test_sign_headers_with_default_port_host_matches_botocore() -> None:
    # botocore drops a default port from Host; a caller passes the Host it will send.
    ours = signer().sign_headers(
        "GET", "s3.eu-central-1.amazonaws.com", "/b/k", "", {}, EMPTY_SHA256, now=NOW
    )
    theirs = botocore_authorization(
        "GET", "https://s3.eu-central-1.amazonaws.com:443/b/k", {}, EMPTY_SHA256
    )
    assert ours["authorization"] == theirs.headers["Authorization"]


def test_signing_key_follows_the_date() -> None:
    s = signer()
    for moment in (NOW, NOW + 2, NOW + 86_400 * 40):
        signed_at = datetime.fromtimestamp(moment, tz=UTC)
        ours = s.sign_headers("GET", HOST, "/b/k", "", {}, EMPTY_SHA256, now=moment)
        request = AWSRequest(method="GET", url=f"http://{HOST}/b/k")
        auth = PinnedPayloadS3SigV4Auth(Credentials(ACCESS_KEY, SECRET), EMPTY_SHA256)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(botocore.auth, "get_current_datetime", lambda *a, at=signed_at, **k: at)
            auth.add_auth(request)
        assert ours["authorization"] == request.headers["Authorization"]


# --- header handling ----------------------------------------------------------------------


def test_sign_headers_keeps_an_existing_host_and_replaces_stale_auth_headers() -> None:
    headers = {
        "Host": "other.example",
        "X-Amz-Date": "19700101T000000Z",
        "Authorization": "stale",
        "X-AMZ-CONTENT-SHA256": "stale",
    }
    signed = signer().sign_headers("GET", HOST, "/b/k", "", headers, EMPTY_SHA256, now=NOW)
    assert signed is headers
    assert signed["Host"] == "other.example"
    assert "host" not in signed
    assert sorted(name for name in signed if name.lower() == "x-amz-date") == ["x-amz-date"]
    assert "X-AMZ-CONTENT-SHA256" not in signed
    assert "Authorization" not in signed
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date," in signed["authorization"]


def test_sign_headers_signs_everything_but_hop_and_client_headers() -> None:
    headers = {
        "Content-Type": "text/plain",
        "Content-Length": "5",
        "Transfer-Encoding": "chunked",
        "Connection": "keep-alive",
        "User-Agent": "x",
        "Expect": "100-continue",
        "Range": "bytes=0-1",
        "x-amz-checksum-crc32": "AAAAAA==",
    }
    signed = signer().sign_headers("PUT", HOST, "/b/k", "", headers, UNSIGNED_PAYLOAD, now=NOW)
    assert (
        "SignedHeaders=content-type;host;range;x-amz-checksum-crc32;x-amz-content-sha256;"
        "x-amz-date," in signed["authorization"]
    )


def test_no_session_token_header_without_token() -> None:
    signed = signer().sign_headers("GET", HOST, "/b/k", "", {}, EMPTY_SHA256, now=NOW)
    assert "x-amz-security-token" not in signed


def test_credentials_repr_hides_secrets() -> None:
    text = repr(SigningCredentials(ACCESS_KEY, SECRET, TOKEN))
    assert ACCESS_KEY in text
    assert SECRET not in text
    assert TOKEN not in text


# --- round trip through the verifier ------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("params", QUERY_PARAMS)
def test_what_the_signer_signs_the_verifier_accepts(
    key: str, params: list[tuple[str, str]]
) -> None:
    path = f"/gw-bucket/{encode_wire_path(key)}"
    query = canonical_query_from_params(params)
    headers = signer(token=TOKEN).sign_headers(
        "PUT",
        HOST,
        path,
        query,
        {"x-amz-meta-a": "1", "Content-Type": "text/plain"},
        hashlib.sha256(b"body").hexdigest(),
        now=NOW,
    )
    request = server_view("PUT", path, query, headers)
    parsed = parse_signature(request)
    assert parsed is not None
    assert parsed.session_token == TOKEN
    verified = verify_signature(parsed, request, SECRET, now=NOW + 5)
    assert verified is not None
    assert verified.scope == "20250309/eu-central-1/s3/aws4_request"

    presigned = signer(token=TOKEN).presign("GET", HOST, path, params, expires=60, now=NOW)
    request = server_view("GET", path, presigned, {"Host": HOST})
    parsed = parse_signature(request)
    assert parsed is not None
    assert parsed.kind == "query"
    assert parsed.expires == 60
    assert parsed.session_token == TOKEN
    assert verify_signature(parsed, request, SECRET, now=NOW + 60) is not None


def test_undecodable_header_bytes_round_trip() -> None:
    headers = signer().sign_headers(
        "PUT", HOST, "/b/k", "", {"x-amz-meta-raw": "caf\udce9"}, UNSIGNED_PAYLOAD, now=NOW
    )
    request = server_view("PUT", "/b/k", "", headers)
    parsed = parse_signature(request)
    assert parsed is not None
    assert verify_signature(parsed, request, SECRET, now=NOW) is not None
