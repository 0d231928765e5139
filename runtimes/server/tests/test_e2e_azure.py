"""What only the azure backend has to prove, through boto3, a real gateway and Azurite:
large multipart objects and their parts, SAS and unsigned access, metadata names Azure
cannot hold, the hidden upload state, ETags of multipart objects in preconditions, and
errors that never name the store (issue 13)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from multistore.testing.azurite import ACCOUNT_NAME
from multistore.testing.runtimes import FIVE_MIB_PARTS

from .backend_azure import AZURE_CONTAINERS, AzureUnderTest

MiB = 1 << 20
EIGHT_MIB_PARTS = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
STORE_NAMES = (ACCOUNT_NAME, *AZURE_CONTAINERS.values(), "127.0.0.1", "x-ms-")


def code_of(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def status_of(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def assert_names_no_store(exc: ClientError) -> None:
    text = repr(exc.response["Error"]) + str(exc)
    for name in STORE_NAMES:
        assert name not in text, (name, text)


@pytest.mark.server_only(reason=FIVE_MIB_PARTS)
def test_64_mib_multipart_object_is_exact_and_served_part_by_part(
    full_client: Any, azure_backend_under_test: AzureUnderTest, unique: str, tmp_path: Path
) -> None:
    bucket = azure_backend_under_test.data
    source = tmp_path / "big.bin"
    data = os.urandom(64 * MiB)
    source.write_bytes(data)
    key = f"{unique}big.bin"
    full_client.upload_file(str(source), bucket, key, Config=EIGHT_MIB_PARTS)
    head = full_client.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-8")
    second = full_client.get_object(Bucket=bucket, Key=key, PartNumber=2)
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert second["PartsCount"] == 8
    assert second["ContentRange"] == f"bytes {8 * MiB}-{16 * MiB - 1}/{len(data)}"
    assert second["Body"].read() == data[8 * MiB : 16 * MiB]
    ranged_head = full_client.head_object(Bucket=bucket, Key=key, Range="bytes=10-19")
    assert ranged_head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert (ranged_head["ContentLength"], ranged_head["ContentRange"]) == (
        10,
        f"bytes 10-19/{len(data)}",
    )
    with pytest.raises(ClientError) as beyond:
        full_client.get_object(Bucket=bucket, Key=key, PartNumber=9)
    assert code_of(beyond.value) == "InvalidPartNumber"
    target = tmp_path / "back.bin"
    full_client.download_file(bucket, key, str(target), Config=EIGHT_MIB_PARTS)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
    full_client.delete_object(Bucket=bucket, Key=key)


def test_sas_token_bucket_writes_what_the_shared_key_bucket_reads(
    full_client: Any, azure_backend_under_test: AzureUnderTest, unique: str
) -> None:
    backend = azure_backend_under_test
    key = f"{unique}through-sas.txt"
    full_client.put_object(Bucket=backend.sas, Key=key, Body=b"signed by a SAS token")
    got = full_client.get_object(Bucket=backend.data, Key=key)
    assert got["Body"].read() == b"signed by a SAS token"
    listed = full_client.list_objects_v2(Bucket=backend.sas, Prefix=unique)
    assert [o["Key"] for o in listed["Contents"]] == [key]
    full_client.delete_object(Bucket=backend.sas, Key=key)
    assert backend.client.blob_names(AZURE_CONTAINERS[backend.data], unique) == []


def test_unsigned_bucket_reads_a_public_container_and_cannot_write(
    full_client: Any, azure_backend_under_test: AzureUnderTest, unique: str
) -> None:
    backend = azure_backend_under_test
    key = f"{unique}open.txt"
    backend.put_raw(backend.public, key, b"for everyone")
    got = full_client.get_object(Bucket=backend.unsigned, Key=key)
    assert got["Body"].read() == b"for everyone"
    listed = full_client.list_objects_v2(Bucket=backend.unsigned, Prefix=unique)
    assert [o["Key"] for o in listed["Contents"]] == [key]
    with pytest.raises(ClientError) as refused:
        full_client.put_object(Bucket=backend.unsigned, Key=f"{unique}nope.txt", Body=b"x")
    # Azure refusing the gateway's (absent) credentials is the gateway's fault, not the
    # caller's: 5xx, with nothing about the store in it.
    assert status_of(refused.value) >= 500
    assert_names_no_store(refused.value)


def test_errors_name_the_virtual_bucket_never_the_store(
    full_client: Any, azure_backend_under_test: AzureUnderTest, unique: str
) -> None:
    bucket = azure_backend_under_test.data
    with pytest.raises(ClientError) as missing:
        full_client.get_object(Bucket=bucket, Key=f"{unique}missing")
    assert code_of(missing.value) == "NoSuchKey"
    assert_names_no_store(missing.value)
    full_client.put_object(Bucket=bucket, Key=f"{unique}there", Body=b"x")
    with pytest.raises(ClientError) as taken:
        full_client.put_object(Bucket=bucket, Key=f"{unique}there", Body=b"y", IfNoneMatch="*")
    assert code_of(taken.value) == "PreconditionFailed"
    assert_names_no_store(taken.value)
    with pytest.raises(ClientError) as no_upload:
        full_client.upload_part(
            Bucket=bucket, Key=f"{unique}there", UploadId="0" * 32, PartNumber=1, Body=b"x"
        )
    assert code_of(no_upload.value) == "NoSuchUpload"
    assert_names_no_store(no_upload.value)


def test_metadata_names_azure_cannot_hold_round_trip(
    full_client: Any, azure_backend_under_test: AzureUnderTest, unique: str
) -> None:
    bucket = azure_backend_under_test.data
    key = f"{unique}meta.txt"
    metadata = {"my-key": "dashed", "with.dot": "dotted", "multistore_parts": "7", "plain": "p"}
    put = full_client.put_object(
        Bucket=bucket,
        Key=key,
        Body=b"m",
        Metadata=metadata,
        Expires="Thu, 01 Jan 2037 00:00:00 GMT",
    )
    head = full_client.head_object(Bucket=bucket, Key=key)
    assert head["Metadata"] == metadata
    # A user's "multistore_parts" is the user's: the ETag stays a single-part one.
    assert head["ETag"] == put["ETag"]
    assert "-" not in head["ETag"]
    assert head["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Thu, 01 Jan 2037 00:00:00 GMT"
    overridden = full_client.get_object(
        Bucket=bucket, Key=key, ResponseContentType="text/x-override", ResponseCacheControl="no"
    )
    assert overridden["ContentType"] == "text/x-override"
    assert overridden["CacheControl"] == "no"


def test_upload_state_is_hidden_and_reserved(
    full_client: Any, azure_backend_under_test: AzureUnderTest, unique: str
) -> None:
    bucket = azure_backend_under_test.data
    key = f"{unique}pending.bin"
    upload_id = full_client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    uploads = full_client.list_multipart_uploads(Bucket=bucket, Prefix=unique)
    assert [(u["Key"], u["UploadId"]) for u in uploads["Uploads"]] == [(key, upload_id)]
    top = full_client.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert not any(p["Prefix"].startswith(".multistore") for p in top.get("CommonPrefixes", []))
    everything = full_client.list_objects_v2(Bucket=bucket, Prefix=".multistore/")
    assert everything.get("Contents", []) == []
    with pytest.raises(ClientError) as reserved:
        full_client.put_object(Bucket=bucket, Key=f".multistore/uploads/{upload_id}", Body=b"")
    assert code_of(reserved.value) == "InvalidArgument"
    # Only the markers' own folder is reserved: a user's keys beside it stay visible.
    own = f".multistore/{unique}mine.txt"
    full_client.put_object(Bucket=bucket, Key=own, Body=b"mine")
    top = full_client.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert ".multistore/" in [p["Prefix"] for p in top.get("CommonPrefixes", [])]
    inside = full_client.list_objects_v2(Bucket=bucket, Prefix=".multistore/", Delimiter="/")
    assert [p["Prefix"] for p in inside["CommonPrefixes"]] == [f".multistore/{unique}"]
    full_client.delete_object(Bucket=bucket, Key=own)
    full_client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert full_client.list_multipart_uploads(Bucket=bucket, Prefix=unique).get("Uploads") is None


def test_preconditions_take_multipart_etags(
    full_client: Any, azure_backend_under_test: AzureUnderTest, unique: str
) -> None:
    bucket = azure_backend_under_test.data
    key = f"{unique}guarded.bin"
    created = full_client.create_multipart_upload(Bucket=bucket, Key=key)
    part = full_client.upload_part(
        Bucket=bucket, Key=key, UploadId=created["UploadId"], PartNumber=1, Body=b"one"
    )
    done = full_client.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=created["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        IfNoneMatch="*",
    )
    assert done["ETag"].strip('"').endswith("-1")
    assert full_client.get_object(Bucket=bucket, Key=key, IfMatch=done["ETag"])["Body"].read() == (
        b"one"
    )
    with pytest.raises(ClientError) as cached:
        full_client.head_object(Bucket=bucket, Key=key, IfNoneMatch=done["ETag"])
    assert status_of(cached.value) == 304
    replaced = full_client.put_object(Bucket=bucket, Key=key, Body=b"two", IfMatch=done["ETag"])
    with pytest.raises(ClientError) as stale:
        full_client.put_object(Bucket=bucket, Key=key, Body=b"three", IfMatch=done["ETag"])
    assert code_of(stale.value) == "PreconditionFailed"
    with pytest.raises(ClientError) as absent:
        full_client.put_object(
            Bucket=bucket, Key=f"{key}.none", Body=b"x", IfMatch=replaced["ETag"]
        )
    assert code_of(absent.value) == "NoSuchKey"
    with pytest.raises(ClientError) as kept:
        full_client.delete_object(Bucket=bucket, Key=key, IfMatch=done["ETag"])
    assert code_of(kept.value) == "PreconditionFailed"
    assert full_client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"two"


def test_copy_keeps_or_replaces_properties_server_side(
    full_client: Any, azure_backend_under_test: AzureUnderTest, unique: str
) -> None:
    backend = azure_backend_under_test
    source = f"{unique}source.txt"
    full_client.put_object(
        Bucket=backend.data, Key=source, Body=b"copied", ContentType="text/x-a", Metadata={"k": "1"}
    )
    full_client.copy_object(
        Bucket=backend.prefixed, Key=f"{unique}kept.txt", CopySource=f"{backend.data}/{source}"
    )
    kept = full_client.head_object(Bucket=backend.prefixed, Key=f"{unique}kept.txt")
    assert (kept["ContentType"], kept["Metadata"]) == ("text/x-a", {"k": "1"})
    full_client.copy_object(
        Bucket=backend.data,
        Key=f"{unique}replaced.txt",
        CopySource=f"{backend.data}/{source}",
        MetadataDirective="REPLACE",
        ContentType="text/x-b",
    )
    replaced = full_client.get_object(Bucket=backend.data, Key=f"{unique}replaced.txt")
    assert (replaced["ContentType"], replaced["Metadata"]) == ("text/x-b", {})
    assert replaced["Body"].read() == b"copied"
    # Onto itself, as `aws s3 cp --metadata-directive REPLACE` changes headers in place.
    full_client.copy_object(
        Bucket=backend.data,
        Key=f"{unique}replaced.txt",
        CopySource=f"{backend.data}/{unique}replaced.txt",
        MetadataDirective="REPLACE",
        ContentType="text/x-c",
        Metadata={"again": "yes"},
    )
    again = full_client.get_object(Bucket=backend.data, Key=f"{unique}replaced.txt")
    assert (again["ContentType"], again["Metadata"]) == ("text/x-c", {"again": "yes"})
    assert again["Body"].read() == b"copied"
    with pytest.raises(ClientError) as stale:
        full_client.copy_object(
            Bucket=backend.data,
            Key=f"{unique}never.txt",
            CopySource=f"{backend.data}/{source}",
            CopySourceIfMatch='"0x0"',
        )
    assert code_of(stale.value) == "PreconditionFailed"


def test_continuation_tokens_are_opaque_and_checked(
    full_client: Any, azure_backend_under_test: AzureUnderTest, unique: str
) -> None:
    bucket = azure_backend_under_test.data
    for name in ("a", "b", "c"):
        full_client.put_object(Bucket=bucket, Key=f"{unique}{name}", Body=b"")
    first = full_client.list_objects_v2(Bucket=bucket, Prefix=unique, MaxKeys=2)
    token = first["NextContinuationToken"]
    assert ACCOUNT_NAME not in token
    rest = full_client.list_objects_v2(
        Bucket=bucket, Prefix=unique, MaxKeys=2, ContinuationToken=token
    )
    assert [o["Key"] for o in first["Contents"] + rest["Contents"]] == [
        f"{unique}a",
        f"{unique}b",
        f"{unique}c",
    ]
    after = full_client.list_objects_v2(Bucket=bucket, Prefix=unique, StartAfter=f"{unique}a")
    assert [o["Key"] for o in after["Contents"]] == [f"{unique}b", f"{unique}c"]
    with pytest.raises(ClientError) as garbage:
        full_client.list_objects_v2(Bucket=bucket, Prefix=unique, ContinuationToken="garbage!")
    assert code_of(garbage.value) == "InvalidArgument"
