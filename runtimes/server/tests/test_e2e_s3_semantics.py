"""S3 semantics real clients depend on (issue #8), through the real gateway, both backends.

Bodies are never decoded, conditional deletes are honoured, 304s keep their validators,
whole-object checksums complete multipart uploads, backend CORS and bookkeeping headers
stay behind, canned ACLs are refused rather than ignored, and V1 listings encode what S3
encodes.
"""

from __future__ import annotations

import base64
import gzip
import os
import zlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.moto_backend import MotoS3
from multistore.testing.runtimes import FIVE_MIB_PARTS, runtime_options
from multistore.testing.signing import send, sign

from .backends_under_test import MOTO_BUCKETS, S3UnderTest
from .conftest import FULL, BackendUnderTest


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def status_of(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def headers_of(exc: ClientError) -> dict[str, str]:
    return dict(exc.response["ResponseMetadata"]["HTTPHeaders"])


def stored_bytes(backend: BackendUnderTest, key: str) -> bytes:
    """What the backend itself holds for ``key`` of the data bucket, bypassing the gateway."""
    return backend.get_raw(backend.data, key)


def exists(client: Any, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if status_of(exc) == 404:
            return False
        raise
    return True


# --- bodies are never decoded ------------------------------------------------------------


def test_gzip_upload_is_stored_and_served_compressed(
    full_client: Any, gateway: GatewayProcess, backend: BackendUnderTest, unique: str
) -> None:
    plain = b"web asset pipelines upload pre-compressed files\n" * 200
    compressed = gzip.compress(plain)
    key = f"{unique}app.js"
    full_client.put_object(
        Bucket=backend.data,
        Key=key,
        Body=compressed,
        ContentEncoding="gzip",
        ContentType="text/javascript",
    )
    assert stored_bytes(backend, key) == compressed

    got = full_client.get_object(Bucket=backend.data, Key=key)
    assert got["ContentEncoding"] == "gzip"
    assert got["Body"].read() == compressed
    # A plain HTTP GET that accepts gzip gets the stored bytes, not a re-encoded body.
    url = f"{gateway.url}/{backend.data}/{quote(key)}"
    headers = sign("GET", url, access_key=FULL[0], secret_key=FULL[1])
    raw = send("GET", url, headers={**headers, "Accept-Encoding": "gzip"})
    assert raw.status == 200
    assert {k.lower(): v for k, v in raw.headers.items()}["content-encoding"] == "gzip"
    assert raw.body == compressed
    assert gzip.decompress(raw.body) == plain


def test_gzip_upload_in_aws_chunked_framing_keeps_only_gzip(
    tls_gateway: GatewayProcess, backend: BackendUnderTest, unique: str
) -> None:
    # Over HTTPS boto3 frames the body as aws-chunked and sends "Content-Encoding:
    # gzip,aws-chunked"; the framing is removed, the gzip bytes and header are kept.
    client = tls_gateway.client(*FULL)
    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        value = request.headers["Content-Encoding"]
        sent.append(value.decode() if isinstance(value, bytes) else value)

    client.meta.events.register("before-send.s3.PutObject", record)
    compressed = gzip.compress(os.urandom(1 << 16))
    key = f"{unique}framed.bin.gz"
    client.put_object(Bucket=backend.data, Key=key, Body=compressed, ContentEncoding="gzip")
    assert "aws-chunked" in sent[0]
    assert "gzip" in sent[0]
    assert stored_bytes(backend, key) == compressed
    got = client.get_object(Bucket=backend.data, Key=key)
    assert got["ContentEncoding"] == "gzip"
    assert got["Body"].read() == compressed


# --- conditional deletes -----------------------------------------------------------------


def test_delete_object_with_wrong_if_match_is_412_and_keeps_the_object(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}guarded.txt"
    etag = full_client.put_object(Bucket=backend.data, Key=key, Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as info:
        full_client.delete_object(Bucket=backend.data, Key=key, IfMatch='"0000"')
    assert status_of(info.value) == 412
    assert error_code(info.value) == "PreconditionFailed"
    assert exists(full_client, backend.data, key)

    full_client.delete_object(Bucket=backend.data, Key=key, IfMatch=etag)
    assert not exists(full_client, backend.data, key)
    # If-Match on a key with no object: S3 answers 404, there is nothing to match.
    with pytest.raises(ClientError) as info:
        full_client.delete_object(Bucket=backend.data, Key=key, IfMatch=etag)
    assert status_of(info.value) == 404
    assert error_code(info.value) == "NoSuchKey"


def test_delete_object_honours_last_modified_time_and_size(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}sized.txt"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"12345")
    head = full_client.head_object(Bucket=backend.data, Key=key)
    modified = head["LastModified"]

    for condition in (
        {"IfMatchSize": 4},
        {"IfMatchLastModifiedTime": modified - timedelta(seconds=5)},
        {"IfMatchSize": 5, "IfMatchLastModifiedTime": modified + timedelta(days=1)},
        {"IfMatch": head["ETag"], "IfMatchSize": 6},
    ):
        with pytest.raises(ClientError) as info:
            full_client.delete_object(Bucket=backend.data, Key=key, **condition)
        assert status_of(info.value) == 412, condition
        assert exists(full_client, backend.data, key), condition

    full_client.delete_object(
        Bucket=backend.data, Key=key, IfMatchSize=5, IfMatchLastModifiedTime=modified
    )
    assert not exists(full_client, backend.data, key)
    # Without If-Match, a missing object is simply gone: 204, as S3 documents.
    full_client.delete_object(Bucket=backend.data, Key=key, IfMatchSize=5)


def test_malformed_delete_conditions_are_refused(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}kept.txt"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"x")
    url = f"{gateway.url}/{backend.data}/{quote(key)}"
    for name, value in (
        ("x-amz-if-match-size", "five"),
        ("x-amz-if-match-last-modified-time", "yesterday"),
    ):
        headers = sign("DELETE", url, access_key=FULL[0], secret_key=FULL[1], headers={name: value})
        response = send("DELETE", url, headers=headers)
        assert response.status == 400, name
        assert b"<Code>InvalidArgument</Code>" in response.body
    assert exists(full_client, backend.data, key)


def test_delete_objects_honours_per_object_conditions(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    keys = {
        name: f"{unique}{name}" for name in ("etag-bad", "etag-ok", "size-bad", "time-bad", "free")
    }
    etags = {
        name: full_client.put_object(Bucket=backend.data, Key=key, Body=b"abc")["ETag"]
        for name, key in keys.items()
    }
    modified = full_client.head_object(Bucket=backend.data, Key=keys["time-bad"])["LastModified"]
    result = full_client.delete_objects(
        Bucket=backend.data,
        Delete={
            "Objects": [
                {"Key": keys["etag-bad"], "ETag": '"0000"'},
                {"Key": keys["etag-ok"], "ETag": etags["etag-ok"], "Size": 3},
                {"Key": keys["size-bad"], "Size": 4},
                {"Key": keys["time-bad"], "LastModifiedTime": modified - timedelta(hours=1)},
                {"Key": keys["free"]},
            ]
        },
    )
    errors = {e["Key"]: e["Code"] for e in result.get("Errors", [])}
    assert errors == {
        keys["etag-bad"]: "PreconditionFailed",
        keys["size-bad"]: "PreconditionFailed",
        keys["time-bad"]: "PreconditionFailed",
    }
    assert {d["Key"] for d in result["Deleted"]} == {keys["etag-ok"], keys["free"]}
    for name, key in keys.items():
        assert exists(full_client, backend.data, key) == (
            name in ("etag-bad", "size-bad", "time-bad")
        )


# --- 304 keeps its validators ------------------------------------------------------------


def test_not_modified_keeps_etag_and_last_modified(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}cached.css"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"body{}", CacheControl="max-age=60")
    head = full_client.head_object(Bucket=backend.data, Key=key)
    for call in ("get_object", "head_object"):
        with pytest.raises(ClientError) as info:
            getattr(full_client, call)(Bucket=backend.data, Key=key, IfNoneMatch=head["ETag"])
        assert status_of(info.value) == 304
        headers = headers_of(info.value)
        assert headers["etag"] == head["ETag"]
        assert headers["x-amz-request-id"]
        if not isinstance(backend, S3UnderTest):
            last_modified = head["ResponseMetadata"]["HTTPHeaders"]["last-modified"]
            assert headers["last-modified"] == last_modified
            continue
        # The s3 backend's 304 carries what the store sent with it (S3 sends ETag and
        # Last-Modified; moto only ETag and Cache-Control): every validator is kept.
        with pytest.raises(ClientError) as direct:
            getattr(backend.moto.client(), call)(
                Bucket=MOTO_BUCKETS[backend.data], Key=key, IfNoneMatch=head["ETag"]
            )
        sent = headers_of(direct.value)
        for name in ("etag", "last-modified", "cache-control", "expires"):
            assert headers.get(name) == sent.get(name), name


# --- CompleteMultipartUpload with the object's checksum ----------------------------------

PART = 5 << 20


def _b64_crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _upload_two_parts(
    client: Any, bucket: str, key: str, checksum_type: str
) -> tuple[str, bytes, list[dict[str, Any]]]:
    upload_id = client.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32", ChecksumType=checksum_type
    )["UploadId"]
    pieces = [os.urandom(PART), os.urandom(1000)]
    parts = []
    for number, piece in enumerate(pieces, start=1):
        answer = client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=piece,
            ChecksumCRC32=_b64_crc32(piece),
        )
        parts.append(
            {"PartNumber": number, "ETag": answer["ETag"], "ChecksumCRC32": _b64_crc32(piece)}
        )
    return upload_id, b"".join(pieces), parts


def assert_object_checksum(
    client: Any, backend: BackendUnderTest, key: str, completed: dict[str, Any], expected: str
) -> None:
    if backend.kind == "file":
        # The file backend computes the object's checksum and answers with it.
        assert completed["ChecksumCRC32"] == expected
        return
    if backend.kind == "azure":
        # Azure keeps the checksum the client stated on Complete and serves it back.
        assert completed["ChecksumCRC32"] == expected
        head = client.head_object(Bucket=backend.data, Key=key, ChecksumMode="ENABLED")
        assert head["ChecksumCRC32"] == expected
        return
    if backend.kind == "gcs":
        # GCS keeps only its own CRC32C and MD5: the upload completes (each part's checksum
        # was verified on the way in) and no S3 checksum is claimed for the object.
        assert "ChecksumCRC32" not in completed
        head = client.head_object(Bucket=backend.data, Key=key, ChecksumMode="ENABLED")
        assert "ChecksumCRC32" not in head
        return
    # The s3 backend forwards the header and the store checks it. moto computes the checksum
    # itself, does not repeat it in the Complete answer and drops a composite's "-N" on HEAD.
    assert completed.get("ChecksumCRC32", expected) == expected
    head = client.head_object(Bucket=backend.data, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == expected.split("-")[0]


@pytest.mark.server_only(reason=FIVE_MIB_PARTS)
def test_complete_with_full_object_checksum_header(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}full-object.bin"
    upload_id, data, parts = _upload_two_parts(full_client, backend.data, key, "FULL_OBJECT")
    done = full_client.complete_multipart_upload(
        Bucket=backend.data,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": parts},
        ChecksumCRC32=_b64_crc32(data),
        ChecksumType="FULL_OBJECT",
    )
    assert_object_checksum(full_client, backend, key, done, _b64_crc32(data))
    assert full_client.get_object(Bucket=backend.data, Key=key)["Body"].read() == data


@pytest.mark.server_only(reason=FIVE_MIB_PARTS)
def test_complete_with_composite_checksum_header(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}composite.bin"
    upload_id, data, parts = _upload_two_parts(full_client, backend.data, key, "COMPOSITE")
    combined = b"".join(base64.b64decode(part["ChecksumCRC32"]) for part in parts)
    composite = f"{_b64_crc32(combined)}-{len(parts)}"
    done = full_client.complete_multipart_upload(
        Bucket=backend.data,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": parts},
        ChecksumCRC32=composite,
    )
    assert_object_checksum(full_client, backend, key, done, composite)
    assert full_client.get_object(Bucket=backend.data, Key=key)["Body"].read() == data


@pytest.mark.server_only(reason=FIVE_MIB_PARTS)
def test_complete_with_wrong_full_object_checksum_is_bad_digest_on_file(
    full_client: Any, file_roots: Any, unique: str
) -> None:
    # The file backend computes the object's checksum itself; a mismatch stores nothing.
    key = f"{unique}wrong.bin"
    upload_id, _, parts = _upload_two_parts(full_client, "file-data", key, "FULL_OBJECT")
    with pytest.raises(ClientError) as info:
        full_client.complete_multipart_upload(
            Bucket="file-data",
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            ChecksumCRC32=_b64_crc32(b"something else"),
            ChecksumType="FULL_OBJECT",
        )
    assert error_code(info.value) == "BadDigest"
    assert not exists(full_client, "file-data", key)
    full_client.abort_multipart_upload(Bucket="file-data", Key=key, UploadId=upload_id)


# --- backend headers that are not the client's business ----------------------------------


def test_backend_cors_and_bookkeeping_headers_do_not_reach_the_client(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    # moto, like many S3-compatible stores, answers every request with
    # "Access-Control-Allow-Origin: *"; the gateway has CORS off here, so nothing may grant.
    key = f"{unique}private.txt"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"secret")
    url = f"{gateway.url}/{backend.data}/{quote(key)}"
    for method in ("GET", "HEAD", "PUT", "DELETE"):
        body = b"secret" if method == "PUT" else b""
        headers = sign(method, url, access_key=FULL[0], secret_key=FULL[1], body=body)
        headers["Origin"] = "https://evil.example"
        response = send(method, url, headers=headers, body=body)
        assert response.status < 300, method
        names = {name.lower() for name in response.headers}
        assert not {n for n in names if n.startswith("access-control-")}, method
        assert "x-amzn-requestid" not in names, method
        assert "x-amz-content-sha256" not in names, method
        assert "x-amz-request-id" in names


APP = "https://app.example"
EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def cors_s3_gateway(
    gateway_runtime: str, moto_s3: MotoS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """An anonymous s3 bucket whose gateway allows one origin; moto allows every origin."""
    moto_s3.client().create_bucket(Bucket="backend-cors")
    moto_s3.client().put_object(Bucket="backend-cors", Key="page.html", Body=b"<p>hi</p>")
    config = {
        "server": {"cors_origins": [APP]},
        "buckets": [
            {
                "name": "site",
                "backend_type": "s3",
                "anonymous_access": True,
                "backend_options": moto_s3.backend_options("backend-cors"),
            }
        ],
    }
    with running_gateway(
        config, tmp_path_factory.mktemp("cors-s3"), **runtime_options(gateway_runtime)
    ) as process:
        yield process


def test_backend_cors_grant_never_overrides_cors_origins(cors_s3_gateway: GatewayProcess) -> None:
    url = f"{cors_s3_gateway.url}/site/page.html"
    allowed = send("GET", url, headers={"Origin": APP})
    assert allowed.status == 200
    granted = {k.lower(): v for k, v in allowed.headers.items()}
    assert granted["access-control-allow-origin"] == APP
    refused = send("GET", url, headers={"Origin": EVIL})
    assert refused.status == 200  # CORS limits browsers, not the request itself
    assert not [k for k in refused.headers if k.lower().startswith("access-control-")]


# --- canned ACLs -------------------------------------------------------------------------


def test_private_and_owner_full_control_acls_are_accepted(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    for acl in ("private", "bucket-owner-full-control"):
        key = f"{unique}{acl}.txt"
        full_client.put_object(Bucket=backend.data, Key=key, Body=b"x", ACL=acl)
        assert full_client.get_object(Bucket=backend.data, Key=key)["Body"].read() == b"x"


@pytest.mark.parametrize(
    "grant",
    [
        {"ACL": "public-read"},
        {"ACL": "public-read-write"},
        {"ACL": "authenticated-read"},
        {"GrantRead": 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'},
    ],
    ids=["public-read", "public-read-write", "authenticated-read", "grant-read"],
)
def test_other_acls_are_refused_on_every_write(
    full_client: Any, backend: BackendUnderTest, unique: str, grant: dict[str, str]
) -> None:
    source = f"{unique}source.txt"
    full_client.put_object(Bucket=backend.data, Key=source, Body=b"x")
    attempts = {
        "put": lambda key: full_client.put_object(Bucket=backend.data, Key=key, Body=b"x", **grant),
        "copy": lambda key: full_client.copy_object(
            Bucket=backend.data,
            Key=key,
            CopySource={"Bucket": backend.data, "Key": source},
            **grant,
        ),
        "multipart": lambda key: full_client.create_multipart_upload(
            Bucket=backend.data, Key=key, **grant
        ),
    }
    for name, attempt in attempts.items():
        key = f"{unique}{name}.txt"
        with pytest.raises(ClientError) as info:
            attempt(key)
        assert status_of(info.value) == 400, name
        assert error_code(info.value) == "AccessControlListNotSupported", name
        assert not exists(full_client, backend.data, key), name
    uploads = full_client.list_multipart_uploads(Bucket=backend.data, Prefix=unique)
    assert not uploads.get("Uploads")


# --- ListObjects V1 encoding -------------------------------------------------------------


def test_list_objects_v1_prefix_comes_back_as_sent(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    prefix = f"{unique}a b+c/"
    full_client.put_object(Bucket=backend.data, Key=f"{prefix}x y.txt", Body=b"x")
    # boto3 adds encoding-type=url to every ListObjects call and decodes Key, Marker,
    # NextMarker, Delimiter and CommonPrefixes — but not V1's Prefix, which S3 never encodes.
    v1 = full_client.list_objects(Bucket=backend.data, Prefix=prefix, Delimiter="/")
    assert v1["Prefix"] == prefix
    assert [o["Key"] for o in v1["Contents"]] == [f"{prefix}x y.txt"]
    v2 = full_client.list_objects_v2(Bucket=backend.data, Prefix=prefix, Delimiter="/")
    assert v2["Prefix"] == prefix
    assert [o["Key"] for o in v2["Contents"]] == [f"{prefix}x y.txt"]

    url = f"{gateway.url}/{backend.data}?encoding-type=url&prefix={quote(prefix, safe='')}"
    headers = sign("GET", url, access_key=FULL[0], secret_key=FULL[1])
    raw = send("GET", url, headers=headers)
    assert f"<Prefix>{prefix}</Prefix>".encode() in raw.body
    assert f"<Key>{quote(prefix + 'x y.txt')}</Key>".encode() in raw.body
    plain_url = f"{gateway.url}/{backend.data}?prefix={quote(prefix, safe='')}"
    raw = send(
        "GET", plain_url, headers=sign("GET", plain_url, access_key=FULL[0], secret_key=FULL[1])
    )
    assert f"<Prefix>{prefix}</Prefix>".encode() in raw.body
    assert f"<Key>{prefix}x y.txt</Key>".encode() in raw.body


# --- what directory probes see (docs/clients.md, pyarrow) --------------------------------


def test_head_of_a_directory_is_404_unless_a_folder_marker_exists(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    full_client.put_object(Bucket=backend.data, Key=f"{unique}implicit/x.txt", Body=b"x")
    for probe in (f"{unique}implicit", f"{unique}implicit/"):
        with pytest.raises(ClientError) as info:
            full_client.head_object(Bucket=backend.data, Key=probe)
        assert status_of(info.value) == 404, probe
    full_client.put_object(Bucket=backend.data, Key=f"{unique}marked/", Body=b"")
    assert (
        full_client.head_object(Bucket=backend.data, Key=f"{unique}marked/")["ContentLength"] == 0
    )
