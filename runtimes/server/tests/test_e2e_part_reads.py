"""Multipart objects read part by part, and a retried CompleteMultipartUpload on every backend
kind, through boto3 and a real gateway (SPEC §2; issue 8 defects 6 and 7)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from multistore.testing.runtimes import FIVE_MIB_PARTS

from .conftest import BackendUnderTest

MiB = 1 << 20


def multipart_object(client: Any, bucket: str, key: str, parts: list[bytes]) -> dict[str, Any]:
    created = client.create_multipart_upload(Bucket=bucket, Key=key)
    listed = []
    for number, data in enumerate(parts, 1):
        etag = client.upload_part(
            Bucket=bucket, Key=key, UploadId=created["UploadId"], PartNumber=number, Body=data
        )["ETag"]
        listed.append({"PartNumber": number, "ETag": etag})
    request = {
        "Bucket": bucket,
        "Key": key,
        "UploadId": created["UploadId"],
        "MultipartUpload": {"Parts": listed},
    }
    client.complete_multipart_upload(**request)
    return request


# The backends that keep part sizes (moto ignores ?partNumber on multipart objects).
@pytest.mark.parametrize("kind", ["file", "azure"])
@pytest.mark.server_only(reason=FIVE_MIB_PARTS)
def test_backend_serves_each_part(
    full_client: Any, backends_under_test: list[BackendUnderTest], unique: str, kind: str
) -> None:
    backend = next(b for b in backends_under_test if b.kind == kind)
    bucket, key = backend.data, f"{unique}parted.bin"
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"the last part"]
    multipart_object(full_client, bucket, key, parts)
    total = sum(map(len, parts))
    offset = 0
    for number, data in enumerate(parts, 1):
        got = full_client.get_object(Bucket=bucket, Key=key, PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["Body"].read() == data
        assert got["PartsCount"] == 3
        assert got["ContentRange"] == f"bytes {offset}-{offset + len(data) - 1}/{total}"
        head = full_client.head_object(Bucket=bucket, Key=key, PartNumber=number)
        assert (head["ContentLength"], head["PartsCount"]) == (len(data), 3)
        offset += len(data)
    with pytest.raises(ClientError) as beyond:
        full_client.get_object(Bucket=bucket, Key=key, PartNumber=4)
    assert beyond.value.response["Error"]["Code"] == "InvalidPartNumber"
    assert beyond.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_part_1_of_a_single_part_object_is_the_object(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}single.txt"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"one piece")
    got = full_client.get_object(Bucket=backend.data, Key=key, PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == b"one piece"
    assert got["ContentRange"] == "bytes 0-8/9"
    assert "PartsCount" not in got
    with pytest.raises(ClientError) as beyond:
        full_client.get_object(Bucket=backend.data, Key=key, PartNumber=2)
    assert beyond.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


@pytest.mark.server_only(reason=FIVE_MIB_PARTS)
def test_a_retried_complete_is_answered_like_the_first(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    """An SDK whose Complete answer was lost sends it again: S3 answers 200 with the same
    result, so every backend kind must (file, gcs and azure from a record of their own; s3
    by letting the repeat reach the store)."""
    bucket, key = backend.data, f"{unique}retried.bin"
    parts = [os.urandom(5 * MiB), b"tail"]
    request = multipart_object(full_client, bucket, key, parts)
    first = full_client.head_object(Bucket=bucket, Key=key)
    again = full_client.complete_multipart_upload(**request)
    assert again["ETag"] == first["ETag"]
    assert again["Key"] == key
    assert full_client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"".join(parts)
    # The record that answers the repeat is the backend's own: no upload, no object.
    uploads = full_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert request["UploadId"] not in [upload["UploadId"] for upload in uploads]
    for prefix in (".multistore", ".multistore/uploads/", ".multistore-uploads/"):
        for delimiter in ("", "/"):
            listed = full_client.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter=delimiter)
            assert listed["KeyCount"] == 0, (prefix, delimiter, listed)
    if backend.kind == "s3":
        return  # what a Complete naming other parts gets is the store's answer (moto: 200)
    fewer = {**request, "MultipartUpload": {"Parts": request["MultipartUpload"]["Parts"][:1]}}
    with pytest.raises(ClientError) as other_parts:
        full_client.complete_multipart_upload(**fewer)
    assert other_parts.value.response["Error"]["Code"] == "NoSuchUpload"
