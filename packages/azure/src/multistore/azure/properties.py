"""S3 object headers ↔ Azure blob properties and metadata, and S3 ETags ↔ Azure ETags.

Azure metadata names must be C# identifiers (letters, digits, ``_``), while S3 metadata
names may hold ``-`` and more. A name Azure takes as it is goes through unchanged; any other
is stored as ``multistore_n_<hex of its UTF-8>`` and decoded on the way back, so
``x-amz-meta-my-key`` round-trips. Names starting with ``multistore_`` are the backend's own:
the number of parts of a multipart object and S3's ``Expires`` (Azure has no such property).

ETags: a simple blob's S3 ETag is Azure's own. A multipart object's is Azure's ETag with
``-N`` appended (N parts, kept in metadata), which is how S3 clients recognise a multipart
ETag. On the way in (``If-Match``/``If-None-Match``) the suffix is removed again, so the
store itself evaluates the condition, atomically with the read or write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from multidict import CIMultiDict, MultiMapping

RESERVED_META = "multistore_"
PARTS_META = "multistore_parts"
EXPIRES_META = "multistore_expires"
# ``multistore_checksum_<algorithm>``: the object's x-amz-checksum-* as the client gave it.
CHECKSUM_META = "multistore_checksum_"
_ENCODED_META = "multistore_n_"
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*", re.ASCII)
_MULTIPART_SUFFIX = re.compile(r"-[0-9]{1,5}$")
_ENTITY_TAG = re.compile(r'\s*((?:W/)?"[^"]*"|[^\s,]+)\s*(?:,|$)')

# S3 content header → the Azure header that sets the blob property on a write.
WRITE_PROPERTIES = {
    "content-type": "x-ms-blob-content-type",
    "content-encoding": "x-ms-blob-content-encoding",
    "content-language": "x-ms-blob-content-language",
    "content-disposition": "x-ms-blob-content-disposition",
    "cache-control": "x-ms-blob-cache-control",
}
# Blob properties Azure returns under the S3 names on GET and HEAD.
READ_PROPERTIES = (
    "content-type", "content-encoding", "content-language", "content-disposition",
    "cache-control", "content-range", "accept-ranges", "last-modified",
)  # fmt: skip
# ``response-*`` query parameters of a GET and the header each one overrides.
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def azure_meta_name(s3_name: str) -> str:
    name = s3_name.lower()
    if _PLAIN_NAME.fullmatch(name) and not name.startswith(RESERVED_META):
        return name
    return _ENCODED_META + name.encode().hex()


def s3_meta_name(azure_name: str) -> str | None:
    """The S3 name of an Azure metadata name; ``None`` for the backend's own entries."""
    name = azure_name.lower()
    if name.startswith(_ENCODED_META):
        try:
            return bytes.fromhex(name[len(_ENCODED_META) :]).decode()
        except ValueError:
            return None
    if name.startswith(RESERVED_META):
        return None
    return name


def object_write_headers(headers: MultiMapping[str]) -> dict[str, str]:
    """Azure headers that give a new blob the S3 request's content headers and metadata."""
    out: dict[str, str] = {}
    for s3_name, azure_name in WRITE_PROPERTIES.items():
        value = headers.get(s3_name)
        if value is not None:
            out[azure_name] = value
    expires = headers.get("expires")
    if expires is not None:
        out[f"x-ms-meta-{EXPIRES_META}"] = expires
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("x-amz-meta-"):
            out[f"x-ms-meta-{azure_meta_name(lower[len('x-amz-meta-') :])}"] = value
        elif lower.startswith("x-amz-checksum-") and lower[15:] in CHECKSUM_ALGORITHMS:
            out[f"x-ms-meta-{CHECKSUM_META}{lower[15:]}"] = value
    return out


CHECKSUM_ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")


def stored_write_headers(blob_headers: MultiMapping[str]) -> dict[str, str]:
    """The write headers that recreate a stored blob's properties and metadata (what an
    upload marker keeps for the object its upload will complete)."""
    out: dict[str, str] = {}
    for s3_name, azure_name in WRITE_PROPERTIES.items():
        value = blob_headers.get(s3_name)
        if value:
            out[azure_name] = value
    for name, value in blob_headers.items():
        lower = name.lower()
        if (
            lower.startswith("x-ms-meta-") and s3_meta_name(lower[10:]) is not None
        ) or lower == f"x-ms-meta-{EXPIRES_META}":
            out[lower] = value
    return out


def s3_etag(azure_etag: str, parts: str | None) -> str:
    """The ETag S3 clients see for a blob with Azure ETag ``azure_etag``."""
    bare = azure_etag.strip().strip('"')
    if parts and parts.isdigit():
        return f'"{bare}-{parts}"'
    return f'"{bare}"'


def azure_etag_list(header_value: str) -> str:
    """An ``If-Match``/``If-None-Match`` value with S3 ETags turned back into Azure's."""
    tags = []
    for match in _ENTITY_TAG.finditer(header_value):
        tag = match.group(1)
        if not tag:
            continue
        if tag == "*":
            tags.append(tag)
            continue
        bare = tag.removeprefix("W/").strip('"')
        tags.append(f'"{_MULTIPART_SUFFIX.sub("", bare)}"')
    return ", ".join(tags)


def object_read_headers(
    blob_headers: MultiMapping[str], overrides: Mapping[str, str], *, checksums: bool = False
) -> CIMultiDict[str]:
    """S3 response headers for a blob's GET/HEAD answer (``response-*`` applied; the stored
    ``x-amz-checksum-*`` only when asked for, as S3 does with ``x-amz-checksum-mode``)."""
    out: CIMultiDict[str] = CIMultiDict()
    for name in READ_PROPERTIES:
        value = blob_headers.get(name)
        if value:
            out[name.title() if name != "content-range" else "Content-Range"] = value
    etag = blob_headers.get("etag")
    if etag:
        out["ETag"] = s3_etag(etag, blob_headers.get(f"x-ms-meta-{PARTS_META}"))
    for name, value in blob_headers.items():
        lower = name.lower()
        if not lower.startswith("x-ms-meta-"):
            continue
        azure_name = lower[len("x-ms-meta-") :]
        if azure_name == EXPIRES_META:
            out["Expires"] = value
            continue
        if azure_name.startswith(CHECKSUM_META):
            if checksums:
                out[f"x-amz-checksum-{azure_name[len(CHECKSUM_META) :]}"] = value
            continue
        s3_name = s3_meta_name(azure_name)
        if s3_name is not None:
            out[f"x-amz-meta-{s3_name}"] = value
    for parameter, header in RESPONSE_OVERRIDES.items():
        value = overrides.get(parameter)
        if value is not None:
            out[header] = value
    return out
