"""SigV2 presigned URLs (``AWSAccessKeyId``/``Signature``/``Expires``), the default of
``boto3``'s and aws-cli's ``generate_presigned_url``, verified with botocore as the oracle.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.auth import HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode
from multidict import CIMultiDict

from multistore.core.auth.sigv4 import ParsedSignature, parse_signature, verify_signature
from multistore.core.errors import (
    AccessDenied,
    AuthorizationQueryParametersError,
    SignatureDoesNotMatch,
)
from multistore.core.http import RequestInfo

ACCESS_KEY = "AKIAGATEWAYTEST"
SECRET = "gateway/secret+key/0123456789abcdefghijklmn"
TOKEN = "session-token/with+odd=chars"
EXPIRES = 1_735_736_400  # 2025-01-01T13:00:00Z
NOW = EXPIRES - 3600
ENDPOINT = "http://gw.example:8080"

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
]

SUBRESOURCE_QUERIES = [
    "",
    "uploads",
    "uploadId=2~abc%2Bdef&partNumber=7",
    "versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY",
    "response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22"
    "&response-content-type=text%2Fplain",
    # Not sub-resources: signed only through the path, so ignored by the resource.
    "x-id=GetObject",
]


class FixedExpiryQueryAuth(HmacV1QueryAuth):
    """botocore's SigV2 presigner with its clock-derived ``Expires`` pinned."""

    def _get_date(self) -> str:
        return str(EXPIRES)


def presign_v2(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    token: str | None = None,
    auth_path: str | None = None,
) -> str:
    request = AWSRequest(method=method, url=url, headers=headers or {})
    if auth_path is not None:
        request.auth_path = auth_path
    FixedExpiryQueryAuth(Credentials(ACCESS_KEY, SECRET, token)).add_auth(request)
    return str(request.url)


def server_view(method: str, url: str, headers: dict[str, str] | None = None) -> RequestInfo:
    parts = urlsplit(url)
    received = CIMultiDict([("Host", parts.netloc), *(headers or {}).items()])
    return RequestInfo(method=method, raw_path=parts.path, raw_query=parts.query, headers=received)


def object_url(key: str, query: str = "") -> str:
    url = f"{ENDPOINT}/bucket/{percent_encode(key, safe='/~')}"
    return f"{url}?{query}" if query else url


def verify(
    request: RequestInfo, *, now: float = NOW, secret: str = SECRET, bucket: str | None = None
) -> ParsedSignature:
    parsed = parse_signature(request)
    assert parsed is not None
    assert parsed.kind == "v2-query"
    assert verify_signature(parsed, request, secret, now=now, virtual_hosted_bucket=bucket) is None
    return parsed


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", SUBRESOURCE_QUERIES)
@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT"])
def test_botocore_v2_presigned_url_verifies(method: str, key: str, query: str) -> None:
    verify(server_view(method, presign_v2(method, object_url(key, query))))


def test_parsed_v2_fields() -> None:
    url = presign_v2("GET", object_url("k"), token=TOKEN)
    parsed = verify(server_view("GET", url))
    signature = parse_qs(urlsplit(url).query)["Signature"][0]
    assert parsed == ParsedSignature(
        kind="v2-query",
        access_key_id=ACCESS_KEY,
        signature=signature,
        session_token=TOKEN,
        expires=EXPIRES,
    )


def test_v2_with_token_and_content_type_moved_into_the_query() -> None:
    url = presign_v2("PUT", object_url("up.csv"), headers={"Content-Type": "text/csv"}, token=TOKEN)
    query = parse_qs(urlsplit(url).query)
    assert query["content-type"] == ["text/csv"]
    assert query["x-amz-security-token"] == [TOKEN]
    # The uploader may or may not repeat the Content-Type as a header.
    verify(server_view("PUT", url))
    verify(server_view("PUT", url, {"Content-Type": "text/csv"}))
    with pytest.raises(SignatureDoesNotMatch):
        verify(server_view("PUT", url, {"Content-Type": "text/html"}))


