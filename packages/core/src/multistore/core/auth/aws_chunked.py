"""aws-chunked request bodies: decoded while streaming, every signature and checksum verified.

Wire format (``Content-Encoding: aws-chunked``)::

    <hex size>[;chunk-signature=<64 hex>]\\r\\n<data>\\r\\n      (repeated)
    0[;chunk-signature=<64 hex>]\\r\\n                          (final, empty chunk)
    [<trailer-name>:<value>\\r\\n ...]                          (declared in x-amz-trailer)
    [x-amz-trailer-signature:<64 hex>\\r\\n]                    (signed-trailer variant only)
    \\r\\n

The decoder is itself a :class:`RequestBody`: a backend reads plain object bytes from it and
commits the object only after ``read`` returned ``b""``. That is why every check that can only
run at the end (decoded length, trailer signature, trailing checksum, nothing after the final
blank line) runs *before* the final ``b""``; a failure raises instead, and keeps raising. Signed
chunks are held back until their signature verified, so unauthenticated bytes never leave the
decoder. Unsigned chunks are passed on as they arrive: nothing could be verified earlier anyway.

Error codes follow S3: malformed framing or a truncated body is ``IncompleteBody`` ("The request
body terminated unexpectedly"); a bad trailer section is ``MalformedTrailerError``; a chunk or
trailer signature that does not verify is ``SignatureDoesNotMatch``; a trailing checksum that
does not match is ``BadDigest``. A chunk over ``max_chunk_size`` is this gateway's own memory
bound (S3 has none), reported as ``InvalidRequest`` naming the limit.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from multistore.core.auth.checksums import (
    Checksum,
    ChecksumAlgorithm,
    decode_checksum_value,
    new_checksum,
)
from multistore.core.auth.payload import INVALID_CONTENT_SHA256
from multistore.core.errors import (
    BadDigest,
    IncompleteBody,
    InvalidArgument,
    InvalidRequest,
    MalformedTrailerError,
    NotImplementedOperation,
    S3Error,
    SignatureDoesNotMatch,
)
from multistore.core.http import Headers, RequestBody

logger = logging.getLogger(__name__)

STREAMING_UNSIGNED_PAYLOAD_TRAILER: Final = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_SIGNED_PAYLOAD: Final = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_PAYLOAD_TRAILER: Final = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
TRAILER_SIGNATURE: Final = "x-amz-trailer-signature"

_STREAMING_PREFIX = "STREAMING-"
_EMPTY_SHA256_HEX = hashlib.sha256(b"").hexdigest().encode()
# Source reads while parsing framing; chunk data of unsigned chunks is read at its own size.
_READ_SIZE = 64 << 10
# "<16 hex digits>;chunk-signature=<64 hex>" is under 100 bytes; anything far longer is junk.
_MAX_CHUNK_LINE = 256
_CHUNK_LINE = re.compile(rb"([0-9a-fA-F]{1,16})(?:;chunk-signature=([0-9a-fA-F]{64}))?")
_TRAILER_NAME = re.compile(rb"[A-Za-z0-9-]+")
_HEX_SIGNATURE = re.compile(rb"[0-9a-fA-F]{64}")
_TRUNCATED = "The request body terminated unexpectedly"


def is_aws_chunked(content_sha256: str) -> bool:
    """Whether ``x-amz-content-sha256`` announces an aws-chunked body (any ``STREAMING-*``)."""
    return content_sha256.startswith(_STREAMING_PREFIX)


def is_signed_streaming(content_sha256: str) -> bool:
    """Whether the aws-chunked body carries chunk signatures (every non-``UNSIGNED`` variant)."""
    return is_aws_chunked(content_sha256) and "UNSIGNED" not in content_sha256


class StreamingSignatureSeed(Protocol):
    """What a verified SigV4 header signature hands the chunk-signature chain."""

    @property
    def signing_key(self) -> bytes: ...

    @property
    def seed_signature(self) -> str: ...

    @property
    def amz_date(self) -> str: ...

    @property
    def scope(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ChunkSigningContext:
    """The seed of the chunk-signature chain: the request's own SigV4 signature and key."""

    signing_key: bytes
    seed_signature: str
    amz_date: str
    scope: str
    trailer_signed: bool


