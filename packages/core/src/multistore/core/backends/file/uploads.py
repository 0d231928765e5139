"""Multipart uploads in progress, staged under ``.multistore/uploads/<upload id>/``.

- ``manifest.json`` — the backend key, when the upload started, and what the final object
  will carry: its headers (content headers, ``x-amz-meta-*``, storage class) and the
  checksum algorithm and type the client chose.
- ``part-<n>`` — the bytes of part *n*, exactly as received.
- ``part-<n>.json`` — its MD5, size and checksums, plus the inode, size and mtime of the data
  file it describes. As with object sidecars, a record that no longer matches its file is
  ignored, so a crash between writing the two can never pair one part's bytes with another
  part's ETag.

An upload directory is built in ``tmp`` and renamed into ``uploads``, so an upload id names
a complete manifest or nothing. Removing one renames it back into ``tmp`` before deleting
its files, so the id disappears at once for a concurrent UploadPart or Complete.

Upload ids are 32 URL-safe random characters (192 bits). Anything else is an unknown upload,
so a client-supplied id is never more than one plain name inside ``uploads``.

Everything here blocks; callers run it on worker threads, and change an upload only while
holding its key's lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from multistore.core.auth.checksums import ChecksumAlgorithm
from multistore.core.backends.file.layout import BackendState, new_temp_name
from multistore.core.backends.file.paths import DIRECTORY_FLAGS, READ_FLAGS
from multistore.core.errors import InvalidPart, NoSuchUpload

_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{32}")
_PART_FILE = re.compile(r"part-([1-9][0-9]{0,4})")
_MANIFEST = "manifest.json"
_FORMAT_VERSION = 1
_DOCUMENT_READ_LIMIT = 1 << 20


def new_upload_id() -> str:
    return secrets.token_urlsafe(24)


def _moment(ns: int) -> datetime:
    seconds, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)


@dataclass(frozen=True, slots=True)
class UploadManifest:
    upload_id: str
    key: str  # backend key
    initiated_ns: int
    headers: tuple[tuple[str, str], ...] = ()
    checksum_algorithm: ChecksumAlgorithm | None = None
    checksum_type: str | None = None  # "COMPOSITE" or "FULL_OBJECT"; None: S3's default

    @property
    def initiated(self) -> datetime:
        return _moment(self.initiated_ns)

    @property
    def storage_class(self) -> str:
        return dict(self.headers).get("x-amz-storage-class", "STANDARD")


@dataclass(frozen=True, slots=True)
class PartRecord:
    number: int
    md5: bytes
    size: int
    mtime_ns: int
    inode: int
    checksums: Mapping[ChecksumAlgorithm, str] = field(default_factory=dict)  # base64 values

    @property
    def etag(self) -> str:
        return f'"{self.md5.hex()}"'

    @property
    def last_modified(self) -> datetime:
        return _moment(self.mtime_ns)

    def describes(self, info: os.stat_result) -> bool:
        return (self.inode, self.size, self.mtime_ns) == (
            info.st_ino,
            info.st_size,
            info.st_mtime_ns,
        )


@dataclass(frozen=True, slots=True)
class OpenUpload:
    fd: int  # the upload's directory
    manifest: UploadManifest


class UploadStore:
    """The ``uploads`` directory of one backend root."""

    def __init__(self, state: BackendState, *, durable: bool) -> None:
        self._state = state
        self._durable = durable

    def create(self, manifest: UploadManifest) -> None:
        tmp_fd = self._state.required_directory("tmp")
        uploads_fd = self._state.required_directory("uploads")
        building = new_temp_name(".upload-dir")
        os.mkdir(building, 0o777, dir_fd=tmp_fd)
        try:
            directory_fd = os.open(building, DIRECTORY_FLAGS, dir_fd=tmp_fd)
            try:
                self._write_document(directory_fd, _MANIFEST, _manifest_document(manifest))
            finally:
                os.close(directory_fd)
            os.rename(building, manifest.upload_id, src_dir_fd=tmp_fd, dst_dir_fd=uploads_fd)
        except BaseException:
            shutil.rmtree(building, dir_fd=tmp_fd, ignore_errors=True)
            raise
        if self._durable:
            os.fsync(uploads_fd)

    @contextlib.contextmanager
    def opened(self, upload_id: str, key: str) -> Iterator[OpenUpload]:
        """The upload's directory and manifest; ``NoSuchUpload`` unless it exists for ``key``."""
        uploads_fd = self._state.directory("uploads", create=False)
        if uploads_fd is None or not _UPLOAD_ID.fullmatch(upload_id):
            raise NoSuchUpload()
        try:
            directory_fd = os.open(upload_id, DIRECTORY_FLAGS, dir_fd=uploads_fd)
        except (FileNotFoundError, NotADirectoryError):
            raise NoSuchUpload() from None
        try:
            manifest = _read_manifest(directory_fd, upload_id)
            # S3 scopes an upload id to its key: the right id with another key is unknown.
            if manifest is None or manifest.key != key:
                raise NoSuchUpload()
            yield OpenUpload(directory_fd, manifest)
        finally:
            os.close(directory_fd)

    def manifest(self, upload_id: str, key: str) -> UploadManifest:
        with self.opened(upload_id, key) as upload:
            return upload.manifest

    def manifests(self) -> list[UploadManifest]:
        uploads_fd = self._state.directory("uploads", create=False)
        if uploads_fd is None:
            return []
        found: list[UploadManifest] = []
        for upload_id in _upload_ids(uploads_fd):
            try:
                directory_fd = os.open(upload_id, DIRECTORY_FLAGS, dir_fd=uploads_fd)
            except OSError:
                continue  # removed meanwhile
            try:
                manifest = _read_manifest(directory_fd, upload_id)
            finally:
                os.close(directory_fd)
            if manifest is not None:
                found.append(manifest)
        return found

    # -- parts ------------------------------------------------------------------------------

    def add_part(self, upload: OpenUpload, record: PartRecord, staged_name: str) -> None:
        """Make the staged file (in ``tmp``) part ``record.number``, replacing an earlier one."""
        tmp_fd = self._state.required_directory("tmp")
        name = f"part-{record.number}"
        self._write_document(upload.fd, name + ".json", _record_document(record))
        os.replace(staged_name, name, src_dir_fd=tmp_fd, dst_dir_fd=upload.fd)
        if self._durable:
            os.fsync(upload.fd)

    def part(self, upload: OpenUpload, number: int) -> PartRecord | None:
        """Part ``number``'s record, if it still describes the data file there."""
        try:
            info = os.stat(f"part-{number}", dir_fd=upload.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        record = _read_record(upload.fd, number)
        return record if record is not None and record.describes(info) else None

    def parts(self, upload: OpenUpload) -> list[PartRecord]:
        numbers: list[int] = []
        with os.scandir(upload.fd) as entries:
            for entry in entries:
                match = _PART_FILE.fullmatch(entry.name)
                if match is not None:
                    numbers.append(int(match.group(1)))
        records = (self.part(upload, number) for number in sorted(numbers))
        return [record for record in records if record is not None]

    def open_part(self, upload: OpenUpload, record: PartRecord) -> int:
        """The part's data for reading; ``InvalidPart`` if it was replaced since ``record``."""
        try:
            fd = os.open(f"part-{record.number}", READ_FLAGS, dir_fd=upload.fd)
        except FileNotFoundError:
            raise InvalidPart(f"part {record.number} disappeared") from None
        if not record.describes(os.fstat(fd)):
            os.close(fd)
            raise InvalidPart(f"part {record.number} was replaced while completing the upload")
        return fd

    # -- removal ----------------------------------------------------------------------------

    def detach(self, upload_id: str, key: str | None) -> str:
        """Take the upload out of ``uploads`` at once; returns the name to :meth:`purge`.

        ``key`` ``None`` skips the check that the upload belongs to a key (stale cleanup).
        """
        if key is not None:
            with self.opened(upload_id, key):
                pass
        elif not _UPLOAD_ID.fullmatch(upload_id):
            raise NoSuchUpload()
        tmp_fd = self._state.required_directory("tmp")
        uploads_fd = self._state.required_directory("uploads")
        trash = new_temp_name(".aborted")
        try:
            os.rename(upload_id, trash, src_dir_fd=uploads_fd, dst_dir_fd=tmp_fd)
        except FileNotFoundError:
            raise NoSuchUpload() from None
        return trash

    def purge(self, trash: str) -> None:
        tmp_fd = self._state.directory("tmp", create=False)
        if tmp_fd is not None:
            shutil.rmtree(trash, dir_fd=tmp_fd, ignore_errors=True)

    def started_before(self, moment_ns: int) -> list[tuple[str, str | None]]:
        """``(upload id, key)`` of uploads started before ``moment_ns`` (key ``None`` when the
        manifest is unreadable, then judged by the directory's mtime)."""
        uploads_fd = self._state.directory("uploads", create=False)
        if uploads_fd is None:
            return []
        stale: list[tuple[str, str | None]] = []
        for upload_id in _upload_ids(uploads_fd):
            try:
                directory_fd = os.open(upload_id, DIRECTORY_FLAGS, dir_fd=uploads_fd)
            except OSError:
                continue
            try:
                manifest = _read_manifest(directory_fd, upload_id)
                started = os.fstat(directory_fd).st_mtime_ns if manifest is None else None
            finally:
                os.close(directory_fd)
            if manifest is not None and manifest.initiated_ns < moment_ns:
                stale.append((upload_id, manifest.key))
            elif started is not None and started < moment_ns:
                stale.append((upload_id, None))
        return stale

    def remove_temp_files_before(self, moment_ns: int) -> int:
        """Delete what crashed or abandoned writes left in ``tmp`` (unmodified since then)."""
        tmp_fd = self._state.directory("tmp", create=False)
        if tmp_fd is None:
            return 0
        removed = 0
        with os.scandir(tmp_fd) as entries:
            names = [(entry.name, entry.stat(follow_symlinks=False)) for entry in entries]
        for name, info in names:
            if info.st_mtime_ns >= moment_ns:
                continue
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(name, dir_fd=tmp_fd, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=tmp_fd)
            removed += 1
        return removed

    def _write_document(self, directory_fd: int, name: str, document: dict[str, Any]) -> None:
        payload = json.dumps(document, separators=(",", ":")).encode()
        self._state.replace_document(directory_fd, name, payload, durable=self._durable)


def _upload_ids(uploads_fd: int) -> list[str]:
    with os.scandir(uploads_fd) as entries:
        return [entry.name for entry in entries if _UPLOAD_ID.fullmatch(entry.name)]


def _manifest_document(manifest: UploadManifest) -> dict[str, Any]:
    algorithm = manifest.checksum_algorithm
    return {
        "version": _FORMAT_VERSION,
        "upload_id": manifest.upload_id,
        "key": manifest.key,
        "initiated_ns": manifest.initiated_ns,
        "headers": [list(pair) for pair in manifest.headers],
        "checksum_algorithm": algorithm.value if algorithm is not None else None,
        "checksum_type": manifest.checksum_type,
    }


def _read_manifest(directory_fd: int, upload_id: str) -> UploadManifest | None:
    document = _read_document(directory_fd, _MANIFEST)
    try:
        if document is None or document["upload_id"] != upload_id:
            return None
        algorithm = document["checksum_algorithm"]
        return UploadManifest(
            upload_id=upload_id,
            key=str(document["key"]),
            initiated_ns=int(document["initiated_ns"]),
            headers=tuple((str(name), str(value)) for name, value in document["headers"]),
            checksum_algorithm=ChecksumAlgorithm(algorithm) if algorithm else None,
            checksum_type=document["checksum_type"],
        )
    except (KeyError, TypeError, ValueError):
        return None


def _record_document(record: PartRecord) -> dict[str, Any]:
    return {
        "version": _FORMAT_VERSION,
        "part": record.number,
        "md5": record.md5.hex(),
        "size": record.size,
        "mtime_ns": record.mtime_ns,
        "inode": record.inode,
        "checksums": {algorithm.value: value for algorithm, value in record.checksums.items()},
    }


def _read_record(directory_fd: int, number: int) -> PartRecord | None:
    document = _read_document(directory_fd, f"part-{number}.json")
    try:
        if document is None or document["part"] != number:
            return None
        return PartRecord(
            number=number,
            md5=bytes.fromhex(document["md5"]),
            size=int(document["size"]),
            mtime_ns=int(document["mtime_ns"]),
            inode=int(document["inode"]),
            checksums={
                ChecksumAlgorithm(name): str(value) for name, value in document["checksums"].items()
            },
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _read_document(directory_fd: int, name: str) -> dict[str, Any] | None:
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=directory_fd)
    except OSError:
        return None
    try:
        raw = os.read(fd, _DOCUMENT_READ_LIMIT)
    finally:
        os.close(fd)
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("version") != _FORMAT_VERSION:
        return None
    return document
