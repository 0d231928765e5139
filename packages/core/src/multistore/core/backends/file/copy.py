"""CopyObject and UploadPartCopy between file backends (any two roots: both are local).

- **Bytes** are copied on a worker thread in 1 MiB blocks into ``.multistore/tmp`` and then
  committed exactly like a PUT, so a failed copy leaves nothing and the destination's
  ``If-None-Match: *`` / ``If-Match`` are checked atomically with the rename.
- **ETag**: a copy is a new single-part object, so its ETag is the MD5 of its bytes, even
  when the source was assembled from parts (S3 does the same). A source whose sidecar
  already holds its MD5 is not hashed again.
- **Metadata**: ``x-amz-metadata-directive: COPY`` (the default) keeps the source's content
  headers and ``x-amz-meta-*``; ``REPLACE`` takes them from the request. The storage class
  is never copied: it is the request's ``x-amz-storage-class``, else STANDARD (S3's rule).
  Tags are not stored by this backend, so the tagging directive has nothing to act on.
- **Source conditions**: ``x-amz-copy-source-if-match`` / ``-none-match`` /
  ``-modified-since`` / ``-unmodified-since`` are evaluated like ``If-*`` on a GET of the
  source (same precedence), except that every failure is 412 ``PreconditionFailed``.
- **Onto itself**: copying an object to its own key with the COPY directive and nothing
  else changed (storage class, website redirect, encryption) is 400 ``InvalidRequest``, as on
  S3; with REPLACE it rewrites the metadata.
- **Limits**: a source (or UploadPartCopy range) over 5 GiB is 400 ``InvalidRequest``
  (S3's copy limit); a range outside the source is 400 ``InvalidArgument``. There are no
  versions: a source version other than ``null`` is 400 ``InvalidArgument``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from multidict import CIMultiDict

from multistore.core.auth.checksums import ChecksumAlgorithm, new_checksum
from multistore.core.backends.base import ObjectRequest, WriteResult
from multistore.core.backends.file.io import RunningDigest
from multistore.core.backends.file.layout import ObjectMetadata, StoredObject, metadata_headers
from multistore.core.backends.file.listing import modification_time
from multistore.core.backends.file.multipart import (
    FileMultipart,
    check_part_number,
    part_result,
)
from multistore.core.backends.file.transfer import copy_bytes
from multistore.core.backends.file.uploads import PartRecord
from multistore.core.backends.file.writer import ObjectWriter, StagedFile
from multistore.core.errors import (
    InvalidArgument,
    InvalidRequest,
    NotModified,
    PreconditionFailed,
)
from multistore.core.http import Headers
from multistore.core.s3.conditions import (
    evaluate_read_conditions,
    evaluate_write_conditions,
    has_write_conditions,
)

MAX_COPY_SIZE = 5 * 1024**3
_PLAIN_MD5_ETAG = re.compile(r'"[0-9a-f]{32}"')
_SOURCE_CONDITIONS = (
    ("x-amz-copy-source-if-match", "If-Match"),
    ("x-amz-copy-source-if-none-match", "If-None-Match"),
    ("x-amz-copy-source-if-modified-since", "If-Modified-Since"),
    ("x-amz-copy-source-if-unmodified-since", "If-Unmodified-Since"),
)
_OBJECT_CHANGING_HEADERS = (
    "x-amz-storage-class", "x-amz-website-redirect-location", "x-amz-server-side-encryption",
)  # fmt: skip
_SELF_COPY = (
    "This copy request is illegal because it is trying to copy an object to itself without "
    "changing the object's metadata, storage class, website redirect location or encryption "
    "attributes."
)


class CopySource(Protocol):
    """What a copy needs of the source backend (a :class:`FileBackend`)."""

    @property
    def root(self) -> Path: ...

    def open_stored_object(
        self, key: str, version_id: str | None = None
    ) -> tuple[int, StoredObject]: ...


@dataclass(frozen=True, slots=True)
class _Copied:
    staged: StagedFile
    md5: bytes
    source: StoredObject
    checksums: dict[ChecksumAlgorithm, str]


class FileCopier:
    """Server-side copies into one file backend root."""

    def __init__(
        self,
        *,
        writer: ObjectWriter,
        multipart: FileMultipart,
        segments: Callable[[str], list[str]],
        root: Path,
    ) -> None:
        self._writer = writer
        self._multipart = multipart
        self._segments = segments
        self._root = root

    async def copy_object(
        self,
        request: ObjectRequest,
        source: CopySource,
        source_key: str,
        source_version: str | None,
    ) -> WriteResult:
        segments = self._segments(request.key)
        headers = request.headers
        replace = _replaces_metadata(headers)
        onto_itself = source.root == self._root and source_key == request.key
        if onto_itself and not replace and not _changes_object(headers):
            raise InvalidRequest(_SELF_COPY)
        conditional = has_write_conditions(headers)
        if conditional:
            # Fail fast, before copying; the check that counts is repeated at commit.
            evaluate_write_conditions(
                headers, existing_etag=self._writer.existing_etag(segments, request.key)
            )
        copy = functools.partial(
            self._copy, headers, source, source_key, source_version, None, None
        )
        copied = await self._writer.offload_staging(copy, lambda done: done.staged)
        if replace:
            stored_headers = metadata_headers(headers)
        else:
            stored_headers = _kept_headers(copied.source, headers.get("x-amz-storage-class"))
        metadata = ObjectMetadata(etag=f'"{copied.md5.hex()}"', headers=stored_headers)
        await self._writer.commit(
            key=request.key,
            segments=segments,
            staged=copied.staged,
            metadata=metadata,
            conditions=headers if conditional else None,
        )
        return WriteResult(etag=metadata.etag, last_modified=modification_time(copied.staged.info))

    async def upload_part_copy(
        self,
        request: ObjectRequest,
        upload_id: str,
        part_number: int,
        source: CopySource,
        source_key: str,
        source_range: tuple[int, int] | None,
        *,
        source_version: str | None = None,
    ) -> WriteResult:
        check_part_number(part_number)
        self._segments(request.key)
        manifest = self._multipart.manifest(upload_id, key=request.key)
        copy = functools.partial(
            self._copy,
            request.headers,
            source,
            source_key,
            source_version,
            source_range,
            manifest.checksum_algorithm,
        )
        copied = await self._writer.offload_staging(copy, lambda done: done.staged)
        record = PartRecord(
            number=part_number,
            md5=copied.md5,
            size=copied.staged.info.st_size,
            mtime_ns=copied.staged.info.st_mtime_ns,
            inode=copied.staged.info.st_ino,
            checksums=copied.checksums,
        )
        await self._multipart.store_part(request.key, upload_id, copied.staged, record)
        return part_result(record)

    def _copy(
        self,
        headers: Headers,
        source: CopySource,
        source_key: str,
        source_version: str | None,
        source_range: tuple[int, int] | None,
        algorithm: ChecksumAlgorithm | None,
    ) -> _Copied:
        """Copy the source (or a byte range of it) into a staged file (blocking)."""
        fd, stored = source.open_stored_object(source_key, source_version)
        try:
            evaluate_source_conditions(headers, stored)
            start, length = _span(stored.info.st_size, source_range)
            if length > MAX_COPY_SIZE:
                raise InvalidRequest(
                    "The specified copy source is larger than the maximum allowable size "
                    f"for a copy source: {MAX_COPY_SIZE}"
                )
            known_md5 = _recorded_md5(stored) if source_range is None else None
            md5 = hashlib.md5(usedforsecurity=False) if known_md5 is None else None
            checksum = new_checksum(algorithm) if algorithm is not None else None
            digests: list[RunningDigest] = [d for d in (md5, checksum) if d is not None]
            with self._writer.staging_file() as target:
                copy_bytes(fd, target.fd, offset=start, length=length, digests=digests)
                staged = target.finish()
        finally:
            os.close(fd)
        return _Copied(
            staged=staged,
            md5=md5.digest() if md5 is not None else known_md5 or b"",
            source=stored,
            checksums=(
                {algorithm: checksum.base64_digest()}
                if algorithm is not None and checksum is not None
                else {}
            ),
        )


def evaluate_source_conditions(headers: Headers, source: StoredObject) -> None:
    """``x-amz-copy-source-if-*`` against the source; every failure is 412 (S3)."""
    conditions: CIMultiDict[str] = CIMultiDict()
    for copy_header, plain_header in _SOURCE_CONDITIONS:
        for value in headers.getall(copy_header, []):
            conditions.add(plain_header, value)
    if not conditions:
        return
    try:
        evaluate_read_conditions(
            conditions, etag=source.etag, last_modified=modification_time(source.info)
        )
    except NotModified:
        raise PreconditionFailed(
            "the copy source matched x-amz-copy-source-if-none-match or was not modified "
            "since x-amz-copy-source-if-modified-since"
        ) from None


def _replaces_metadata(headers: Headers) -> bool:
    directive = headers.get("x-amz-metadata-directive", "COPY").strip().upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument("Unknown metadata directive.")
    return directive == "REPLACE"


def _changes_object(headers: Headers) -> bool:
    """Whether a COPY-directive copy onto itself changes anything S3 counts as a change."""
    return any(name.lower().startswith(_OBJECT_CHANGING_HEADERS) for name in headers)


def _kept_headers(source: StoredObject, storage_class: str | None) -> tuple[tuple[str, str], ...]:
    """The source's stored headers under the COPY directive, with the request's storage class."""
    kept: CIMultiDict[str] = CIMultiDict()
    if source.metadata is not None:
        for name, value in source.metadata.headers:
            if name != "x-amz-storage-class":
                kept.add(name, value)
    if storage_class:
        kept["x-amz-storage-class"] = storage_class
    return metadata_headers(kept)


def _span(size: int, source_range: tuple[int, int] | None) -> tuple[int, int]:
    """``(offset, length)`` of an inclusive byte range of a source of ``size`` bytes."""
    if source_range is None:
        return 0, size
    first, last = source_range
    if first < 0 or last < first or last >= size:
        raise InvalidArgument(f"Range specified is not valid for source object of size: {size}")
    return first, last - first + 1


def _recorded_md5(source: StoredObject) -> bytes | None:
    """The source's MD5 if its sidecar holds one (not a multipart or derived ETag)."""
    if source.metadata is None or not _PLAIN_MD5_ETAG.fullmatch(source.metadata.etag):
        return None
    return bytes.fromhex(source.metadata.etag[1:-1])
