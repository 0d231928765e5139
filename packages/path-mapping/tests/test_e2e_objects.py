"""Objects at hierarchical addresses through boto3: keys, presigned URLs, multipart, copies."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote

import pytest
import urllib3
from botocore.exceptions import ClientError

from multistore.testing.gateway import GatewayProcess

from .conftest import CLIMATE, FULL, WEATHER_2024, Stores

PRODUCTS = {"climate": "acme--climate", "weather": "acme--weather"}
SPECIAL_KEYS = [
    "odd/100%.txt",
    "odd/100%25.txt",
    "odd/report*.pdf",
    "odd/a=b&c=d",
    "odd/plus+sign",
    "odd/with space/ünïcödé.txt",
    "odd/semi;colon,comma'quote\"",
    "odd/tilde~hash#",
]


@pytest.fixture(params=list(PRODUCTS))
def product(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def status_of(error: ClientError) -> int:
    return int(error.response["ResponseMetadata"]["HTTPStatusCode"])


def test_put_get_head_delete_at_a_hierarchical_address(
    full: Any, stores: Stores, product: str, unique: str
) -> None:
    key = f"{product}/{unique}2024/data.bin"
    body = os.urandom(3000)
    full.put_object(Bucket="acme", Key=key, Body=body, ContentType="application/x-test")
    stored_key = f"{unique}2024/data.bin"
    assert stored_key in stores.keys(PRODUCTS[product])
    assert stores.read(PRODUCTS[product], stored_key) == body
    got = full.get_object(Bucket="acme", Key=key)
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-test"
    assert full.head_object(Bucket="acme", Key=key)["ContentLength"] == 3000
    ranged = full.get_object(Bucket="acme", Key=key, Range="bytes=-10")
    assert ranged["Body"].read() == body[-10:]
    full.delete_object(Bucket="acme", Key=key)
    assert stored_key not in stores.keys(PRODUCTS[product])
    with pytest.raises(ClientError) as missing:
        full.head_object(Bucket="acme", Key=key)
    assert status_of(missing.value) == 404


def test_special_character_keys_are_byte_exact_on_both_backends(
    full: Any, stores: Stores, product: str, unique: str
) -> None:
    for index, key in enumerate(SPECIAL_KEYS):
        full.put_object(Bucket="acme", Key=f"{product}/{unique}{key}", Body=f"{index}".encode())
    assert {f"{unique}{key}" for key in SPECIAL_KEYS} <= stores.keys(PRODUCTS[product])
    for index, key in enumerate(SPECIAL_KEYS):
        got = full.get_object(Bucket="acme", Key=f"{product}/{unique}{key}")
        assert got["Body"].read() == f"{index}".encode()
    expected = sorted(f"{product}/{unique}{key}" for key in SPECIAL_KEYS)
    # boto3 asks for encoding-type=url and decodes on its own...
    listed = full.list_objects_v2(Bucket="acme", Prefix=f"{product}/{unique}odd/")
    assert sorted(o["Key"] for o in listed["Contents"]) == expected
    assert listed["Prefix"] == f"{product}/{unique}odd/"
    # ... but leaves the decoding to a caller who asks for it explicitly.
    raw = full.list_objects_v2(Bucket="acme", Prefix=f"{product}/{unique}odd/", EncodingType="url")
    assert sorted(unquote(o["Key"]) for o in raw["Contents"]) == expected
    assert f"{product}/{unique}odd/100%2525.txt" in [o["Key"] for o in raw["Contents"]]
    v1 = full.list_objects(Bucket="acme", Prefix=f"{product}/{unique}odd/")
    assert sorted(o["Key"] for o in v1["Contents"]) == expected


def test_presigned_get_and_put_in_both_signature_forms(
    gateway: GatewayProcess, stores: Stores, product: str, unique: str
) -> None:
    for version in ("s3v4", "s3"):
        client = gateway.client(*FULL, signature_version=version)
        key = f"{product}/{unique}{version}/presigned file+1.txt"
        put_url = client.generate_presigned_url(
            "put_object", Params={"Bucket": "acme", "Key": key}, ExpiresIn=300
        )
        body = f"uploaded with {version}".encode()
        # urllib3, not urllib.request: the latter labels every body as a form, which moto
        # (werkzeug) then swallows as form fields.
        put = urllib3.request("PUT", put_url, body=body, timeout=10)
        assert put.status == 200
        assert stores.read(PRODUCTS[product], f"{unique}{version}/presigned file+1.txt") == body
        get_url = client.generate_presigned_url(
            "get_object", Params={"Bucket": "acme", "Key": key}, ExpiresIn=300
        )
        assert urllib3.request("GET", get_url, timeout=10).data == body
        # The signature covers the address the client used, not the rewritten one: the
        # same signature on the internal address is refused.
        internal = get_url.replace(f"/acme/{product}/", f"/acme--{product}/", 1)
        assert urllib3.request("GET", internal, timeout=10).status == 403


def test_multipart_upload_answers_in_the_hierarchical_form(
    full: Any, stores: Stores, product: str, unique: str
) -> None:
    key = f"{product}/{unique}big.bin"
    created = full.create_multipart_upload(Bucket="acme", Key=key)
    assert (created["Bucket"], created["Key"]) == ("acme", key)
    upload_id = created["UploadId"]
    first, second = os.urandom(5 << 20), os.urandom(1000)
    etags = [
        full.upload_part(Bucket="acme", Key=key, UploadId=upload_id, PartNumber=n, Body=data)[
            "ETag"
        ]
        for n, data in ((1, first), (2, second))
    ]
    parts = full.list_parts(Bucket="acme", Key=key, UploadId=upload_id)
    assert (parts["Bucket"], parts["Key"]) == ("acme", key)
    assert [p["PartNumber"] for p in parts["Parts"]] == [1, 2]
    uploads = full.list_multipart_uploads(Bucket="acme", Prefix=f"{product}/{unique}")
    assert [u["Key"] for u in uploads["Uploads"]] == [key]
    assert uploads["Bucket"] == "acme"
    # Uploads live in products: the account itself has none to show.
    assert "Uploads" not in full.list_multipart_uploads(Bucket="acme")
    done = full.complete_multipart_upload(
        Bucket="acme",
        Key=key,
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags, strict=True)]
        },
    )
    assert (done["Bucket"], done["Key"]) == ("acme", key)
    assert done["Location"].endswith(f"/acme/{key}")
    assert stores.read(PRODUCTS[product], f"{unique}big.bin") == first + second


def test_copy_between_products_and_within_one(full: Any, stores: Stores, unique: str) -> None:
    full.put_object(Bucket="acme", Key=f"climate/{unique}src 1%.txt", Body=b"from climate")
    # s3 → file: streamed through the gateway.
    full.copy_object(
        Bucket="acme",
        Key=f"weather/{unique}copied.txt",
        CopySource={"Bucket": "acme", "Key": f"climate/{unique}src 1%.txt"},
    )
    assert stores.read("acme--weather", f"{unique}copied.txt") == b"from climate"
    # file → s3, and within s3 (server-side).
    full.copy_object(
        Bucket="acme",
        Key=f"climate/{unique}back.txt",
        CopySource=f"acme/weather/{unique}copied.txt",
    )
    full.copy_object(
        Bucket="acme",
        Key=f"climate/{unique}again.txt",
        CopySource={"Bucket": "acme", "Key": f"climate/{unique}back.txt"},
    )
    assert stores.read("acme--climate", f"{unique}again.txt") == b"from climate"


def test_a_credential_scoped_to_one_product_cannot_reach_the_other(
    gateway: GatewayProcess, full: Any, unique: str
) -> None:
    full.put_object(Bucket="acme", Key=f"weather/{unique}secret.txt", Body=b"s")
    climate = gateway.client(*CLIMATE)
    climate.put_object(Bucket="acme", Key=f"climate/{unique}mine.txt", Body=b"mine")
    assert climate.get_object(Bucket="acme", Key=f"climate/{unique}mine.txt")["Body"].read()
    for call in (
        lambda: climate.get_object(Bucket="acme", Key=f"weather/{unique}secret.txt"),
        lambda: climate.put_object(Bucket="acme", Key=f"weather/{unique}x.txt", Body=b"x"),
        lambda: climate.list_objects_v2(Bucket="acme", Prefix="weather/"),
        lambda: climate.copy_object(
            Bucket="acme",
            Key=f"climate/{unique}stolen.txt",
            CopySource={"Bucket": "acme", "Key": f"weather/{unique}secret.txt"},
        ),
        lambda: climate.head_bucket(Bucket="other"),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert status_of(refused.value) == 403
    # The account shows only what the key may use; ListBuckets shows the account (and the
    # anonymous flat bucket), never the other account.
    listed = climate.list_objects_v2(Bucket="acme", Delimiter="/")
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["climate/"]
    assert [b["Name"] for b in climate.list_buckets()["Buckets"]] == ["acme", "public"]
    assert [b["Name"] for b in full.list_buckets()["Buckets"]] == [
        "acme", "other", "pages", "public", "tree"
    ]  # fmt: skip
    assert climate.head_bucket(Bucket="acme")["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_prefix_scoped_key_is_authorized_below_the_product(
    gateway: GatewayProcess, full: Any, unique: str
) -> None:
    full.put_object(Bucket="acme", Key="weather/2024/jan.csv", Body=b"jan")
    full.put_object(Bucket="acme", Key=f"weather/{unique}2023.csv", Body=b"old")
    reader = gateway.client(*WEATHER_2024)
    assert reader.get_object(Bucket="acme", Key="weather/2024/jan.csv")["Body"].read() == b"jan"
    listed = reader.list_objects_v2(Bucket="acme", Prefix="weather/2024/")
    assert "weather/2024/jan.csv" in [o["Key"] for o in listed["Contents"]]
    with pytest.raises(ClientError) as refused:
        reader.get_object(Bucket="acme", Key=f"weather/{unique}2023.csv")
    assert status_of(refused.value) == 403


def test_the_account_answers_like_a_bucket(full: Any) -> None:
    assert full.head_bucket(Bucket="acme")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert full.get_bucket_location(Bucket="acme")["LocationConstraint"] is None  # us-east-1
    # rclone creates the bucket before uploading; the account exists by configuration.
    assert full.create_bucket(Bucket="acme")["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_unknown_accounts_and_products_follow_the_usual_403_404_rules(
    gateway: GatewayProcess, full: Any
) -> None:
    climate = gateway.client(*CLIMATE)
    anonymous = gateway.client()
    cases = [
        (lambda: full.head_bucket(Bucket="nobody"), 404),
        (lambda: full.list_objects_v2(Bucket="acme", Prefix="nothing/"), 404),
        (lambda: climate.head_bucket(Bucket="nobody"), 403),
        (lambda: climate.list_objects_v2(Bucket="acme", Prefix="nothing/"), 403),
        (lambda: anonymous.head_bucket(Bucket="acme"), 403),
        (lambda: anonymous.list_objects_v2(Bucket="acme"), 403),
    ]
    for call, expected in cases:
        with pytest.raises(ClientError) as refused:
            call()
        assert status_of(refused.value) == expected


def test_a_product_read_as_an_object_is_no_such_key(full: Any) -> None:
    # rclone and s3fs HEAD a path before treating it as a folder.
    for call in (
        lambda: full.head_object(Bucket="acme", Key="climate"),
        lambda: full.get_object(Bucket="acme", Key="weather"),
    ):
        with pytest.raises(ClientError) as missing:
            call()
        assert status_of(missing.value) == 404
    with pytest.raises(ClientError) as refused:
        full.put_object(Bucket="acme", Key="climate", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "InvalidRequest"
    listed = full.list_objects_v2(Bucket="acme", Prefix="climate", Delimiter="/")
    assert listed["CommonPrefixes"] == [{"Prefix": "climate/"}]


def test_a_flat_bucket_keeps_its_ordinary_address(full: Any, stores: Stores, unique: str) -> None:
    full.put_object(Bucket="public", Key=f"{unique}deep/file.txt", Body=b"flat")
    assert stores.read("public", f"{unique}deep/file.txt") == b"flat"
    listed = full.list_objects_v2(Bucket="public", Prefix=unique)
    assert [o["Key"] for o in listed["Contents"]] == [f"{unique}deep/file.txt"]
    assert "public" in [b["Name"] for b in full.list_buckets()["Buckets"]]
