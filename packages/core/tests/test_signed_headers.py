"""Which headers a SigV4 signature must cover (issue #15), checked with real botocore signatures."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from multistore.core.auth.signed_headers import (
    HeadersNotSigned,
    require_signed_headers,
    unsigned_headers,
)
from multistore.core.auth.sigv4 import parse_signature, verify_signature
from multistore.core.errors import AuthorizationQueryParametersError, render_error_xml
from multistore.core.http import RequestInfo

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WHEN = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
NOW = calendar.timegm(WHEN.utctimetuple())


def _headers(*pairs: tuple[str, str]) -> CIMultiDict[str]:
    return CIMultiDict(pairs)


@pytest.mark.parametrize(
    ("headers", "signed", "header_auth", "missing"),
    [
        ([("Host", "h")], ["host"], True, []),
        ([("Host", "h")], ["x-amz-date"], True, ["host"]),
        ([("Host", "h"), ("x-amz-copy-source", "b/k")], ["host"], False, ["x-amz-copy-source"]),
        ([("Host", "h"), ("X-Amz-Meta-A", "1"), ("x-amz-acl", "private")], ["host"], True,
         ["x-amz-meta-a", "x-amz-acl"]),
        # x-amz-content-sha256 is covered by the canonical request's payload line.
        ([("Host", "h"), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")], ["host"], True, []),
        ([("Host", "h"), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")], ["host"], False, []),
        # Content-MD5: required with header auth only.
        ([("Host", "h"), ("Content-MD5", "x")], ["host"], True, ["content-md5"]),
        ([("Host", "h"), ("Content-MD5", "x")], ["host"], False, []),
        # Content-Type: never required (aws-sdk-js v2 never signs it; browsers add it).
        ([("Host", "h"), ("Content-Type", "text/html")], ["host"], True, []),
        ([("Host", "h"), ("Content-Type", "image/png")], ["host"], False, []),
        # Other headers may stay unsigned, as in S3.
        ([("Host", "h"), ("Range", "bytes=0-1"), ("User-Agent", "u"), ("Expect", "100-continue")],
         ["host"], True, []),
        # A repeated header is reported once.
        ([("Host", "h"), ("x-amz-acl", "a"), ("X-Amz-Acl", "b")], ["host"], True, ["x-amz-acl"]),
    ],
)  # fmt: skip
def test_unsigned_headers(
    headers: list[tuple[str, str]], signed: list[str], header_auth: bool, missing: list[str]
) -> None:
    assert unsigned_headers(_headers(*headers), signed, header_auth=header_auth) == missing


def test_headers_not_signed_renders_like_s3() -> None:
    body = render_error_xml(
        HeadersNotSigned(["host", "x-amz-copy-source"]), request_id="R", resource="/b/k"
    ).decode()
    assert "<Code>AccessDenied</Code>" in body
    assert (
        "<Message>There were headers present in the request which were not signed</Message>"
        "<HeadersNotSigned>host, x-amz-copy-source</HeadersNotSigned><Resource>/b/k</Resource>"
    ) in body


def _as_received(request: AWSRequest, extra: dict[str, str]) -> RequestInfo:
    parts = urlsplit(request.url)
    headers = CIMultiDict(request.headers.items())
    headers.setdefault("Host", parts.netloc)
    headers.update(extra)
    return RequestInfo(
        method=request.method, raw_path=parts.path, raw_query=parts.query, headers=headers
    )


def _header_signed(url: str, headers: dict[str, str]) -> AWSRequest:
    request = AWSRequest(method="PUT", url=url, headers=headers, data=b"")
    signer = botocore.auth.S3SigV4Auth(Credentials("AKIDEXAMPLE", SECRET), "s3", "us-east-1")
    with _clock():
        signer.add_auth(request)
    return request


def _clock() -> Any:
    from unittest import mock

    return mock.patch.object(
        botocore.auth, "get_current_datetime", return_value=WHEN.replace(tzinfo=None)
    )


def test_botocore_signed_request_passes_and_an_added_header_is_refused() -> None:
    request = _header_signed(
        "http://127.0.0.1:9000/b/k",
        {
            "Content-Type": "text/plain",
            "x-amz-meta-a": "1",
            "x-amz-trailer": "x-amz-checksum-crc32",
        },
    )
    received = _as_received(request, {})
    verify_signature(parse_signature(received) or _fail(), received, SECRET, now=NOW)
    tampered = _as_received(request, {"x-amz-copy-source": "b/secret"})
    with pytest.raises(HeadersNotSigned) as info:
        verify_signature(parse_signature(tampered) or _fail(), tampered, SECRET, now=NOW)
    assert info.value.names == ("x-amz-copy-source",)
    assert info.value.status == 403


def test_presigned_url_refuses_an_added_amz_header_but_not_a_content_type() -> None:
    request = AWSRequest(method="PUT", url="http://127.0.0.1:9000/b/k", headers={}, data=b"")
    signer = botocore.auth.S3SigV4QueryAuth(
        Credentials("AKIDEXAMPLE", SECRET), "s3", "us-east-1", expires=300
    )
    with _clock():
        signer.add_auth(request)
    browser = _as_received(request, {"Content-Type": "image/png"})
    verify_signature(parse_signature(browser) or _fail(), browser, SECRET, now=NOW)
    tampered = _as_received(request, {"x-amz-metadata-directive": "REPLACE"})
    with pytest.raises(HeadersNotSigned):
        verify_signature(parse_signature(tampered) or _fail(), tampered, SECRET, now=NOW)


@pytest.mark.parametrize(
    "extra",
    [
        "&X-Amz-Signature=00",
        "&X-Amz-Credential=AKIDEXAMPLE%2F20250301%2Fus-east-1%2Fs3%2Faws4_request",
    ],
)
def test_repeated_query_auth_parameter_is_refused(extra: str) -> None:
    request = AWSRequest(method="GET", url="http://127.0.0.1:9000/b/k", headers={}, data=b"")
    signer = botocore.auth.S3SigV4QueryAuth(
        Credentials("AKIDEXAMPLE", SECRET), "s3", "us-east-1", expires=300
    )
    with _clock():
        signer.add_auth(request)
    received = _as_received(request, {})
    received.raw_query += extra
    with pytest.raises(AuthorizationQueryParametersError):
        parse_signature(received)


def _fail() -> object:
    raise AssertionError("the request should carry a signature")


def test_required_signing_is_decided_per_request_whatever_came_before() -> None:
    # The answer is remembered per combination of header names, signed list and kind of
    # authentication; a request differing in any of them is checked on its own.
    signed = ("host", "x-amz-date")
    plain = _headers(("Host", "h"), ("X-Amz-Date", "d"))
    with_meta = _headers(("Host", "h"), ("X-Amz-Date", "d"), ("X-Amz-Meta-A", "1"))
    with_md5 = _headers(("Host", "h"), ("X-Amz-Date", "d"), ("Content-MD5", "x"))
    for _ in range(2):
        require_signed_headers(plain, signed, header_auth=True)
        with pytest.raises(HeadersNotSigned) as caught:
            require_signed_headers(with_meta, signed, header_auth=True)
        assert caught.value.names == ("x-amz-meta-a",)
        require_signed_headers(with_meta, (*signed, "x-amz-meta-a"), header_auth=True)
        require_signed_headers(with_md5, signed, header_auth=False)
        with pytest.raises(HeadersNotSigned):
            require_signed_headers(with_md5, signed, header_auth=True)
    # Names too long to be remembered are still checked, every time.
    long_name = "x-amz-meta-" + "a" * 2000
    for _ in range(2):
        with pytest.raises(HeadersNotSigned):
            require_signed_headers(_headers(("Host", "h"), (long_name, "v")), ("host",),
                                   header_auth=False)  # fmt: skip
