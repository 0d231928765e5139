"""Presigned URLs (SigV4 and boto3's default SigV2), TLS with aws-chunked uploads, aws-cli."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from multistore.testing.gateway import GatewayProcess
from multistore.testing.signing import send

from .conftest import FULL, BackendUnderTest, aws_cli


@pytest.mark.parametrize("signature_version", ["s3v4", None], ids=["sigv4", "default-sigv2"])
def test_presigned_get_and_put(
    gateway: GatewayProcess, backend: BackendUnderTest, unique: str, signature_version: str | None
) -> None:
    options = {"signature_version": signature_version} if signature_version else {}
    client = gateway.client(*FULL, **options)
    key = f"{unique}presigned.txt"
    put_url = client.generate_presigned_url(
        "put_object", Params={"Bucket": backend.data, "Key": key}, ExpiresIn=300
    )
    if signature_version is None:
        assert "AWSAccessKeyId=" in put_url
        assert "Signature=" in put_url
    else:
        assert "X-Amz-Signature=" in put_url
    assert send("PUT", put_url, body=b"via presigned put").status == 200
    get_url = client.generate_presigned_url(
        "get_object", Params={"Bucket": backend.data, "Key": key}, ExpiresIn=300
    )
    response = send("GET", get_url)
    assert response.status == 200
    assert response.body == b"via presigned put"
    # The signature covers the key: the same URL pointed at another key is refused.
    assert send("GET", get_url.replace("presigned.txt", "other.txt")).status == 403


def test_expired_presigned_url(gateway: GatewayProcess, unique: str) -> None:
    for options in ({"signature_version": "s3v4"}, {}):
        client = gateway.client(*FULL, **options)
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": "file-data", "Key": f"{unique}x"}, ExpiresIn=1
        )
        time.sleep(2.1)
        response = send("GET", url)
        assert response.status == 403
        assert b"<Code>AccessDenied</Code>" in response.body


def test_tls_round_trip_uses_aws_chunked_uploads(
    tls_gateway: GatewayProcess, backend: BackendUnderTest, unique: str
) -> None:
    # Over HTTPS botocore sends STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer.
    seen: list[str] = []
    client = tls_gateway.client(*FULL)

    def record_payload_hash(request: Any, **_: Any) -> None:
        value = request.headers["x-amz-content-sha256"]
        seen.append(value.decode() if isinstance(value, bytes) else value)

    client.meta.events.register("before-send.s3.PutObject", record_payload_hash)
    body = os.urandom(3 << 20)
    key = f"{unique}chunked.bin"
    client.put_object(Bucket=backend.data, Key=key, Body=body)
    assert seen == ["STREAMING-UNSIGNED-PAYLOAD-TRAILER"]
    assert client.get_object(Bucket=backend.data, Key=key)["Body"].read() == body
    # The stored object is the payload, never the chunk framing.
    assert client.head_object(Bucket=backend.data, Key=key)["ContentLength"] == len(body)


def test_aws_cli_cp_and_ls(
    gateway: GatewayProcess, backend: BackendUnderTest, unique: str, tmp_path: Path
) -> None:
    source = tmp_path / "upload.bin"
    source.write_bytes(os.urandom(1 << 20))
    put = aws_cli(
        gateway,
        "s3",
        "cp",
        str(source),
        f"s3://{backend.data}/{unique}cli/upload.bin",
        cwd=tmp_path,
    )
    assert put.returncode == 0, put.stderr
    listing = aws_cli(gateway, "s3", "ls", f"s3://{backend.data}/{unique}cli/", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "upload.bin" in listing.stdout
    target = tmp_path / "download.bin"
    get = aws_cli(
        gateway,
        "s3",
        "cp",
        f"s3://{backend.data}/{unique}cli/upload.bin",
        str(target),
        cwd=tmp_path,
    )
    assert get.returncode == 0, get.stderr
    assert target.read_bytes() == source.read_bytes()
