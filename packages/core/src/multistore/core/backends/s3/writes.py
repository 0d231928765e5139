"""The ``s3`` backend's write paths beyond PutObject: multipart, copy, batch delete.

Control requests (create, complete, batch delete) carry small XML bodies that are signed with
their SHA-256; parts stream with ``UNSIGNED-PAYLOAD``. Checksum headers always reach the
backend, because completing an upload that the SDK started with CRC32 checksums fails with
``InvalidPart`` when they are dropped (upstream #93).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol
from xml.sax.saxutils import escape

import xmltodict

from multistore.core.auth.canonical import EMPTY_SHA256
from multistore.core.backends.base import (
    CompletedPart,
    DeleteOutcome,
    ListUploadsRequest,
    ObjectRequest,
    PartInfo,
    PartsPage,
    ProxyBackend,
    UploadInfo,
    UploadsPage,
    WriteResult,
)
from multistore.core.backends.headers import (
    WRITE_REQUEST_HEADERS,
    WRITE_REQUEST_PREFIXES,
    filter_response_headers,
    pick_headers,
)
from multistore.core.backends.s3.upload_binding import UploadBindings
from multistore.core.errors import (
    BadGateway,
    EntityTooLarge,
    MissingContentLength,
    backend_client_error,
)
from multistore.core.http import OutboundBody, RequestBody, TransportError, TransportResponse
from multistore.core.s3.keys import encode_wire_path
from multistore.core.s3.upload_body import iter_committing, verify_empty
from multistore.core.s3.xml import parse_timestamp, xml_text

MAX_CONTROL_RESPONSE = 4 << 20
# S3 stores at most 5 GiB in one PutObject or UploadPart. A larger declared body is refused
# before it is read, instead of streaming gigabytes towards a certain failure.
MAX_SINGLE_UPLOAD = 5 << 30
_PART_HEADERS = ("content-md5", "x-amz-sdk-checksum-algorithm")
_CHECKSUM_PREFIX = ("x-amz-checksum-",)
_COPY_HEADERS = (
    "x-amz-metadata-directive",
    "x-amz-tagging-directive",
    "x-amz-copy-source-if-match",
    "x-amz-copy-source-if-none-match",
    "x-amz-copy-source-if-modified-since",
    "x-amz-copy-source-if-unmodified-since",
    "if-match",
    "if-none-match",
)
_CONDITIONAL = ("if-match", "if-none-match")


def _timestamp(value: str) -> datetime:
    return parse_timestamp(value) or datetime.now(UTC)


def _checksums(node: Mapping[str, Any]) -> dict[str, str]:
    return {k: xml_text(v) for k, v in node.items() if k.startswith("Checksum") and xml_text(v)}


class S3Wire(Protocol):
    """What the write paths need from the backend that hosts them (:class:`S3Backend`)."""

    bucket_name: str
    endpoint: str
    region: str
    upload_bindings: UploadBindings

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: OutboundBody = None,
        payload_hash: str = ...,
    ) -> TransportResponse: ...

    async def raise_for_status(self, response: TransportResponse, key: str | None) -> None: ...

    def object_path(self, key: str) -> str: ...

    def bucket_path(self) -> str: ...


class S3WritePaths(S3Wire):
    """Mixed into :class:`S3Backend`, which provides the :class:`S3Wire` members."""

    async def _control(
        self,
        method: str,
        path: str,
        *,
        key: str | None,
        query: list[tuple[str, str]],
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> dict[str, Any]:
        """Send a small signed request and parse its XML answer (which may be an error)."""
        out = dict(headers or {})
        out["content-length"] = str(len(body))
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        response = await self.send(
            method, path, query=query, headers=out, body=body, payload_hash=payload
        )
        await self.raise_for_status(response, key)
        return await _read_document(response, self.bucket_name)

    # --- multipart ---------------------------------------------------------------------------

    async def create_multipart_upload(self, request: ObjectRequest) -> str:
        headers = pick_headers(request.headers, WRITE_REQUEST_HEADERS, WRITE_REQUEST_PREFIXES)
        for name in (*_CONDITIONAL, "content-md5"):
            headers.pop(name, None)
        doc = await self._control(
            "POST",
            self.object_path(request.key),
            key=request.key,
            query=[("uploads", "")],
            headers=headers,
        )
        upload_id = xml_text(doc.get("UploadId"))
        if not upload_id:
            raise BadGateway("backend answered CreateMultipartUpload without an UploadId")
        self.upload_bindings.remember(upload_id, request.key)
        return upload_id

    async def _check_upload(self, key: str, upload_id: str) -> None:
        """The upload must belong to ``key``: the call was authorized for that key only."""
        await self.upload_bindings.check(self, key, upload_id)

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
        await self._check_upload(request.key, upload_id)
        if not content_length:
            await verify_empty(body)
        headers = pick_headers(request.headers, _PART_HEADERS, _CHECKSUM_PREFIX)
        if "x-amz-sdk-checksum-algorithm" in headers and not any(
            name.startswith("x-amz-checksum-") for name in headers
        ):
            headers.pop("x-amz-sdk-checksum-algorithm")
        headers["content-length"] = str(content_length)
        response = await self.send(
            "PUT",
            self.object_path(request.key),
            query=[("partNumber", str(part_number)), ("uploadId", upload_id)],
            headers=headers,
            body=iter_committing(body) if content_length else b"",
        )
        await self.raise_for_status(response, request.key)
        result = filter_response_headers(response.headers)
        await response.release()
        return WriteResult(etag=result.get("ETag", ""), headers=dict(result))

    async def complete_multipart_upload(
        self, request: ObjectRequest, upload_id: str, parts: list[CompletedPart]
    ) -> WriteResult:
        await self._check_upload(request.key, upload_id)
        body = _complete_body(parts)
        headers = pick_headers(request.headers, _CONDITIONAL, _CHECKSUM_PREFIX)
        headers.update(
            {
                "content-type": "application/xml",
                "content-md5": base64.b64encode(hashlib.md5(body).digest()).decode(),
            }
        )
        doc = await self._control(
            "POST",
            self.object_path(request.key),
            key=request.key,
            query=[("uploadId", upload_id)],
            headers=headers,
            body=body,
        )
        # The binding stays: a retried Complete (its answer was lost) must reach the store,
        # which answers it like the first; the store no longer lists the upload to confirm it.
        result = doc
        etag = xml_text(result.get("ETag"))
        extra = {
            "x-amz-checksum-" + name.removeprefix("Checksum").lower(): value
            for name, value in _checksums(result).items()
            if name != "ChecksumType"
        }
        return WriteResult(etag=etag, headers=extra)

    async def abort_multipart_upload(self, request: ObjectRequest, upload_id: str) -> None:
        await self._check_upload(request.key, upload_id)
        response = await self.send(
            "DELETE",
            self.object_path(request.key),
            query=[("uploadId", upload_id)],
            payload_hash=EMPTY_SHA256,
        )
        await self.raise_for_status(response, request.key)
        await response.release()
        self.upload_bindings.forget(upload_id)

    async def list_parts(
        self, request: ObjectRequest, upload_id: str, *, max_parts: int, part_number_marker: int
    ) -> PartsPage:
        await self._check_upload(request.key, upload_id)
        query = [("uploadId", upload_id), ("max-parts", str(max_parts))]
        if part_number_marker:
            query.append(("part-number-marker", str(part_number_marker)))
        doc = await self._control(
            "GET", self.object_path(request.key), key=request.key, query=query
        )
        result = doc
        parts = result.get("Part") or []
        page = PartsPage(
            parts=[
                PartInfo(
                    part_number=int(xml_text(p.get("PartNumber")) or 0),
                    etag=xml_text(p.get("ETag")),
                    size=int(xml_text(p.get("Size")) or 0),
                    last_modified=_timestamp(xml_text(p.get("LastModified"))),
                    checksums=_checksums(p),
                )
                for p in parts
            ],
            storage_class=xml_text(result.get("StorageClass")) or "STANDARD",
            checksum_algorithm=xml_text(result.get("ChecksumAlgorithm")) or None,
        )
        if xml_text(result.get("IsTruncated")).lower() == "true":
            page.next_part_number_marker = int(xml_text(result.get("NextPartNumberMarker")) or 0)
        return page

    async def list_multipart_uploads(self, request: ListUploadsRequest) -> UploadsPage:
        query = [("uploads", ""), ("max-uploads", str(request.max_uploads))]
        for name, value in (
            ("prefix", request.prefix),
            ("delimiter", request.delimiter),
            ("key-marker", request.key_marker),
            ("upload-id-marker", request.upload_id_marker),
        ):
            if value:
                query.append((name, value))
        doc = await self._control("GET", self.bucket_path(), key=None, query=query)
        result = doc
        page = UploadsPage(
            uploads=[
                UploadInfo(
                    key=xml_text(u.get("Key")),
                    upload_id=xml_text(u.get("UploadId")),
                    initiated=_timestamp(xml_text(u.get("Initiated"))),
                    storage_class=xml_text(u.get("StorageClass")) or "STANDARD",
                )
                for u in result.get("Upload") or []
            ],
            common_prefixes=[xml_text(c.get("Prefix")) for c in result.get("CommonPrefixes") or []],
        )
        if xml_text(result.get("IsTruncated")).lower() == "true":
            page.next_key_marker = xml_text(result.get("NextKeyMarker")) or None
            page.next_upload_id_marker = xml_text(result.get("NextUploadIdMarker")) or None
        return page

    # --- copy ----------------------------------------------------------------------------------

    def can_copy_from(self, source: ProxyBackend) -> bool:
        """Server-side copy needs both buckets on one endpoint and region (upstream §5.8)."""
        return (
            isinstance(source, S3WritePaths)
            and bool(source.bucket_name)
            and source.endpoint == self.endpoint
            and source.region == self.region
        )

    def _copy_source(self, source: ProxyBackend, key: str, version: str | None) -> str:
        bucket = getattr(source, "bucket_name", "")
        value = f"/{encode_wire_path(bucket)}/{encode_wire_path(key)}"
        return f"{value}?versionId={version}" if version else value

    async def copy_object(
        self,
        request: ObjectRequest,
        source: ProxyBackend,
        source_key: str,
        source_version: str | None,
    ) -> WriteResult:
        headers = pick_headers(request.headers, _COPY_HEADERS)
        if request.headers.get("x-amz-metadata-directive", "").upper() == "REPLACE":
            headers.update(
                pick_headers(request.headers, WRITE_REQUEST_HEADERS, WRITE_REQUEST_PREFIXES)
            )
        else:
            headers.update(pick_headers(request.headers, (), ("x-amz-server-side-encryption",)))
        headers.pop("content-md5", None)
        headers["x-amz-copy-source"] = self._copy_source(source, source_key, source_version)
        doc = await self._control(
            "PUT", self.object_path(request.key), key=request.key, query=[], headers=headers
        )
        result = doc
        return WriteResult(
            etag=xml_text(result.get("ETag")),
            headers={},
            last_modified=_timestamp(xml_text(result.get("LastModified"))),
        )

    async def upload_part_copy(
        self,
        request: ObjectRequest,
        upload_id: str,
        part_number: int,
        source: ProxyBackend,
        source_key: str,
        source_range: tuple[int, int] | None,
        *,
        source_version: str | None = None,
    ) -> WriteResult:
        await self._check_upload(request.key, upload_id)
        headers = pick_headers(request.headers, _COPY_HEADERS)
        headers["x-amz-copy-source"] = self._copy_source(source, source_key, source_version)
        if source_range is not None:
            headers["x-amz-copy-source-range"] = f"bytes={source_range[0]}-{source_range[1]}"
        doc = await self._control(
            "PUT",
            self.object_path(request.key),
            key=request.key,
            headers=headers,
            query=[("partNumber", str(part_number)), ("uploadId", upload_id)],
        )
        result = doc
        return WriteResult(
            etag=xml_text(result.get("ETag")),
            headers={},
            last_modified=_timestamp(xml_text(result.get("LastModified"))),
        )

    # --- batch delete ----------------------------------------------------------------------

    async def delete_objects(self, keys: list[str]) -> list[DeleteOutcome]:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Delete><Quiet>false</Quiet>'
            + "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
            + "</Delete>"
        ).encode()
        headers = {
            "content-type": "application/xml",
            "content-md5": base64.b64encode(hashlib.md5(body).digest()).decode(),
        }
        doc = await self._control(
            "POST", self.bucket_path(), key=None, query=[("delete", "")], headers=headers, body=body
        )
        result = doc
        errors = {
            xml_text(e.get("Key")): (xml_text(e.get("Code")), xml_text(e.get("Message")))
            for e in result.get("Error") or []
        }
        return [
            DeleteOutcome(key, *errors[key]) if key in errors else DeleteOutcome(key)
            for key in keys
        ]


def refuse_oversized(content_length: int) -> None:
    """``EntityTooLarge`` for a declared body over S3's single-request limit (5 GiB)."""
    if content_length > MAX_SINGLE_UPLOAD:
        raise EntityTooLarge(
            f"Your proposed upload of {content_length} bytes exceeds the maximum allowed "
            f"size of {MAX_SINGLE_UPLOAD} bytes for one PUT; use a multipart upload."
        )


