"""SigV4 canonicalisation: unit rules, botocore as oracle, and AWS's published test suite.

The AWS suite's requests (credentials AKIDEXAMPLE, 20150830T123600Z, us-east-1, service
"service") are rebuilt here; ``get-vanilla``'s published signature is asserted literally and
the others are signed with botocore's generic ``SigV4Auth`` and then verified by the
gateway. The suite's path-normalisation cases do not apply to S3, which signs the raw path.
"""

from __future__ import annotations

import calendar
import hashlib
from datetime import UTC, datetime
from urllib.parse import urlsplit

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from multistore.core.auth.canonical import (
    EMPTY_SHA256,
    aws_uri_encode,
    canonical_header_value,
    canonical_headers,
    canonical_query_from_params,
    canonical_query_string,
    canonical_request,
    credential_scope,
    derive_signing_key,
    hash_canonical_request,
    signature_hex,
    string_to_sign,
)
from multistore.core.auth.sigv4 import parse_signature, verify_signature
from multistore.core.http import RequestInfo

SUITE_ACCESS_KEY = "AKIDEXAMPLE"
SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_DATE = datetime(2015, 8, 30, 12, 36, 0, tzinfo=UTC)
SUITE_NOW = calendar.timegm(SUITE_DATE.utctimetuple())


@pytest.fixture
def suite_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore signs with "now"; the suite's vectors need 20150830T123600Z."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: SUITE_DATE)


# --- canonical query ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_query", "expected"),
    [
        ("", ""),
        (
            "prefix=a%2Fb&delimiter=%2F&encoding-type=url&list-type=2",
            "delimiter=%2F&encoding-type=url&list-type=2&prefix=a%2Fb",
        ),
        ("uploads", "uploads="),
        ("delete=", "delete="),
        ("uploadId=abc&partNumber=3", "partNumber=3&uploadId=abc"),
        # Lower-case escapes and escaped unreserved characters are normalised.
        ("prefix=a%2fb", "prefix=a%2Fb"),
        ("prefix=%7Ehome%2D1", "prefix=~home-1"),
        # '+' is a space in a query; an encoded plus stays a plus.
        ("prefix=a+b", "prefix=a%20b"),
        ("prefix=a%2Bb", "prefix=a%2Bb"),
        ("prefix=a b", "prefix=a%20b"),
        # Raw reserved and non-ASCII characters are encoded as UTF-8.
        ("prefix=café/x*", "prefix=caf%C3%A9%2Fx%2A"),
        ("prefix=caf%C3%A9", "prefix=caf%C3%A9"),
        # Invalid UTF-8 stays byte-faithful.
        ("prefix=%ff", "prefix=%FF"),
        # Sort by key, then value: not by the whole "k=v" string ('-' < '=' bytewise).
        ("a-b=1&a=2", "a=2&a-b=1"),
        ("a=2&a=10&a=1", "a=1&a=10&a=2"),
        ("B=1&a=1", "B=1&a=1"),
        # Empty pieces carry no parameter.
        ("a=1&&b=2&", "a=1&b=2"),
        # Only the first '=' separates key and value.
        ("k=a=b", "k=a%3Db"),
    ],
)
def test_canonical_query_string(raw_query: str, expected: str) -> None:
    assert canonical_query_string(raw_query) == expected


def test_canonical_query_string_excludes_by_canonical_key() -> None:
    raw = "X-Amz-Signature=abc&X-Amz-Date=20250101T000000Z&x-id=GetObject"
    assert (
        canonical_query_string(raw, exclude=frozenset({"X-Amz-Signature"}))
        == "X-Amz-Date=20250101T000000Z&x-id=GetObject"
    )


@pytest.mark.parametrize(
    "params",
    [
        [("prefix", "a/b c+d~e*f"), ("delimiter", "/"), ("list-type", "2")],
        [("uploads", ""), ("key", "café/naïve.txt")],
        [("response-content-disposition", 'attachment; filename="a b.txt"')],
        [("a", "2"), ("a", "1"), ("a-b", "0")],
    ],
)
def test_canonical_query_from_params_matches_botocore(params: list[tuple[str, str]]) -> None:
    auth = botocore.auth.SigV4Auth(Credentials("AK", "SK"), "s3", "us-east-1")
    expected = auth._canonical_query_string_params(params)
    assert canonical_query_from_params(params) == expected
    # The canonical form is itself a valid wire query and canonicalises to itself.
    assert canonical_query_string(expected) == expected


