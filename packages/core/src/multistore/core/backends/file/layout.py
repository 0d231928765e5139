"""The file backend's private state under ``<root>/.multistore``.

- ``meta/<aa>/<sha256(key)>.json`` — one sidecar per object: its MD5 ETag, the headers
  S3 stores with an object, and for a multipart object the sizes of its parts. Named by a
  hash of the key rather than mirroring the key's path, so no key can be too long for it
  and no two keys can collide in it (a mirrored tree would need ``x.json`` to be both the
  sidecar of ``x`` and the directory of ``x.json/y``).
- ``tmp/`` — bodies being received, copied or assembled; on the same file system as the
  objects so that the final ``rename`` is atomic, and outside the object tree so listings
  never see them.
- ``uploads/<upload id>/`` — one directory per multipart upload in progress: its manifest
  and its parts (:mod:`.uploads`).
- ``completed/<upload id>.json`` — the answers of the last hour's completions, for retried
  Completes (:mod:`.completions`).
- ``locks/<abc>.lock`` — 4096 ``flock`` stripes; every worker process takes the stripe of a
  key around check-and-rename, so conditional writes are atomic across processes. Striping
  keeps the number of lock files bounded; unrelated keys sharing a stripe only queue for
  the few milliseconds of a commit.

A sidecar records the size, mtime and inode of the file it describes and is used only while
they still match: a file replaced by hand (or a crash between the sidecar and the data
rename) falls back to derived values instead of serving another file's ETag or Content-Type.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from multistore.core.backends.file.paths import (
    DIRECTORY_FLAGS,
    PathBlocked,
    close_all,
    open_directory_chain,
)
from multistore.core.http import Headers

INTERNAL_DIRECTORY = ".multistore"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_SIDECAR_VERSION = 1
_SIDECAR_READ_LIMIT = 1 << 20
_STORED_HEADERS = (
    "Content-Type",
    "Content-Encoding",
    "Content-Disposition",
    "Content-Language",
    "Cache-Control",
    "Expires",
    "x-amz-storage-class",
)


@dataclass(frozen=True, slots=True)
class ObjectMetadata:
    """What S3 would remember about an object besides its bytes."""

    etag: str  # quoted
    headers: tuple[tuple[str, str], ...] = ()
    # Sizes of the parts of an object made by CompleteMultipartUpload, in order, so that
    # GET/HEAD ?partNumber=N can serve part N; empty for any other object.
    part_sizes: tuple[int, ...] = ()

    @property
    def storage_class(self) -> str:
        for name, value in self.headers:
            if name == "x-amz-storage-class":
                return value
        return "STANDARD"


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A regular file of the tree with its sidecar, when the sidecar still describes it."""

    info: os.stat_result
    metadata: ObjectMetadata | None

    @property
    def etag(self) -> str:
        return self.metadata.etag if self.metadata is not None else fallback_etag(self.info)


def metadata_headers(request_headers: Headers) -> tuple[tuple[str, str], ...]:
    """The request headers a PUT stores with the object, in a stable order."""
    stored: list[tuple[str, str]] = []
    for name in _STORED_HEADERS:
        values = request_headers.getall(name, [])
        if name == "Content-Encoding":
            # aws-chunked describes the upload framing, not the object; S3 drops it.
            values = [
                token.strip()
                for value in values
                for token in value.split(",")
                if token.strip() and token.strip().lower() != "aws-chunked"
            ]
        if values:
            stored.append((name, ",".join(values)))
    user: dict[str, list[str]] = {}
    for name, value in request_headers.items():
        lowered = name.lower()
        if lowered.startswith("x-amz-meta-"):
            user.setdefault(lowered, []).append(value)
    stored.extend((name, ",".join(user[name])) for name in sorted(user))
    return tuple(stored)


