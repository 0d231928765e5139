"""List Blobs answers as S3 listing pages, and the continuation token that wraps Azure's marker.

The token the client sees is ``base64url(json)`` of Azure's ``NextMarker`` and the listing's
``start-after`` (Azure has no start-after: keys up to it are skipped here, so a token must
keep carrying it). It is opaque to the client, as S3 promises, and a token that does not
decode is 400 ``InvalidArgument``, never a backend error.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

import xmltodict

from multistore.azure.properties import PARTS_META, s3_etag
from multistore.core.backends.base import ListEntry, ListPage
from multistore.core.errors import BadGateway, InvalidArgument
from multistore.core.s3.xml import xml_text

# Where multipart upload markers live (uploads.py); never shown in a listing.
RESERVED_PREFIX = ".multistore/uploads/"
_EPOCH = datetime.fromtimestamp(0, UTC)


def encode_token(marker: str, start_after: str | None) -> str:
    raw = json.dumps({"m": marker, "s": start_after or ""}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, str | None]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw)
        marker, start_after = doc["m"], doc["s"]
        if not isinstance(marker, str) or not isinstance(start_after, str):
            raise TypeError
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument("The continuation token provided is incorrect") from exc
    return marker, start_after or None


def blob_name(node: Any) -> str:
    """A ``<Name>``; Azure percent-encodes names XML cannot carry and says so."""
    if isinstance(node, dict):
        text = xml_text(node.get("#text"))
        return unquote(text, errors="surrogatepass") if node.get("@Encoded") == "true" else text
    return xml_text(node)


def _http_date(value: str) -> datetime:
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return _EPOCH


def parse_blobs(body: bytes) -> tuple[list[dict[str, Any]], list[str], str | None]:
    """``(blobs, prefixes, next_marker)`` of a List Blobs answer."""
    try:
        doc = xmltodict.parse(body, disable_entities=True, force_list=("Blob", "BlobPrefix"))[
            "EnumerationResults"
        ]
    except Exception as exc:
        raise BadGateway(f"unparseable listing from azure: {exc}") from exc
    container = doc.get("Blobs") or {}
    blobs = list(container.get("Blob") or ())
    prefixes = [blob_name(p.get("Name")) for p in container.get("BlobPrefix") or ()]
    return blobs, prefixes, xml_text(doc.get("NextMarker")) or None


def list_entry(blob: dict[str, Any]) -> ListEntry:
    properties = blob.get("Properties") or {}
    metadata = blob.get("Metadata") or {}
    parts = xml_text(metadata.get(PARTS_META)) if isinstance(metadata, dict) else ""
    return ListEntry(
        key=blob_name(blob.get("Name")),
        size=int(xml_text(properties.get("Content-Length")) or 0),
        last_modified=_http_date(xml_text(properties.get("Last-Modified"))),
        etag=s3_etag(xml_text(properties.get("Etag")), parts or None),
    )


STATE_ROOT = ".multistore/"


def build_page(
    blobs: list[dict[str, Any]],
    prefixes: list[str],
    *,
    start_after: str | None,
    hidden_prefixes: frozenset[str] = frozenset({RESERVED_PREFIX}),
) -> ListPage:
    """The visible part of one Azure page: upload markers, the groups that hold only them,
    and keys up to start-after go."""
    page = ListPage()
    for blob in blobs:
        entry = list_entry(blob)
        if entry.key.startswith(RESERVED_PREFIX):
            continue
        if start_after is not None and entry.key.encode() <= start_after.encode():
            continue
        page.entries.append(entry)
    for prefix in prefixes:
        if prefix in hidden_prefixes or prefix.startswith(RESERVED_PREFIX):
            continue
        if start_after is not None and prefix.encode() <= start_after.encode():
            # A group at or before the resume point was listed already (the gateway resumes
            # after a whole group with "<prefix>\U0010ffff"; a page of ours ends on it).
            continue
        page.common_prefixes.append(prefix)
    return page
