"""The handler invoked in this process with events of all four shapes, each built from a
request botocore really signed (header auth and presigned URLs)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config

from multistore.aws_lambda.events import EventError, detect
from multistore.aws_lambda.runtime import Container
from multistore.testing.lambda_events import SHAPES, answer_body, answer_headers, event
from multistore.testing.signing import sign

from .conftest import KEY

HOST = "https://gateway.example"
ODD_KEYS = ["plain.txt", "with space.txt", "100%.txt", "a+b=c.txt", "ünïcødé/ключ.bin"]


def signed(method: str, bucket: str, key: str = "", query: str = "", body: bytes = b"") -> Any:
    from urllib.parse import quote

    url = f"{HOST}/{bucket}" + (f"/{quote(key, safe='/~')}" if key else "")
    if query:
        url += f"?{query}"
    headers = sign(method, url, access_key=KEY[0], secret_key=KEY[1], body=body)
    return url, headers


def invoke(
    container: Container, shape: str, method: str, url: str, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    answer = container.invoke(event(shape, method, url, headers, body))
    if shape.startswith("alb"):
        assert answer["statusDescription"].startswith(str(answer["statusCode"]))
    assert answer["isBase64Encoded"] is True
    return answer["statusCode"], answer_headers(answer), answer_body(answer)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bucket", ["data", "files"])
def test_header_signed_round_trip_with_odd_keys(
    container: Container, shape: str, bucket: str
) -> None:
    for key in ODD_KEYS:
        payload = f"{shape}:{key}".encode() + bytes(range(256))  # binary: base64 both ways
        url, headers = signed("PUT", bucket, f"{shape}/{key}", body=payload)
        status, _, body = invoke(container, shape, "PUT", url, headers, payload)
        assert status == 200, body
        url, headers = signed("GET", bucket, f"{shape}/{key}")
        status, got_headers, body = invoke(container, shape, "GET", url, headers, b"")
        assert (status, body) == (200, payload)
        assert got_headers["content-length"] == str(len(payload))
        url, headers = signed("HEAD", bucket, f"{shape}/{key}")
        status, got_headers, body = invoke(container, shape, "HEAD", url, headers, b"")
        assert (status, body, got_headers["content-length"]) == (200, b"", str(len(payload)))
    url, headers = signed("GET", bucket, query=f"list-type=2&prefix={shape}%2F")
    status, _, body = invoke(container, shape, "GET", url, headers, b"")
    assert status == 200
    for key in ODD_KEYS:
        from xml.sax.saxutils import escape

        assert f"<Key>{escape(shape + '/' + key)}</Key>".encode() in body


@pytest.mark.parametrize("shape", SHAPES)
def test_presigned_get_with_odd_key(container: Container, shape: str) -> None:
    key = f"presigned/{shape}/a b+c=d%e ü.txt"
    url, headers = signed("PUT", "files", key, body=b"presigned body")
    assert invoke(container, shape, "PUT", url, headers, b"presigned body")[0] == 200
    client = boto3.client(
        "s3", endpoint_url=HOST, region_name="us-east-1", aws_access_key_id=KEY[0],
        aws_secret_access_key=KEY[1], config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip
    presigned = client.generate_presigned_url(
        "get_object", Params={"Bucket": "files", "Key": key}, ExpiresIn=300
    )
    client.close()
    status, _, body = invoke(container, shape, "GET", presigned, {}, b"")
    assert (status, body) == (200, b"presigned body")


def test_rest_api_loses_the_raw_form_of_characters_sdks_do_not_encode(
    container: Container,
) -> None:
    """REST APIs hand over a decoded path, so the handler re-encodes it as SDKs do. A client
    that signed ``!`` unencoded (SDKs send ``%21``) no longer matches there; Function URLs and
    ALB pass the path verbatim and verify it."""
    url = f"{HOST}/files/raw!key.txt"
    headers = sign("PUT", url, access_key=KEY[0], secret_key=KEY[1], body=b"x")
    for shape in ("function_url", "alb"):
        assert invoke(container, shape, "PUT", url, headers, b"x")[0] == 200
    status, _, body = invoke(container, "rest_api", "PUT", url, headers, b"x")
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in body


def test_errors_keep_their_s3_shape(container: Container) -> None:
    url, headers = signed("GET", "files", "no/such/key")
    for shape in SHAPES:
        status, got, body = invoke(container, shape, "GET", url, headers, b"")
        assert status == 404
        assert got["content-type"] == "application/xml"
        assert b"<Code>NoSuchKey</Code>" in body


def test_anything_else_is_refused() -> None:
    with pytest.raises(EventError):
        detect({"Records": [{"eventSource": "aws:s3"}]})


def test_cookies_and_multi_value_answers(container: Container) -> None:
    url, headers = signed("GET", "files", "no/such/key")
    answer = container.invoke(event("alb_multi_value", "GET", url, headers, b""))
    assert "multiValueHeaders" in answer
    assert answer["multiValueHeaders"]["Content-Type"] == ["application/xml"]
    assert answer["statusDescription"] == "404 Not Found"


def test_warm_invocations_reuse_the_loop_and_backend_connections(container: Container) -> None:
    """One event loop, one gateway and one pooled client per execution environment.

    (moto closes every connection after its answer, so reuse of a kept-alive connection is
    shown by the client's own tests, packages/http-client, not here.)"""
    url, headers = signed("PUT", "data", "warm/object", body=b"warm")
    assert invoke(container, "function_url", "PUT", url, headers, b"warm")[0] == 200
    loop, gateway, client = container.loop, container.gateway(), container.client
    assert client is not None
    for _ in range(5):
        url, headers = signed("GET", "data", "warm/object")
        assert invoke(container, "function_url", "GET", url, headers, b"")[0] == 200
    assert (container.loop, container.gateway(), container.client) == (loop, gateway, client)
    assert not loop.is_closed()
    # Every invocation went through this client: it holds the pool of moto's origin.
    assert [origin for origin, _, _ in client.pool_usage()] == [gateway_origin(container)]


def gateway_origin(container: Container) -> str:
    config = container.gateway().buckets.current.config  # type: ignore[union-attr]
    endpoint = next(b for b in config.buckets if b.name == "data").backend_options["endpoint"]
    return str(endpoint).rstrip("/")
