"""S3 multipart uploads on GCS: parts staged as objects, joined by ``compose`` at the end.

The emulator the tests run against has no XML multipart API, and the JSON API has no
multipart upload of its own, so each upload is a set of hidden objects under
``STAGING_PREFIX``:

- ``<prefix><upload id>``: the manifest, an empty object whose custom metadata holds the
  destination key and the final object's metadata (its creation time is the upload's);
- ``<prefix><upload id>/<part number, 5 digits>``: one object per part, its MD5 the part's
  ETag;
- ``<prefix><upload id>/compose-<level>-<n>``: intermediate composites, because one
  ``compose`` takes at most 32 sources.

Completion composes the listed parts (in stages of 32) into the destination under the
client's preconditions and records the S3 multipart ETag (MD5 of the part MD5s, ``-N``) in
the object's metadata, since GCS composite objects carry no MD5. Then its answer is
recorded for an hour under ``<prefix>completed/`` (completions.py), so a retried Complete of
the same parts gets it again, and the staging objects are deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from multistore.core.backends.base import (
    CompletedPart,
    ListUploadsRequest,
    ObjectRequest,
    PartInfo,
    PartsPage,
    UploadInfo,
    UploadsPage,
    WriteResult,
)
from multistore.core.errors import (
    EntityTooLarge,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    MissingContentLength,
    NoSuchUpload,
    S3Error,
)
from multistore.core.http import BytesBody, RequestBody
from multistore.core.s3.conditions import normalize_etag
from multistore.gcs.completions import completion_records
from multistore.gcs.listing import STAGING_PREFIX, refuse_reserved
from multistore.gcs.metadata import (
    ETAG_METADATA,
    PARTS_METADATA,
    encode_part_sizes,
    last_modified,
    md5_hex,
    object_size,
    resource_from_headers,
    s3_etag,
)
from multistore.gcs.wire import GcsWire

if TYPE_CHECKING:
    from multistore.gcs.backend import GcsBackend

logger = logging.getLogger("multistore.gcs.multipart")

COMPOSE_LIMIT = 32  # sources per compose call (a GCS limit)
MIN_PART_SIZE = 5 << 20  # for every part but the last, as S3 requires
MAX_PART_SIZE = 5 << 30
MAX_PART_NUMBER = 10_000
CLEANUP_CONCURRENCY = 16
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_PART_NAME = re.compile(r"[0-9]{5}")


class GcsMultipart:
    def __init__(self, wire: GcsWire, backend: GcsBackend) -> None:
        self._wire = wire
        self._backend = backend
        self._completions = completion_records(wire, backend)

    # --- names -----------------------------------------------------------------------------

    @staticmethod
    def manifest_name(upload_id: str) -> str:
        return f"{STAGING_PREFIX}{upload_id}"

    @staticmethod
    def part_name(upload_id: str, part_number: int) -> str:
        return f"{STAGING_PREFIX}{upload_id}/{part_number:05d}"

    async def _manifest(self, request: ObjectRequest, upload_id: str) -> dict[str, Any]:
        """The upload's manifest; ``NoSuchUpload`` unless it exists for ``request.key``."""
        manifest = None
        if _UPLOAD_ID.fullmatch(upload_id):
            manifest = await self._backend.describe(self.manifest_name(upload_id))
        metadata = (manifest or {}).get("metadata") or {}
        if manifest is None or metadata.get("key") != request.key:
            raise NoSuchUpload(resource=self._wire.resource(request.key))
        return manifest

    async def _staged(self, upload_id: str) -> list[dict[str, Any]]:
        """Every staged object of the upload (parts and intermediates)."""
        found: list[dict[str, Any]] = []
        query = [("prefix", f"{self.manifest_name(upload_id)}/")]
        page_token = ""
        while True:
            page_query = query + ([("pageToken", page_token)] if page_token else [])
            document = await self._wire.send_json("GET", self._wire.objects_url(), query=page_query)
            found.extend(document.get("items") or ())
            page_token = str(document.get("nextPageToken") or "")
            if not page_token:
                return found

    async def _parts(self, upload_id: str) -> dict[int, dict[str, Any]]:
        parts: dict[int, dict[str, Any]] = {}
        base = f"{self.manifest_name(upload_id)}/"
        for item in await self._staged(upload_id):
            suffix = str(item.get("name", ""))[len(base) :]
            if _PART_NAME.fullmatch(suffix):
                parts[int(suffix)] = item
        return parts

    # --- operations ------------------------------------------------------------------------

    async def create_multipart_upload(self, request: ObjectRequest) -> str:
        refuse_reserved(request.key)
        upload_id = secrets.token_hex(16)
        resource = resource_from_headers(request.headers)
        manifest = {
            "contentType": "application/json",
            "metadata": {"key": request.key, "resource": json.dumps(resource)},
        }
        await self._backend.upload(self.manifest_name(upload_id), manifest, BytesBody(b""), 0)
        return upload_id

    async def upload_part(
        self,
        request: ObjectRequest,
        upload_id: str,
        part_number: int,
        body: RequestBody,
        content_length: int | None,
    ) -> WriteResult:
        if content_length is None:
            raise MissingContentLength()
        if content_length > MAX_PART_SIZE:
            raise EntityTooLarge("Your proposed upload exceeds the maximum allowed size")
        if not 1 <= part_number <= MAX_PART_NUMBER:
            raise InvalidArgument("Part number must be an integer between 1 and 10000")
        await self._manifest(request, upload_id)
        stored = await self._backend.upload(
            self.part_name(upload_id, part_number),
            {"contentType": "application/octet-stream"},
            body,
            content_length,
        )
        etag = s3_etag(stored)
        return WriteResult(etag=etag, headers={"ETag": etag}, last_modified=last_modified(stored))

    async def complete_multipart_upload(
        self, request: ObjectRequest, upload_id: str, listed: list[CompletedPart]
    ) -> WriteResult:
        # A retry of a Complete whose answer was lost gets that answer again, as on S3.
        if _UPLOAD_ID.fullmatch(upload_id):
            repeat = await self._completions.repeat(upload_id, request.key, listed)
            if repeat is not None:
                return repeat
        manifest = await self._manifest(request, upload_id)
        numbers = [part.part_number for part in listed]
        if numbers != sorted(set(numbers)):
            raise InvalidPartOrder()
        staged = await self._parts(upload_id)
        chosen: list[dict[str, Any]] = []
        for index, part in enumerate(listed):
            item = staged.get(part.part_number)
            if item is None or normalize_etag(part.etag) != md5_hex(item):
                raise InvalidPart(
                    f"part {part.part_number} was not uploaded or its ETag is not {part.etag}"
                )
            if index < len(listed) - 1 and object_size(item) < MIN_PART_SIZE:
                raise EntityTooSmall(
                    f"part {part.part_number} is smaller than {MIN_PART_SIZE} bytes"
                )
            chosen.append(item)
        precondition = await self._backend.write_precondition(request.key, request.headers)
        digest = hashlib.md5(usedforsecurity=False)
        for item in chosen:
            digest.update(bytes.fromhex(md5_hex(item)))
        etag = f"{digest.hexdigest()}-{len(chosen)}"
        resource: dict[str, Any] = json.loads(manifest["metadata"].get("resource") or "{}")
        recorded = resource.setdefault("metadata", {})
        recorded[ETAG_METADATA] = etag
        sizes = encode_part_sizes([object_size(item) for item in chosen])
        if sizes is not None:
            recorded[PARTS_METADATA] = sizes
        sources = [str(item["name"]) for item in chosen]
        sources = await self._compose_down(upload_id, sources)
        query = [("ifGenerationMatch", precondition)] if precondition is not None else []
        stored = await self._wire.send_json(
            "POST",
            self._wire.object_url(request.key, "/compose"),
            {"sourceObjects": [{"name": name} for name in sources], "destination": resource},
            query=query,
            key=request.key,
        )
        result = WriteResult(
            etag=f'"{etag}"', headers={"ETag": f'"{etag}"'}, last_modified=last_modified(stored)
        )
        try:
            await self._completions.record(upload_id, request.key, listed, result)
        except S3Error as error:
            # The object is complete; only a retried Complete would miss the record.
            logger.warning("could not record completed upload %s: %s", upload_id, error.message)
        await self._discard(upload_id)
        return result

    async def _compose_down(self, upload_id: str, sources: list[str]) -> list[str]:
        """Compose ``sources`` in groups of 32 until one compose can take them all."""
        level = 0
        while len(sources) > COMPOSE_LIMIT:
            level += 1
            groups = [
                sources[start : start + COMPOSE_LIMIT]
                for start in range(0, len(sources), COMPOSE_LIMIT)
            ]
            names = [
                f"{self.manifest_name(upload_id)}/compose-{level}-{index:05d}"
                for index in range(len(groups))
            ]
            await asyncio.gather(
                *(self._compose(name, group) for name, group in zip(names, groups, strict=True))
            )
            sources = names
        return sources

    async def _compose(self, destination: str, sources: list[str]) -> None:
        await self._wire.send_json(
            "POST",
            self._wire.object_url(destination, "/compose"),
            {
                "sourceObjects": [{"name": name} for name in sources],
                "destination": {"contentType": "application/octet-stream"},
            },
        )

    async def abort_multipart_upload(self, request: ObjectRequest, upload_id: str) -> None:
        await self._manifest(request, upload_id)
        await self._discard(upload_id)

    async def _discard(self, upload_id: str) -> None:
        """Delete the staged objects, then the manifest (so a retry still finds the upload
        until everything else is gone)."""
        limit = asyncio.Semaphore(CLEANUP_CONCURRENCY)

        async def delete(name: str) -> None:
            async with limit:
                response = await self._wire.send("DELETE", self._wire.object_url(name))
                if response.status not in (200, 204, 404):
                    logger.warning("could not delete a staged object (%s)", response.status)
                await response.release()

        staged = [str(item["name"]) for item in await self._staged(upload_id)]
        await asyncio.gather(*(delete(name) for name in staged))
        await delete(self.manifest_name(upload_id))

    async def list_parts(
        self, request: ObjectRequest, upload_id: str, *, max_parts: int, part_number_marker: int
    ) -> PartsPage:
        await self._manifest(request, upload_id)
        staged = await self._parts(upload_id)
        numbers = sorted(number for number in staged if number > part_number_marker)
        page = PartsPage()
        for number in numbers[:max_parts]:
            item = staged[number]
            page.parts.append(
                PartInfo(
                    part_number=number,
                    etag=s3_etag(item),
                    size=object_size(item),
                    last_modified=last_modified(item),
                )
            )
        if len(numbers) > max_parts and page.parts:
            page.next_part_number_marker = page.parts[-1].part_number
        return page

    async def list_multipart_uploads(self, request: ListUploadsRequest) -> UploadsPage:
        uploads: list[tuple[str, datetime, str]] = []
        query = [("prefix", STAGING_PREFIX), ("delimiter", "/")]
        page_token = ""
        while True:
            page_query = query + ([("pageToken", page_token)] if page_token else [])
            document = await self._wire.send_json("GET", self._wire.objects_url(), query=page_query)
            for item in document.get("items") or ():
                upload_id = str(item.get("name", ""))[len(STAGING_PREFIX) :]
                key = (item.get("metadata") or {}).get("key")
                wanted = isinstance(key, str) and key.startswith(request.prefix)
                if _UPLOAD_ID.fullmatch(upload_id) and wanted:
                    uploads.append((str(key), last_modified(item), upload_id))
            page_token = str(document.get("nextPageToken") or "")
            if not page_token:
                break
        uploads.sort()
        return _uploads_page(uploads, request)


def _uploads_page(
    uploads: list[tuple[str, datetime, str]], request: ListUploadsRequest
) -> UploadsPage:
    page = UploadsPage()
    seen_prefixes: set[str] = set()
    marker = request.key_marker or ""
    id_marker = request.upload_id_marker
    count = 0
    for key, initiated, upload_id in uploads:
        if marker and (
            key < marker or (key == marker and (not id_marker or upload_id <= id_marker))
        ):
            continue
        if request.delimiter:
            rest = key[len(request.prefix) :]
            cut = rest.find(request.delimiter)
            if cut >= 0:
                common = key[: len(request.prefix) + cut + len(request.delimiter)]
                if common in seen_prefixes:
                    continue
                if count == request.max_uploads:
                    page.next_key_marker = key
                    break
                seen_prefixes.add(common)
                page.common_prefixes.append(common)
                count += 1
                continue
        if count == request.max_uploads:
            last = page.uploads[-1] if page.uploads else None
            page.next_key_marker = last.key if last else key
            page.next_upload_id_marker = last.upload_id if last else None
            break
        page.uploads.append(UploadInfo(key=key, upload_id=upload_id, initiated=initiated))
        count += 1
    return page
