"""The client side of aws-chunked uploads, for tests: encode a payload as a client would.

botocore only writes the unsigned trailer form (``httpchecksum.AwsChunkedWrapper``); the signed
forms (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]``) are encoded here, written straight from
the AWS "Transferring Payload in Multiple Chunks" and "Including Trailing Headers" pages and
pinned in tests against the example signatures published there.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

_EMPTY_SHA256_HEX = hashlib.sha256(b"").hexdigest()


def sigv4_signing_key(secret_key: str, date: str, region: str, service: str = "s3") -> bytes:
    """The SigV4 signing key for ``date`` (``YYYYMMDD``), region and service."""
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


@dataclass(frozen=True, slots=True)
class ChunkSigner:
    """Signs chunks and the trailer, chaining each signature from the previous one."""

    signing_key: bytes
    seed_signature: str
    amz_date: str
    scope: str

    def chunk_signature(self, previous: str, data: bytes) -> str:
        string_to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                self.amz_date,
                self.scope,
                previous,
                _EMPTY_SHA256_HEX,
                hashlib.sha256(data).hexdigest(),
            ]
        )
        return hmac.digest(self.signing_key, string_to_sign.encode(), "sha256").hex()

    def trailer_signature(self, previous: str, trailers: Mapping[str, str]) -> str:
        canonical = "".join(f"{name}:{trailers[name]}\n" for name in sorted(trailers))
        string_to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-TRAILER",
                self.amz_date,
                self.scope,
                previous,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        return hmac.digest(self.signing_key, string_to_sign.encode(), "sha256").hex()


def _split(payload: bytes, chunk_size: int) -> Iterator[bytes]:
    for start in range(0, len(payload), chunk_size):
        yield payload[start : start + chunk_size]


def encode_unsigned(
    payload: bytes, *, chunk_size: int = 64 << 10, trailers: Mapping[str, str] | None = None
) -> bytes:
    """``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` framing, trailer lines as botocore writes them."""
    wire = bytearray()
    for chunk in _split(payload, chunk_size):
        wire += b"%x\r\n%s\r\n" % (len(chunk), chunk)
    wire += b"0\r\n"
    for name, value in (trailers or {}).items():
        wire += f"{name}:{value}\r\n".encode()
    wire += b"\r\n"
    return bytes(wire)


def encode_signed(
    payload: bytes,
    *,
    signer: ChunkSigner,
    chunk_size: int = 64 << 10,
    trailers: Mapping[str, str] | None = None,
    sign_trailer: bool = True,
) -> bytes:
    """``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` framing; with ``trailers``, the ``-TRAILER`` form."""
    wire = bytearray()
    previous = signer.seed_signature
    for chunk in [*_split(payload, chunk_size), b""]:
        previous = signer.chunk_signature(previous, chunk)
        wire += b"%x;chunk-signature=%s\r\n" % (len(chunk), previous.encode())
        if chunk:
            wire += chunk + b"\r\n"
    for name, value in (trailers or {}).items():
        wire += f"{name}:{value}\r\n".encode()
    if trailers and sign_trailer:
        signature = signer.trailer_signature(previous, trailers)
        wire += f"x-amz-trailer-signature:{signature}\r\n".encode()
    wire += b"\r\n"
    return bytes(wire)


class TrickleBody:
    """A request body that hands out at most ``piece`` bytes per read, whatever is asked.

    Network reads split a body at arbitrary points; this puts the split points where a test
    wants them (``piece=1`` splits everywhere).
    """

    def __init__(self, data: bytes, *, piece: int) -> None:
        self._view = memoryview(data)
        self._offset = 0
        self._piece = piece
        self.reads = 0

    async def read(self, n: int = -1) -> bytes:
        self.reads += 1
        limit = self._piece if n < 0 else min(n, self._piece)
        chunk = bytes(self._view[self._offset : self._offset + limit])
        self._offset += len(chunk)
        return chunk