def _complete_body(parts: list[CompletedPart]) -> bytes:
    pieces = ['<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload>']
    for part in parts:
        pieces.append(f"<Part><PartNumber>{part.part_number}</PartNumber>")
        pieces.append(f"<ETag>{escape(part.etag)}</ETag>")
        pieces.extend(f"<{n}>{escape(v)}</{n}>" for n, v in part.checksums.items())
        pieces.append("</Part>")
    pieces.append("</CompleteMultipartUpload>")
    return "".join(pieces).encode()


async def read_backend_body(response: TransportResponse, limit: int) -> bytes:
    """A small backend answer, read whole; a failure to read it is the backend's fault."""
    try:
        return await response.read(limit)
    except TransportError as exc:
        raise BadGateway(f"could not read the backend's answer: {exc}") from exc
    finally:
        await response.release()


async def _read_document(response: TransportResponse, backend_bucket: str) -> dict[str, Any]:
    raw = await read_backend_body(response, MAX_CONTROL_RESPONSE)
    if not raw.strip():
        return {}
    try:
        doc = xmltodict.parse(
            raw,
            disable_entities=True,
            force_list=("Part", "Upload", "CommonPrefixes", "Error", "Deleted"),
        )
    except Exception as exc:
        raise BadGateway(f"unparseable backend answer: {exc}") from exc
    if not isinstance(doc, dict):
        raise BadGateway("unparseable backend answer")
    # CompleteMultipartUpload and CopyObject may fail *after* a 200 status line.
    errors = doc.get("Error")
    if errors:
        error = errors[0] if isinstance(errors, list) else errors
        code, message = xml_text(error.get("Code")), xml_text(error.get("Message"))
        if code in ("InternalError", "SlowDown", "ServiceUnavailable"):
            raise BadGateway(f"backend failed after 200: {code} {message}")
        scrubbed = message.replace(backend_bucket, "<bucket>") if backend_bucket else message
        raise backend_client_error(code or "InternalError", 400, scrubbed)
    # The root element's name varies between S3 implementations (moto answers ListParts
    # with ListPartsResponse); the document has exactly one root, so take its content.
    root = next(iter(doc.values()), None)
    return root if isinstance(root, dict) else {}
