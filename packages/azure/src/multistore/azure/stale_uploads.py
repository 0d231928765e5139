"""Removing abandoned multipart uploads (the server's housekeeping calls this).

An upload on Azure is its marker blob, ``.multistore/uploads/<upload id>``, plus blocks
staged on the destination blob. Only the marker is deleted: uncommitted blocks cannot be
deleted one by one, and Azure discards them itself a week after they were staged (or at the
next commit of that blob). Without its marker the upload id is ``NoSuchUpload`` everywhere.

A marker is never rewritten after it is created, so its creation time is the upload's. Only
blobs named exactly like a marker (``.multistore/uploads/`` and a 32-digit hex id) are
candidates; anything else under that prefix was not written by the gateway and stays.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Any

from multistore.azure.listing import RESERVED_PREFIX, blob_name, parse_blobs
from multistore.azure.uploads import KEY_META, AzureUploads, valid_upload_id
from multistore.core.backends.base import UploadRemoved
from multistore.core.backends.s3.writes import read_backend_body
from multistore.core.s3.xml import xml_text

# One round reads at most this many pages of 5000 markers; what is beyond them goes in the
# next round (each round starts afresh, and the markers it deleted are gone by then).
MAX_CLEANUP_PAGES = 20
DELETE_CONCURRENCY = 16
_MAX_LIST_BODY = 32 << 20


async def remove_stale_markers(
    uploads: AzureUploads, older_than_seconds: float, on_removed: UploadRemoved | None
) -> int:
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
    stale: list[tuple[str, str | None]] = []
    marker = ""
    for _ in range(MAX_CLEANUP_PAGES):
        query = [
            ("restype", "container"),
            ("comp", "list"),
            ("prefix", RESERVED_PREFIX),
            ("include", "metadata"),
            ("maxresults", "5000"),
        ]
        if marker:
            query.append(("marker", marker))
        response = await uploads.send("GET", uploads.container_path(), query=query)
        await uploads.raise_for_status(response, None)
        blobs, _, next_marker = parse_blobs(await read_backend_body(response, _MAX_LIST_BODY))
        for blob in blobs:
            upload_id = blob_name(blob.get("Name"))[len(RESERVED_PREFIX) :]
            created = _created(blob)
            if valid_upload_id(upload_id) and created is not None and created < cutoff:
                stale.append((upload_id, _key(blob)))
        if next_marker is None:
            break
        marker = next_marker

    limit = asyncio.Semaphore(DELETE_CONCURRENCY)

    async def delete(upload_id: str, key: str | None) -> bool:
        async with limit:
            if not await uploads.drop_marker(upload_id):
                return False  # completed or aborted meanwhile: not ours to report
        if on_removed is not None:
            on_removed(upload_id, key)
        return True

    outcomes = await asyncio.gather(*(delete(upload_id, key) for upload_id, key in stale))
    return sum(outcomes)


def _created(blob: dict[str, Any]) -> datetime | None:
    """The marker's creation time; ``None`` (never stale) when Azure gives none readable."""
    properties = blob.get("Properties") or {}
    value = xml_text(properties.get("Creation-Time")) or xml_text(properties.get("Last-Modified"))
    try:
        return datetime.strptime(value, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    except ValueError:
        return None


def _key(blob: dict[str, Any]) -> str | None:
    metadata = blob.get("Metadata") or {}
    encoded = xml_text(metadata.get(KEY_META)) if isinstance(metadata, dict) else ""
    try:
        return base64.urlsafe_b64decode(encoded).decode() if encoded else None
    except (binascii.Error, UnicodeDecodeError):
        return None
