"""Completion records on GCS: ``.multistore-uploads/completed/<upload id>``, one small JSON
object each (``multistore.core.backends.completed_uploads`` says why a retried Complete
needs them). They sit under the staging prefix, so clients never list or write them, and
below a ``/`` of their own, so ListMultipartUploads (delimited) never takes one for an
upload."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from multistore.core.backends.completed_uploads import CompletionRecords
from multistore.core.backends.s3.writes import read_backend_body
from multistore.core.http import BytesBody
from multistore.gcs.listing import STAGING_PREFIX
from multistore.gcs.metadata import last_modified
from multistore.gcs.wire import GcsWire

if TYPE_CHECKING:
    from multistore.gcs.backend import GcsBackend

logger = logging.getLogger("multistore.gcs.multipart")

RECORD_PREFIX = f"{STAGING_PREFIX}completed/"
_READ_LIMIT = 1 << 20  # 10,000 listed parts take about 450 KB


class GcsRecordStore:
    def __init__(self, wire: GcsWire, backend: GcsBackend) -> None:
        self._wire = wire
        self._backend = backend

    async def put_record(self, upload_id: str, data: bytes) -> None:
        resource = {"contentType": "application/json"}
        await self._backend.upload(RECORD_PREFIX + upload_id, resource, BytesBody(data), len(data))

    async def get_record(self, upload_id: str) -> bytes | None:
        url = self._wire.object_url(RECORD_PREFIX + upload_id)
        response = await self._wire.send("GET", url, query=[("alt", "media")])
        if response.status == 404:
            await response.release()
            return None
        await self._wire.raise_for_status(response, None)
        return await read_backend_body(response, _READ_LIMIT)

    async def records_before(self, cutoff: datetime) -> list[str]:
        stale: list[str] = []
        page_token = ""
        while True:
            query = [("prefix", RECORD_PREFIX)]
            if page_token:
                query.append(("pageToken", page_token))
            document = await self._wire.send_json("GET", self._wire.objects_url(), query=query)
            stale.extend(
                str(item["name"])
                for item in document.get("items") or ()
                if "name" in item and last_modified(item) < cutoff
            )
            page_token = str(document.get("nextPageToken") or "")
            if not page_token:
                return stale

    async def delete_record(self, name: str) -> None:
        response = await self._wire.send("DELETE", self._wire.object_url(name))
        if response.status not in (200, 204, 404):
            logger.warning("could not delete a completion record (%s)", response.status)
        await response.release()


def completion_records(wire: GcsWire, backend: GcsBackend) -> CompletionRecords:
    return CompletionRecords(GcsRecordStore(wire, backend))
