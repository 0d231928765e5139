"""GCS object resources in S3 terms: ETag, Last-Modified, content headers, user metadata.

S3's ``x-amz-meta-<name>`` headers are GCS custom metadata ``<name>`` (lower-cased, as S3
does). A few custom-metadata names are the gateway's own bookkeeping and never shown as
user metadata: the S3 ETag of a multipart object (GCS composite objects have no MD5) and the
``Expires`` header, which GCS has no field for.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from multidict import CIMultiDict

from multistore.core.http import Headers
from multistore.core.s3.xml import http_date

ETAG_METADATA = "x-multistore-etag"
EXPIRES_METADATA = "x-multistore-expires"
PARTS_METADATA = "x-multistore-parts"
RESERVED_METADATA = frozenset({ETAG_METADATA, EXPIRES_METADATA, PARTS_METADATA})
# GCS allows 8 KiB of custom metadata in all; part sizes longer than this are not recorded
# (``?partNumber`` reads then see one part, which is slower for a downloader but right).
MAX_PARTS_RECORD = 1024
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
_EPOCH = datetime.fromtimestamp(0, UTC)

# S3 request header ↔ GCS object resource field.
CONTENT_FIELDS = (
    ("content-type", "contentType"),
    ("content-disposition", "contentDisposition"),
    ("content-encoding", "contentEncoding"),
    ("content-language", "contentLanguage"),
    ("cache-control", "cacheControl"),
)
RESPONSE_OVERRIDES = (
    ("response-content-type", "Content-Type"),
    ("response-content-disposition", "Content-Disposition"),
    ("response-cache-control", "Cache-Control"),
    ("response-content-encoding", "Content-Encoding"),
    ("response-content-language", "Content-Language"),
    ("response-expires", "Expires"),
)
_SHOWN_FIELDS = (
    ("contentType", "Content-Type"),
    ("contentDisposition", "Content-Disposition"),
    ("contentEncoding", "Content-Encoding"),
    ("contentLanguage", "Content-Language"),
    ("cacheControl", "Cache-Control"),
)


def resource_from_headers(headers: Headers | Mapping[str, str]) -> dict[str, Any]:
    """The object resource (metadata) a PutObject or CreateMultipartUpload describes."""
    resource: dict[str, Any] = {}
    for header, field in CONTENT_FIELDS:
        value = headers.get(header)
        if value:
            resource[field] = value
    resource.setdefault("contentType", DEFAULT_CONTENT_TYPE)
    metadata: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("x-amz-meta-"):
            metadata[lower[len("x-amz-meta-") :]] = value
    expires = headers.get("expires")
    if expires:
        metadata[EXPIRES_METADATA] = expires
    if metadata:
        resource["metadata"] = metadata
    return resource


def copyable_resource(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The content fields and user metadata of ``resource`` (what a copy keeps)."""
    kept = {field: resource[field] for _, field in CONTENT_FIELDS if resource.get(field)}
    metadata = {
        name: value
        for name, value in (resource.get("metadata") or {}).items()
        if name not in (ETAG_METADATA, PARTS_METADATA)
    }
    if metadata:
        kept["metadata"] = metadata
    return kept


def s3_etag(resource: Mapping[str, Any]) -> str:
    """The quoted S3 ETag: the MD5 in hex, or the multipart ETag the gateway recorded."""
    recorded = (resource.get("metadata") or {}).get(ETAG_METADATA)
    if recorded:
        return f'"{recorded}"'
    md5 = resource.get("md5Hash")
    if md5:
        try:
            return f'"{base64.b64decode(md5).hex()}"'
        except (binascii.Error, ValueError):
            pass
    # A composite object written by someone else: no MD5, but the generation identifies
    # this exact content.
    return f'"{resource.get("generation", "")}"'


def md5_hex(resource: Mapping[str, Any]) -> str:
    return s3_etag(resource).strip('"')


def last_modified(resource: Mapping[str, Any]) -> datetime:
    value = str(resource.get("updated") or resource.get("timeCreated") or "")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return _EPOCH


def object_size(resource: Mapping[str, Any]) -> int:
    try:
        return int(resource.get("size") or 0)
    except (TypeError, ValueError):
        return 0


def generation(resource: Mapping[str, Any]) -> str:
    return str(resource.get("generation") or "")


def s3_headers(resource: Mapping[str, Any], query: Mapping[str, str]) -> CIMultiDict[str]:
    """The object headers of a GET/HEAD answer, with the client's ``response-*`` overrides."""
    headers: CIMultiDict[str] = CIMultiDict()
    for field, header in _SHOWN_FIELDS:
        value = resource.get(field)
        if value:
            headers[header] = str(value)
    headers.setdefault("Content-Type", DEFAULT_CONTENT_TYPE)
    metadata = resource.get("metadata") or {}
    for name, value in metadata.items():
        if name == EXPIRES_METADATA:
            headers["Expires"] = str(value)
        elif name not in RESERVED_METADATA and value is not None:
            headers[f"x-amz-meta-{name}"] = str(value)
    for parameter, header in RESPONSE_OVERRIDES:
        if parameter in query:
            headers[header] = query[parameter]
    headers["ETag"] = s3_etag(resource)
    headers["Last-Modified"] = http_date(last_modified(resource))
    headers["Accept-Ranges"] = "bytes"
    return headers


def encode_part_sizes(sizes: list[int]) -> str | None:
    """Part sizes as runs (``8388608*7,1234``): uniform parts, the usual case, stay short."""
    runs: list[list[int]] = []
    for size in sizes:
        if runs and runs[-1][0] == size:
            runs[-1][1] += 1
        else:
            runs.append([size, 1])
    text = ",".join(f"{size}*{count}" for size, count in runs)
    return text if len(text) <= MAX_PARTS_RECORD else None


def part_sizes(resource: Mapping[str, Any]) -> list[int]:
    text = str((resource.get("metadata") or {}).get(PARTS_METADATA) or "")
    sizes: list[int] = []
    try:
        for run in filter(None, text.split(",")):
            size, _, count = run.partition("*")
            sizes.extend([int(size)] * int(count))
    except ValueError:
        return []
    return sizes
