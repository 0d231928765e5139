"""What completed multipart uploads answered, kept for an hour so a retried Complete succeeds.

An SDK whose CompleteMultipartUpload response was lost (a timeout, a dropped connection)
sends it again. S3 answers such a repeat with 200 and the same ETag for a while after the
upload completed; answering ``NoSuchUpload`` would make the SDK report a failed upload
that in fact succeeded. So each completion leaves ``.multistore/completed/<upload id>.json``
(key, listed parts, ETag, checksum headers, Last-Modified), and a Complete for an upload
that no longer exists is answered from it when it names the same key and the same parts.

Records older than :data:`RETENTION_SECONDS` are ignored and removed by later completions
(at most once a minute per process) and by ``cleanup_stale_uploads``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from multistore.core.backends.base import CompletedPart
from multistore.core.backends.file.layout import BackendState
from multistore.core.backends.file.paths import READ_FLAGS
from multistore.core.s3.conditions import normalize_etag

RETENTION_SECONDS = 3600
_PRUNE_INTERVAL_SECONDS = 60.0
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{32}")
_DIRECTORY = "completed"
_VERSION = 1
_READ_LIMIT = 1 << 20


@dataclass(frozen=True, slots=True)
class CompletedUpload:
    etag: str
    headers: dict[str, str]
    last_modified: datetime


class CompletionLog:
    """The ``completed`` directory of one backend root (blocking: call from worker threads)."""

    def __init__(self, state: BackendState) -> None:
        self._state = state
        self._last_prune = 0.0

    def record(
        self,
        *,
        upload_id: str,
        key: str,
        parts: list[CompletedPart],
        etag: str,
        headers: dict[str, str],
        last_modified: datetime,
    ) -> None:
        document = {
            "version": _VERSION,
            "key": key,
            "parts": _listed(parts),
            "etag": etag,
            "headers": headers,
            "last_modified": last_modified.isoformat(),
        }
        # Not durable: losing a record in a crash only turns a retried Complete back into
        # the NoSuchUpload it would have been without this log.
        self._state.replace_document(
            self._state.required_directory(_DIRECTORY),
            f"{upload_id}.json",
            json.dumps(document).encode(),
        )
        if time.monotonic() - self._last_prune > _PRUNE_INTERVAL_SECONDS:
            self._last_prune = time.monotonic()
            self.prune(time.time_ns() - RETENTION_SECONDS * 1_000_000_000)

    def repeat(
        self, upload_id: str, key: str, parts: list[CompletedPart]
    ) -> CompletedUpload | None:
        """The first answer to this Complete, if the upload completed recently with these
        very parts; ``None`` otherwise."""
        directory_fd = self._state.directory(_DIRECTORY, create=False)
        if directory_fd is None or not _UPLOAD_ID.fullmatch(upload_id):
            return None
        try:
            fd = os.open(f"{upload_id}.json", READ_FLAGS, dir_fd=directory_fd)
        except OSError:
            return None
        try:
            if os.fstat(fd).st_mtime < time.time() - RETENTION_SECONDS:
                return None
            raw = os.read(fd, _READ_LIMIT)
        finally:
            os.close(fd)
        try:
            document: dict[str, Any] = json.loads(raw)
            if (
                document["version"] != _VERSION
                or document["key"] != key
                or document["parts"] != _listed(parts)
            ):
                return None
            return CompletedUpload(
                etag=str(document["etag"]),
                headers={str(k): str(v) for k, v in document["headers"].items()},
                last_modified=datetime.fromisoformat(document["last_modified"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def prune(self, before_ns: int) -> None:
        """Remove records written before ``before_ns``."""
        directory_fd = self._state.directory(_DIRECTORY, create=False)
        if directory_fd is None:
            return
        with os.scandir(directory_fd) as entries:
            stale = [
                entry.name
                for entry in entries
                if entry.stat(follow_symlinks=False).st_mtime_ns < before_ns
            ]
        for name in stale:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=directory_fd)


def _listed(parts: list[CompletedPart]) -> list[list[Any]]:
    return [[part.part_number, normalize_etag(part.etag)] for part in parts]
