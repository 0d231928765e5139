"""Removing abandoned multipart uploads (the server's housekeeping calls this).

An upload is its manifest ``<prefix><upload id>`` and its staged objects
``<prefix><upload id>/…`` (``multipart.py``); the staged parts cost storage until they are
deleted, which nothing else ever does for an upload nobody completes or aborts.

- An upload whose manifest was created more than the age ago goes whole: staged objects
  first, the manifest last (so a round cut short leaves it findable for the next).
- Staged objects whose manifest is gone (a part that landed while its upload was being
  aborted) go once they themselves are older than the age.
- An upload whose manifest is younger is left alone, however old its parts look, and only
  names of exactly that shape (a 32-digit hex id) are touched.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from multistore.core.backends.base import UploadRemoved
from multistore.gcs.listing import STAGING_PREFIX
from multistore.gcs.wire import GcsWire

logger = logging.getLogger("multistore.gcs.multipart")

# One round reads at most this many pages of staging objects; what lies beyond them goes in
# a later round (each round starts afresh; what it deleted is gone by then).
MAX_CLEANUP_PAGES = 50
DELETE_CONCURRENCY = 16
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(slots=True)
class _Staged:
    manifest: datetime | None = None  # creation time; None: no manifest listed
    key: str | None = None
    objects: list[tuple[str, datetime | None]] = field(default_factory=list)


async def remove_stale_staging(
    wire: GcsWire, older_than_seconds: float, on_removed: UploadRemoved | None
) -> int:
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
    uploads = await _staging(wire)
    limit = asyncio.Semaphore(DELETE_CONCURRENCY)

    async def delete(name: str) -> bool:
        async with limit:
            response = await wire.send("DELETE", wire.object_url(name))
            await response.release()
            if response.status not in (200, 204, 404):
                logger.warning("could not delete a staged object (%s)", response.status)
            return response.status in (200, 204)

    async def remove(upload_id: str, upload: _Staged) -> bool:
        if upload.manifest is not None:
            if upload.manifest >= cutoff:
                return False
            await asyncio.gather(*(delete(name) for name, _ in upload.objects))
            if not await delete(STAGING_PREFIX + upload_id):
                return False  # completed, aborted or failed meanwhile: not reported
        else:
            orphans = [name for name, created in upload.objects if _older(created, cutoff)]
            if not orphans or not any(await asyncio.gather(*(delete(n) for n in orphans))):
                return False
        if on_removed is not None:
            on_removed(upload_id, upload.key)
        return True

    removed = await asyncio.gather(*(remove(i, upload) for i, upload in uploads.items()))
    return sum(removed)


async def _staging(wire: GcsWire) -> dict[str, _Staged]:
    """Everything under the staging prefix, by upload id (at most ``MAX_CLEANUP_PAGES``)."""
    uploads: dict[str, _Staged] = {}
    page_token = ""
    for _ in range(MAX_CLEANUP_PAGES):
        query = [("prefix", STAGING_PREFIX), ("maxResults", "1000")]
        if page_token:
            query.append(("pageToken", page_token))
        document = await wire.send_json("GET", wire.objects_url(), query=query)
        for item in document.get("items") or ():
            name = str(item.get("name", ""))
            upload_id, slash, rest = name[len(STAGING_PREFIX) :].partition("/")
            if not name.startswith(STAGING_PREFIX) or not _UPLOAD_ID.fullmatch(upload_id):
                continue
            upload = uploads.setdefault(upload_id, _Staged())
            if not slash:
                upload.manifest = _created(item) or datetime.now(UTC)  # unreadable: young
                key = (item.get("metadata") or {}).get("key")
                upload.key = key if isinstance(key, str) else None
            elif rest:
                upload.objects.append((name, _created(item)))
        page_token = str(document.get("nextPageToken") or "")
        if not page_token:
            break
    return uploads


def _created(item: dict[str, Any]) -> datetime | None:
    value = str(item.get("timeCreated") or item.get("updated") or "")
    try:
        created = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return created if created.tzinfo is not None else created.replace(tzinfo=UTC)


def _older(created: datetime | None, cutoff: datetime) -> bool:
    return created is not None and created < cutoff
