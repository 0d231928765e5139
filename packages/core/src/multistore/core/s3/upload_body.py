"""Turn a client's upload body into exactly the object bytes, verified while they stream.

Whatever framing or integrity promise the client used — aws-chunked (signed or unsigned,
with trailing checksums), a hex ``x-amz-content-sha256``, ``Content-MD5`` or an
``x-amz-checksum-*`` header — the backend receives plain object bytes and a length, and a
broken promise raises before the final byte is handed over, so nothing half-verified is
ever committed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from multidict import CIMultiDict

from multistore.core.auth.aws_chunked import decoder_for_request, is_aws_chunked
from multistore.core.auth.checksums import checksum_from_headers
from multistore.core.auth.payload import ChecksummingBody, Md5VerifyingBody, Sha256VerifyingBody
from multistore.core.auth.sigv4 import VerifiedSignature
from multistore.core.errors import EntityTooLarge, IncompleteBody, InvalidArgument
from multistore.core.http import Headers, RequestBody

_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")

# Headers that describe the client's framing, not the object; never stored or forwarded.
_FRAMING_HEADERS = ("x-amz-decoded-content-length", "x-amz-trailer", "x-amz-content-sha256")


@dataclass(slots=True)
class UploadBody:
    """The verified object bytes and their length (``None`` when the client did not say)."""

    body: RequestBody
    content_length: int | None
    headers: CIMultiDict[str]


def _declared_length(headers: Headers, name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidArgument(f"{name} must be a non-negative integer")
    return int(raw)


def object_headers(headers: Headers, *, chunked: bool) -> CIMultiDict[str]:
    """The client's headers as they describe the stored object (framing removed)."""
    cleaned = CIMultiDict(headers)
    for name in _FRAMING_HEADERS:
        cleaned.popall(name, None)
    if chunked:
        encodings = [
            e.strip()
            for e in cleaned.get("content-encoding", "").split(",")
            if e.strip() and e.strip().lower() != "aws-chunked"
        ]
        cleaned.popall("content-encoding", None)
        if encodings:
            cleaned["Content-Encoding"] = ", ".join(encodings)
        cleaned.popall("content-length", None)
    return cleaned


def prepare_upload_body(
    headers: Headers,
    body: RequestBody,
    *,
    verified: VerifiedSignature | None,
    max_object_size: int | None,
    checksum_header_is_the_bodys: bool = True,
) -> UploadBody:
    """Wrap ``body`` so it yields verified object bytes; check sizes before reading anything.

    ``checksum_header_is_the_bodys=False`` is for CompleteMultipartUpload, whose
    ``x-amz-checksum-*`` header is the checksum of the object being completed, not of the
    XML body that lists its parts.
    """
    content_sha256 = headers.get("x-amz-content-sha256", "")
    chunked = is_aws_chunked(content_sha256)
    if chunked:
        length = _declared_length(headers, "x-amz-decoded-content-length")
    else:
        length = _declared_length(headers, "content-length")
    if max_object_size is not None and length is not None and length > max_object_size:
        raise EntityTooLarge(
            f"Your proposed upload of {length} bytes exceeds the maximum allowed object size "
            f"of {max_object_size} bytes."
        )

    stream: RequestBody = body
    if chunked:
        stream = decoder_for_request(headers, body, verified)
    elif _HEX_SHA256.fullmatch(content_sha256):
        stream = Sha256VerifyingBody(stream, content_sha256)
    md5 = headers.get("content-md5")
    if md5:
        stream = Md5VerifyingBody(stream, md5)
    declared_checksum = checksum_from_headers(headers) if checksum_header_is_the_bodys else None
    if declared_checksum is not None:
        algorithm, expected = declared_checksum
        stream = ChecksummingBody(stream, algorithm, expected)
    if max_object_size is not None and length is None:
        stream = SizeCappedBody(stream, max_object_size)
    return UploadBody(stream, length, object_headers(headers, chunked=chunked))


class SizeCappedBody:
    """Fails a body of undeclared length as soon as it passes the size limit."""

    def __init__(self, source: RequestBody, limit: int) -> None:
        self._source = source
        self._remaining = limit
        self._limit = limit

    async def read(self, n: int = -1) -> bytes:
        chunk = await self._source.read(n)
        self._remaining -= len(chunk)
        if self._remaining < 0:
            raise EntityTooLarge(
                f"Your upload exceeds the maximum allowed object size of {self._limit} bytes."
            )
        return chunk


async def iter_committing(body: RequestBody, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
    """Yield ``body`` in chunks, holding the last one back until the body has ended cleanly.

    Verifying wrappers raise on the read that reaches the end. By then a streaming consumer
    (an outbound request with a Content-Length) would already have sent every byte and the
    backend would commit the object; holding back one chunk means a failed verification
    leaves the outbound request short, so the backend discards it.
    """
    held = await body.read(chunk_size)
    while held:
        following = await body.read(chunk_size)
        if not following:
            break
        yield held
        held = following
    if held:
        yield held


async def verify_empty(body: RequestBody) -> None:
    """Run the verifiers of a body declared empty (digests, chunk signatures, trailers).

    Nothing is sent for a zero-length object, but its integrity promises still hold: the
    read that reaches the end is the one that checks them.
    """
    if await body.read(1):
        raise IncompleteBody("the request body is longer than its declared length")
