"""Multipart uploads on the file backend, with S3's rules.

- **Create** stores a manifest (:mod:`.file_uploads`) holding the object headers given now —
  content headers, ``x-amz-meta-*``, storage class — and the ``x-amz-checksum-algorithm`` /
  ``x-amz-checksum-type`` choice; completion applies them to the object.
- **UploadPart** streams the part into ``.multistore/tmp`` (MD5 computed while writing, no
  buffering), checks ``Content-Length``/``Content-MD5``, then renames it into the upload under
  the key's lock. Uploading a part number again replaces the part. When the upload has a
  checksum algorithm and the part arrived without that checksum header (it came in an
  aws-chunked trailer, which the gateway verifies but does not pass on), the backend
  computes it while writing, so ListParts and completion always know every part's checksum.
- **Complete** checks S3's rules (ascending part numbers, every part present with the listed
  ETag and checksums, all but the last at least 5 MiB), assembles the parts in order into one
  temp file (kernel copy when possible, never a whole part in memory), then commits it
  exactly like a PUT — ``If-None-Match``/``If-Match`` checked under the key's lock. A 412
  leaves the upload in place for a retry or an abort, as S3 does. The ETag is S3's: the MD5
  of the parts' binary MD5s, ``-<number of parts>``. The part sizes go into the object's
  sidecar (GET ``?partNumber``), and the answer into :mod:`.completions`, so that a retried
  Complete of the same parts gets it again instead of ``NoSuchUpload``. The object's
  checksum is reported in the response — COMPOSITE (checksum of the parts' checksums,
  ``-<n>``) or, for ``FULL_OBJECT`` uploads, computed over the whole object and checked
  against the value the client sent — but not stored: GET and HEAD never carry checksums
  on this backend.
- **Abort** removes the upload and its parts at once; later calls with its id get
  ``NoSuchUpload``. Ids are bound to their key: the right id with another key is unknown.
- **Abandoned uploads** stay until aborted, as on S3 without a lifecycle rule;
  :meth:`FileMultipart.cleanup_stale` removes those started before a cutoff, plus whatever
  crashed writes left in ``.multistore/tmp``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from multistore.core.auth.checksums import (
    new_checksum,
)
from multistore.core.backends.base import (
    CompletedPart,
    ListUploadsRequest,
    ObjectRequest,
    PartInfo,
    PartsPage,
    UploadsPage,
    WriteResult,
)
from multistore.core.backends.file.completions import RETENTION_SECONDS, CompletionLog
from multistore.core.backends.file.errors import unwritable_is_access_denied
from multistore.core.backends.file.io import promised_md5, promised_sha256
from multistore.core.backends.file.layout import ObjectMetadata, metadata_headers
from multistore.core.backends.file.listing import modification_time
from multistore.core.backends.file.part_checksums import (
    algorithm_of_element,
    checksum_choice,
    full_object_checksum,
    object_checksum,
    supplied_checksum,
)
from multistore.core.backends.file.transfer import copy_bytes
from multistore.core.backends.file.upload_listing import uploads_page
from multistore.core.backends.file.uploads import (
    OpenUpload,
    PartRecord,
    UploadManifest,
    UploadStore,
    new_upload_id,
)
from multistore.core.backends.file.writer import ObjectWriter, StagedFile
from multistore.core.errors import (
    EntityTooLarge,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    MalformedXML,
    NoSuchUpload,
)
from multistore.core.http import Headers, RequestBody
from multistore.core.s3.conditions import (
    evaluate_write_conditions,
    has_write_conditions,
    normalize_etag,
)

MAX_PART_SIZE = 5 * 1024**3
MIN_PART_SIZE = 5 * 1024**2  # for every part but the last
MAX_PART_NUMBER = 10_000
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Assembled:
    staged: StagedFile
    etag: str
    part_sizes: tuple[int, ...]
    checksum_headers: dict[str, str] = field(default_factory=dict)


class FileMultipart:
    """The multipart operations of one file backend root."""

    def __init__(
        self,
        *,
        writer: ObjectWriter,
        uploads: UploadStore,
        completions: CompletionLog,
        segments: Callable[[str], list[str]],
    ) -> None:
        self._writer = writer
        self._uploads = uploads
        self._completions = completions
        self._segments = segments

    async def create_multipart_upload(self, request: ObjectRequest) -> str:
        self._segments(request.key)
        algorithm, checksum_type = checksum_choice(request.headers)
        manifest = UploadManifest(
            upload_id=new_upload_id(),
            key=request.key,
            initiated_ns=time.time_ns(),
            headers=metadata_headers(request.headers),
            checksum_algorithm=algorithm,
            checksum_type=checksum_type,
        )
        with unwritable_is_access_denied():
            await asyncio.to_thread(self._uploads.create, manifest)
        return manifest.upload_id

    def manifest(self, upload_id: str, *, key: str) -> UploadManifest:
        """The upload's manifest, checked to exist for ``key`` (``NoSuchUpload``)."""
        return self._uploads.manifest(upload_id, key)

    # -- parts ------------------------------------------------------------------------------

    async def upload_part(
        self,
        request: ObjectRequest,
        upload_id: str,
        part_number: int,
        body: RequestBody,
        content_length: int | None,
    ) -> WriteResult:
        check_part_number(part_number)
        self._segments(request.key)
        if content_length is not None and content_length > MAX_PART_SIZE:
            raise EntityTooLarge()
        manifest = self.manifest(upload_id, key=request.key)  # before receiving a byte
        algorithm = manifest.checksum_algorithm
        supplied = supplied_checksum(request.headers, algorithm)
        computing = new_checksum(algorithm) if algorithm is not None and not supplied else None
        staged, received = await self._writer.receive(
            body,
            content_length,
            max_size=MAX_PART_SIZE,
            expected_md5=promised_md5(request.headers),
            expected_sha256=promised_sha256(request.headers),
            checksum=computing,
        )
        if computing is not None and algorithm is not None:
            supplied = {algorithm: computing.base64_digest()}
        record = PartRecord(
            number=part_number,
            md5=received.md5,
            size=received.size,
            mtime_ns=staged.info.st_mtime_ns,
            inode=staged.info.st_ino,
            checksums=supplied,
        )
        await self.store_part(request.key, upload_id, staged, record)
        return part_result(record)

    async def store_part(
        self, key: str, upload_id: str, staged: StagedFile, record: PartRecord
    ) -> None:
        """Make ``staged`` a part of the upload, unless the upload ended meanwhile."""

        def work() -> None:
            try:
                with self._uploads.opened(upload_id, key) as upload:
                    self._uploads.add_part(upload, record, staged.name)
            except BaseException:
                self._writer.discard_temp(staged.name)
                raise

        await self._writer.run_locked(
            key, work, if_not_started=lambda: self._writer.discard_temp(staged.name)
        )

    # -- completion -------------------------------------------------------------------------

    async def complete_multipart_upload(
        self, request: ObjectRequest, upload_id: str, parts: list[CompletedPart]
    ) -> WriteResult:
        if not parts:
            raise MalformedXML("CompleteMultipartUpload must name at least one part")
        try:
            return await self._complete(request, upload_id, parts)
        except NoSuchUpload:
            # A retry of a Complete that succeeded (its response was lost) gets the same
            # answer again, as on S3 (.completions).
            repeat = await asyncio.to_thread(
                self._completions.repeat, upload_id, request.key, parts
            )
            if repeat is None:
                raise
            return WriteResult(
                etag=repeat.etag, headers=repeat.headers, last_modified=repeat.last_modified
            )

    async def _complete(
        self, request: ObjectRequest, upload_id: str, parts: list[CompletedPart]
    ) -> WriteResult:
        segments = self._segments(request.key)
        manifest = self.manifest(upload_id, key=request.key)
        numbers = [part.part_number for part in parts]
        if any(later <= earlier for earlier, later in itertools.pairwise(numbers)):
            raise InvalidPartOrder()
        conditional = has_write_conditions(request.headers)
        if conditional:
            # Fail fast, before assembling; the check that counts is repeated at commit.
            evaluate_write_conditions(
                request.headers, existing_etag=self._writer.existing_etag(segments, request.key)
            )
        assembled = await self._writer.offload_staging(
            functools.partial(self._assemble, manifest, parts, request.headers),
            lambda done: done.staged,
        )
        detached: list[str] = []

        def claim() -> None:
            # Under the key's lock: an abort that won the race must not be undone by us.
            self._uploads.manifest(upload_id, request.key)

        result = WriteResult(
            etag=assembled.etag,
            headers=assembled.checksum_headers,
            last_modified=modification_time(assembled.staged.info),
        )

        def release_upload() -> None:
            try:
                self._completions.record(
                    upload_id=upload_id,
                    key=request.key,
                    parts=parts,
                    etag=result.etag,
                    headers=dict(result.headers),
                    last_modified=modification_time(assembled.staged.info),
                )
            except OSError:
                _log.warning("completion of %s could not be recorded", upload_id, exc_info=True)
            try:
                detached.append(self._uploads.detach(upload_id, request.key))
            except (OSError, NoSuchUpload):
                _log.warning("completed upload %s could not be removed", upload_id, exc_info=True)

        await self._writer.commit(
            key=request.key,
            segments=segments,
            staged=assembled.staged,
            metadata=ObjectMetadata(
                etag=assembled.etag, headers=manifest.headers, part_sizes=assembled.part_sizes
            ),
            conditions=request.headers if conditional else None,
            claim=claim,
            after=release_upload,
        )
        for trash in detached:
            await asyncio.to_thread(self._uploads.purge, trash)
        return result

    def _assemble(
        self, manifest: UploadManifest, parts: list[CompletedPart], headers: Headers
    ) -> _Assembled:
        """Validate the listed parts and concatenate them into a temp file (blocking)."""
        wanted = full_object_checksum(manifest, headers)
        full_object = (new_checksum(wanted[0]), wanted) if wanted is not None else None
        digests = (full_object[0],) if full_object is not None else ()
        with self._uploads.opened(manifest.upload_id, manifest.key) as upload:
            try:
                records = self._listed_records(upload, parts)
                with self._writer.staging_file() as target:
                    for record in records:
                        part_fd = self._uploads.open_part(upload, record)
                        try:
                            copy_bytes(
                                part_fd, target.fd, offset=0, length=record.size, digests=digests
                            )
                        finally:
                            os.close(part_fd)
                    checksum_headers = object_checksum(manifest, records, headers, full_object)
                    staged = target.finish()
            except InvalidPart:
                # Parts vanish when an abort runs meanwhile: then the upload is what is missing.
                self._uploads.manifest(manifest.upload_id, manifest.key)
                raise
        combined = hashlib.md5(b"".join(r.md5 for r in records), usedforsecurity=False)
        return _Assembled(
            staged,
            f'"{combined.hexdigest()}-{len(records)}"',
            tuple(record.size for record in records),
            checksum_headers,
        )

    def _listed_records(self, upload: OpenUpload, parts: list[CompletedPart]) -> list[PartRecord]:
        records: list[PartRecord] = []
        for listed in parts:
            number = listed.part_number
            record = self._uploads.part(upload, number) if 1 <= number <= MAX_PART_NUMBER else None
            if record is None or normalize_etag(listed.etag) != record.md5.hex():
                raise InvalidPart(
                    f"part {number} was not uploaded or its ETag is not {listed.etag}"
                )
            for element, value in listed.checksums.items():
                algorithm = algorithm_of_element(element)
                stored = record.checksums.get(algorithm) if algorithm is not None else None
                if stored is not None and stored != value:
                    raise InvalidPart(f"part {number}'s {element} is not {value}")
            records.append(record)
        for record in records[:-1]:
            if record.size < MIN_PART_SIZE:
                raise EntityTooSmall(
                    f"part {record.number} is {record.size} bytes; every part but the last "
                    f"must be at least {MIN_PART_SIZE} bytes"
                )
        return records

    # -- ending and listing -----------------------------------------------------------------

    async def abort_multipart_upload(self, request: ObjectRequest, upload_id: str) -> None:
        self._segments(request.key)
        self.manifest(upload_id, key=request.key)
        trash = await self._writer.run_locked(
            request.key, functools.partial(self._uploads.detach, upload_id, request.key)
        )
        await asyncio.to_thread(self._uploads.purge, trash)

    async def list_parts(
        self, request: ObjectRequest, upload_id: str, *, max_parts: int, part_number_marker: int
    ) -> PartsPage:
        self._segments(request.key)

        def read() -> tuple[UploadManifest, list[PartRecord]]:
            with self._uploads.opened(upload_id, request.key) as upload:
                return upload.manifest, self._uploads.parts(upload)

        manifest, records = await asyncio.to_thread(read)
        following = [record for record in records if record.number > part_number_marker]
        chosen = following[: max(0, max_parts)]
        truncated = len(following) > len(chosen) and bool(chosen)
        algorithm = manifest.checksum_algorithm
        return PartsPage(
            parts=[
                PartInfo(
                    part_number=record.number,
                    etag=record.etag,
                    size=record.size,
                    last_modified=record.last_modified,
                    checksums={"Checksum" + a.value: v for a, v in record.checksums.items()},
                )
                for record in chosen
            ],
            next_part_number_marker=chosen[-1].number if truncated else None,
            storage_class=manifest.storage_class,
            checksum_algorithm=algorithm.value if algorithm is not None else None,
        )

    async def list_multipart_uploads(self, request: ListUploadsRequest) -> UploadsPage:
        return uploads_page(await asyncio.to_thread(self._uploads.manifests), request)

    async def cleanup_stale(
        self,
        older_than_seconds: float,
        *,
        on_removed: Callable[[str, str | None], None] | None = None,
    ) -> int:
        """Abort uploads started more than ``older_than_seconds`` ago; returns how many.

        Also deletes files in ``.multistore/tmp`` untouched for that long (writes cut short
        by a crash). Safe to run while the backend serves requests. ``on_removed`` hears of
        each upload removed: its id and backend key (``None`` if its manifest was unreadable).
        """
        cutoff = time.time_ns() - int(older_than_seconds * 1_000_000_000)
        removed = 0
        for upload_id, key in await asyncio.to_thread(self._uploads.started_before, cutoff):
            detach = functools.partial(self._uploads.detach, upload_id, key)
            try:
                if key is None:  # unreadable manifest: no key to lock, and no one can use it
                    trash = await asyncio.to_thread(detach)
                else:
                    trash = await self._writer.run_locked(key, detach)
            except NoSuchUpload:
                continue  # completed or aborted meanwhile
            await asyncio.to_thread(self._uploads.purge, trash)
            removed += 1
            if on_removed is not None:
                on_removed(upload_id, key)
        await asyncio.to_thread(self._uploads.remove_temp_files_before, cutoff)
        await asyncio.to_thread(
            self._completions.prune, time.time_ns() - RETENTION_SECONDS * 1_000_000_000
        )
        return removed


def check_part_number(part_number: int) -> None:
    if not 1 <= part_number <= MAX_PART_NUMBER:
        raise InvalidArgument(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        )


def part_result(record: PartRecord) -> WriteResult:
    headers = {"ETag": record.etag}
    for algorithm, value in record.checksums.items():
        headers[algorithm.header_name] = value
    return WriteResult(etag=record.etag, headers=headers, last_modified=record.last_modified)
