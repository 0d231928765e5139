"""Payload promises made in headers: checksum, x-amz-content-sha256, Content-MD5."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest
from botocore import httpchecksum

from multistore.core.auth.checksums import ChecksumAlgorithm
from multistore.core.auth.payload import ChecksummingBody, Md5VerifyingBody, Sha256VerifyingBody
from multistore.core.errors import (
    BadDigest,
    InvalidArgument,
    InvalidDigest,
    InvalidRequest,
    S3Error,
    XAmzContentSHA256Mismatch,
)
from multistore.core.http import BytesBody, RequestBody
from multistore.testing.aws_chunked import TrickleBody

PAYLOAD = os.urandom(300_000)
BOTOCORE_NAMES = {
    ChecksumAlgorithm.CRC32: "crc32",
    ChecksumAlgorithm.CRC32C: "crc32c",
    ChecksumAlgorithm.CRC64NVME: "crc64nvme",
    ChecksumAlgorithm.SHA1: "sha1",
    ChecksumAlgorithm.SHA256: "sha256",
}


def botocore_header_checksum(algorithm: ChecksumAlgorithm, payload: bytes) -> str:
    """The ``x-amz-checksum-*`` header value botocore computes for a plain (header) upload."""
    request: dict[str, Any] = {
        "headers": {},
        "body": payload,
        "context": {
            "checksum": {
                "request_algorithm": {
                    "in": "header",
                    "algorithm": BOTOCORE_NAMES[algorithm],
                    "name": algorithm.header_name,
                }
            }
        },
    }
    httpchecksum.apply_request_checksum(request)
    value = request["headers"][algorithm.header_name]
    assert isinstance(value, str)
    return value


async def drain(body: RequestBody, n: int) -> bytes:
    pieces = []
    while piece := await body.read(n):
        pieces.append(piece)
    return b"".join(pieces)


async def drain_until_error(body: RequestBody, n: int) -> tuple[bytes, S3Error]:
    pieces: list[bytes] = []

    async def consume() -> None:
        while piece := await body.read(n):
            pieces.append(piece)

    with pytest.raises(S3Error) as caught:
        await consume()
    # Once failed, a body must keep failing: a retrying reader never sees a clean end.
    with pytest.raises(type(caught.value)):
        await body.read(n)
    return b"".join(pieces), caught.value


@pytest.mark.parametrize("algorithm", list(ChecksumAlgorithm))
async def test_checksum_header_from_botocore_passes(algorithm: ChecksumAlgorithm) -> None:
    expected = botocore_header_checksum(algorithm, PAYLOAD)
    body = ChecksummingBody(TrickleBody(PAYLOAD, piece=7777), algorithm, expected)
    assert await drain(body, 4096) == PAYLOAD
    assert await body.read(10) == b""


@pytest.mark.parametrize("algorithm", list(ChecksumAlgorithm))
async def test_checksum_mismatch_raises_bad_digest_instead_of_the_end(
    algorithm: ChecksumAlgorithm,
) -> None:
    expected = botocore_header_checksum(algorithm, PAYLOAD[:-1] + b"\x00")
    if PAYLOAD[-1] == 0:
        expected = botocore_header_checksum(algorithm, PAYLOAD[:-1] + b"\x01")
    body = ChecksummingBody(BytesBody(PAYLOAD), algorithm, expected)
    data, error = await drain_until_error(body, 65536)
    assert data == PAYLOAD  # every byte passed through; only the end is withheld
    assert isinstance(error, BadDigest)
    assert error.message == (
        f"The {algorithm.value} you specified did not match the calculated checksum."
    )


async def test_checksum_of_empty_body() -> None:
    expected = botocore_header_checksum(ChecksumAlgorithm.CRC64NVME, b"")
    body = ChecksummingBody(BytesBody(b""), ChecksumAlgorithm.CRC64NVME, expected)
    assert await body.read(100) == b""
    wrong = ChecksummingBody(BytesBody(b""), ChecksumAlgorithm.CRC32, "AAAAAQ==")
    _, error = await drain_until_error(wrong, 100)
    assert isinstance(error, BadDigest)


def test_malformed_checksum_value_is_refused_before_reading() -> None:
    with pytest.raises(InvalidRequest, match="x-amz-checksum-sha256 header is invalid"):
        ChecksummingBody(BytesBody(b""), ChecksumAlgorithm.SHA256, "AAAAAA==")


async def test_read_zero_is_not_the_end() -> None:
    body = ChecksummingBody(BytesBody(b"abc"), ChecksumAlgorithm.CRC32, "AAAAAA==")
    assert await body.read(0) == b""
    assert await body.read(10) == b"abc"
    _, error = await drain_until_error(body, 10)
    assert isinstance(error, BadDigest)


async def test_sha256_match() -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    body = Sha256VerifyingBody(TrickleBody(PAYLOAD, piece=1000), digest.upper())
    assert await drain(body, 1 << 20) == PAYLOAD


async def test_sha256_mismatch() -> None:
    digest = hashlib.sha256(PAYLOAD + b"x").hexdigest()
    body = Sha256VerifyingBody(BytesBody(PAYLOAD), digest)
    data, error = await drain_until_error(body, 50_000)
    assert data == PAYLOAD
    assert isinstance(error, XAmzContentSHA256Mismatch)
    assert error.status == 400


async def test_sha256_read_all_raises() -> None:
    body = Sha256VerifyingBody(BytesBody(b"abc"), hashlib.sha256(b"abd").hexdigest())
    assert await body.read() == b"abc"
    with pytest.raises(XAmzContentSHA256Mismatch):
        await body.read()


@pytest.mark.parametrize("value", ["", "UNSIGNED-PAYLOAD", "ab" * 31, "zz" * 32, "ab" * 33])
def test_sha256_value_must_be_64_hex(value: str) -> None:
    with pytest.raises(InvalidArgument):
        Sha256VerifyingBody(BytesBody(b""), value)


async def test_md5_match_and_mismatch() -> None:
    good = base64.b64encode(hashlib.md5(PAYLOAD).digest()).decode()
    assert await drain(Md5VerifyingBody(BytesBody(PAYLOAD), good), 9999) == PAYLOAD

    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    data, error = await drain_until_error(Md5VerifyingBody(BytesBody(PAYLOAD), bad), 9999)
    assert data == PAYLOAD
    assert isinstance(error, BadDigest)
    assert error.message == "The Content-MD5 you specified did not match what we received."


@pytest.mark.parametrize("value", ["", "abc", base64.b64encode(b"x" * 15).decode(), "%%%%"])
def test_md5_value_must_be_16_bytes_of_base64(value: str) -> None:
    with pytest.raises(InvalidDigest):
        Md5VerifyingBody(BytesBody(b""), value)
