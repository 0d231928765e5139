"""Every key S3 accepts, through boto3 and aws-cli and a real gateway, on both backends
(SPEC §2, issue 8 defect 1): folder markers, empty/``.``/``..`` segments, a leading ``/``,
control characters; keys over 1024 bytes are ``KeyTooLongError``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from multistore.testing.gateway import GatewayProcess

from .backends_under_test import FileUnderTest
from .conftest import FULL, BackendUnderTest, aws_cli

# Relative to the test's unique prefix.
ODD_KEYS = ["dir/", "a//b", "./x", "../x", "ctrl\x01char", "tab\tand\x7fdel", "sp ace/"]
# moto's server answers 404 to any path holding a newline (S3 itself takes them), so that
# key is proven on the file backend only.
FILE_ONLY_KEYS = ["new\nline"]
# Azurite answers 500 to any listing of a container holding a name with a C0 control
# character other than tab and newline (Azure itself lists it with <Name Encoded="true">),
# so on the azure backend that key is proven by every call but the listing.
AZURITE_UNLISTABLE = ["ctrl\x01char"]
# The file name each of them gets below the file backend's root (backends/file/names.py).
FILE_PATHS = {
    "dir/": "dir/.%",
    "a//b": "a/.%/b",
    "./x": ".%./x",
    "../x": ".%../x",
    "ctrl\x01char": ".%ctrl%01char",
    "tab\tand\x7fdel": ".%tab%09and%7Fdel",
    "new\nline": ".%new%0Aline",
    "sp ace/": "sp ace/.%",
}


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def listed_keys(client: Any, bucket: str, prefix: str, **extra: Any) -> list[str]:
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, **extra
    ):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def assert_stored_exactly(backend: BackendUnderTest, key: str, relative: str, unique: str) -> None:
    if not isinstance(backend, FileUnderTest):
        assert key in backend.stored_keys(backend.data)
    else:
        path = backend.file_roots[backend.data] / unique / FILE_PATHS[relative]
        assert path.is_file(), path


def test_every_key_round_trips(full_client: Any, backend: BackendUnderTest, unique: str) -> None:
    relatives = ODD_KEYS + (FILE_ONLY_KEYS if backend.kind in ("file", "azure") else [])
    relatives = [relative for relative in relatives if backend.can_store(relative)]
    if backend.kind == "azure":
        unlistable = [unique + relative for relative in AZURITE_UNLISTABLE]
        for key in unlistable:
            full_client.put_object(Bucket=backend.data, Key=key, Body=b"odd")
            assert full_client.get_object(Bucket=backend.data, Key=key)["Body"].read() == b"odd"
            assert full_client.head_object(Bucket=backend.data, Key=key)["ContentLength"] == 3
            full_client.delete_object(Bucket=backend.data, Key=key)
            with pytest.raises(ClientError) as gone:
                full_client.head_object(Bucket=backend.data, Key=key)
            assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        relatives = [r for r in relatives if r not in AZURITE_UNLISTABLE]
    keys = [unique + relative for relative in relatives]
    for index, key in enumerate(keys):
        full_client.put_object(Bucket=backend.data, Key=key, Body=b"odd %d" % index)
    for index, (relative, key) in enumerate(zip(relatives, keys, strict=True)):
        assert_stored_exactly(backend, key, relative, unique)
        assert full_client.get_object(Bucket=backend.data, Key=key)["Body"].read() == (
            b"odd %d" % index
        )
        assert full_client.head_object(Bucket=backend.data, Key=key)["ContentLength"] == len(
            b"odd %d" % index
        )
    # boto3 asks for encoding-type=url, which is how control characters survive the XML.
    assert listed_keys(full_client, backend.data, unique) == sorted(keys, key=str.encode)
    for key in keys:
        full_client.delete_object(Bucket=backend.data, Key=key)
        with pytest.raises(ClientError) as missing:
            full_client.get_object(Bucket=backend.data, Key=key)
        # The error document names the key too, and stays XML that boto3 can parse.
        assert error_code(missing.value) == "NoSuchKey"
    assert listed_keys(full_client, backend.data, unique) == []


def test_a_leading_slash_is_part_of_the_key(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = "/" + unique + "lead"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"slash")
    assert full_client.get_object(Bucket=backend.data, Key=key)["Body"].read() == b"slash"
    with pytest.raises(ClientError):
        full_client.head_object(Bucket=backend.data, Key=unique + "lead")
    assert listed_keys(full_client, backend.data, "/" + unique) == [key]
    full_client.delete_object(Bucket=backend.data, Key=key)
    assert listed_keys(full_client, backend.data, "/" + unique) == []


def test_copy_multipart_and_batch_delete_take_odd_keys(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    dots = ".." if backend.takes_dot_dot_segments else "."
    marker, dotted, multi = unique + "folder/", f"{unique}a/{dots}/b", f"{unique}x//{dots}/multi"
    full_client.put_object(Bucket=backend.data, Key=marker, Body=b"")
    full_client.copy_object(
        Bucket=backend.data, Key=dotted, CopySource={"Bucket": backend.data, "Key": marker}
    )
    assert full_client.head_object(Bucket=backend.data, Key=dotted)["ContentLength"] == 0
    created = full_client.create_multipart_upload(Bucket=backend.data, Key=multi)
    part = full_client.upload_part(
        Bucket=backend.data, Key=multi, UploadId=created["UploadId"], PartNumber=1, Body=b"parts"
    )
    full_client.complete_multipart_upload(
        Bucket=backend.data,
        Key=multi,
        UploadId=created["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert full_client.get_object(Bucket=backend.data, Key=multi)["Body"].read() == b"parts"
    deleted = full_client.delete_objects(
        Bucket=backend.data,
        Delete={"Objects": [{"Key": k} for k in (marker, dotted, multi)]},
    )
    assert sorted(d["Key"] for d in deleted["Deleted"]) == sorted([marker, dotted, multi])
    assert deleted.get("Errors", []) == []
    assert listed_keys(full_client, backend.data, unique) == []


def test_keys_over_1024_bytes_are_too_long(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    # Segments of 200 bytes: the file backend stores each as one file name (at most 255).
    filler = "/".join("k" * 199 for _ in range(6))
    longest = unique + filler[: 1024 - len(unique)]
    assert len(longest.encode()) == 1024
    full_client.put_object(Bucket=backend.data, Key=longest, Body=b"fits")
    assert full_client.get_object(Bucket=backend.data, Key=longest)["Body"].read() == b"fits"
    full_client.delete_object(Bucket=backend.data, Key=longest)
    with pytest.raises(ClientError) as too_long:
        full_client.put_object(Bucket=backend.data, Key=longest + "k", Body=b"x")
    assert error_code(too_long.value) == "KeyTooLongError"
    assert too_long.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_folder_markers_are_listed_as_s3_lists_them(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    for key in ("photos/", "photos/a.jpg", "empty/"):
        full_client.put_object(Bucket=backend.data, Key=unique + key, Body=b"")
    top = full_client.list_objects_v2(Bucket=backend.data, Prefix=unique, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == [unique + "empty/", unique + "photos/"]
    assert "Contents" not in top
    browsing = full_client.list_objects_v2(
        Bucket=backend.data, Prefix=unique + "photos/", Delimiter="/"
    )
    assert [o["Key"] for o in browsing["Contents"]] == [unique + "photos/", unique + "photos/a.jpg"]
    recursive = full_client.list_objects_v2(Bucket=backend.data, Prefix=unique + "photos/")
    assert [o["Key"] for o in recursive["Contents"]] == [
        unique + "photos/",
        unique + "photos/a.jpg",
    ]
    assert full_client.get_object(Bucket=backend.data, Key=unique + "empty/")["Body"].read() == b""
    flat = listed_keys(full_client, backend.data, unique)
    assert flat == [unique + "empty/", unique + "photos/", unique + "photos/a.jpg"]


def test_a_zero_byte_object_beside_its_prefix_stays_listed(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    # Issue 8 defect 8. The file backend cannot hold "foo" and "foo/x" at once
    # (docs/backends.md); there a genuine 0-byte object next to a marker-only folder shows.
    if backend.kind == "s3":
        full_client.put_object(Bucket=backend.data, Key=unique + "foo", Body=b"")
        full_client.put_object(Bucket=backend.data, Key=unique + "foo/x", Body=b"x")
        expected_keys, expected_prefixes = [unique + "foo"], [unique + "foo/"]
    else:
        full_client.put_object(Bucket=backend.data, Key=unique + "foo", Body=b"")
        full_client.put_object(Bucket=backend.data, Key=unique + "bar/", Body=b"")
        expected_keys, expected_prefixes = [unique + "foo"], [unique + "bar/"]
    for version in ("list_objects", "list_objects_v2"):
        page = getattr(full_client, version)(Bucket=backend.data, Prefix=unique, Delimiter="/")
        assert [o["Key"] for o in page.get("Contents", [])] == expected_keys, version
        assert [p["Prefix"] for p in page.get("CommonPrefixes", [])] == expected_prefixes


def test_aws_cli_folder_marker_and_recursive_rm(
    gateway: GatewayProcess, backend: BackendUnderTest, unique: str, tmp_path: Path
) -> None:
    made = aws_cli(
        gateway, "s3api", "put-object", "--bucket", backend.data, "--key", unique + "folder/",
        cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    client = gateway.client(*FULL)
    for key in ("folder/a.txt", "folder/sub/", "folder/sub/b.txt", "folder/sub/deeper/"):
        body = b"" if key.endswith("/") else b"x"
        client.put_object(Bucket=backend.data, Key=unique + key, Body=body)
    removed = aws_cli(
        gateway, "s3", "rm", f"s3://{backend.data}/{unique}folder/", "--recursive", cwd=tmp_path
    )
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.count("delete:") == 5
    assert listed_keys(client, backend.data, unique) == []
