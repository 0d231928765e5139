"""The ``file`` backend: a local directory served as a bucket.

``backend_options``: ``root`` (required, an existing directory) and ``fsync`` (``"true"`` by
default; ``"false"`` skips the data and directory fsyncs, for scratch data and tests).

Each key is a file at exactly that path below ``root`` (``report*.pdf``, ``100%.txt``,
``a=b``, spaces and unicode are file names as they are). Decisions a user may meet:

- **Never outside root.** Paths are walked one ``openat(O_NOFOLLOW)`` at a time
  (:mod:`.file_paths`), so ``..``, absolute keys and symlinks cannot lead out. Symbolic links
  inside root are not followed at all, even when they point inside it: listings skip them
  and any keyed operation whose path meets one is 403 ``AccessDenied``.
- **Reserved name.** Keys whose first segment is ``.multistore`` are 400 ``InvalidRequest``;
  that directory holds sidecars, uploads in progress and lock files (:mod:`.file_layout`).
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
  became empty (never root); a missing key is still 204.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from multidict import CIMultiDict

from multistore.core.backends.base import (
    BackendServices,
    ListPage,
    ListRequest,
    ObjectRequest,
)
from multistore.core.backends.file_errors import (
    ParentVanished,
    prefix_in_the_way,
    read_error,
    unwritable_is_access_denied,
    write_error,
    write_error_from_os,
)
from multistore.core.backends.file_io import (
    EmptyStream,
    FileRangeBody,
    OffloadedFd,
    ReceivedBody,
    promised_md5,
    promised_sha256,
    receive_body,
)
from multistore.core.backends.file_layout import (
    DEFAULT_CONTENT_TYPE,
    INTERNAL_DIRECTORY,
    BackendState,
    ObjectMetadata,
    fallback_etag,
    key_digest,
    lock_stripe,
    metadata_headers,
    new_temp_name,
)
from multistore.core.backends.file_listing import list_page, modification_time
from multistore.core.backends.file_paths import (
    EntryKind,
    Obstacle,
    PathBlocked,
    entry_kind,
    open_directory,
    open_regular_file,
    remove_empty_directories,
    stat_regular_file,
)
from multistore.core.config import BucketConfig
from multistore.core.errors import (
    AccessDenied,
    BadDigest,
    EntityTooLarge,
    InvalidArgument,
    InvalidRequest,
    XAmzContentSHA256Mismatch,
)
from multistore.core.http import Headers, RequestBody, Response, StreamingResponse
from multistore.core.s3.conditions import (
    evaluate_read_conditions,
    evaluate_write_conditions,
    has_write_conditions,
    http_date,
)
from multistore.core.s3.keys import validate_key
from multistore.core.s3.ranges import content_range, parse_range

MAX_OBJECT_SIZE = 5 * 1024**3  # S3's limit for a single PUT
_RESPONSE_OVERRIDES = (
    ("response-content-type", "Content-Type"),
    ("response-content-disposition", "Content-Disposition"),
    ("response-cache-control", "Cache-Control"),
    ("response-content-encoding", "Content-Encoding"),
    ("response-content-language", "Content-Language"),
    ("response-expires", "Expires"),
)
_COMMIT_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class _ObjectState:
    info: os.stat_result
    metadata: ObjectMetadata | None

    @property
    def etag(self) -> str:
        return self.metadata.etag if self.metadata is not None else fallback_etag(self.info)


class FileBackend:
    """Serves the directory ``backend_options["root"]`` as an S3 bucket."""

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
        self._durable = fsync_option == "true"
        self._root_fd: int | None = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._state = BackendState(self._root_fd)
        self._locks: dict[str, asyncio.Lock] = {}

    # -- reads ------------------------------------------------------------------------------

    async def get_object(self, request: ObjectRequest) -> StreamingResponse:
        segments = self._read_segments(request)
        try:
            fd, info = open_regular_file(self._root_fd_checked(), segments)
        except PathBlocked as blocked:
            raise read_error(blocked, request.key) from None
        try:
            state = _ObjectState(info, self._state.read_metadata(request.key, info))
            status, headers, start, length = self._describe(request, state)
        except BaseException:
            os.close(fd)
            raise
        body = FileRangeBody(OffloadedFd(fd), start=start, length=length)
        return StreamingResponse(status, headers, body, content_length=length, release=body.aclose)

    async def head_object(self, request: ObjectRequest) -> StreamingResponse:
        segments = self._read_segments(request)
        try:
            info = stat_regular_file(self._root_fd_checked(), segments)
        except PathBlocked as blocked:
            raise read_error(blocked, request.key) from None
        state = _ObjectState(info, self._state.read_metadata(request.key, info))
        status, headers, _, length = self._describe(request, state)
        return StreamingResponse(status, headers, EmptyStream(), content_length=length)

    def _describe(
        self, request: ObjectRequest, state: _ObjectState
    ) -> tuple[int, CIMultiDict[str], int, int]:
        """Status, headers, first byte and length of a GET/HEAD answer (raises 304/412/416)."""
        last_modified = modification_time(state.info)
        evaluate_read_conditions(request.headers, etag=state.etag, last_modified=last_modified)
        size = state.info.st_size
        range_header = request.headers.get("Range")
        byte_range = parse_range(range_header, size) if range_header else None

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
                request.headers, existing_etag=self._existing_etag(segments, request.key)
            )
        stored_headers = metadata_headers(request.headers)

        temp_name, received = await self._receive(
            body, content_length, expected_md5=expected_md5, expected_sha256=expected_sha256
        )
        metadata = ObjectMetadata(etag=f'"{received.md5.hex()}"', headers=stored_headers)
        stripe = lock_stripe(key_digest(request.key))
        commit: asyncio.Future[None] | None = None
        try:
            async with self._lock(stripe):
                commit = asyncio.get_running_loop().run_in_executor(
                    None,
                    self._commit,
                    segments,
                    request.key,
                    stripe,
                    temp_name,
                    metadata,
                    received.info,
                    request.headers if conditional else None,
                )
                commit.add_done_callback(_retrieve_exception)
                # shield: once started, the commit finishes (and cleans up) on its own.
                await asyncio.shield(commit)
        except BaseException:
            if commit is None:
                self._discard_temp(temp_name)
            raise
        return Response(200, CIMultiDict({"ETag": metadata.etag}))

    async def _receive(
        self,
        body: RequestBody,
        content_length: int | None,
        *,
        expected_md5: bytes | None,
        expected_sha256: bytes | None,
    ) -> tuple[str, ReceivedBody]:
        """Stream the body into a verified temp file; on any failure nothing is left behind."""
        temp_name = new_temp_name(".upload")
        with unwritable_is_access_denied():
            tmp_fd = self._state.required_directory("tmp")
            fd = os.open(
                temp_name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                0o666,
                dir_fd=tmp_fd,
            )
        keep = False

        def discard_unless_kept() -> None:
            if not keep:
                self._discard_temp(temp_name)

        handle = OffloadedFd(fd, on_close=discard_unless_kept)
        try:
            received = await receive_body(
                body,
                handle,
                content_length=content_length,
                max_size=MAX_OBJECT_SIZE,
                hash_sha256=expected_sha256 is not None,
                durable=self._durable,
            )
            if expected_md5 is not None and received.md5 != expected_md5:
                raise BadDigest()
            if expected_sha256 is not None and received.sha256 != expected_sha256:
                raise XAmzContentSHA256Mismatch()
            keep = True
        finally:
            handle.close()
        return temp_name, received

    def _commit(
        self,
        segments: list[str],
        key: str,
        stripe: str,
        temp_name: str,
        metadata: ObjectMetadata,
        info: os.stat_result,
        conditions: Headers | None,
    ) -> None:
        """Check conditions and move the upload into place under the key's lock (blocking)."""
        try:
            with unwritable_is_access_denied(), self._state.key_lock(stripe):
                if conditions is not None:
                    evaluate_write_conditions(
                        conditions, existing_etag=self._existing_etag(segments, key)
                    )
                for attempt in range(1, _COMMIT_ATTEMPTS + 1):
                    try:
                        self._place(segments, key, temp_name, metadata, info)
                        return
                    except ParentVanished:
                        # A DELETE of a sibling pruned the directory we just made; redo.
                        if attempt == _COMMIT_ATTEMPTS:
                            raise InvalidRequest(
                                f"could not store {key!r}: its directory kept disappearing"
                            ) from None
        except BaseException:
            self._discard_temp(temp_name)
            raise

    def _place(
        self,
        segments: list[str],
        key: str,
        temp_name: str,
        metadata: ObjectMetadata,
        info: os.stat_result,
    ) -> None:
        root_fd = self._root_fd_checked()
        try:
            parent = open_directory(root_fd, segments[:-1], create=True)
        except PathBlocked as blocked:
            if blocked.obstacle is Obstacle.MISSING:
                raise ParentVanished() from None
            raise write_error(blocked, key) from None
        name = segments[-1]
        try:
            try:
                kind = entry_kind(parent, name)
            except OSError as exc:
                raise write_error_from_os(exc, key) from exc
            if kind is EntryKind.SYMLINK:
                raise AccessDenied(
                    f"{key!r} is a symbolic link, which the file backend never follows"
                )
            if kind is EntryKind.DIRECTORY:
                raise prefix_in_the_way(key)
            if kind is EntryKind.OTHER:
                raise InvalidRequest(f"cannot store {key!r}: a special file is in its place")
            self._state.write_metadata(key, metadata, info)
            tmp_fd = self._state.required_directory("tmp")
            try:
                os.replace(temp_name, name, src_dir_fd=tmp_fd, dst_dir_fd=parent)
            except FileNotFoundError:
                raise ParentVanished() from None
            except OSError as exc:
                raise write_error_from_os(exc, key) from exc
            if self._durable:
                os.fsync(parent)
        finally:
            os.close(parent)

    async def delete_object(self, request: ObjectRequest) -> Response:
        segments = self._segments(request.key)
        if self._existing_info(segments, request.key) is not None:
            stripe = lock_stripe(key_digest(request.key))
            async with self._lock(stripe):
                await asyncio.to_thread(self._delete, segments, request.key, stripe)
        return Response(204)

    def _delete(self, segments: list[str], key: str, stripe: str) -> None:
        root_fd = self._root_fd_checked()
        with unwritable_is_access_denied(), self._state.key_lock(stripe):
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
        # Keys arrive validated; checking again costs little and keeps this backend safe
        # for any caller.
        validate_key(key)
        segments = key.split("/")
        if segments[0] == INTERNAL_DIRECTORY:
            raise InvalidRequest(f"keys starting with {INTERNAL_DIRECTORY + '/'!r} are reserved")
        return segments

    def _read_segments(self, request: ObjectRequest) -> list[str]:
        if request.version_id not in (None, "null"):
            raise InvalidArgument(
                "Invalid version id specified: the file backend keeps no versions"
            )
        return self._segments(request.key)

    def _existing_info(self, segments: list[str], key: str) -> os.stat_result | None:
        try:
            return stat_regular_file(self._root_fd_checked(), segments)
        except PathBlocked as blocked:
            if blocked.obstacle in (Obstacle.SYMLINK, Obstacle.DENIED):
                raise read_error(blocked, key) from None
            return None

    def _existing_etag(self, segments: list[str], key: str) -> str | None:
        info = self._existing_info(segments, key)
        if info is None:
            return None
        return _ObjectState(info, self._state.read_metadata(key, info)).etag

    def _lock(self, stripe: str) -> asyncio.Lock:
        lock = self._locks.get(stripe)
        if lock is None:
            lock = self._locks[stripe] = asyncio.Lock()
        return lock

    def _discard_temp(self, temp_name: str) -> None:
        tmp_fd = self._state.directory("tmp", create=False)
        if tmp_fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name, dir_fd=tmp_fd)


def _retrieve_exception(future: asyncio.Future[None]) -> None:
    # A commit whose caller was cancelled still reports its outcome to nobody; fetching
    # it keeps asyncio from logging "exception was never retrieved".
    if not future.cancelled():
        future.exception()
