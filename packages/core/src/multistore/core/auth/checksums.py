"""S3 flexible checksums: CRC32, CRC32C, CRC64NVME, SHA1 and SHA256, computed while streaming.

S3 carries each as ``x-amz-checksum-<name>: <base64 of the big-endian digest>``, either as a
request header or as an aws-chunked trailer. CRC32 comes from zlib and the SHAs from hashlib;
CRC32C and CRC64NVME come from ``awscrt`` (the C library botocore itself uses for them), because
a pure-Python CRC would take minutes on a multi-gigabyte upload.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import zlib
from collections.abc import Callable
from functools import cache
from typing import Protocol

from multistore.core.errors import InvalidRequest
from multistore.core.http import Headers

Buffer = bytes | bytearray | memoryview
_CrcFunction = Callable[[Buffer, int], int]


class ChecksumAlgorithm(enum.Enum):
    """The checksum algorithms S3 accepts on uploads, by their S3 name."""

    CRC32 = "CRC32"
    CRC32C = "CRC32C"
    CRC64NVME = "CRC64NVME"
    SHA1 = "SHA1"
    SHA256 = "SHA256"

    @property
    def header_name(self) -> str:
        """The request header / aws-chunked trailer carrying this checksum."""
        return _HEADER_NAMES[self]

    @property
    def digest_size(self) -> int:
        return _DIGEST_SIZES[self]

    @classmethod
    def from_header_name(cls, name: str) -> ChecksumAlgorithm | None:
        return _BY_HEADER_NAME.get(name.lower())


_HEADER_NAMES = {
    algorithm: f"x-amz-checksum-{algorithm.value.lower()}" for algorithm in ChecksumAlgorithm
}
_BY_HEADER_NAME = {header: algorithm for algorithm, header in _HEADER_NAMES.items()}
_DIGEST_SIZES = {
    ChecksumAlgorithm.CRC32: 4,
    ChecksumAlgorithm.CRC32C: 4,
    ChecksumAlgorithm.CRC64NVME: 8,
    ChecksumAlgorithm.SHA1: 20,
    ChecksumAlgorithm.SHA256: 32,
}


class Checksum(Protocol):
    """A running checksum over a stream of bytes."""

    def update(self, data: Buffer) -> None: ...

    def digest(self) -> bytes: ...

    def base64_digest(self) -> str: ...


class _CrcChecksum:
    __slots__ = ("_crc", "_function", "_size")

    def __init__(self, function: _CrcFunction, size: int) -> None:
        self._function = function
        self._size = size
        self._crc = 0

    def update(self, data: Buffer) -> None:
        self._crc = self._function(data, self._crc)

    def digest(self) -> bytes:
        return self._crc.to_bytes(self._size, "big")

    def base64_digest(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


class _HashlibChecksum:
    __slots__ = ("_hash",)

    def __init__(self, name: str) -> None:
        self._hash = hashlib.new(name)

    def update(self, data: Buffer) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest()

    def base64_digest(self) -> str:
        return base64.b64encode(self._hash.digest()).decode("ascii")


def _zlib_crc32(data: Buffer, previous: int) -> int:
    return zlib.crc32(data, previous)


@cache
def _crt_crc(name: str) -> _CrcFunction:
    # Imported on first use: loading the awscrt native library costs ~50 ms, which a Lambda
    # cold start should only pay when a client actually sends CRC32C or CRC64NVME.
    from awscrt import checksums

    function = getattr(checksums, name)

    def crc(data: Buffer, previous: int) -> int:
        return int(function(data, previous))

    return crc


def new_checksum(algorithm: ChecksumAlgorithm) -> Checksum:
    """A fresh running checksum for ``algorithm``."""
    match algorithm:
        case ChecksumAlgorithm.CRC32:
            return _CrcChecksum(_zlib_crc32, 4)
        case ChecksumAlgorithm.CRC32C:
            return _CrcChecksum(_crt_crc("crc32c"), 4)
        case ChecksumAlgorithm.CRC64NVME:
            return _CrcChecksum(_crt_crc("crc64nvme"), 8)
        case ChecksumAlgorithm.SHA1:
            return _HashlibChecksum("sha1")
        case ChecksumAlgorithm.SHA256:
            return _HashlibChecksum("sha256")


def decode_checksum_value(
    algorithm: ChecksumAlgorithm, value: str, *, where: str = "header"
) -> bytes:
    """The digest bytes of a client-sent base64 checksum; ``InvalidRequest`` when malformed.

    ``where`` is ``"header"`` or ``"trailing header"``, as S3 words the error.
    """
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != algorithm.digest_size:
        raise InvalidRequest(f"Value for {algorithm.header_name} {where} is invalid.")
    return digest


def checksum_from_headers(headers: Headers) -> tuple[ChecksumAlgorithm, str] | None:
    """The one ``x-amz-checksum-<algorithm>`` value header of a request, if any.

    ``x-amz-checksum-type`` and ``x-amz-checksum-algorithm`` are not value headers and are
    ignored. More than one value header is refused, as S3 does.
    """
    found: tuple[ChecksumAlgorithm, str] | None = None
    for algorithm in ChecksumAlgorithm:
        value = headers.get(algorithm.header_name)
        if value is None:
            continue
        if found is not None:
            raise InvalidRequest(
                "Expecting a single x-amz-checksum- header. "
                "Multiple checksum Types are not allowed."
            )
        found = (algorithm, value.strip())
    return found
