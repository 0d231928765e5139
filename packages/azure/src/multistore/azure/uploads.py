"""S3 multipart uploads on Azure block blobs, across separate requests and gateway workers.

- **Parts are blocks.** UploadPart is a Put Block on the destination blob, with the block id
  ``base64("<upload id>-<part number, 5 digits>")`` (every id of a blob has the same length,
  as Azure requires). CompleteMultipartUpload is one Put Block List naming those blocks in
  the client's order, so the object appears atomically, with the client's ``If-Match`` /
  ``If-None-Match: *`` as Azure's own preconditions.
- **The upload itself is a marker blob**, ``.multistore/uploads/<upload id>``: empty, with
  the final object's content properties and metadata, and the key (base64 in the metadata
  entry ``multistore_key``). It is how any worker knows that an upload id exists, which key
  it belongs to (a part call is authorized for the key in its URL only, so the id must belong
  to that key) and what the object will look like. Listings never show it, and clients
  cannot write under that prefix. Complete and Abort delete it. Complete first records its
  answer for an hour under ``.multistore/uploads/completed/`` (completions.py), so a retried
  Complete of the same parts gets it again.
- **Part ETags** are ``md5("<upload id>:<part>:<size>")``: Get Block List reports a block's
  id and size but no digest, and this way UploadPart, ListParts and the check at Complete
  agree without storing anything per part.
- **Limits** (Azure's): a blob holds at most 100,000 uncommitted blocks and 50,000 committed
  ones; S3's 10,000 parts stay below both. Uncommitted blocks cannot be deleted one by one:
  after an Abort they stay invisible until Azure discards them (a week) or the next commit of
  that blob; and committing one upload of a key discards the staged parts of any *other*
  upload of the same key in flight at the same time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from xml.sax.saxutils import escape

import xmltodict
from multidict import CIMultiDict

from multistore.azure.listing import RESERVED_PREFIX, blob_name, parse_blobs
from multistore.azure.preconditions import refuse_reserved, write_conditions
from multistore.azure.properties import (
    CHECKSUM_ALGORITHMS,
    CHECKSUM_META,
    PARTS_META,
    object_write_headers,
    s3_etag,
    stored_write_headers,
)
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
from multistore.core.backends.completed_uploads import CompletionRecords
from multistore.core.backends.s3.writes import read_backend_body, refuse_oversized
from multistore.core.errors import (
    BadGateway,
    EntityTooSmall,
    InvalidPart,
    InvalidPartOrder,
    MissingContentLength,
    NoSuchUpload,
    S3Error,
)
from multistore.core.http import Headers, OutboundBody, RequestBody, TransportResponse
from multistore.core.s3.upload_body import iter_committing, verify_empty
from multistore.core.s3.xml import xml_text

logger = logging.getLogger("multistore.azure")

KEY_META = "multistore_key"
MIN_PART_SIZE = 5 << 20  # S3's minimum for every part but the last
MAX_REMEMBERED = 4096
MAX_UPLOAD_PAGES = 20  # pages of 5000 markers ListMultipartUploads reads at most
_MAX_CONTROL_BODY = 16 << 20


@dataclass(frozen=True, slots=True)
class Upload:
    key: str
    initiated: datetime
    write_headers: Mapping[str, str]


class _Wire(Protocol):
    async def send(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        body: OutboundBody = None,
    ) -> TransportResponse: ...

    async def raise_for_status(self, response: TransportResponse, key: str | None) -> None: ...

    async def check_write(
        self, response: TransportResponse, key: str, client_headers: Headers
    ) -> None: ...

    def blob_path(self, key: str) -> str: ...

    def container_path(self) -> str: ...


def block_id(upload_id: str, part_number: int) -> str:
    return base64.b64encode(f"{upload_id}-{part_number:05d}".encode()).decode()


def part_of_block(upload_id: str, encoded_id: str) -> int | None:
    """The part number of a block of ``upload_id``; ``None`` for another upload's block."""
    try:
        raw = base64.b64decode(encoded_id, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    owner, _, number = raw.rpartition("-")
    if owner != upload_id or not number.isdigit():
        return None
    return int(number)


def part_etag(upload_id: str, part_number: int, size: int) -> str:
    digest = hashlib.md5(f"{upload_id}:{part_number}:{size}".encode(), usedforsecurity=False)
    return f'"{digest.hexdigest()}"'


def _marker(upload_id: str) -> str:
    return RESERVED_PREFIX + upload_id


def valid_upload_id(upload_id: str) -> bool:
    return len(upload_id) == 32 and all(c in "0123456789abcdef" for c in upload_id)


def _http_date(value: str) -> datetime:
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return datetime.now(UTC)


class AzureUploads(_Wire):
    """Mixed into :class:`AzureBackend`, which provides the wire."""

    def __init__(self, completions: CompletionRecords) -> None:
        self._uploads: OrderedDict[str, Upload] = OrderedDict()
        self._completions = completions

    def _remember(self, upload_id: str, upload: Upload) -> None:
        self._uploads[upload_id] = upload
        self._uploads.move_to_end(upload_id)
        while len(self._uploads) > MAX_REMEMBERED:
            self._uploads.popitem(last=False)

    async def _upload(self, key: str, upload_id: str) -> Upload:
        """The upload ``upload_id`` of exactly ``key``, or ``NoSuchUpload``."""
        if not valid_upload_id(upload_id):
            raise NoSuchUpload()
        known = self._uploads.get(upload_id)
        if known is None:
            response = await self.send("HEAD", self.blob_path(_marker(upload_id)))
            if response.status == 404:
                await response.release()
                raise NoSuchUpload()
            await self.raise_for_status(response, None)
            await response.release()
            encoded = response.headers.get(f"x-ms-meta-{KEY_META}", "")
            try:
                stored_key = base64.urlsafe_b64decode(encoded).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise BadGateway("an upload marker without a readable key") from None
            known = Upload(
                stored_key,
                _http_date(response.headers.get("last-modified", "")),
                stored_write_headers(response.headers),
            )
            self._remember(upload_id, known)
        if known.key != key:
            raise NoSuchUpload()
        return known

    async def create_multipart_upload(self, request: ObjectRequest) -> str:
        refuse_reserved(request.key)
        upload_id = secrets.token_hex(16)
        headers = object_write_headers(request.headers)
        headers[f"x-ms-meta-{KEY_META}"] = base64.urlsafe_b64encode(request.key.encode()).decode()
        headers["x-ms-blob-type"] = "BlockBlob"
        headers["if-none-match"] = "*"
        response = await self.send("PUT", self.blob_path(_marker(upload_id)), headers=headers)
        await self.raise_for_status(response, request.key)
        await response.release()
        written = CIMultiDict(
            (name.removeprefix("x-ms-blob-") if name.startswith("x-ms-blob-c") else name, value)
            for name, value in headers.items()
        )
        self._remember(
            upload_id,
            Upload(request.key, datetime.now(UTC), stored_write_headers(written)),
        )
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
        refuse_oversized(content_length)
        await self._upload(request.key, upload_id)
        if not content_length:
            await verify_empty(body)
        headers = {"content-length": str(content_length)}
        md5 = request.headers.get("content-md5")
        if md5:
            headers["content-md5"] = md5
        response = await self.send(
            "PUT",
            self.blob_path(request.key),
            query=[("comp", "block"), ("blockid", block_id(upload_id, part_number))],
            headers=headers,
            body=iter_committing(body) if content_length else b"",
        )
        await self.raise_for_status(response, request.key)
        await response.release()
        return WriteResult(etag=part_etag(upload_id, part_number, content_length))

    async def _staged_parts(self, key: str, upload_id: str) -> dict[int, int]:
        """Part number → size of the blocks staged for ``upload_id``."""
        response = await self.send(
            "GET",
            self.blob_path(key),
            query=[("comp", "blocklist"), ("blocklisttype", "uncommitted")],
        )
        if response.status == 404:
            await response.release()
            return {}
        await self.raise_for_status(response, key)
        parts: dict[int, int] = {}
        for block in _blocks(await read_backend_body(response, _MAX_CONTROL_BODY), "Uncommitted"):
            number = part_of_block(upload_id, xml_text(block.get("Name")))
            if number is not None:
                parts[number] = int(xml_text(block.get("Size")) or 0)
        return parts

    async def committed_block_sizes(self, key: str) -> list[int]:
        """The sizes of a blob's committed blocks, in order (its parts, if multipart)."""
        response = await self.send(
            "GET",
            self.blob_path(key),
            query=[("comp", "blocklist"), ("blocklisttype", "committed")],
        )
        await self.raise_for_status(response, key)
        blocks = _blocks(await read_backend_body(response, _MAX_CONTROL_BODY), "Committed")
        return [int(xml_text(block.get("Size")) or 0) for block in blocks]

    async def complete_multipart_upload(
        self, request: ObjectRequest, upload_id: str, parts: list[CompletedPart]
    ) -> WriteResult:
        # A retry of a Complete whose answer was lost gets that answer again, as on S3.
        if valid_upload_id(upload_id):
            repeat = await self._completions.repeat(upload_id, request.key, parts)
            if repeat is not None:
                return repeat
        # Asked afresh, not from this worker's memory: another worker may have completed or
        # aborted the upload since.
        self._uploads.pop(upload_id, None)
        upload = await self._upload(request.key, upload_id)
        numbers = [part.part_number for part in parts]
        if numbers != sorted(set(numbers)):
            raise InvalidPartOrder()
        staged = await self._staged_parts(request.key, upload_id)
        for index, part in enumerate(parts):
            size = staged.get(part.part_number)
            if size is None or part.etag.strip('"') != part_etag(
                upload_id, part.part_number, size
            ).strip('"'):
                raise InvalidPart()
            if size < MIN_PART_SIZE and index + 1 < len(parts):
                raise EntityTooSmall()
        body = (
            '<?xml version="1.0" encoding="utf-8"?><BlockList>'
            + "".join(
                f"<Uncommitted>{escape(block_id(upload_id, n))}</Uncommitted>" for n in numbers
            )
            + "</BlockList>"
        ).encode()
        headers = dict(upload.write_headers)
        headers[f"x-ms-meta-{PARTS_META}"] = str(len(parts))
        # The object's checksum as the client states it on Complete (each part's own was
        # verified when it was uploaded); S3 clients read it back with x-amz-checksum-mode.
        checksums = {
            f"x-amz-checksum-{name}": request.headers[f"x-amz-checksum-{name}"]
            for name in CHECKSUM_ALGORITHMS
            if f"x-amz-checksum-{name}" in request.headers
        }
        headers.update(
            (f"x-ms-meta-{CHECKSUM_META}{name[15:]}", value) for name, value in checksums.items()
        )
        headers.update(write_conditions(request.headers))
        response = await self.send(
            "PUT",
            self.blob_path(request.key),
            query=[("comp", "blocklist")],
            headers=headers,
            body=body,
        )
        await self.check_write(response, request.key, request.headers)
        await response.release()
        result = WriteResult(
            etag=s3_etag(response.headers.get("ETag", ""), str(len(parts))),
            headers=checksums,
            last_modified=_http_date(response.headers.get("last-modified", "")),
        )
        try:
            await self._completions.record(upload_id, request.key, parts, result)
        except S3Error as error:
            # The object is complete; only a retried Complete would miss the record.
            logger.warning("could not record completed upload %s: %s", upload_id, error.message)
        await self.drop_marker(upload_id)
        return result

    async def drop_marker(self, upload_id: str) -> bool:
        """Delete the upload's marker; ``False`` if it was gone already."""
        self._uploads.pop(upload_id, None)
        response = await self.send("DELETE", self.blob_path(_marker(upload_id)))
        if response.status != 404:
            await self.raise_for_status(response, None)
        await response.release()
        return response.status != 404

    async def abort_multipart_upload(self, request: ObjectRequest, upload_id: str) -> None:
        await self._upload(request.key, upload_id)
        await self.drop_marker(upload_id)

    async def list_parts(
        self, request: ObjectRequest, upload_id: str, *, max_parts: int, part_number_marker: int
    ) -> PartsPage:
        # Asked afresh: another worker (or the housekeeping) may have removed the upload.
        self._uploads.pop(upload_id, None)
        upload = await self._upload(request.key, upload_id)
        staged = sorted(
            (n, s) for n, s in (await self._staged_parts(request.key, upload_id)).items()
        )
        after = [(n, s) for n, s in staged if n > part_number_marker]
        shown = after[:max_parts]
        page = PartsPage(
            parts=[
                PartInfo(
                    part_number=n,
                    etag=part_etag(upload_id, n, s),
                    size=s,
                    last_modified=upload.initiated,
                )
                for n, s in shown
            ]
        )
        if len(after) > len(shown) and shown:
            page.next_part_number_marker = shown[-1][0]
        return page

    async def list_multipart_uploads(self, request: ListUploadsRequest) -> UploadsPage:
        found: list[tuple[str, str, datetime]] = []
        marker = ""
        for _ in range(MAX_UPLOAD_PAGES):
            query = [
                ("restype", "container"),
                ("comp", "list"),
                ("prefix", RESERVED_PREFIX),
                ("delimiter", "/"),  # completion records sit one level down (completions.py)
                ("include", "metadata"),
                ("maxresults", "5000"),
            ]
            if marker:
                query.append(("marker", marker))
            response = await self.send("GET", self.container_path(), query=query)
            await self.raise_for_status(response, None)
            blobs, _, next_marker = parse_blobs(
                await read_backend_body(response, _MAX_CONTROL_BODY)
            )
            for blob in blobs:
                upload = _listed_upload(blob)
                if upload is not None and upload[0].startswith(request.prefix):
                    found.append(upload)
            if next_marker is None:
                break
            marker = next_marker
        found.sort(key=lambda u: (u[0].encode(), u[2], u[1]))
        if request.key_marker:
            key_marker = request.key_marker.encode()
            found = [
                u
                for u in found
                if u[0].encode() > key_marker
                or (
                    u[0] == request.key_marker
                    and request.upload_id_marker is not None
                    and u[1] > request.upload_id_marker
                )
            ]
        page = UploadsPage()
        seen_prefixes: set[str] = set()
        count = 0
        for key, upload_id, initiated in found:
            if count >= request.max_uploads:
                page.next_key_marker = page.uploads[-1].key if page.uploads else key
                page.next_upload_id_marker = page.uploads[-1].upload_id if page.uploads else None
                break
            if request.delimiter:
                rest = key[len(request.prefix) :]
                cut = rest.find(request.delimiter)
                if cut >= 0:
                    common = request.prefix + rest[: cut + len(request.delimiter)]
                    if common not in seen_prefixes:
                        seen_prefixes.add(common)
                        page.common_prefixes.append(common)
                        count += 1
                    continue
            page.uploads.append(UploadInfo(key=key, upload_id=upload_id, initiated=initiated))
            count += 1
        return page


def _listed_upload(blob: dict[str, Any]) -> tuple[str, str, datetime] | None:
    upload_id = blob_name(blob.get("Name"))[len(RESERVED_PREFIX) :]
    metadata = blob.get("Metadata") or {}
    encoded = xml_text(metadata.get(KEY_META)) if isinstance(metadata, dict) else ""
    if not valid_upload_id(upload_id) or not encoded:
        return None
    try:
        key = base64.urlsafe_b64decode(encoded).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    properties = blob.get("Properties") or {}
    created = xml_text(properties.get("Creation-Time")) or xml_text(properties.get("Last-Modified"))
    return key, upload_id, _http_date(created)


def _blocks(body: bytes, kind: str) -> list[dict[str, Any]]:
    try:
        doc = xmltodict.parse(body, disable_entities=True, force_list=("Block",))
    except Exception as exc:
        raise BadGateway(f"unparseable block list from azure: {exc}") from exc
    block_list = doc.get("BlockList") or {}
    section = block_list.get(f"{kind}Blocks") or {}
    return list(section.get("Block") or []) if isinstance(section, dict) else []
