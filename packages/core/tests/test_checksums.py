"""Checksum helpers against botocore's own implementations and bit-by-bit reference CRCs."""

from __future__ import annotations

import os
import time
import zlib

import pytest
from botocore import httpchecksum
from multidict import CIMultiDict

from multistore.core.auth.checksums import (
    ChecksumAlgorithm,
    checksum_from_headers,
    decode_checksum_value,
    new_checksum,
)
from multistore.core.errors import InvalidRequest

BOTOCORE_CLASSES = {
    ChecksumAlgorithm.CRC32: httpchecksum.Crc32Checksum,
    ChecksumAlgorithm.CRC32C: httpchecksum.CrtCrc32cChecksum,
    ChecksumAlgorithm.CRC64NVME: httpchecksum.CrtCrc64NvmeChecksum,
    ChecksumAlgorithm.SHA1: httpchecksum.Sha1Checksum,
    ChecksumAlgorithm.SHA256: httpchecksum.Sha256Checksum,
}


def reference_crc(data: bytes, *, reflected_poly: int, width: int) -> int:
    """Bitwise reflected CRC with all-ones init and xor-out (CRC-32C, CRC-64/NVME)."""
    mask = (1 << width) - 1
    crc = mask
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ reflected_poly if crc & 1 else crc >> 1
    return crc ^ mask


REFERENCE = {
    ChecksumAlgorithm.CRC32C: lambda data: reference_crc(data, reflected_poly=0x82F63B78, width=32),
    ChecksumAlgorithm.CRC64NVME: lambda data: reference_crc(
        data, reflected_poly=0x9A6C9329AC4BC9B5, width=64
    ),
}


@pytest.mark.parametrize("algorithm", list(ChecksumAlgorithm))
@pytest.mark.parametrize("size", [0, 1, 7, 4096, 1 << 20])
def test_matches_botocore_when_fed_in_pieces(algorithm: ChecksumAlgorithm, size: int) -> None:
    data = os.urandom(size)
    checksum = new_checksum(algorithm)
    # Uneven pieces, so a running value that only works on whole buffers would show.
    offset, step = 0, 1
    while offset < size:
        checksum.update(memoryview(data)[offset : offset + step])
        offset += step
        step = step * 3 + 1
    oracle = BOTOCORE_CLASSES[algorithm]()
    oracle.update(data)
    assert checksum.base64_digest() == oracle.b64digest()
    assert checksum.digest() == oracle.digest()
    assert len(checksum.digest()) == algorithm.digest_size


@pytest.mark.parametrize(
    ("algorithm", "check_value"),
    [
        # The "check" value of each CRC catalogue entry: the CRC of b"123456789".
        (ChecksumAlgorithm.CRC32, 0xCBF43926),
        (ChecksumAlgorithm.CRC32C, 0xE3069283),
        (ChecksumAlgorithm.CRC64NVME, 0xAE8B14860A799888),
    ],
)
def test_crc_check_values(algorithm: ChecksumAlgorithm, check_value: int) -> None:
    checksum = new_checksum(algorithm)
    checksum.update(b"123456789")
    assert checksum.digest() == check_value.to_bytes(algorithm.digest_size, "big")


@pytest.mark.parametrize("algorithm", list(REFERENCE))
def test_crcs_match_bitwise_reference(algorithm: ChecksumAlgorithm) -> None:
    for size in (0, 1, 2, 31, 257):
        data = os.urandom(size)
        checksum = new_checksum(algorithm)
        checksum.update(data)
        expected = REFERENCE[algorithm](data)
        assert checksum.digest() == expected.to_bytes(algorithm.digest_size, "big"), size


def test_crc32_is_zlib() -> None:
    data = os.urandom(1000)
    checksum = new_checksum(ChecksumAlgorithm.CRC32)
    checksum.update(data)
    assert int.from_bytes(checksum.digest(), "big") == zlib.crc32(data)


@pytest.mark.parametrize("algorithm", list(ChecksumAlgorithm))
def test_large_payloads_are_fast(algorithm: ChecksumAlgorithm) -> None:
    # 64 MiB must take well under a second in C; a pure-Python CRC would take minutes.
    data = bytes(8 << 20)
    checksum = new_checksum(algorithm)
    started = time.perf_counter()
    for _ in range(8):
        checksum.update(data)
    assert time.perf_counter() - started < 5


def test_header_names() -> None:
    assert [algorithm.header_name for algorithm in ChecksumAlgorithm] == [
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-crc64nvme",
        "x-amz-checksum-sha1",
        "x-amz-checksum-sha256",
    ]
    assert ChecksumAlgorithm.from_header_name("X-Amz-Checksum-CRC64NVME") is (
        ChecksumAlgorithm.CRC64NVME
    )
    assert ChecksumAlgorithm.from_header_name("x-amz-checksum-type") is None


def test_checksum_from_headers() -> None:
    assert checksum_from_headers(CIMultiDict({"content-type": "text/plain"})) is None
    headers = CIMultiDict(
        {
            "X-Amz-Checksum-Crc32C": " yZRlqg== ",
            # Not value headers: the checksum type and the CreateMultipartUpload algorithm.
            "x-amz-checksum-type": "FULL_OBJECT",
            "x-amz-checksum-algorithm": "CRC32C",
        }
    )
    assert checksum_from_headers(headers) == (ChecksumAlgorithm.CRC32C, "yZRlqg==")


def test_checksum_from_headers_refuses_two_algorithms() -> None:
    headers = CIMultiDict({"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": "x"})
    with pytest.raises(InvalidRequest, match="Multiple checksum Types"):
        checksum_from_headers(headers)


@pytest.mark.parametrize(
    "value",
    ["", "AAAA", "AAAAAAA=", "!!!!!!==", "AAAAAA==AAAA", "AAAAAAAAAAA="],
)
def test_decode_checksum_value_refuses_malformed_values(value: str) -> None:
    with pytest.raises(InvalidRequest, match="x-amz-checksum-crc32 header is invalid"):
        decode_checksum_value(ChecksumAlgorithm.CRC32, value)


def test_decode_checksum_value() -> None:
    assert decode_checksum_value(ChecksumAlgorithm.CRC32, "AAAAAQ==") == b"\x00\x00\x00\x01"