def fallback_etag(info: os.stat_result) -> str:
    """ETag of a file without a sidecar: mtime and size, *not* an MD5 of the content.

    The ``-`` makes it look like a multipart ETag, which is exactly what tells clients that
    validate MD5 ETags (rclone, aws s3 sync) not to compare it with their local MD5.
    """
    return f'"{info.st_mtime_ns:x}-{info.st_size:x}"'


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class BackendState:
    """Descriptors of the ``.multistore`` directories, opened once and shared by threads."""

    def __init__(self, root_fd: int) -> None:
        self._root_fd = root_fd
        self._guard = threading.Lock()
        self._fds: dict[str, int] = {}
        # Descriptors of directories removed under us. They are closed only with the state:
        # another thread may still be using one, and a closed number can be reused at once.
        self._retired: list[int] = []

    def directory(self, name: str, *, create: bool) -> int | None:
        """The descriptor of ``.multistore/<name>``; ``None`` if absent and not ``create``.

        A cached descriptor whose directory was deleted (an operator removed ``.multistore``
        by hand, or another process did) is reopened, so writes recreate the state instead
        of failing until a restart.
        """
        fd = self._fds.get(name)
        if fd is not None and os.fstat(fd).st_nlink:
            return fd
        with self._guard:
            fd = self._fds.get(name)
            if fd is not None:
                if os.fstat(fd).st_nlink:
                    return fd
                self._retired.append(self._fds.pop(name))
            try:
                chain = open_directory_chain(
                    self._root_fd, (INTERNAL_DIRECTORY, name), create=create
                )
            except PathBlocked:
                if create:
                    raise
                return None
            close_all(chain[:-1])
            self._fds[name] = chain[-1]
            return chain[-1]

    def required_directory(self, name: str) -> int:
        fd = self.directory(name, create=True)
        assert fd is not None
        return fd

    def replace_document(
        self, directory_fd: int, name: str, payload: bytes, *, durable: bool = False
    ) -> None:
        """Atomically put ``payload`` at ``name`` in ``directory_fd``: written under ``tmp``,
        then renamed into place, so a reader sees the old document or the new, never part."""
        tmp_fd = self.required_directory("tmp")
        temp_name = new_temp_name(".json")
        try:
            fd = os.open(
                temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666, dir_fd=tmp_fd
            )
            try:
                os.write(fd, payload)
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp_name, name, src_dir_fd=tmp_fd, dst_dir_fd=directory_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name, dir_fd=tmp_fd)
            raise

    def close(self) -> None:
        with self._guard:
            close_all([*self._fds.values(), *self._retired])
            self._fds.clear()
            self._retired.clear()

    # -- sidecars ---------------------------------------------------------------------------

    def read_metadata(self, key: str, info: os.stat_result) -> ObjectMetadata | None:
        """The sidecar of ``key`` if it still describes the file ``info`` was taken from."""
        meta_fd = self.directory("meta", create=False)
        if meta_fd is None:
            return None
        digest = key_digest(key)
        try:
            fd = os.open(
                f"{digest[:2]}/{digest}.json",
                os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                dir_fd=meta_fd,
            )
        except OSError:
            return None
        try:
            raw = os.read(fd, _SIDECAR_READ_LIMIT)
        finally:
            os.close(fd)
        try:
            document = json.loads(raw)
            if (
                document["version"] != _SIDECAR_VERSION
                or document["key"] != key
                or document["size"] != info.st_size
                or document["mtime_ns"] != info.st_mtime_ns
                or document["inode"] != info.st_ino
            ):
                return None
            headers = tuple((str(name), str(value)) for name, value in document["headers"])
            # "parts" was added later; sidecars without it describe single-part objects, or
            # multipart ones whose part sizes were not recorded (served whole for part 1).
            part_sizes = tuple(int(size) for size in document.get("parts", ()))
            if part_sizes and sum(part_sizes) != info.st_size:
                part_sizes = ()
            return ObjectMetadata(
                etag=str(document["etag"]), headers=headers, part_sizes=part_sizes
            )
        except (ValueError, KeyError, TypeError):
            return None

    def write_metadata(self, key: str, metadata: ObjectMetadata, info: os.stat_result) -> None:
        """Atomically replace the sidecar of ``key``; ``info`` is the data file it describes."""
        document = {
            "version": _SIDECAR_VERSION,
            "key": key,
            "etag": metadata.etag,
            "size": info.st_size,
            "mtime_ns": info.st_mtime_ns,
            "inode": info.st_ino,
            "headers": [list(pair) for pair in metadata.headers],
        }
        if metadata.part_sizes:
            document["parts"] = list(metadata.part_sizes)
        payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        digest = key_digest(key)
        fanout_fd = self._metadata_fanout(digest[:2])
        try:
            # Not durable: a sidecar lost in a crash only makes the object fall back to
            # derived values (see module docstring); it can never describe the wrong file.
            self.replace_document(fanout_fd, f"{digest}.json", payload)
        finally:
            os.close(fanout_fd)

    def remove_metadata(self, key: str) -> None:
        meta_fd = self.directory("meta", create=False)
        if meta_fd is None:
            return
        digest = key_digest(key)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(f"{digest[:2]}/{digest}.json", dir_fd=meta_fd)

    def _metadata_fanout(self, name: str) -> int:
        meta_fd = self.required_directory("meta")
        try:
            return os.open(name, DIRECTORY_FLAGS, dir_fd=meta_fd)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o777, dir_fd=meta_fd)
            return os.open(name, DIRECTORY_FLAGS, dir_fd=meta_fd)

    # -- cross-process key locks ------------------------------------------------------------

    @contextlib.contextmanager
    def key_lock(self, stripe: str) -> Iterator[None]:
        """Hold the ``flock`` of a key's stripe (blocks: call from a worker thread)."""
        locks_fd = self.required_directory("locks")
        fd = os.open(
            f"{stripe}.lock",
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o666,
            dir_fd=locks_fd,
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock


def lock_stripe(digest: str) -> str:
    return digest[:3]


def new_temp_name(suffix: str) -> str:
    return f"{os.getpid()}-{uuid.uuid4().hex}{suffix}"
