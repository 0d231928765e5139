"""Authentication and authorization through the real gateway with real signatures."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from multistore.testing.gateway import GatewayProcess
from multistore.testing.runtimes import EXPECT_CONTINUE
from multistore.testing.signing import send, sign

from .conftest import (
    DISABLED,
    EXPIRED,
    FULL,
    PREFIXED,
    READER,
    BackendUnderTest,
)


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def status_of(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def test_anonymous_read_of_public_bucket(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    full_client.put_object(Bucket=backend.public, Key=f"{unique}open.txt", Body=b"public")
    anonymous = gateway.client()
    assert (
        anonymous.get_object(Bucket=backend.public, Key=f"{unique}open.txt")["Body"].read()
        == b"public"
    )
    assert (
        anonymous.head_object(Bucket=backend.public, Key=f"{unique}open.txt")["ContentLength"] == 6
    )
    listed = anonymous.list_objects_v2(Bucket=backend.public, Prefix=unique)
    assert [o["Key"] for o in listed["Contents"]] == [f"{unique}open.txt"]


def test_anonymous_write_is_denied(
    gateway: GatewayProcess, backend: BackendUnderTest, unique: str
) -> None:
    anonymous = gateway.client()
    with pytest.raises(ClientError) as info:
        anonymous.put_object(Bucket=backend.public, Key=f"{unique}nope.txt", Body=b"x")
    assert error_code(info.value) == "AccessDenied"
    with pytest.raises(ClientError) as info:
        anonymous.delete_object(Bucket=backend.public, Key=f"{unique}nope.txt")
    assert error_code(info.value) == "AccessDenied"
    assert f"{unique}nope.txt" not in backend.stored_keys(backend.public)


def test_anonymous_read_of_private_bucket_is_denied(
    gateway: GatewayProcess, backend: BackendUnderTest
) -> None:
    with pytest.raises(ClientError) as info:
        gateway.client().list_objects_v2(Bucket=backend.data)
    assert error_code(info.value) == "AccessDenied"
    with pytest.raises(ClientError) as info:
        gateway.client().get_object(Bucket=backend.data, Key="anything")
    assert status_of(info.value) == 403


def test_list_buckets_is_filtered_by_identity(
    gateway: GatewayProcess, full_client: Any, backends_under_test: list[BackendUnderTest]
) -> None:
    configured = {c["name"] for b in backends_under_test for c in b.bucket_configs()}
    public = {b.public for b in backends_under_test}
    everything = {b["Name"] for b in full_client.list_buckets()["Buckets"]}
    assert everything == configured
    assert {"s3-data", "s3-prefixed", "s3-public", "file-data", "file-public"} <= everything
    reader = {b["Name"] for b in gateway.client(*READER).list_buckets()["Buckets"]}
    assert reader == {"s3-data"} | public
    anonymous = {b["Name"] for b in gateway.client().list_buckets()["Buckets"]}
    assert anonymous == public


def test_prefix_scoped_credential(
    gateway: GatewayProcess, backend: BackendUnderTest, unique: str
) -> None:
    client = gateway.client(*PREFIXED)
    client.put_object(Bucket=backend.data, Key=f"allowed/{unique}ok.txt", Body=b"ok")
    assert (
        client.get_object(Bucket=backend.data, Key=f"allowed/{unique}ok.txt")["Body"].read()
        == b"ok"
    )
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=backend.data, Key=f"forbidden/{unique}no.txt", Body=b"no")
    assert error_code(info.value) == "AccessDenied"
    client.list_objects_v2(Bucket=backend.data, Prefix="allowed/")
    with pytest.raises(ClientError):
        client.list_objects_v2(Bucket=backend.data)
    with pytest.raises(ClientError):
        client.list_objects_v2(Bucket=backend.data, Prefix="allowedx")


def test_read_only_scope_cannot_write_but_can_head(
    gateway: GatewayProcess, full_client: Any, unique: str
) -> None:
    full_client.put_object(Bucket="s3-data", Key=f"{unique}r.txt", Body=b"r")
    reader = gateway.client(*READER)
    # get_object implies HEAD (S3 semantics).
    assert reader.head_object(Bucket="s3-data", Key=f"{unique}r.txt")["ContentLength"] == 1
    with pytest.raises(ClientError) as info:
        reader.delete_object(Bucket="s3-data", Key=f"{unique}r.txt")
    assert error_code(info.value) == "AccessDenied"


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        ((FULL[0], "not-the-secret"), "SignatureDoesNotMatch"),
        (("AKIAUNKNOWN000000000", "whatever"), "InvalidAccessKeyId"),
        (DISABLED, "AccessDenied"),
        (EXPIRED, "ExpiredToken"),
    ],
)
def test_bad_credentials_are_refused(
    gateway: GatewayProcess, credentials: tuple[str, str], code: str
) -> None:
    with pytest.raises(ClientError) as info:
        gateway.client(*credentials).list_objects_v2(Bucket="file-data")
    assert error_code(info.value) == code
    assert status_of(info.value) == 403


def test_skewed_clock_is_refused(gateway: GatewayProcess) -> None:
    url = f"{gateway.url}/file-data?list-type=2"
    stale = datetime.now(UTC) - timedelta(minutes=20)
    response = send(
        "GET", url, headers=sign("GET", url, access_key=FULL[0], secret_key=FULL[1], when=stale)
    )
    assert response.status == 403
    assert b"<Code>RequestTimeTooSkewed</Code>" in response.body
    fresh = datetime.now(UTC) - timedelta(minutes=10)
    ok = send(
        "GET", url, headers=sign("GET", url, access_key=FULL[0], secret_key=FULL[1], when=fresh)
    )
    assert ok.status == 200


def test_tampered_request_is_refused(gateway: GatewayProcess) -> None:
    url = f"{gateway.url}/file-data?list-type=2"
    headers = sign("GET", url, access_key=FULL[0], secret_key=FULL[1])
    tampered = f"{gateway.url}/file-data?list-type=2&prefix=other"
    response = send("GET", tampered, headers=headers)
    assert response.status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in response.body


@pytest.mark.parametrize(
    "authorization",
    [
        # A credential scope with four parts instead of five.
        "AWS4-HMAC-SHA256 Credential=AKIAFULL000000000000/20250101/us-east-1/s3, "
        "SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 garbage",
        "AWS AKIAFULL000000000000:c2lnbmF0dXJl",
    ],
)
def test_malformed_authorization_is_400(gateway: GatewayProcess, authorization: str) -> None:
    response = send("GET", f"{gateway.url}/file-data", headers={"Authorization": authorization})
    assert response.status == 400
    assert b"<Code>" in response.body
    assert response.headers.get("x-amz-request-id")


def test_raw_paths_name_keys_as_they_are(
    gateway: GatewayProcess, backend: BackendUnderTest, unique: str
) -> None:
    # Signed over the raw path, nothing normalised on the way (SPEC §2: every key S3 takes).
    raw_keys = {
        "a//b.txt": "a//b.txt",
        "a/./b.txt": "a/./b.txt",
        "a/../b.txt": "a/../b.txt",
        "dir/": "dir/",
        "%2e%2e/escape": "../escape",
        "a%09b": "a\tb",
    }
    raw_keys = {raw: key for raw, key in raw_keys.items() if backend.can_store(key)}
    for raw_key, key in raw_keys.items():
        url = f"{gateway.url}/{backend.data}/{unique}{raw_key}"
        headers = sign("PUT", url, access_key=FULL[0], secret_key=FULL[1], body=key.encode())
        assert send("PUT", url, headers=headers, body=key.encode()).status == 200, raw_key
    client = gateway.client(*FULL)
    for key in raw_keys.values():
        assert client.get_object(Bucket=backend.data, Key=unique + key)["Body"].read() == (
            key.encode()
        )
    # a/../b.txt was never resolved to b.txt (nor a/./b.txt to a/b.txt) anywhere.
    stored = backend.stored_keys(backend.data)
    assert f"{unique}b.txt" not in stored
    assert f"{unique}a/b.txt" not in stored


@pytest.mark.server_only(reason=EXPECT_CONTINUE)
def test_expect_continue_with_bad_signature_is_refused_before_the_body(
    gateway: GatewayProcess,
) -> None:
    url = f"{gateway.url}/file-data/big-upload.bin"
    headers = sign(
        "PUT",
        url,
        access_key=FULL[0],
        secret_key="wrong-secret",
        headers={"Content-Length": str(64 << 20)},
    )
    parts = urlsplit(gateway.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        lines = [
            "PUT /file-data/big-upload.bin HTTP/1.1",
            f"Host: {parts.netloc}",
            "Expect: 100-continue",
        ]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        first = sock.recv(65536).decode(errors="replace")
    # No "100 Continue": the refusal comes first, and no body byte was ever sent.
    assert first.startswith("HTTP/1.1 403"), first[:200]
    assert "SignatureDoesNotMatch" in first or "Content-Length" in first


def test_expect_continue_with_good_signature_uploads(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    # botocore sends Expect: 100-continue on every PUT with a body.
    full_client.put_object(Bucket=backend.data, Key=f"{unique}continue.bin", Body=b"y" * 100_000)
    assert (
        full_client.get_object(Bucket=backend.data, Key=f"{unique}continue.bin")["ContentLength"]
        == 100_000
    )