def test_aws_uri_encode_leaves_only_unreserved_raw() -> None:
    unreserved = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    assert aws_uri_encode(unreserved) == unreserved
    assert aws_uri_encode(" /+=&%*") == "%20%2F%2B%3D%26%25%2A"
    assert aws_uri_encode(b"\xff") == "%FF"


# --- canonical headers --------------------------------------------------------------------


def test_canonical_header_value_trims_and_collapses() -> None:
    assert canonical_header_value("  a   b \t c  ") == "a b c"
    assert canonical_header_value('"a   b   c"') == '"a b c"'
    assert canonical_header_value("") == ""


def test_canonical_headers_joins_repeated_values_in_order() -> None:
    headers = CIMultiDict(
        [("Host", "example.com"), ("My-Header1", "value2"), ("my-header1", " value2 "),
         ("MY-HEADER1", "value1"), ("X-Amz-Date", "20150830T123600Z")]
    )  # fmt: skip
    assert canonical_headers(headers, ("host", "my-header1", "x-amz-date")) == (
        "host:example.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z"
    )


def test_canonical_headers_missing_signed_header_is_empty() -> None:
    headers = CIMultiDict([("Host", "example.com")])
    assert canonical_headers(headers, ("host", "x-amz-meta-a")) == "host:example.com\nx-amz-meta-a:"


# --- key derivation -----------------------------------------------------------------------


def test_derive_signing_key_matches_botocore_and_is_cached() -> None:
    auth = botocore.auth.SigV4Auth(Credentials("AK", SUITE_SECRET), "s3", "eu-west-1")
    request = AWSRequest(method="GET", url="https://example.com/")
    request.context["timestamp"] = "20240229T000000Z"
    key = derive_signing_key(SUITE_SECRET, "20240229", "eu-west-1", "s3")
    assert signature_hex(key, "hello") == auth.signature("hello", request)
    assert derive_signing_key(SUITE_SECRET, "20240229", "eu-west-1", "s3") is key
    assert derive_signing_key(SUITE_SECRET, "20240301", "eu-west-1", "s3") != key


# --- the AWS SigV4 test suite -------------------------------------------------------------


def test_get_vanilla_published_vector() -> None:
    creq = canonical_request(
        "GET",
        "/",
        "",
        canonical_headers(
            CIMultiDict([("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")]),
            ("host", "x-amz-date"),
        ),
        "host;x-amz-date",
        EMPTY_SHA256,
    )
    assert creq == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        f"host;x-amz-date\n{EMPTY_SHA256}"
    )
    sts = string_to_sign(
        "20150830T123600Z",
        credential_scope("20150830", "us-east-1", "service"),
        hash_canonical_request(creq),
    )
    key = derive_signing_key(SUITE_SECRET, "20150830", "us-east-1", "service")
    assert signature_hex(key, sts) == (
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def _suite_request(
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    *,
    s3_flavour: bool = False,
) -> tuple[AWSRequest, RequestInfo]:
    """Sign like the suite (service "service") and rebuild the server's view.

    ``s3_flavour`` signs with S3's rules: the path as sent instead of the generic services'
    normalised, double-encoded path.
    """
    request = AWSRequest(method=method, url=url, data=body)
    for name, value in headers:
        request.headers[name] = value  # HTTPHeaders appends repeated names
    signer = botocore.auth.S3SigV4Auth if s3_flavour else botocore.auth.SigV4Auth
    signer(Credentials(SUITE_ACCESS_KEY, SUITE_SECRET), "service", "us-east-1").add_auth(request)
    parts = urlsplit(request.url)
    server_headers = CIMultiDict([("Host", parts.netloc)])
    for name, value in request.headers.items():
        server_headers.add(name, value)
    info = RequestInfo(
        method=method,
        raw_path=parts.path,
        raw_query=parts.query,
        headers=server_headers,
        # Generic SigV4 signs the body's hash (no x-amz-content-sha256 header); the gateway
        # honours that when the runtime hands it the whole body.
        form_body=body,
    )
    return request, info


SUITE_CASES = {
    "get-vanilla": ("GET", "https://example.amazonaws.com/", [], b""),
    "get-vanilla-empty-query-key": ("GET", "https://example.amazonaws.com/?Param1=value1", [], b""),
    "get-vanilla-query-order-key": (
        "GET", "https://example.amazonaws.com/?Param1=value2&Param1=Value1", [], b""
    ),
    "get-vanilla-query-order-key-case": (
        "GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1", [], b""
    ),
    "get-vanilla-query-order-value": (
        "GET", "https://example.amazonaws.com/?Param1=value2&Param1=value1", [], b""
    ),
    "get-vanilla-query-unreserved": (
        "GET",
        "https://example.amazonaws.com/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        "=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        [],
        b"",
    ),
    "get-vanilla-utf8-query": ("GET", "https://example.amazonaws.com/?%E1%88%B4=bar", [], b""),
    "get-utf8": ("GET", "https://example.amazonaws.com/%E1%88%B4", [], b""),
    "get-space": ("GET", "https://example.amazonaws.com/example%20space/", [], b""),
    "get-header-value-trim": (
        "GET",
        "https://example.amazonaws.com/",
        [("My-Header1", " value1"), ("My-Header2", ' "a   b   c"')],
        b"",
    ),
    "get-header-key-duplicate": (
        "GET",
        "https://example.amazonaws.com/",
        [("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")],
        b"",
    ),
    "get-header-value-order": (
        "GET",
        "https://example.amazonaws.com/",
        [("My-Header1", "value4"), ("My-Header1", "value1"), ("My-Header1", "value3"),
         ("My-Header1", "value2")],
        b"",
    ),
    "post-vanilla": ("POST", "https://example.amazonaws.com/", [], b""),
    "post-x-www-form-urlencoded": (
        "POST",
        "https://example.amazonaws.com/",
        [("Content-Type", "application/x-www-form-urlencoded")],
        b"Param1=value1",
    ),
}  # fmt: skip


PUBLISHED_SIGNATURES = {
    "get-vanilla": "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    "get-vanilla-query-order-key-case": (
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
    ),
}

