"""Completion records on Azure: ``.multistore/uploads/completed/<upload id>``, one small JSON
blob each (``multistore.core.backends.completed_uploads`` says why a retried Complete needs
them). They sit under the upload-state prefix, so clients never list or write them, and
below a ``/`` of their own, so ListMultipartUploads (delimited) never takes one for an
upload marker."""

from __future__ import annotations

import logging
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from multistore.azure.listing import RESERVED_PREFIX, blob_name, parse_blobs
from multistore.azure.wire import AzureWire
from multistore.core.backends.s3.writes import read_backend_body
from multistore.core.s3.xml import xml_text

logger = logging.getLogger("multistore.azure")

RECORD_PREFIX = f"{RESERVED_PREFIX}completed/"
_READ_LIMIT = 1 << 20  # 10,000 listed parts take about 450 KB
_LIST_LIMIT = 16 << 20


class AzureRecordStore:
    def __init__(self, wire: AzureWire) -> None:
        self._wire = wire

    async def put_record(self, upload_id: str, data: bytes) -> None:
        headers = {"x-ms-blob-type": "BlockBlob", "x-ms-blob-content-type": "application/json"}
        response = await self._wire.send(
            "PUT", self._wire.blob_path(RECORD_PREFIX + upload_id), headers=headers, body=data
        )
        await self._wire.raise_for_status(response, None)
        await response.release()

    async def get_record(self, upload_id: str) -> bytes | None:
        response = await self._wire.send("GET", self._wire.blob_path(RECORD_PREFIX + upload_id))
        if response.status == 404:
            await response.release()
            return None
        await self._wire.raise_for_status(response, None)
        return await read_backend_body(response, _READ_LIMIT)

    async def records_before(self, cutoff: datetime) -> list[str]:
        stale: list[str] = []
        marker = ""
        while True:
            query = [("restype", "container"), ("comp", "list"), ("prefix", RECORD_PREFIX)]
            if marker:
                query.append(("marker", marker))
            response = await self._wire.send("GET", self._wire.container_path(), query=query)
            await self._wire.raise_for_status(response, None)
            blobs, _, next_marker = parse_blobs(await read_backend_body(response, _LIST_LIMIT))
            for blob in blobs:
                modified = _modified(blob)
                if modified is not None and modified < cutoff:
                    stale.append(blob_name(blob.get("Name")))
            if next_marker is None:
                return stale
            marker = next_marker

    async def delete_record(self, name: str) -> None:
        response = await self._wire.send("DELETE", self._wire.blob_path(name))
        if response.status not in (200, 202, 404):
            logger.warning("could not delete a completion record (%s)", response.status)
        await response.release()


def _modified(blob: dict[str, Any]) -> datetime | None:
    properties = blob.get("Properties")
    value = xml_text(properties.get("Last-Modified")) if isinstance(properties, dict) else ""
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
