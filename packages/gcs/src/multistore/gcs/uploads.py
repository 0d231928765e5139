"""Single-request uploads: the JSON API's ``uploadType=multipart`` (metadata + media).

The object's metadata and its bytes travel in one ``multipart/related`` request, so the
object appears with its metadata in one step (and under one precondition). The body is
framed around the client's stream, never assembled in memory.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any

from multistore.core.http import RequestBody
from multistore.core.s3.upload_body import iter_committing, verify_empty


def related_upload(
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
    return headers, _framed(head, body, content_length, tail)


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
