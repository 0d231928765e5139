"""Request bodies that hold a client's payload promise: a hash or checksum sent in a header.

Each wrapper passes the body through unchanged while hashing it, and checks the promise when
the source ends, *before* returning the final ``b""``: a backend commits an object only after
that final read, so a body that breaks its promise is never stored. Once failed, a wrapper keeps
raising the same error and never reports a clean end.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from abc import ABC, abstractmethod

from multistore.core.auth.checksums import (
    Buffer,
    ChecksumAlgorithm,
    decode_checksum_value,
    new_checksum,
)
from multistore.core.errors import (
    BadDigest,
    InvalidArgument,
    InvalidDigest,
    S3Error,
    XAmzContentSHA256Mismatch,
)
from multistore.core.http import RequestBody

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
INVALID_CONTENT_SHA256 = (
    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
    "or a valid sha256 value."
)


class _VerifyingBody(ABC):
    """Pass-through body that checks the whole payload at the source's end."""

    def __init__(self, source: RequestBody) -> None:
        self._source = source
        self._verified = False
        self._error: S3Error | None = None

    async def read(self, n: int = -1) -> bytes:
        if self._error is not None:
            raise self._error
        data = await self._source.read(n)
        if data:
            self._update(data)
            return data
        if n == 0:
            return data
        if not self._verified:
            try:
                self._verify()
            except S3Error as error:
                self._error = error
                raise
            self._verified = True
        return b""

    @abstractmethod
    def _update(self, data: Buffer) -> None:
        """Feed the digest with ``data`` as it passes."""

    @abstractmethod
    def _verify(self) -> None:
        """Raise the S3 error if the digest does not match what the client promised."""


class ChecksummingBody(_VerifyingBody):
    """Holds an ``x-amz-checksum-<algorithm>`` header sent with a plain (non-chunked) body."""

    def __init__(self, source: RequestBody, algorithm: ChecksumAlgorithm, expected_b64: str):
        super().__init__(source)
        self._algorithm = algorithm
        # A malformed value is refused up front, before any byte is read.
        self._expected = decode_checksum_value(algorithm, expected_b64)
        self._checksum = new_checksum(algorithm)

    def _update(self, data: Buffer) -> None:
        self._checksum.update(data)

    def _verify(self) -> None:
        if not hmac.compare_digest(self._checksum.digest(), self._expected):
            raise BadDigest(
                f"The {self._algorithm.value} you specified did not match the calculated checksum."
            )


class Sha256VerifyingBody(_VerifyingBody):
    """Holds a hex ``x-amz-content-sha256``: the SigV4 signature covered this hash."""

    def __init__(self, source: RequestBody, expected_hex: str) -> None:
        super().__init__(source)
        if _SHA256_HEX.fullmatch(expected_hex) is None:
            raise InvalidArgument(INVALID_CONTENT_SHA256)
        self._expected = bytes.fromhex(expected_hex)
        self._hash = hashlib.sha256()

    def _update(self, data: Buffer) -> None:
        self._hash.update(data)

    def _verify(self) -> None:
        if not hmac.compare_digest(self._hash.digest(), self._expected):
            raise XAmzContentSHA256Mismatch()


class Md5VerifyingBody(_VerifyingBody):
    """Holds a ``Content-MD5`` header (base64 of the 16-byte MD5 digest)."""

    def __init__(self, source: RequestBody, expected_b64: str) -> None:
        super().__init__(source)
        try:
            expected = base64.b64decode(expected_b64.strip(), validate=True)
        except (binascii.Error, ValueError):
            expected = b""
        if len(expected) != 16:
            raise InvalidDigest()
        self._expected = expected
        # MD5 here is S3's integrity check on the wire, not a security primitive.
        self._hash = hashlib.md5(usedforsecurity=False)

    def _update(self, data: Buffer) -> None:
        self._hash.update(data)

    def _verify(self) -> None:
        if not hmac.compare_digest(self._hash.digest(), self._expected):
            raise BadDigest("The Content-MD5 you specified did not match what we received.")
