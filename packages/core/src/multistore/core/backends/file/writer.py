"""How new bytes become an object of the file backend: staged, then committed under a lock.

Every write (PutObject, CompleteMultipartUpload, CopyObject, and the parts of an upload)
first stages its bytes as a temp file in ``.multistore/tmp`` — received from the client,
assembled from parts or copied from another file — and only then renames it into place.
Readers therefore see the old or the new object, never a partial one, and a write that
fails before its rename leaves nothing behind.

:meth:`ObjectWriter.commit` is the one place an object appears or is replaced. It takes the
key's lock — an ``asyncio.Lock`` within the process plus the ``flock`` of the key's stripe,
shared by every worker process — and re-checks ``If-None-Match``/``If-Match`` against the
object present at that moment before renaming. Holding the lock from check to rename is what
makes conditional writes atomic; the early, lock-free checks the callers make are only there
to fail fast, before a body is received or copied.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from multistore.core.backends.file.errors import (
    ParentVanished,
    prefix_in_the_way,
    read_error,
    unwritable_is_access_denied,
    write_error,
    write_error_from_os,
)
from multistore.core.backends.file.io import (
    OffloadedFd,
    ReceivedBody,
    RunningDigest,
    receive_body,
)
from multistore.core.backends.file.layout import (
    BackendState,
    ObjectMetadata,
    StoredObject,
    key_digest,
    lock_stripe,
    new_temp_name,
)
from multistore.core.backends.file.paths import (
    EntryKind,
    Obstacle,
    PathBlocked,
    entry_kind,
    open_directory,
    stat_regular_file,
)
from multistore.core.errors import (
    AccessDenied,
    BadDigest,
    InvalidRequest,
    XAmzContentSHA256Mismatch,
)
from multistore.core.http import Headers, RequestBody
from multistore.core.s3.conditions import evaluate_write_conditions

_T = TypeVar("_T")
_COMMIT_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A finished temp file in ``.multistore/tmp`` and its ``fstat``."""

    name: str
    info: os.stat_result


class StagingFile:
    """A temp file being written by a worker thread (see :meth:`ObjectWriter.staging_file`)."""

    def __init__(self, name: str, fd: int, *, durable: bool) -> None:
        self.name = name
        self.fd = fd
        self._durable = durable

    def finish(self) -> StagedFile:
        if self._durable:
            os.fsync(self.fd)
        return StagedFile(self.name, os.fstat(self.fd))