# The S3 flavour of the suite's path cases: S3 signs the path exactly as sent.
S3_FLAVOURED = frozenset({"get-utf8", "get-space"})


@pytest.mark.usefixtures("suite_clock")
@pytest.mark.parametrize("case", sorted(SUITE_CASES))
def test_aws_suite_request_verifies(case: str) -> None:
    method, url, headers, body = SUITE_CASES[case]
    signed, info = _suite_request(method, url, headers, body, s3_flavour=case in S3_FLAVOURED)
    parsed = parse_signature(info)
    assert parsed is not None
    assert parsed.amz_date == "20150830T123600Z"
    verified = verify_signature(parsed, info, SUITE_SECRET, now=SUITE_NOW)
    assert verified is not None
    assert signed.headers["Authorization"].endswith(f"Signature={verified.seed_signature}")
    if case in PUBLISHED_SIGNATURES:
        assert verified.seed_signature == PUBLISHED_SIGNATURES[case]


@pytest.mark.usefixtures("suite_clock")
def test_aws_suite_query_order_cases_sign_differently() -> None:
    """Different orderings must canonicalise to the same string only when they are equal."""
    _, info_a = _suite_request("GET", "https://example.amazonaws.com/?a=1&b=2", [])
    _, info_b = _suite_request("GET", "https://example.amazonaws.com/?b=2&a=1", [])
    parsed_a, parsed_b = parse_signature(info_a), parse_signature(info_b)
    assert parsed_a is not None
    assert parsed_b is not None
    assert parsed_a.signature == parsed_b.signature
    _, info_c = _suite_request("GET", "https://example.amazonaws.com/?a=2&b=1", [])
    parsed_c = parse_signature(info_c)
    assert parsed_c is not None
    assert parsed_c.signature != parsed_a.signature


# --- bytes a runtime could not decode -----------------------------------------------------


def test_undecodable_query_bytes_stay_byte_faithful() -> None:
    # A runtime keeps invalid UTF-8 as surrogate escapes; the canonical form is the bytes.
    assert canonical_query_string("a=\udcff%20b&b=caf\u00e9") == "a=%FF%20b&b=caf%C3%A9"


def test_undecodable_header_bytes_hash_as_received() -> None:
    raw = "caf\udce9"  # the Latin-1 byte 0xE9, not valid UTF-8
    assert hash_canonical_request(raw) == hashlib.sha256(b"caf\xe9").hexdigest()


def test_canonical_headers_lower_cases_names() -> None:
    headers = CIMultiDict([("Host", "example.com"), ("X-Amz-Date", "20150830T123600Z")])
    assert canonical_headers(headers, ("Host", "X-Amz-Date")) == (
        "host:example.com\nx-amz-date:20150830T123600Z"
    )
