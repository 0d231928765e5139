"""Object round trips through the real gateway process, against both backends."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from multistore.testing.gateway import GatewayProcess
from multistore.testing.runtimes import OVER_THE_PAYLOAD_LIMIT

from .conftest import BackendUnderTest


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def status_of(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


@pytest.mark.parametrize(
    "size",
    [0, 1024, pytest.param(8 << 20, marks=pytest.mark.server_only(reason=OVER_THE_PAYLOAD_LIMIT))],
)
def test_put_get_round_trip_is_byte_exact(
    full_client: Any, backend: BackendUnderTest, unique: str, size: int
) -> None:
    body = os.urandom(size)
    key = f"{unique}object.bin"
    full_client.put_object(Bucket=backend.data, Key=key, Body=body)
    got = full_client.get_object(Bucket=backend.data, Key=key)
    assert got["Body"].read() == body
    assert got["ContentLength"] == size
    head = full_client.head_object(Bucket=backend.data, Key=key)
    assert head["ContentLength"] == size
    assert head["ETag"] == got["ETag"]
    assert head["LastModified"]


def test_content_and_metadata_headers_survive(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}doc.txt"
    full_client.put_object(
        Bucket=backend.data,
        Key=key,
        Body=b"hello",
        ContentType="text/x-multistore",
        ContentDisposition='attachment; filename="d.txt"',
        CacheControl="max-age=60",
        ContentLanguage="en",
        Metadata={"team": "gateway", "Run": "1"},
    )
    head = full_client.head_object(Bucket=backend.data, Key=key)
    assert head["ContentType"] == "text/x-multistore"
    assert head["ContentDisposition"] == 'attachment; filename="d.txt"'
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentLanguage"] == "en"
    assert head["Metadata"] == {"team": "gateway", "run": "1"}


def test_ranges(full_client: Any, backend: BackendUnderTest, unique: str) -> None:
    key = f"{unique}range.bin"
    body = bytes(range(256)) * 4
    full_client.put_object(Bucket=backend.data, Key=key, Body=body)
    got = full_client.get_object(Bucket=backend.data, Key=key, Range="bytes=10-19")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert got["Body"].read() == body[10:20]
    suffix = full_client.get_object(Bucket=backend.data, Key=key, Range="bytes=-100")
    assert suffix["Body"].read() == body[-100:]
    assert suffix["ContentRange"] == f"bytes {len(body) - 100}-{len(body) - 1}/{len(body)}"
    open_ended = full_client.get_object(Bucket=backend.data, Key=key, Range="bytes=1000-")
    assert open_ended["Body"].read() == body[1000:]
    # A full read before a ranged read must not turn the ranged read into a 200.
    assert full_client.get_object(Bucket=backend.data, Key=key)["Body"].read() == body
    again = full_client.get_object(Bucket=backend.data, Key=key, Range="bytes=0-0")
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 206
    with pytest.raises(ClientError) as info:
        full_client.get_object(Bucket=backend.data, Key=key, Range=f"bytes={len(body)}-")
    assert error_code(info.value) == "InvalidRange"
    assert status_of(info.value) == 416


def test_conditional_get(full_client: Any, backend: BackendUnderTest, unique: str) -> None:
    key = f"{unique}cond.txt"
    etag = full_client.put_object(Bucket=backend.data, Key=key, Body=b"v1")["ETag"]
    assert (
        full_client.get_object(Bucket=backend.data, Key=key, IfMatch=etag)["Body"].read() == b"v1"
    )
    with pytest.raises(ClientError) as info:
        full_client.get_object(Bucket=backend.data, Key=key, IfNoneMatch=etag)
    assert status_of(info.value) == 304
    with pytest.raises(ClientError) as info:
        full_client.get_object(Bucket=backend.data, Key=key, IfMatch='"0000"')
    assert status_of(info.value) == 412
    assert error_code(info.value) == "PreconditionFailed"
    last_modified = full_client.head_object(Bucket=backend.data, Key=key)["LastModified"]
    with pytest.raises(ClientError) as info:
        full_client.get_object(Bucket=backend.data, Key=key, IfModifiedSince=last_modified)
    assert status_of(info.value) == 304
    past = last_modified - timedelta(days=1)
    assert (
        full_client.get_object(Bucket=backend.data, Key=key, IfModifiedSince=past)["Body"].read()
        == b"v1"
    )
    with pytest.raises(ClientError) as info:
        full_client.get_object(Bucket=backend.data, Key=key, IfUnmodifiedSince=past)
    assert status_of(info.value) == 412


def test_delete_then_get_is_no_such_key(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}gone.txt"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"x")
    assert (
        full_client.delete_object(Bucket=backend.data, Key=key)["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 204
    )
    with pytest.raises(ClientError) as info:
        full_client.get_object(Bucket=backend.data, Key=key)
    assert error_code(info.value) == "NoSuchKey"
    with pytest.raises(ClientError) as info:
        full_client.head_object(Bucket=backend.data, Key=key)
    assert status_of(info.value) == 404


SPECIAL_KEYS = ["report*.pdf", "100%.txt", "100%25.txt", "a=b", "with space/and more.txt",
                "unicode/café/naïve.txt", "plus+sign.txt", "tilde~hash#pipe|.bin",
                "by_country/country_iso=ETH/ETH.pmtiles", "specials !('):@,;$&.bin"]  # fmt: skip


def test_special_keys_are_exact_on_the_backend(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    for key in SPECIAL_KEYS:
        full_client.put_object(Bucket=backend.data, Key=unique + key, Body=key.encode())
    stored = {k for k in backend.stored_keys(backend.data) if k.startswith(unique)}
    assert stored == {unique + key for key in SPECIAL_KEYS}
    for key in SPECIAL_KEYS:
        assert (
            full_client.get_object(Bucket=backend.data, Key=unique + key)["Body"].read()
            == key.encode()
        )


def test_backend_prefix_maps_keys(full_client: Any, backend: BackendUnderTest, unique: str) -> None:
    full_client.put_object(Bucket=backend.prefixed, Key=f"{unique}x.txt", Body=b"prefixed")
    assert f"team/a/{unique}x.txt" in backend.stored_keys(backend.prefixed)
    backend.put_raw(backend.prefixed, f"team/b/{unique}secret.txt", b"other team")
    # "../b/…" is a key like any other: below the prefix on S3 (never normalised), escaped
    # on disk; it never names team/b's object.
    with pytest.raises(ClientError) as info:
        full_client.get_object(Bucket=backend.prefixed, Key=f"../b/{unique}secret.txt")
    assert status_of(info.value) == 404


def test_put_tagging_is_not_implemented_and_leaves_object(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}tagged.txt"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"original")
    with pytest.raises(ClientError) as info:
        full_client.put_object_tagging(
            Bucket=backend.data, Key=key, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}
        )
    assert status_of(info.value) == 501
    assert error_code(info.value) == "NotImplemented"
    with pytest.raises(ClientError):
        full_client.put_object_acl(Bucket=backend.data, Key=key, ACL="public-read")
    assert full_client.get_object(Bucket=backend.data, Key=key)["Body"].read() == b"original"


def test_head_bucket_location_and_create_bucket(
    full_client: Any, backend: BackendUnderTest
) -> None:
    assert full_client.head_bucket(Bucket=backend.data)["ResponseMetadata"]["HTTPStatusCode"] == 200
    location = full_client.get_bucket_location(Bucket=backend.data)
    assert location["LocationConstraint"] in (None, "us-east-1")
    # rclone sends CreateBucket before uploads; a configured bucket answers 200.
    assert (
        full_client.create_bucket(Bucket=backend.data)["ResponseMetadata"]["HTTPStatusCode"] == 200
    )


def test_unknown_bucket_is_404_for_a_caller_who_could_see_it(
    full_client: Any, gateway: GatewayProcess
) -> None:
    with pytest.raises(ClientError) as info:
        full_client.get_object(Bucket="no-such-bucket", Key="x")
    assert error_code(info.value) == "NoSuchBucket"
    with pytest.raises(ClientError) as info:
        gateway.client().get_object(Bucket="no-such-bucket", Key="x")
    assert status_of(info.value) == 403
