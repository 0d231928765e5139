"""boto3 over TLS (aws-chunked uploads with CRC trailers): objects, transfer manager,
paginators, presigned URLs in both signature forms, and copies."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from multistore.testing.signing import send

from ..conftest import FULL
from .conftest import MiB, Target, file_sha256, payload, round_trip, sha256


class Boto3Objects:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client, self.bucket = client, bucket

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def list(self, prefix: str) -> set[str]:
        response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return {item["Key"] for item in response.get("Contents", [])}

    def get(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def get_range(self, key: str, start: int, end: int) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end}")
        body: bytes = response["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)


def test_boto3_round_trip(target: Target) -> None:
    round_trip(Boto3Objects(target.tls.client(*FULL), target.bucket), target)


def test_boto3_transfer_manager(target: Target, tmp_path: Path) -> None:
    # Low thresholds keep the file small while still making parts go out concurrently.
    config = TransferConfig(
        multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4
    )
    client = target.tls.client(*FULL)
    source = tmp_path / "upload.bin"
    source.write_bytes(payload(12 * MiB + 5, 3))
    key = target.key("transfer/upload.bin")
    client.upload_file(str(source), target.bucket, key, Config=config)
    head = client.head_object(Bucket=target.bucket, Key=key)
    assert head["ETag"].endswith('-3"')  # 5 + 5 + 2 MiB parts
    assert sha256(target.stored(key) or b"") == file_sha256(source)

    # download_file fetches ranges concurrently above the threshold.
    back = tmp_path / "download.bin"
    client.download_file(target.bucket, key, str(back), Config=config)
    assert file_sha256(back) == file_sha256(source)

    client.delete_object(Bucket=target.bucket, Key=key)
    assert target.stored(key) is None


def test_boto3_paginators(target: Target) -> None:
    client = target.tls.client(*FULL)
    folder = target.key("paged/")
    keys = {f"{folder}{group}/{n:02d}.txt" for group in ("a", "b") for n in range(6)}
    keys.add(f"{folder}top.txt")
    for key in sorted(keys):
        client.put_object(Bucket=target.bucket, Key=key, Body=key.encode())

    for operation in ("list_objects_v2", "list_objects"):
        pages = list(
            client.get_paginator(operation).paginate(
                Bucket=target.bucket, Prefix=folder, PaginationConfig={"PageSize": 4}
            )
        )
        assert len(pages) == 4, operation  # 13 keys, 4 a page
        assert {item["Key"] for page in pages for item in page["Contents"]} == keys

        delimited = list(
            client.get_paginator(operation).paginate(
                Bucket=target.bucket,
                Prefix=folder,
                Delimiter="/",
                PaginationConfig={"PageSize": 1},
            )
        )
        prefixes = {p["Prefix"] for page in delimited for p in page.get("CommonPrefixes", [])}
        contents = {item["Key"] for page in delimited for item in page.get("Contents", [])}
        assert prefixes == {f"{folder}a/", f"{folder}b/"}, operation
        assert contents == {f"{folder}top.txt"}, operation

    response = client.delete_objects(
        Bucket=target.bucket, Delete={"Objects": [{"Key": key} for key in sorted(keys)]}
    )
    assert not response.get("Errors")
    assert target.stored_under(folder) == set()


@pytest.mark.parametrize("signature_version", ["s3v4", None], ids=["sigv4", "sigv2"])
def test_boto3_presigned_get_and_put(target: Target, signature_version: str | None) -> None:
    options = {"signature_version": signature_version} if signature_version else {}
    client = target.tls.client(*FULL, **options)
    key = target.key("presigned/object.bin")
    data = payload(200_000, 4)

    put_url = client.generate_presigned_url(
        "put_object", Params={"Bucket": target.bucket, "Key": key}, ExpiresIn=300
    )
    assert ("X-Amz-Signature=" in put_url) == (signature_version == "s3v4")
    assert send("PUT", put_url, body=data, ca_cert=target.tls.ca_cert).status == 200
    assert sha256(target.stored(key) or b"") == sha256(data)

    get_url = client.generate_presigned_url(
        "get_object", Params={"Bucket": target.bucket, "Key": key}, ExpiresIn=300
    )
    whole = send("GET", get_url, ca_cert=target.tls.ca_cert)
    assert whole.status == 200
    assert sha256(whole.body) == sha256(data)
    ranged = send("GET", get_url, headers={"Range": "bytes=10-19"}, ca_cert=target.tls.ca_cert)
    assert ranged.status == 206
    assert ranged.body == data[10:20]

    client.delete_object(Bucket=target.bucket, Key=key)
    assert send("GET", get_url, ca_cert=target.tls.ca_cert).status == 404


def test_boto3_copy(target: Target) -> None:
    client = target.tls.client(*FULL)
    source, copied, managed = (target.key(n) for n in ("copy/src.bin", "copy/dst.bin", "copy/m"))
    data = payload(6 * MiB + 3, 5)
    client.put_object(Bucket=target.bucket, Key=source, Body=data, ContentType="application/x-test")

    client.copy_object(
        Bucket=target.bucket, Key=copied, CopySource={"Bucket": target.bucket, "Key": source}
    )
    assert sha256(target.stored(copied) or b"") == sha256(data)
    assert client.head_object(Bucket=target.bucket, Key=copied)["ContentType"] == (
        "application/x-test"
    )

    client.copy_object(
        Bucket=target.bucket,
        Key=copied,
        CopySource={"Bucket": target.bucket, "Key": source},
        MetadataDirective="REPLACE",
        ContentType="text/plain",
        Metadata={"rewritten": "yes"},
    )
    head = client.head_object(Bucket=target.bucket, Key=copied)
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"rewritten": "yes"}

    # The managed copy goes multipart (UploadPartCopy with ranges) above its threshold.
    client.copy(
        {"Bucket": target.bucket, "Key": source},
        target.bucket,
        managed,
        Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB),
    )
    assert sha256(target.stored(managed) or b"") == sha256(data)

    for key in (source, copied, managed):
        client.delete_object(Bucket=target.bucket, Key=key)
    assert target.stored_under(target.key("copy/")) == set()


@pytest.mark.parametrize("listener", ["http", "tls"])
def test_boto3_gzip_content_encoding(target: Target, listener: str) -> None:
    # Web asset pipelines upload pre-compressed files: the stored and served bytes are the
    # compressed ones, with their Content-Encoding, never transparently decoded. Over HTTP
    # botocore signs the SHA-256 of the compressed body; over TLS it sends aws-chunked.
    client = (target.http if listener == "http" else target.tls).client(*FULL)
    key = target.key(f"gzip/{listener}/app.js.gz")
    compressed = gzip.compress(b"console.log('hello');\n" * 2000)
    client.put_object(
        Bucket=target.bucket,
        Key=key,
        Body=compressed,
        ContentEncoding="gzip",
        ContentType="text/javascript",
    )
    assert sha256(target.stored(key) or b"") == sha256(compressed)
    response = client.get_object(Bucket=target.bucket, Key=key)
    assert response["ContentEncoding"] == "gzip"
    assert sha256(response["Body"].read()) == sha256(compressed)
    client.delete_object(Bucket=target.bucket, Key=key)
    assert target.stored(key) is None
