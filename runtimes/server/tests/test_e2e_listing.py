"""ListObjects V1 and V2 through the gateway, with and without a backend prefix."""

from __future__ import annotations

from typing import Any

import pytest

from .backends_under_test import S3UnderTest
from .conftest import BackendUnderTest

KEYS = [f"dir{d}/file{f:02d}.txt" for d in range(3) for f in range(7)] + [
    "top.txt",
    "zeta/deep/x.txt",
]


@pytest.fixture
def seeded(
    full_client: Any, backend: BackendUnderTest, request: pytest.FixtureRequest
) -> tuple[str, str]:
    """A bucket (plain or prefixed) filled with KEYS under a unique prefix."""
    bucket = backend.prefixed if request.node.get_closest_marker("prefixed") else backend.data
    base = request.node.name.replace("[", "-").replace("]", "") + "/"
    for key in KEYS:
        full_client.put_object(Bucket=bucket, Key=base + key, Body=b"x")
    return bucket, base


def walk_v2(client: Any, bucket: str, **kwargs: Any) -> tuple[list[str], list[str], int]:
    keys: list[str] = []
    prefixes: list[str] = []
    pages = 0
    token = None
    while True:
        args = dict(kwargs, **({"ContinuationToken": token} if token else {}))
        page = client.list_objects_v2(Bucket=bucket, **args)
        pages += 1
        assert page["KeyCount"] == len(page.get("Contents", [])) + len(
            page.get("CommonPrefixes", [])
        )
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            return keys, prefixes, pages
        token = page["NextContinuationToken"]


def walk_v1(client: Any, bucket: str, **kwargs: Any) -> tuple[list[str], list[str], int]:
    keys: list[str] = []
    prefixes: list[str] = []
    pages = 0
    marker = ""
    while True:
        page = client.list_objects(Bucket=bucket, Marker=marker, **kwargs)
        pages += 1
        contents = [o["Key"] for o in page.get("Contents", [])]
        common = [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        keys += contents
        prefixes += common
        if not page["IsTruncated"]:
            return keys, prefixes, pages
        marker = page.get("NextMarker") or max(contents + common)


@pytest.mark.parametrize("walk", [walk_v1, walk_v2], ids=["v1", "v2"])
def test_flat_listing_pages_through_everything(
    full_client: Any, seeded: tuple[str, str], walk: Any
) -> None:
    bucket, base = seeded
    keys, prefixes, pages = walk(full_client, bucket, Prefix=base, MaxKeys=5)
    assert keys == sorted(base + k for k in KEYS)
    assert prefixes == []
    assert pages == 5


@pytest.mark.prefixed
@pytest.mark.parametrize("walk", [walk_v1, walk_v2], ids=["v1", "v2"])
def test_listing_under_a_backend_prefix(
    full_client: Any, seeded: tuple[str, str], walk: Any
) -> None:
    bucket, base = seeded
    keys, _, pages = walk(full_client, bucket, Prefix=base, MaxKeys=4)
    assert keys == sorted(base + k for k in KEYS)
    assert pages == 6


@pytest.mark.parametrize("walk", [walk_v1, walk_v2], ids=["v1", "v2"])
def test_delimiter_groups_common_prefixes(
    full_client: Any, seeded: tuple[str, str], walk: Any
) -> None:
    bucket, base = seeded
    keys, prefixes, _ = walk(full_client, bucket, Prefix=base, Delimiter="/", MaxKeys=2)
    assert keys == [base + "top.txt"]
    assert prefixes == [base + "dir0/", base + "dir1/", base + "dir2/", base + "zeta/"]


def test_encoding_type_url_round_trips_odd_keys(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    odd = [
        f"{unique}test_file(3).png",
        f"{unique}space here.txt",
        f"{unique}plus+sign",
        f"{unique}café.txt",
    ]
    for key in odd:
        full_client.put_object(Bucket=backend.data, Key=key, Body=b"o")
    # boto3 asks for encoding-type=url and decodes the answer itself.
    listed = full_client.list_objects_v2(Bucket=backend.data, Prefix=unique)
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(odd)


def test_directory_markers_fold_into_their_prefix(
    full_client: Any, s3_backend_under_test: S3UnderTest, unique: str
) -> None:
    # Only object stores have zero-byte "folder/" markers; a directory on disk is not an object.
    backend = s3_backend_under_test
    backend.put_raw(backend.data, f"{unique}folder/", b"")
    full_client.put_object(Bucket=backend.data, Key=f"{unique}folder/real.txt", Body=b"r")
    listed = full_client.list_objects_v2(
        Bucket=backend.data, Prefix=f"{unique}folder/", Delimiter="/"
    )
    # Inside the folder its marker is listed, as S3 lists it (pyarrow and s3fs rely on it).
    assert [o["Key"] for o in listed["Contents"]] == [
        f"{unique}folder/",
        f"{unique}folder/real.txt",
    ]
    grouped = full_client.list_objects_v2(Bucket=backend.data, Prefix=unique, Delimiter="/")
    assert "Contents" not in grouped
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == [f"{unique}folder/"]