class AwsChunkedDecoder:
    """A :class:`RequestBody` yielding the decoded payload of an aws-chunked ``source``."""

    def __init__(
        self,
        source: RequestBody,
        *,
        decoded_length: int | None,
        trailer_names: tuple[str, ...],
        chunk_signing: ChunkSigningContext | None = None,
        max_chunk_size: int = 16 << 20,
        max_trailer_bytes: int = 16 << 10,
    ) -> None:
        self._source = source
        self._decoded_length = decoded_length
        self._declared_trailers = frozenset(name.lower() for name in trailer_names)
        self._signing = chunk_signing
        self._max_chunk_size = max_chunk_size
        self._max_trailer_bytes = max_trailer_bytes
        self._checksums: list[tuple[ChecksumAlgorithm, Checksum]] = []
        for name in sorted(self._declared_trailers):
            algorithm = ChecksumAlgorithm.from_header_name(name)
            if algorithm is not None:
                self._checksums.append((algorithm, new_checksum(algorithm)))
        if chunk_signing is not None:
            self._previous_signature = chunk_signing.seed_signature.lower().encode()
            scope_lines = f"{chunk_signing.amz_date}\n{chunk_signing.scope}\n".encode()
            self._chunk_prefix = b"AWS4-HMAC-SHA256-PAYLOAD\n" + scope_lines
            self._trailer_prefix = b"AWS4-HMAC-SHA256-TRAILER\n" + scope_lines

        self._buffer = bytearray()
        self._position = 0
        self._source_exhausted = False
        self._pending: deque[bytes] = deque()
        self._pending_offset = 0
        self._decoded = 0
        self._chunk_remaining = 0
        self._step = self._next_chunk_header
        self._finished = False
        self._error: S3Error | None = None
        self._trailers: dict[str, str] = {}

    @property
    def trailers(self) -> dict[str, str]:
        """The trailing headers (without the trailer signature); complete once at EOF."""
        return dict(self._trailers)

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` decoded bytes (``n < 0``: everything); ``b""`` only once all verified."""
        if n < 0:
            pieces = []
            while piece := await self.read(1 << 30):
                pieces.append(piece)
            return b"".join(pieces)
        if self._error is not None:
            raise self._error
        if n == 0:
            return b""
        try:
            while not self._pending:
                if self._finished:
                    return b""
                await self._step()
        except S3Error as error:
            self._error = error
            raise
        return self._take(n)

    def _take(self, n: int) -> bytes:
        head = self._pending[0]
        start = self._pending_offset
        if len(head) - start <= n:
            self._pending.popleft()
            self._pending_offset = 0
            return head[start:] if start else head
        self._pending_offset = start + n
        return head[start : start + n]

    # --- framing steps: each either queues decoded bytes or advances the state ---

    async def _next_chunk_header(self) -> None:
        line = await self._read_line(_MAX_CHUNK_LINE, _truncated)
        match = _CHUNK_LINE.fullmatch(line)
        if match is None:
            raise _truncated()
        size = int(match[1], 16)
        signature = match[2]
        if (signature is None) != (self._signing is None):
            # A signed stream needs every chunk signed; an unsigned one has no signatures.
            raise _truncated()
        if size > self._max_chunk_size:
            raise InvalidRequest(
                f"aws-chunked chunk of {size} bytes exceeds this gateway's limit of "
                f"{self._max_chunk_size} bytes"
            )
        if self._decoded_length is not None and self._decoded + size > self._decoded_length:
            raise IncompleteBody(
                "The aws-chunked body is longer than its x-amz-decoded-content-length"
            )
        if size == 0:
            if signature is not None:
                self._verify_chunk_signature(signature, ())
            if self._decoded_length is not None and self._decoded != self._decoded_length:
                raise IncompleteBody(
                    "The aws-chunked body is shorter than its x-amz-decoded-content-length"
                )
            self._step = self._trailer_section
            return
        if signature is None:
            self._chunk_remaining = size
            self._step = self._unsigned_chunk_data
            return
        parts: list[bytes] = []
        remaining = size
        while remaining:
            part = await self._read_data(remaining)
            parts.append(part)
            remaining -= len(part)
        self._verify_chunk_signature(signature, parts)
        await self._expect_crlf()
        for part in parts:
            self._accept(part)

    async def _unsigned_chunk_data(self) -> None:
        part = await self._read_data(self._chunk_remaining)
        self._chunk_remaining -= len(part)
        self._accept(part)
        if not self._chunk_remaining:
            self._step = self._chunk_data_end

    async def _chunk_data_end(self) -> None:
        await self._expect_crlf()
        self._step = self._next_chunk_header

    async def _trailer_section(self) -> None:
        budget = self._max_trailer_bytes
        lines: list[tuple[str, str]] = []
        while True:
            line = await self._read_line(budget, MalformedTrailerError)
            budget -= len(line) + 2
            if not line:
                break
            # minio-go ends each trailer line with "\n" before the CRLF.
            if line.endswith(b"\n"):
                line = line[:-1]
            lines.append(_parse_trailer_line(line))
        await self._expect_end_of_source()
        self._check_trailers(lines)
        self._verify_checksums()
        self._finished = True

    # --- verification ---

    def _accept(self, part: bytes) -> None:
        for _, checksum in self._checksums:
            checksum.update(part)
        self._decoded += len(part)
        self._pending.append(part)

    def _verify_chunk_signature(self, signature: bytes, parts: Sequence[bytes]) -> None:
        assert self._signing is not None
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part)
        string_to_sign = b"%s%s\n%s\n%s" % (
            self._chunk_prefix,
            self._previous_signature,
            _EMPTY_SHA256_HEX,
            digest.hexdigest().encode(),
        )
        self._previous_signature = self._check_signature(string_to_sign, signature, "chunk")

    def _check_signature(self, string_to_sign: bytes, signature: bytes, what: str) -> bytes:
        assert self._signing is not None
        expected = hmac.digest(self._signing.signing_key, string_to_sign, "sha256").hex().encode()
        if not hmac.compare_digest(expected, signature.lower()):
            logger.debug(
                "aws-chunked %s signature mismatch; string to sign %r", what, string_to_sign
            )
            raise SignatureDoesNotMatch()
        return expected

    def _check_trailers(self, lines: list[tuple[str, str]]) -> None:
        trailers: dict[str, str] = {}
        signature: str | None = None
        for index, (name, value) in enumerate(lines):
            if name == TRAILER_SIGNATURE:
                signed_trailer = self._signing is not None and self._signing.trailer_signed
                if not signed_trailer or index != len(lines) - 1:
                    raise MalformedTrailerError()
                signature = value
            elif name not in self._declared_trailers or name in trailers:
                raise MalformedTrailerError()
            else:
                trailers[name] = value
        if trailers.keys() != self._declared_trailers:
            raise MalformedTrailerError()
        if self._signing is not None and self._signing.trailer_signed and (trailers or signature):
            if signature is None or _HEX_SIGNATURE.fullmatch(signature.encode()) is None:
                raise MalformedTrailerError()
            canonical = "".join(f"{name}:{trailers[name]}\n" for name in sorted(trailers))
            string_to_sign = b"%s%s\n%s" % (
                self._trailer_prefix,
                self._previous_signature,
                hashlib.sha256(canonical.encode()).hexdigest().encode(),
            )
            self._check_signature(string_to_sign, signature.encode(), "trailer")
        self._trailers = trailers

    def _verify_checksums(self) -> None:
        for algorithm, checksum in self._checksums:
            sent = self._trailers[algorithm.header_name]
            expected = decode_checksum_value(algorithm, sent, where="trailing header")
            if not hmac.compare_digest(checksum.digest(), expected):
                raise BadDigest(
                    f"The {algorithm.value} you specified did not match the calculated checksum."
                )

    # --- buffered access to the source ---

    async def _fill(self) -> bool:
        """Append the next piece of the source to the buffer; ``False`` at its end."""
        if self._source_exhausted:
            return False
        data = await self._source.read(_READ_SIZE)
        if not data:
            self._source_exhausted = True
            return False
        if self._position:
            del self._buffer[: self._position]
            self._position = 0
        self._buffer += data
        return True

    async def _read_line(self, limit: int, too_long: Callable[[], S3Error]) -> bytes:
        """The next CRLF-terminated line without its CRLF; ``too_long`` past ``limit`` bytes."""
        scanned = 0  # bytes after the position already searched for a CRLF
        while True:
            end = self._buffer.find(b"\r\n", self._position + scanned)
            if end >= 0:
                if end - self._position > limit:
                    raise too_long()
                line = bytes(self._buffer[self._position : end])
                self._position = end + 2
                return line
            available = len(self._buffer) - self._position
            if available > limit + 1:
                raise too_long()
            scanned = max(available - 1, 0)  # a trailing CR may pair with the next LF
            if not await self._fill():
                raise _truncated()

    async def _read_data(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of chunk data, straight from the source if nothing is buffered."""
        available = len(self._buffer) - self._position
        if available:
            take = min(available, limit)
            data = bytes(self._buffer[self._position : self._position + take])
            self._position += take
            return data
        if not self._source_exhausted:
            data = await self._source.read(limit)
            if data:
                if len(data) > limit:  # a source ignoring its size argument
                    self._buffer = bytearray(data[limit:])
                    self._position = 0
                    data = data[:limit]
                return data
            self._source_exhausted = True
        raise _truncated()

    async def _expect_crlf(self) -> None:
        while len(self._buffer) - self._position < 2:
            if not await self._fill():
                raise _truncated()
        if self._buffer[self._position : self._position + 2] != b"\r\n":
            raise _truncated()
        self._position += 2

    async def _expect_end_of_source(self) -> None:
        if self._position < len(self._buffer) or await self._fill():
            raise IncompleteBody("Unexpected data after the end of the aws-chunked body")


def _truncated() -> S3Error:
    return IncompleteBody(_TRUNCATED)


def _parse_trailer_line(line: bytes) -> tuple[str, str]:
    name, colon, value = line.partition(b":")
    if not colon or _TRAILER_NAME.fullmatch(name) is None:
        raise MalformedTrailerError()
    try:
        text = value.strip(b" \t").decode("ascii")
    except UnicodeDecodeError:
        raise MalformedTrailerError() from None
    return name.decode("ascii").lower(), text


def decoder_for_request(
    headers: Headers,
    body: RequestBody,
    verified: StreamingSignatureSeed | None,
    *,
    max_chunk_size: int = 16 << 20,
    max_trailer_bytes: int = 16 << 10,
) -> AwsChunkedDecoder:
    """The decoder for an aws-chunked request, configured from its ``x-amz-*`` headers.

    ``verified`` is the request's verified SigV4 signature; signed streaming needs it, because
    the chunk-signature chain starts from the request signature.
    """
    content_sha256 = headers.get("x-amz-content-sha256", "").strip()
    signing: ChunkSigningContext | None = None
    if content_sha256 in (STREAMING_SIGNED_PAYLOAD, STREAMING_SIGNED_PAYLOAD_TRAILER):
        if verified is None:
            raise InvalidRequest(f"{content_sha256} requires a SigV4 Authorization header")
        signing = ChunkSigningContext(
            signing_key=verified.signing_key,
            seed_signature=verified.seed_signature,
            amz_date=verified.amz_date,
            scope=verified.scope,
            trailer_signed=content_sha256 == STREAMING_SIGNED_PAYLOAD_TRAILER,
        )
    elif content_sha256 != STREAMING_UNSIGNED_PAYLOAD_TRAILER:
        if is_aws_chunked(content_sha256) and "ECDSA" in content_sha256:
            raise NotImplementedOperation(
                "SigV4a (ECDSA) signed streaming uploads are not supported"
            )
        raise InvalidArgument(INVALID_CONTENT_SHA256)
    return AwsChunkedDecoder(
        body,
        decoded_length=_decoded_length(headers.get("x-amz-decoded-content-length")),
        trailer_names=_trailer_names(headers.get("x-amz-trailer")),
        chunk_signing=signing,
        max_chunk_size=max_chunk_size,
        max_trailer_bytes=max_trailer_bytes,
    )


def _decoded_length(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit():
        raise InvalidArgument("x-amz-decoded-content-length must be a non-negative integer")
    return int(value)


def _trailer_names(value: str | None) -> tuple[str, ...]:
    """Names from ``x-amz-trailer``; S3 accepts exactly one checksum header there."""
    if value is None:
        return ()
    names = tuple(name.strip().lower() for name in value.split(",") if name.strip())
    if len(names) > 1 or any(ChecksumAlgorithm.from_header_name(name) is None for name in names):
        raise InvalidRequest("The value specified in the x-amz-trailer header is not supported")
    return names
