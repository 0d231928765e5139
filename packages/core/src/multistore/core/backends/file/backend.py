"""The ``file`` backend: a local directory served as a bucket.

``backend_options``: ``root`` (required, an existing directory) and ``fsync`` (``"true"`` by
default; ``"false"`` skips the data and directory fsyncs, for scratch data and tests).

Each key is a file at exactly that path below ``root`` (``report*.pdf``, ``100%.txt``,
``a=b``, spaces and unicode are file names as they are). Every key S3 accepts is stored:
segments a file system cannot hold as they are (empty — folder markers ``dir/``, ``a//b``,
a leading ``/`` —, ``.``, ``..``, control characters, ``.multistore`` at the top) get an
escaped file name (:mod:`.names`). Decisions a user may meet:

- **Never outside root.** Paths are walked one ``openat(O_NOFOLLOW)`` at a time
  (:mod:`.file_paths`), so ``..``, absolute keys and symlinks cannot lead out. Symbolic links
  inside root are not followed at all, even when they point inside it: listings skip them
  and any keyed operation whose path meets one is 403 ``AccessDenied``.
- **Refused keys.** Only keys with a segment whose file name would exceed 255 bytes
  (400 ``InvalidRequest`` naming the rule); ``.multistore``, which holds sidecars, uploads
  and lock files (:mod:`.layout`), is never reachable by a key.
- **Atomic writes.** A PUT streams into ``.multistore/tmp`` (hashing as it goes), is
  verified against ``Content-Length``, ``Content-MD5`` and a hex ``x-amz-content-sha256``,
  fsynced, and only then renamed over the key, so readers see the old or the new object,
  never a partial one, and a rejected body leaves nothing behind. ``If-None-Match: *`` and
  ``If-Match`` are checked and the rename done while holding the key's lock, an
  ``asyncio.Lock`` within the process plus an ``flock`` shared by every worker process.
- **Objects and prefixes cannot share a name.** ``a`` and ``a/b`` cannot both exist in a
  file system. Storing one while the other exists is 400 ``InvalidRequest`` with a message
  saying so (S3 has no code for it; 400 because retrying cannot help until the other
  object is deleted). Reading ``a`` while it is a directory is 404 ``NoSuchKey``.
- **Files placed by hand** are objects too: ``application/octet-stream`` and an ETag made
  from mtime and size (:func:`.file_layout.fallback_etag`), which is not an MD5.
- **DELETE** removes the file and its sidecar, then every directory on the key's path that
  became empty (never root); a missing key is still 204. **DeleteObjects** does the same per
  key and reports each key's failure (a symlink on its path is ``AccessDenied``) in the
  result; a key no object here can have (a segment too long for a file name) counts as
  deleted, since there is nothing to delete.
- **Multipart uploads** are staged under ``.multistore/uploads`` and assembled into one
  atomic commit (:mod:`.multipart`); their part sizes are kept for GET ``?partNumber``
  (:mod:`.part_reads`), and a retried Complete gets the first answer for an hour
  (:mod:`.completions`). Abandoned uploads stay until aborted or removed by
  :meth:`FileBackend.cleanup_stale_uploads`. **Copies** between any two file buckets are
  done by the backend (:mod:`.file_copy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from multidict import CIMultiDict

from multistore.core.backends.base import (
    BackendServices,
    DeleteOutcome,
    ListPage,
    ListRequest,
    ObjectRequest,
    ProxyBackend,
    WriteResult,
)
from multistore.core.backends.delegation import DelegatedMultipart
from multistore.core.backends.file.completions import CompletionLog
from multistore.core.backends.file.copy import FileCopier
from multistore.core.backends.file.errors import read_error
from multistore.core.backends.file.io import (
    EmptyStream,
    FileRangeBody,
    OffloadedFd,
    promised_md5,
    promised_sha256,
)
from multistore.core.backends.file.layout import (
    DEFAULT_CONTENT_TYPE,
    BackendState,
    ObjectMetadata,
    StoredObject,
    metadata_headers,
)
from multistore.core.backends.file.listing import list_page, modification_time
from multistore.core.backends.file.multipart import FileMultipart
from multistore.core.backends.file.names import key_to_names
from multistore.core.backends.file.part_reads import part_span, requested_part_number
from multistore.core.backends.file.paths import (
    EntryKind,
    PathBlocked,
    entry_kind,
    open_directory,
    open_regular_file,
    remove_empty_directories,
    stat_regular_file,
)
from multistore.core.backends.file.uploads import UploadStore
from multistore.core.backends.file.writer import ObjectWriter
from multistore.core.config import BucketConfig
from multistore.core.errors import (
    EntityTooLarge,
    InternalError,
    InvalidArgument,
    InvalidRequest,
    NoSuchKey,
    NotImplementedOperation,
    S3Error,
)
from multistore.core.http import RequestBody, Response, StreamingResponse
from multistore.core.s3.conditions import (
    DeleteConditions,
    ObjectState,
    delete_conditions,
    evaluate_delete_conditions,
    evaluate_read_conditions,
    evaluate_write_conditions,
    has_write_conditions,
)
from multistore.core.s3.keys import validate_key
from multistore.core.s3.ranges import content_range, parse_range
from multistore.core.s3.xml import http_date

MAX_OBJECT_SIZE = 5 * 1024**3  # S3's limit for a single PUT
_RESPONSE_OVERRIDES = (
    ("response-content-type", "Content-Type"),
    ("response-content-disposition", "Content-Disposition"),
    ("response-cache-control", "Cache-Control"),
    ("response-content-encoding", "Content-Encoding"),
    ("response-content-language", "Content-Language"),
    ("response-expires", "Expires"),
)
_log = logging.getLogger(__name__)


class FileBackend(DelegatedMultipart):
    """Serves the directory ``backend_options["root"]`` as an S3 bucket."""

    _multipart: FileMultipart

    def __init__(self, config: BucketConfig, services: BackendServices) -> None:
        root_option = config.option("root")
        if not root_option:
            raise ValueError(
                f"bucket {config.name!r}: the file backend needs backend_options.root "
                "(the directory to serve)"
            )
        root = Path(root_option).expanduser()
        if not root.is_dir():
            raise ValueError(f"bucket {config.name!r}: file backend root {root} is not a directory")
        fsync_option = config.option("fsync", "true").lower()
        if fsync_option not in ("true", "false"):
            raise ValueError(f"bucket {config.name!r}: fsync must be 'true' or 'false'")
        self.root = root.resolve()
        durable = fsync_option == "true"
        self._root_fd: int | None = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._state = BackendState(self._root_fd)
        self._writer = ObjectWriter(self._root_fd_checked, self._state, durable=durable)
        self._multipart = FileMultipart(
            writer=self._writer,
            uploads=UploadStore(self._state, durable=durable),
            completions=CompletionLog(self._state),
            segments=self._segments,
        )
        self._copier = FileCopier(
            writer=self._writer, multipart=self._multipart, segments=self._segments, root=self.root
        )

    # -- reads ------------------------------------------------------------------------------

    def open_stored_object(
        self, key: str, version_id: str | None = None
    ) -> tuple[int, StoredObject]:
        """An open descriptor of ``key``'s file and what is known about it (caller closes)."""
        segments = self._read_segments(key, version_id)
        try:
            fd, info = open_regular_file(self._root_fd_checked(), segments)
        except PathBlocked as blocked:
            raise read_error(blocked, key) from None
        try:
            return fd, StoredObject(info, self._state.read_metadata(key, info))
        except BaseException:
            os.close(fd)
            raise

    async def get_object(self, request: ObjectRequest) -> StreamingResponse:
        fd, stored = self.open_stored_object(request.key, request.version_id)
        try:
            status, headers, start, length = self._describe(request, stored)
        except BaseException:
            os.close(fd)
            raise
        body = FileRangeBody(OffloadedFd(fd), start=start, length=length)
        return StreamingResponse(status, headers, body, content_length=length, release=body.aclose)

    async def head_object(self, request: ObjectRequest) -> StreamingResponse:
        segments = self._read_segments(request.key, request.version_id)
        try:
            info = stat_regular_file(self._root_fd_checked(), segments)
        except PathBlocked as blocked:
            raise read_error(blocked, request.key) from None
        stored = StoredObject(info, self._state.read_metadata(request.key, info))
        status, headers, _, length = self._describe(request, stored)
        return StreamingResponse(status, headers, EmptyStream(), content_length=length)

    def _describe(
        self, request: ObjectRequest, state: StoredObject
    ) -> tuple[int, CIMultiDict[str], int, int]:
        """Status, headers, first byte and length of a GET/HEAD answer (raises 304/412/416)."""
        last_modified = modification_time(state.info)
        part_number = requested_part_number(request.query, request.headers)
        evaluate_read_conditions(request.headers, etag=state.etag, last_modified=last_modified)
        size = state.info.st_size
        range_header = request.headers.get("Range")
        byte_range = parse_range(range_header, size) if range_header else None
        parts_count: int | None = None
        if part_number is not None:
            part_sizes = state.metadata.part_sizes if state.metadata is not None else ()
            span = part_span(part_number, size=size, part_sizes=part_sizes)
            parts_count = span.parts_count
            if span.length > 0:
                byte_range = (span.start, span.start + span.length - 1)

        headers: CIMultiDict[str] = CIMultiDict()
        headers["Content-Type"] = DEFAULT_CONTENT_TYPE
        if state.metadata is not None:
            for name, value in state.metadata.headers:
                if name == "x-amz-storage-class" and value == "STANDARD":
                    continue  # S3 only names non-default storage classes
                headers[name] = value
        for parameter, header in _RESPONSE_OVERRIDES:
            if parameter in request.query:
                headers[header] = request.query[parameter]
        headers["ETag"] = state.etag
        headers["Last-Modified"] = http_date(last_modified)
        headers["Accept-Ranges"] = "bytes"
        if parts_count is not None:
            headers["x-amz-mp-parts-count"] = str(parts_count)
        if byte_range is None:
            headers["Content-Length"] = str(size)
            return 200, headers, 0, size
        start, end = byte_range
        headers["Content-Range"] = content_range(start, end, size)
        headers["Content-Length"] = str(end - start + 1)
        return 206, headers, start, end - start + 1

    # -- writes -----------------------------------------------------------------------------

    async def put_object(
        self, request: ObjectRequest, body: RequestBody, content_length: int | None
    ) -> Response:
        segments = self._segments(request.key)
        if content_length is not None and content_length > MAX_OBJECT_SIZE:
            raise EntityTooLarge()
        expected_md5 = promised_md5(request.headers)
        expected_sha256 = promised_sha256(request.headers)
        conditional = has_write_conditions(request.headers)
        if conditional:
            # Fail fast, before receiving the body; the check that counts is repeated under
            # the key's lock at commit.
            evaluate_write_conditions(
                request.headers, existing_etag=self._writer.existing_etag(segments, request.key)
            )
        stored_headers = metadata_headers(request.headers)
        staged, received = await self._writer.receive(
            body,
            content_length,
            max_size=MAX_OBJECT_SIZE,
            expected_md5=expected_md5,
            expected_sha256=expected_sha256,
        )
        metadata = ObjectMetadata(etag=f'"{received.md5.hex()}"', headers=stored_headers)
        await self._writer.commit(
            key=request.key,
            segments=segments,
            staged=staged,
            metadata=metadata,
            conditions=request.headers if conditional else None,
        )
        return Response(200, CIMultiDict({"ETag": metadata.etag}))

    async def delete_object(self, request: ObjectRequest) -> Response:
        segments = self._existing_segments(request.key)
        conditions = delete_conditions(request.headers)
        if segments is not None and self._writer.existing_info(segments, request.key) is not None:
            found = segments
            await self._writer.run_locked(
                request.key, lambda: self._delete(found, request.key, conditions)
            )
        else:
            evaluate_delete_conditions(conditions, existing=None)  # If-Match: 404
        return Response(204)

    def _delete(self, segments: list[str], key: str, conditions: DeleteConditions) -> None:
        if conditions.present:
            # Under the key's lock, so the object checked is the object deleted.
            info = self._writer.existing_info(segments, key)
            existing = None
            if info is not None:
                stored = StoredObject(info, self._state.read_metadata(key, info))
                existing = ObjectState(stored.etag, modification_time(info), info.st_size)
            if not evaluate_delete_conditions(conditions, existing=existing):
                return
        root_fd = self._root_fd_checked()
        try:
            parent = open_directory(root_fd, segments[:-1], create=False)
        except PathBlocked:
            return  # deleted meanwhile
        try:
            if entry_kind(parent, segments[-1]) is not EntryKind.REGULAR:
                return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(segments[-1], dir_fd=parent)
        finally:
            os.close(parent)
        self._state.remove_metadata(key)
        remove_empty_directories(root_fd, segments[:-1])

    async def delete_objects(self, keys: list[str]) -> list[DeleteOutcome]:
        """Delete each key like DELETE; a key's failure is reported, never raised."""
        return [await self._delete_reporting(key) for key in keys]

    async def _delete_reporting(self, key: str) -> DeleteOutcome:
        try:
            await self.delete_object(ObjectRequest(key=key, headers=CIMultiDict()))
        except S3Error as error:
            return DeleteOutcome(key, error.code, error.public_message)
        except OSError:
            _log.exception("DeleteObjects could not delete %r", key)
            return DeleteOutcome(key, InternalError.code, InternalError.default_message)
        return DeleteOutcome(key)

    # -- multipart uploads: FileMultipart, through DelegatedMultipart ------------------------

    def upload_state_location(self) -> str:
        return str(self.root)

    async def cleanup_stale_uploads(
        self,
        older_than_seconds: float,
        *,
        on_removed: Callable[[str, str | None], None] | None = None,
    ) -> int:
        """Abort uploads started more than ``older_than_seconds`` ago and delete temp files
        untouched for as long; returns the number of uploads removed, each also reported to
        ``on_removed(upload_id, backend_key)``."""
        return await self._multipart.cleanup_stale(older_than_seconds, on_removed=on_removed)

    # -- copies (file_copy) -----------------------------------------------------------------

    def can_copy_from(self, source: ProxyBackend) -> bool:
        return isinstance(source, FileBackend)

    async def copy_object(
        self,
        request: ObjectRequest,
        source: ProxyBackend,
        source_key: str,
        source_version: str | None,
    ) -> WriteResult:
        return await self._copier.copy_object(
            request, self._file_source(source), source_key, source_version
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
        return await self._copier.upload_part_copy(
            request,
            upload_id,
            part_number,
            self._file_source(source),
            source_key,
            source_range,
            source_version=source_version,
        )

    def _file_source(self, source: ProxyBackend) -> FileBackend:
        if not isinstance(source, FileBackend):
            raise NotImplementedOperation("the file backend copies only from file buckets")
        return source

    # -- listing ----------------------------------------------------------------------------

    async def list_objects(self, request: ListRequest) -> ListPage:
        return await asyncio.to_thread(list_page, self._root_fd_checked(), self._state, request)

    async def close(self) -> None:
        if self._root_fd is not None:
            self._state.close()
            os.close(self._root_fd)
            self._root_fd = None

    # -- helpers ----------------------------------------------------------------------------

    def _root_fd_checked(self) -> int:
        if self._root_fd is None:
            raise RuntimeError("the file backend is closed")
        return self._root_fd

    def _segments(self, key: str) -> list[str]:
        """The file names along ``key``'s path below root (:mod:`.names`); a key this
        backend cannot store is 400 ``InvalidRequest`` naming the rule."""
        validate_key(key)
        if not key:
            raise InvalidRequest("the empty key names no object")
        return key_to_names(key)

    def _existing_segments(self, key: str) -> list[str] | None:
        """Like :meth:`_segments`, but ``None`` for a key no object here can have."""
        try:
            return self._segments(key)
        except InvalidRequest:
            return None

    def _read_segments(self, key: str, version_id: str | None) -> list[str]:
        """The path of an object to read; a key no object here can have is ``NoSuchKey``."""
        if version_id not in (None, "null"):
            raise InvalidArgument(
                "Invalid version id specified: the file backend keeps no versions"
            )
        segments = self._existing_segments(key)
        if segments is None:
            raise NoSuchKey()
        return segments