class ObjectWriter:
    """Staging and committing for one backend root (shared by every write path)."""

    def __init__(self, root_fd: Callable[[], int], state: BackendState, *, durable: bool) -> None:
        self._root_fd = root_fd
        self._state = state
        self.durable = durable
        self._locks: dict[str, asyncio.Lock] = {}

    # -- staging ----------------------------------------------------------------------------

    async def receive(
        self,
        body: RequestBody,
        content_length: int | None,
        *,
        max_size: int,
        expected_md5: bytes | None,
        expected_sha256: bytes | None,
        checksum: RunningDigest | None = None,
    ) -> tuple[StagedFile, ReceivedBody]:
        """Stream a request body into a verified temp file; on failure nothing is left."""
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
                self.discard_temp(temp_name)

        handle = OffloadedFd(fd, on_close=discard_unless_kept)
        try:
            received = await receive_body(
                body,
                handle,
                content_length=content_length,
                max_size=max_size,
                hash_sha256=expected_sha256 is not None,
                durable=self.durable,
                checksum=checksum,
            )
            if expected_md5 is not None and received.md5 != expected_md5:
                raise BadDigest()
            if expected_sha256 is not None and received.sha256 != expected_sha256:
                raise XAmzContentSHA256Mismatch()
            keep = True
        finally:
            handle.close()
        return StagedFile(temp_name, received.info), received

    @contextlib.contextmanager
    def staging_file(self) -> Iterator[StagingFile]:
        """A new temp file for a worker thread to fill (blocking).

        The descriptor is closed on exit; the file is removed unless the block finished
        normally, in which case the caller owns it (commit it or :meth:`discard_temp` it).
        """
        name = new_temp_name(".staged")
        with unwritable_is_access_denied():
            tmp_fd = self._state.required_directory("tmp")
            fd = os.open(
                name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666, dir_fd=tmp_fd
            )
        try:
            yield StagingFile(name, fd, durable=self.durable)
        except BaseException:
            os.close(fd)
            self.discard_temp(name)
            raise
        os.close(fd)

    async def offload_staging(
        self, job: Callable[[], _T], staged_of: Callable[[_T], StagedFile]
    ) -> _T:
        """Run a blocking ``job`` that stages a file, on a worker thread.

        A cancelled caller does not stop the thread (nothing can); the file it staged is
        removed as soon as it finishes, since no one is left to commit it.
        """
        future = asyncio.get_running_loop().run_in_executor(None, job)

        def discard_orphan(done: asyncio.Future[_T]) -> None:
            if not done.cancelled() and done.exception() is None:
                self.discard_temp(staged_of(done.result()).name)

        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(discard_orphan)
            raise

    def discard_temp(self, temp_name: str) -> None:
        tmp_fd = self._state.directory("tmp", create=False)
        if tmp_fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name, dir_fd=tmp_fd)

    # -- the key's lock ---------------------------------------------------------------------

    async def run_locked(
        self,
        key: str,
        work: Callable[[], _T],
        *,
        if_not_started: Callable[[], None] | None = None,
    ) -> _T:
        """Run blocking ``work`` on a worker thread while holding ``key``'s lock.

        Once started, the work finishes even if the caller is cancelled. ``if_not_started``
        runs when the caller goes away (or fails) before the work was handed to a thread.
        """
        stripe = lock_stripe(key_digest(key))
        started: asyncio.Future[_T] | None = None
        try:
            async with self._lock(stripe):
                started = asyncio.get_running_loop().run_in_executor(
                    None, self._under_flock, stripe, work
                )
                started.add_done_callback(_retrieve_exception)
                return await asyncio.shield(started)
        except BaseException:
            if started is None and if_not_started is not None:
                if_not_started()
            raise

    def _under_flock(self, stripe: str, work: Callable[[], _T]) -> _T:
        with unwritable_is_access_denied(), self._state.key_lock(stripe):
            return work()

    def _lock(self, stripe: str) -> asyncio.Lock:
        lock = self._locks.get(stripe)
        if lock is None:
            lock = self._locks[stripe] = asyncio.Lock()
        return lock

    # -- committing -------------------------------------------------------------------------

    async def commit(
        self,
        *,
        key: str,
        segments: list[str],
        staged: StagedFile,
        metadata: ObjectMetadata,
        conditions: Headers | None,
        claim: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
    ) -> None:
        """Move ``staged`` onto ``key`` under its lock; the temp file is gone either way.

        Under the lock, in this order: ``claim`` (may raise, e.g. the upload being completed
        was aborted meanwhile), the write conditions, the rename, then ``after``.
        """

        def work() -> None:
            try:
                if claim is not None:
                    claim()
                if conditions is not None:
                    evaluate_write_conditions(
                        conditions, existing_etag=self.existing_etag(segments, key)
                    )
                self._place_retrying(segments, key, staged, metadata)
            except BaseException:
                self.discard_temp(staged.name)
                raise
            if after is not None:
                after()

        await self.run_locked(key, work, if_not_started=lambda: self.discard_temp(staged.name))

    def _place_retrying(
        self, segments: list[str], key: str, staged: StagedFile, metadata: ObjectMetadata
    ) -> None:
        for attempt in range(1, _COMMIT_ATTEMPTS + 1):
            try:
                self._place(segments, key, staged, metadata)
                return
            except ParentVanished:
                # A DELETE of a sibling pruned the directory we just made; redo.
                if attempt == _COMMIT_ATTEMPTS:
                    raise InvalidRequest(
                        f"could not store {key!r}: its directory kept disappearing"
                    ) from None

    def _place(
        self, segments: list[str], key: str, staged: StagedFile, metadata: ObjectMetadata
    ) -> None:
        try:
            parent = open_directory(self._root_fd(), segments[:-1], create=True)
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
            self._state.write_metadata(key, metadata, staged.info)
            tmp_fd = self._state.required_directory("tmp")
            try:
                os.replace(staged.name, name, src_dir_fd=tmp_fd, dst_dir_fd=parent)
            except FileNotFoundError:
                raise ParentVanished() from None
            except OSError as exc:
                raise write_error_from_os(exc, key) from exc
            if self.durable:
                os.fsync(parent)
        finally:
            os.close(parent)

    # -- what is there now ------------------------------------------------------------------

    def existing_info(self, segments: list[str], key: str) -> os.stat_result | None:
        try:
            return stat_regular_file(self._root_fd(), segments)
        except PathBlocked as blocked:
            if blocked.obstacle in (Obstacle.SYMLINK, Obstacle.DENIED):
                raise read_error(blocked, key) from None
            return None

    def existing_etag(self, segments: list[str], key: str) -> str | None:
        info = self.existing_info(segments, key)
        if info is None:
            return None
        return StoredObject(info, self._state.read_metadata(key, info)).etag


def _retrieve_exception(future: asyncio.Future[_T]) -> None:
    # Work whose caller was cancelled still reports its outcome to nobody; fetching it keeps
    # asyncio from logging "exception was never retrieved".
    if not future.cancelled():
        future.exception()
