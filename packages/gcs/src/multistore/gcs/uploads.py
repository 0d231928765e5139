"""Single-request uploads: the JSON API's ``uploadType=multipart`` (metadata + media).

The object's metadata and its bytes travel in one ``multipart/related`` request, so the
object appears with its metadata in one step (and under one precondition). A large body is
framed around the client's stream, never assembled in memory. A body of at most one
streaming chunk (1 MiB, what the streaming path holds back anyway) is read and verified
first: a store that commits whatever part of a body it received when the connection
breaks (the emulator does; GCS does not) can then never keep a body whose signature or
checksum failed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any

from multistore.core.errors import IncompleteBody
from multistore.core.http import RequestBody
from multistore.core.s3.upload_body import iter_committing, verify_empty

SMALL_BODY = 1 << 20


async def related_upload(
    resource: Mapping[str, Any], body: RequestBody, content_length: int
) -> tuple[dict[str, str], AsyncIterator[bytes] | bytes]:
    """Headers and body of a ``multipart/related`` upload of ``content_length`` bytes."""
    boundary = secrets.token_hex(24)
    media_type = str(resource.get("contentType") or "application/octet-stream")
    head = (
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        f"{json.dumps(resource)}\r\n--{boundary}\r\nContent-Type: {media_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    headers = {
        "content-type": f"multipart/related; boundary={boundary}",
        "content-length": str(len(head) + content_length + len(tail)),
    }
    if content_length <= SMALL_BODY:
        return headers, head + await _read_verified(body, content_length) + tail
    return headers, _framed(head, body, content_length, tail)


async def _read_verified(body: RequestBody, content_length: int) -> bytes:
    if not content_length:
        await verify_empty(body)
        return b""
    data = b"".join([chunk async for chunk in iter_committing(body)])
    if len(data) != content_length:
        raise IncompleteBody("the request body does not have its declared length")
    return data


async def _framed(
    head: bytes, body: RequestBody, content_length: int, tail: bytes
) -> AsyncIterator[bytes]:
    yield head
    if content_length:
        async for chunk in iter_committing(body):
            yield chunk
    else:
        await verify_empty(body)
    yield tail
