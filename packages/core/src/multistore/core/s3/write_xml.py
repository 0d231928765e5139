"""XML of the write paths: multipart documents, DeleteObjects, CopyObject results.

Every document names the client-visible bucket and key, never the backend's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from multistore.core.backends.base import CompletedPart, PartsPage, UploadsPage
from multistore.core.errors import InvalidArgument, MalformedXML
from multistore.core.s3.conditions import DeleteConditions, parse_http_date
from multistore.core.s3.xml import (
    XmlWriter,
    element,
    format_timestamp,
    parse_timestamp,
    parse_xml_body,
    xml_text,
)

MAX_DELETE_KEYS = 1000
CHECKSUM_ELEMENTS = (
    "ChecksumCRC32",
    "ChecksumCRC32C",
    "ChecksumCRC64NVME",
    "ChecksumSHA1",
    "ChecksumSHA256",
)


def _root(doc: dict[str, Any], name: str) -> dict[str, Any]:
    root = doc.get(name)
    if root is None:
        raise MalformedXML(f"expected a <{name}> document")
    if not isinstance(root, dict):
        root = {}
    return root


def parse_complete_multipart(body: bytes) -> list[CompletedPart]:
    root = _root(parse_xml_body(body, force_list=("Part",)), "CompleteMultipartUpload")
    parts: list[CompletedPart] = []
    for part in root.get("Part") or ():
        if not isinstance(part, dict):
            raise MalformedXML("every <Part> needs a PartNumber and an ETag")
        number, etag = xml_text(part.get("PartNumber")), xml_text(part.get("ETag"))
        if not number.isdigit() or not etag:
            raise MalformedXML("every <Part> needs a PartNumber and an ETag")
        checksums = {name: xml_text(part[name]) for name in CHECKSUM_ELEMENTS if part.get(name)}
        parts.append(CompletedPart(int(number), etag, checksums))
    if not parts:
        raise MalformedXML("CompleteMultipartUpload names no parts")
    return parts


@dataclass(frozen=True, slots=True)
class DeleteRequest:
    keys: list[str]
    quiet: bool
    # One per key: the object's <ETag>/<LastModifiedTime>/<Size> conditions.
    conditions: list[DeleteConditions] = field(default_factory=list)


def parse_delete(body: bytes) -> DeleteRequest:
    root = _root(parse_xml_body(body, force_list=("Object",)), "Delete")
    objects = root.get("Object") or []
    if not objects:
        raise MalformedXML("a Delete request must name at least one object")
    if len(objects) > MAX_DELETE_KEYS:
        raise MalformedXML(f"a Delete request may name at most {MAX_DELETE_KEYS} objects")
    keys = []
    conditions = []
    for obj in objects:
        key = xml_text(obj.get("Key")) if isinstance(obj, dict) else ""
        if not key:
            raise MalformedXML("every <Object> needs a non-empty <Key>")
        keys.append(key)
        conditions.append(_object_conditions(obj))
    quiet = xml_text(root.get("Quiet")).strip().lower()
    if quiet not in ("", "true", "false"):
        raise MalformedXML("<Quiet> must be true or false")
    return DeleteRequest(keys, quiet == "true", conditions)


def _object_conditions(obj: dict[str, Any]) -> DeleteConditions:
    etag = xml_text(obj.get("ETag")) or None
    # S3's model says RFC 822 (what botocore sends); ISO 8601 as in listings is taken too.
    raw_time = xml_text(obj.get("LastModifiedTime")).strip()
    last_modified = (parse_http_date(raw_time) or parse_timestamp(raw_time)) if raw_time else None
    if raw_time and last_modified is None:
        raise MalformedXML("<LastModifiedTime> must be an HTTP date or an ISO 8601 timestamp")
    raw_size = xml_text(obj.get("Size")).strip()
    if raw_size and not (raw_size.isascii() and raw_size.isdigit()):
        raise MalformedXML("<Size> must be a non-negative integer")
    return DeleteConditions(etag, last_modified, int(raw_size) if raw_size else None)


@dataclass(frozen=True, slots=True)
class DeleteResultEntry:
    key: str
    code: str | None = None
    message: str | None = None


def render_delete_result(entries: list[DeleteResultEntry], *, quiet: bool) -> bytes:
    xml = XmlWriter("DeleteResult")
    for entry in entries:
        if entry.code is None and not quiet:
            xml.raw(f"<Deleted>{element('Key', entry.key)}</Deleted>")
    for entry in entries:
        if entry.code is not None:
            xml.raw(
                f"<Error>{element('Key', entry.key)}{element('Code', entry.code)}"
                f"{element('Message', entry.message or entry.code)}</Error>"
            )
    return xml.finish()


def render_initiate(bucket: str, key: str, upload_id: str) -> bytes:
    xml = XmlWriter("InitiateMultipartUploadResult")
    xml.element("Bucket", bucket)
    xml.element("Key", key)
    xml.element("UploadId", upload_id)
    return xml.finish()


def render_complete(
    bucket: str, key: str, etag: str, location: str, extra: Mapping[str, str]
) -> bytes:
    xml = XmlWriter("CompleteMultipartUploadResult")
    xml.element("Location", location)
    xml.element("Bucket", bucket)
    xml.element("Key", key)
    xml.element("ETag", etag)
    for name in CHECKSUM_ELEMENTS:
        header = "x-amz-checksum-" + name.removeprefix("Checksum").lower()
        if header in extra:
            xml.element(name, extra[header])
    return xml.finish()


def render_copy_result(tag: str, etag: str, last_modified: datetime) -> bytes:
    xml = XmlWriter(tag)
    xml.element("LastModified", format_timestamp(last_modified))
    xml.element("ETag", etag)
    return xml.finish()


def render_list_parts(
    bucket: str,
    key: str,
    upload_id: str,
    page: PartsPage,
    *,
    max_parts: int,
    part_number_marker: int,
) -> bytes:
    xml = XmlWriter("ListPartsResult")
    xml.element("Bucket", bucket)
    xml.element("Key", key)
    xml.element("UploadId", upload_id)
    xml.element("PartNumberMarker", part_number_marker)
    if page.next_part_number_marker is not None:
        xml.element("NextPartNumberMarker", page.next_part_number_marker)
    xml.element("MaxParts", max_parts)
    xml.element("IsTruncated", page.next_part_number_marker is not None)
    xml.element("StorageClass", page.storage_class)
    if page.checksum_algorithm:
        xml.element("ChecksumAlgorithm", page.checksum_algorithm)
    for part in page.parts:
        xml.start("Part")
        xml.element("PartNumber", part.part_number)
        xml.element("LastModified", format_timestamp(part.last_modified))
        xml.element("ETag", part.etag)
        xml.element("Size", part.size)
        for name, value in part.checksums.items():
            xml.element(name, value)
        xml.end()
    return xml.finish()


def render_list_uploads(
    bucket: str,
    page: UploadsPage,
    *,
    prefix: str,
    delimiter: str,
    key_marker: str,
    upload_id_marker: str,
    max_uploads: int,
    client_key: Any,
) -> bytes:
    """``client_key`` maps a backend key to the key the client sees."""
    xml = XmlWriter("ListMultipartUploadsResult")
    xml.element("Bucket", bucket)
    xml.element("KeyMarker", key_marker)
    xml.element("UploadIdMarker", upload_id_marker)
    if page.next_key_marker is not None:
        xml.element("NextKeyMarker", client_key(page.next_key_marker))
        xml.element("NextUploadIdMarker", page.next_upload_id_marker or "")
    if delimiter:
        xml.element("Delimiter", delimiter)
    xml.element("Prefix", prefix)
    xml.element("MaxUploads", max_uploads)
    xml.element("IsTruncated", page.next_key_marker is not None)
    for upload in page.uploads:
        xml.start("Upload")
        xml.element("Key", client_key(upload.key))
        xml.element("UploadId", upload.upload_id)
        xml.element("Initiated", format_timestamp(upload.initiated))
        xml.element("StorageClass", upload.storage_class)
        xml.end()
    for common in page.common_prefixes:
        xml.raw(f"<CommonPrefixes>{element('Prefix', client_key(common))}</CommonPrefixes>")
    return xml.finish()


def parse_bounded_int(raw: str | None, *, name: str, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise InvalidArgument(f"{name} must be a non-negative integer")
    return min(int(raw), maximum)
