"""Every write path real clients use: multipart, batch delete, copy, conditional writes,
payload integrity and size limits — through the gateway, against both backends."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from multistore.testing.gateway import GatewayProcess
from multistore.testing.runtimes import EXPECT_CONTINUE, FIVE_MIB_PARTS, OVER_THE_PAYLOAD_LIMIT
from multistore.testing.signing import send, sign

from .conftest import FULL, PREFIXED, BackendUnderTest

MiB = 1 << 20
SMALL_PARTS = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


@pytest.mark.server_only(reason=FIVE_MIB_PARTS)
def test_transfer_manager_multipart_round_trip(
    full_client: Any, backend: BackendUnderTest, unique: str, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(15 * MiB + 12345))  # three 5 MiB parts and a short tail
    key = f"{unique}multi part*.bin"
    full_client.upload_file(str(source), backend.data, key, Config=SMALL_PARTS)
    head = full_client.head_object(Bucket=backend.data, Key=key)
    assert head["ContentLength"] == source.stat().st_size
    assert head["ETag"].strip('"').endswith("-4")
    target = tmp_path / "back.bin"
    full_client.download_file(backend.data, key, str(target), Config=SMALL_PARTS)
    assert (
        hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    )
    assert key in backend.stored_keys(backend.data)


@pytest.mark.server_only(reason=FIVE_MIB_PARTS)
def test_low_level_multipart_and_abort(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}country_iso=ETH/low level.bin"
    create = full_client.create_multipart_upload(
        Bucket=backend.data, Key=key, ContentType="application/x-test"
    )
    assert create["Bucket"] == backend.data
    assert create["Key"] == key
    upload_id = create["UploadId"]
    first, second = os.urandom(5 * MiB), os.urandom(1000)
    # Parts may arrive out of order.
    e2 = full_client.upload_part(
        Bucket=backend.data, Key=key, UploadId=upload_id, PartNumber=2, Body=second
    )["ETag"]
    e1 = full_client.upload_part(
        Bucket=backend.data, Key=key, UploadId=upload_id, PartNumber=1, Body=first
    )["ETag"]
    parts = full_client.list_parts(Bucket=backend.data, Key=key, UploadId=upload_id)
    assert [p["PartNumber"] for p in parts["Parts"]] == [1, 2]
    assert parts["Bucket"] == backend.data
    uploads = full_client.list_multipart_uploads(Bucket=backend.data, Prefix=unique)
    assert [u["Key"] for u in uploads["Uploads"]] == [key]
    done = full_client.complete_multipart_upload(
        Bucket=backend.data,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    assert done["Key"] == key
    assert done["Bucket"] == backend.data
    got = full_client.get_object(Bucket=backend.data, Key=key)
    assert got["Body"].read() == first + second
    assert got["ContentType"] == "application/x-test"

    aborted = full_client.create_multipart_upload(Bucket=backend.data, Key=f"{unique}aborted.bin")[
        "UploadId"
    ]
    full_client.upload_part(
        Bucket=backend.data, Key=f"{unique}aborted.bin", UploadId=aborted, PartNumber=1, Body=b"x"
    )
    full_client.abort_multipart_upload(
        Bucket=backend.data, Key=f"{unique}aborted.bin", UploadId=aborted
    )
    with pytest.raises(ClientError) as info:
        full_client.complete_multipart_upload(
            Bucket=backend.data,
            Key=f"{unique}aborted.bin",
            UploadId=aborted,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]},
        )
    # The gateway checks the upload id against its key before completing (issue #15), so
    # both backends answer as S3 does (moto alone would answer 500 here).
    assert error_code(info.value) == "NoSuchUpload"
    assert f"{unique}aborted.bin" not in backend.stored_keys(backend.data)


def test_multipart_under_backend_prefix_shows_client_names(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    key = f"{unique}prefixed.bin"
    create = full_client.create_multipart_upload(Bucket=backend.prefixed, Key=key)
    etag = full_client.upload_part(
        Bucket=backend.prefixed, Key=key, UploadId=create["UploadId"], PartNumber=1, Body=b"p"
    )["ETag"]
    done = full_client.complete_multipart_upload(
        Bucket=backend.prefixed,
        Key=key,
        UploadId=create["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert (done["Bucket"], done["Key"]) == (backend.prefixed, key)
    assert "team/a" not in done.get("Location", "")
    assert f"team/a/{key}" in backend.stored_keys(backend.prefixed)


def test_batch_delete_with_prefix_scoped_credential(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    allowed, denied = f"allowed/{unique}a.txt", f"private/{unique}b.txt"
    for key in (allowed, denied):
        full_client.put_object(Bucket=backend.data, Key=key, Body=b"x")
    result = gateway.client(*PREFIXED).delete_objects(
        Bucket=backend.data, Delete={"Objects": [{"Key": allowed}, {"Key": denied}]}
    )
    assert [d["Key"] for d in result.get("Deleted", [])] == [allowed]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [(denied, "AccessDenied")]
    stored = backend.stored_keys(backend.data)
    assert allowed not in stored
    assert denied in stored
    quiet = full_client.delete_objects(
        Bucket=backend.data, Delete={"Objects": [{"Key": denied}], "Quiet": True}
    )
    assert "Deleted" not in quiet
    assert denied not in backend.stored_keys(backend.data)


def _raw_delete(gateway: GatewayProcess, bucket: str, body: bytes) -> Any:
    url = f"{gateway.url}/{bucket}?delete"
    headers = {
        "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode(),
        "Content-Type": "application/xml",
    }
    return send(
        "POST",
        url,
        headers=sign(
            "POST", url, access_key=FULL[0], secret_key=FULL[1], headers=headers, body=body
        ),
        body=body,
    )


def test_batch_delete_rejects_bad_bodies(
    gateway: GatewayProcess, backend: BackendUnderTest
) -> None:
    too_many = (
        "<Delete>" + "".join(f"<Object><Key>k{i}</Key></Object>" for i in range(1001)) + "</Delete>"
    )
    for body in (
        too_many.encode(),
        b"<Delete><Object><Key>x</Key>",
        b"not xml at all",
        b"<Delete></Delete>",
    ):
        response = _raw_delete(gateway, backend.data, body)
        assert response.status == 400
        assert b"<Code>MalformedXML</Code>" in response.body


def test_copy_object_within_and_across_backends(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    source_key = f"{unique}source a=b.txt"
    full_client.put_object(
        Bucket=backend.data,
        Key=source_key,
        Body=b"copy me",
        ContentType="text/x-src",
        Metadata={"origin": "src"},
    )
    for target_bucket in ("s3-data", "file-data", backend.prefixed):
        target_key = f"{unique}copied to {target_bucket}*.txt"
        full_client.copy_object(
            Bucket=target_bucket,
            Key=target_key,
            CopySource={"Bucket": backend.data, "Key": source_key},
        )
        copied = full_client.get_object(Bucket=target_bucket, Key=target_key)
        assert copied["Body"].read() == b"copy me"
        assert copied["ContentType"] == "text/x-src"
        assert copied["Metadata"] == {"origin": "src"}
    replaced = f"{unique}replaced.txt"
    full_client.copy_object(
        Bucket=backend.data,
        Key=replaced,
        CopySource={"Bucket": backend.data, "Key": source_key},
        MetadataDirective="REPLACE",
        ContentType="text/x-new",
        Metadata={"fresh": "yes"},
    )
    head = full_client.head_object(Bucket=backend.data, Key=replaced)
    assert (head["ContentType"], head["Metadata"]) == ("text/x-new", {"fresh": "yes"})
    with pytest.raises(ClientError) as info:
        full_client.copy_object(
            Bucket=backend.data,
            Key=replaced,
            CopySource={"Bucket": backend.data, "Key": source_key},
            CopySourceIfMatch='"nope"',
        )
    assert error_code(info.value) == "PreconditionFailed"


def test_copy_authorizes_both_ends(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    full_client.put_object(Bucket=backend.data, Key=f"private/{unique}s.txt", Body=b"s")
    full_client.put_object(Bucket=backend.data, Key=f"allowed/{unique}s.txt", Body=b"s")
    limited = gateway.client(*PREFIXED)
    with pytest.raises(ClientError) as info:
        limited.copy_object(
            Bucket=backend.data,
            Key=f"allowed/{unique}t.txt",
            CopySource={"Bucket": backend.data, "Key": f"private/{unique}s.txt"},
        )
    assert error_code(info.value) == "AccessDenied"
    with pytest.raises(ClientError) as info:
        limited.copy_object(
            Bucket=backend.data,
            Key=f"private/{unique}t.txt",
            CopySource={"Bucket": backend.data, "Key": f"allowed/{unique}s.txt"},
        )
    assert error_code(info.value) == "AccessDenied"
    limited.copy_object(
        Bucket=backend.data,
        Key=f"allowed/{unique}t.txt",
        CopySource={"Bucket": backend.data, "Key": f"allowed/{unique}s.txt"},
    )
    assert f"private/{unique}t.txt" not in backend.stored_keys(backend.data)


def test_conditional_puts(full_client: Any, backend: BackendUnderTest, unique: str) -> None:
    key = f"{unique}cond.txt"
    etag = full_client.put_object(Bucket=backend.data, Key=key, Body=b"one", IfNoneMatch="*")[
        "ETag"
    ]
    with pytest.raises(ClientError) as info:
        full_client.put_object(Bucket=backend.data, Key=key, Body=b"two", IfNoneMatch="*")
    assert error_code(info.value) == "PreconditionFailed"
    with pytest.raises(ClientError) as info:
        full_client.put_object(Bucket=backend.data, Key=key, Body=b"two", IfMatch='"0123"')
    assert error_code(info.value) == "PreconditionFailed"
    full_client.put_object(Bucket=backend.data, Key=key, Body=b"three", IfMatch=etag)
    assert full_client.get_object(Bucket=backend.data, Key=key)["Body"].read() == b"three"
    upload = full_client.create_multipart_upload(Bucket=backend.data, Key=key)["UploadId"]
    part = full_client.upload_part(
        Bucket=backend.data, Key=key, UploadId=upload, PartNumber=1, Body=b"mp"
    )["ETag"]
    with pytest.raises(ClientError) as info:
        full_client.complete_multipart_upload(
            Bucket=backend.data,
            Key=key,
            UploadId=upload,
            IfNoneMatch="*",
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]},
        )
    assert error_code(info.value) == "PreconditionFailed"
    assert full_client.get_object(Bucket=backend.data, Key=key)["Body"].read() == b"three"


# The stores that decide create-only races themselves: the file backend under its lock,
# Azure with its own If-None-Match precondition on Put Blob.
@pytest.mark.parametrize("bucket", ["file-data", "azure-data"])
def test_concurrent_create_only_writers_have_one_winner(
    gateway: GatewayProcess, unique: str, bucket: str
) -> None:
    key = f"{unique}race.txt"
    outcomes: list[str] = []

    def writer(n: int) -> None:
        client = gateway.client(*FULL)
        try:
            client.put_object(Bucket=bucket, Key=key, Body=f"writer {n}".encode(), IfNoneMatch="*")
            outcomes.append(f"won {n}")
        except ClientError as exc:
            outcomes.append(error_code(exc))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1
    assert outcomes.count("PreconditionFailed") == 7
    body = gateway.client(*FULL).get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == f"writer {winners[0].split()[1]}".encode()


def test_payload_promises_are_enforced(
    gateway: GatewayProcess, backend: BackendUnderTest, unique: str
) -> None:
    url = f"{gateway.url}/{backend.data}/{quote(unique)}promise.txt"
    # Signed for one body (botocore puts its SHA-256 in x-amz-content-sha256), sent with another.
    headers = sign("PUT", url, access_key=FULL[0], secret_key=FULL[1], body=b"payload")
    assert len({k.lower(): v for k, v in headers.items()}["x-amz-content-sha256"]) == 64
    response = send("PUT", url, headers=headers, body=b"PAYLOAD")
    assert response.status == 400
    assert b"<Code>XAmzContentSHA256Mismatch</Code>" in response.body
    md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    headers = sign(
        "PUT",
        url,
        access_key=FULL[0],
        secret_key=FULL[1],
        body=b"payload",
        headers={"Content-MD5": md5},
    )
    response = send("PUT", url, headers=headers, body=b"payload")
    assert response.status == 400
    assert b"<Code>BadDigest</Code>" in response.body
    assert f"{unique}promise.txt" not in backend.stored_keys(backend.data)


@pytest.mark.server_only(reason=EXPECT_CONTINUE)
def test_declared_size_over_the_limit_is_refused_before_the_body(gateway: GatewayProcess) -> None:
    url = f"{gateway.url}/file-data/too-big.bin"
    headers = sign(
        "PUT",
        url,
        access_key=FULL[0],
        secret_key=FULL[1],
        headers={"Content-Length": str(200 * MiB), "x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
    )
    parts = urlsplit(gateway.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        lines = [
            "PUT /file-data/too-big.bin HTTP/1.1",
            f"Host: {parts.netloc}",
            "Expect: 100-continue",
        ]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        first = sock.recv(65536).decode(errors="replace")
    assert first.startswith("HTTP/1.1 400"), first[:300]
    assert "EntityTooLarge" in first


def _streaming_put(gateway: GatewayProcess, url: str, payload: bytes, *, tamper: bool) -> Any:
    from multistore.testing.aws_chunked import ChunkSigner, encode_signed, sigv4_signing_key

    sentinel = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    chunk_size = 64 << 10
    chunks = -(-len(payload) // chunk_size)
    # The framing's length is known up front: sizes, signatures and CRLFs of every chunk.
    wire_length = (
        sum(
            len(f"{min(chunk_size, len(payload) - i * chunk_size):x}")
            + 17
            + 64
            + 4
            + min(chunk_size, len(payload) - i * chunk_size)
            for i in range(chunks)
        )
        + len("0;chunk-signature=")
        + 64
        + 4
    )
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload)),
        "Content-Length": str(wire_length),
    }
    signed = sign(
        "PUT", url, access_key=FULL[0], secret_key=FULL[1], headers=headers, payload_hash=sentinel
    )
    lower = {k.lower(): v for k, v in signed.items()}
    amz_date = lower["x-amz-date"]
    seed = lower["authorization"].rsplit("Signature=", 1)[1]
    signer = ChunkSigner(
        sigv4_signing_key(FULL[1], amz_date[:8], "us-east-1"),
        seed,
        amz_date,
        f"{amz_date[:8]}/us-east-1/s3/aws4_request",
    )
    wire = bytearray(encode_signed(payload, signer=signer, chunk_size=chunk_size))
    assert len(wire) == wire_length
    if tamper:
        wire[-200] ^= 0x01  # inside the last data chunk
    return send("PUT", url, headers=signed, body=bytes(wire))


def test_signed_aws_chunked_upload_is_verified_chunk_by_chunk(
    gateway: GatewayProcess, full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    payload = os.urandom(300_000)
    good = f"{gateway.url}/{backend.data}/{quote(unique)}signed-chunks.bin"
    response = _streaming_put(gateway, good, payload, tamper=False)
    assert response.status == 200, response.body
    assert (
        full_client.get_object(Bucket=backend.data, Key=f"{unique}signed-chunks.bin")["Body"].read()
        == payload
    )
    bad = f"{gateway.url}/{backend.data}/{quote(unique)}tampered.bin"
    response = _streaming_put(gateway, bad, payload, tamper=True)
    assert response.status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in response.body
    assert f"{unique}tampered.bin" not in backend.stored_keys(backend.data)


SPECIAL = ["report*.pdf", "100%.txt", "100%25.txt", "a=b/c=d.bin", "sp ace.txt", "ünï/cödé.txt"]


def test_special_keys_through_every_write_path(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    for name in SPECIAL:
        key = f"{unique}{name}"
        upload = full_client.create_multipart_upload(Bucket=backend.data, Key=f"{key}.mp")[
            "UploadId"
        ]
        etag = full_client.upload_part(
            Bucket=backend.data, Key=f"{key}.mp", UploadId=upload, PartNumber=1, Body=b"m"
        )["ETag"]
        full_client.complete_multipart_upload(
            Bucket=backend.data,
            Key=f"{key}.mp",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
        full_client.copy_object(
            Bucket=backend.data,
            Key=f"{key}.copy",
            CopySource={"Bucket": backend.data, "Key": f"{key}.mp"},
        )
    stored = backend.stored_keys(backend.data)
    for name in SPECIAL:
        assert f"{unique}{name}.mp" in stored
        assert f"{unique}{name}.copy" in stored
        assert (
            full_client.get_object(Bucket=backend.data, Key=f"{unique}{name}.copy")["Body"].read()
            == b"m"
        )
    result = full_client.delete_objects(
        Bucket=backend.data, Delete={"Objects": [{"Key": f"{unique}{n}.copy"} for n in SPECIAL]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(
        f"{unique}{n}.copy" for n in SPECIAL
    )
    assert not any(
        k.endswith(".copy") and k.startswith(unique) for k in backend.stored_keys(backend.data)
    )


@pytest.mark.server_only(reason=OVER_THE_PAYLOAD_LIMIT)
def test_upload_part_copy_with_a_range(
    full_client: Any, backend: BackendUnderTest, unique: str
) -> None:
    source = f"{unique}part-source.bin"
    data = os.urandom(6 * MiB)
    full_client.put_object(Bucket=backend.data, Key=source, Body=data)
    key = f"{unique}assembled.bin"
    upload = full_client.create_multipart_upload(Bucket=backend.data, Key=key)["UploadId"]
    first = full_client.upload_part_copy(
        Bucket=backend.data,
        Key=key,
        UploadId=upload,
        PartNumber=1,
        CopySource={"Bucket": backend.data, "Key": source},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )["CopyPartResult"]["ETag"]
    second = full_client.upload_part(
        Bucket=backend.data, Key=key, UploadId=upload, PartNumber=2, Body=b"tail"
    )["ETag"]
    full_client.complete_multipart_upload(
        Bucket=backend.data,
        Key=key,
        UploadId=upload,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]
        },
    )
    assert (
        full_client.get_object(Bucket=backend.data, Key=key)["Body"].read()
        == data[: 5 * MiB] + b"tail"
    )


def test_objects_larger_than_one_request_are_assembled_by_upload_part_copy(
    full_client: Any, backend: BackendUnderTest, unique: str, tmp_path: Path
) -> None:
    """No body crosses the gateway but ranges: how a buffered Lambda handler, which carries
    at most ~4.5 MB per request, still builds and serves a 6 MiB object."""
    source = f"{unique}big-source.bin"
    data = os.urandom(6 * MiB)
    backend.put_raw(backend.data, source, data)
    key = f"{unique}assembled-by-copies.bin"
    upload = full_client.create_multipart_upload(Bucket=backend.data, Key=key)["UploadId"]
    parts = []
    for number, (start, end) in enumerate(((0, 5 * MiB - 1), (5 * MiB, 6 * MiB - 1)), start=1):
        etag = full_client.upload_part_copy(
            Bucket=backend.data, Key=key, UploadId=upload, PartNumber=number,
            CopySource={"Bucket": backend.data, "Key": source},
            CopySourceRange=f"bytes={start}-{end}",
        )["CopyPartResult"]["ETag"]  # fmt: skip
        parts.append({"PartNumber": number, "ETag": etag})
    full_client.complete_multipart_upload(
        Bucket=backend.data, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert backend.get_raw(backend.data, key) == data
    halves = [
        full_client.get_object(Bucket=backend.data, Key=key, Range=f"bytes={r}")["Body"].read()
        for r in (f"0-{3 * MiB - 1}", f"{3 * MiB}-")
    ]
    assert b"".join(halves) == data
    # boto3's download_file reads objects over its threshold in parallel ranged GETs.
    ranged = TransferConfig(multipart_threshold=4 * MiB, multipart_chunksize=4 * MiB)
    target = tmp_path / "downloaded.bin"
    full_client.download_file(backend.data, key, str(target), Config=ranged)
    assert target.read_bytes() == data