def test_v2_signed_amz_header_and_unsigned_amz_header() -> None:
    url = presign_v2("PUT", object_url("k"), headers={"x-amz-meta-owner": "ada"})
    verify(server_view("PUT", url))
    verify(server_view("PUT", url, {"x-amz-meta-owner": "ada"}))
    # SigV2 signs every x-amz-* header the request carries.
    with pytest.raises(SignatureDoesNotMatch):
        verify(server_view("PUT", url, {"x-amz-meta-owner": "eve"}))
    with pytest.raises(SignatureDoesNotMatch):
        verify(server_view("PUT", url, {"x-amz-acl": "public-read"}))


def test_v2_virtual_hosted_style_signs_the_bucket_in_the_resource() -> None:
    url = presign_v2(
        "GET", "http://bucket.gw.example:8080/a%20b.txt", auth_path="/bucket/a%20b.txt"
    )
    request = server_view("GET", url)
    verify(request, bucket="bucket")
    with pytest.raises(SignatureDoesNotMatch):
        verify(request)


def test_v2_expiry_boundary() -> None:
    request = server_view("GET", presign_v2("GET", object_url("k")))
    verify(request, now=EXPIRES)
    with pytest.raises(AccessDenied, match="Request has expired"):
        verify(request, now=EXPIRES + 1)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f"Expires={EXPIRES}", f"Expires={EXPIRES + 3600}"),
        ("/bucket/k", "/bucket/K"),
        ("uploadId=u1", "uploadId=u2"),
        ("partNumber=1", "partNumber=2"),
    ],
)
def test_tampered_v2_url_does_not_match(old: str, new: str) -> None:
    url = presign_v2("PUT", object_url("k", "partNumber=1&uploadId=u1"))
    assert old in url
    with pytest.raises(SignatureDoesNotMatch):
        verify(server_view("PUT", url.replace(old, new)))


def test_v2_method_is_signed() -> None:
    url = presign_v2("GET", object_url("k"))
    with pytest.raises(SignatureDoesNotMatch):
        verify(server_view("DELETE", url))


def test_v2_wrong_secret_does_not_match() -> None:
    with pytest.raises(SignatureDoesNotMatch):
        verify(server_view("GET", presign_v2("GET", object_url("k"))), secret="other")


def test_v2_signature_with_unencoded_plus_still_verifies() -> None:
    # Hand-built URLs often leave base64's '+' raw, which form decoding turns into a space.
    for attempt in range(200):
        url = presign_v2("GET", object_url(f"k{attempt}"))
        signature = parse_qs(urlsplit(url).query)["Signature"][0]
        if "+" in signature:
            break
    else:
        pytest.fail("no signature with '+' in 200 attempts")
    raw = url.replace(percent_encode(signature), signature)
    assert f"Signature={signature}" in raw
    verify(server_view("GET", raw))


@pytest.mark.parametrize(
    "query",
    [
        f"AWSAccessKeyId={ACCESS_KEY}&Signature=abc",
        f"Signature=abc&Expires={EXPIRES}",
        f"AWSAccessKeyId={ACCESS_KEY}&Signature=&Expires={EXPIRES}",
        f"AWSAccessKeyId={ACCESS_KEY}&Signature=abc&Expires=tomorrow",
        f"AWSAccessKeyId={ACCESS_KEY}&Signature=abc&Expires=-1",
    ],
)
def test_malformed_v2_parameters_are_400(query: str) -> None:
    with pytest.raises(AuthorizationQueryParametersError) as caught:
        parse_signature(server_view("GET", object_url("k", query)))
    assert caught.value.status == 400


@pytest.mark.parametrize("key", KEYS)
def test_boto3_default_presigned_urls_are_v2_and_verify(key: str) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
    )
    try:
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "get_object", {"ResponseContentDisposition": 'inline; filename="a b"'}),
            ("HEAD", "head_object", {}),
            ("PUT", "put_object", {"ContentType": "application/octet-stream"}),
            ("PUT", "upload_part", {"UploadId": "up+id/1", "PartNumber": 2}),
        ]
        for method, operation, extra in calls:
            url = client.generate_presigned_url(
                operation, Params={"Bucket": "bucket", "Key": key, **extra}, ExpiresIn=600
            )
            query = parse_qs(urlsplit(url).query)
            assert "AWSAccessKeyId" in query, "boto3 no longer presigns with SigV2 by default"
            expires = int(query["Expires"][0])
            verify(server_view(method, url), now=expires - 600)
    finally:
        client.close()
