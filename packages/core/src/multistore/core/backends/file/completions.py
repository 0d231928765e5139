"""The ``file`` backend's completion records: ``.multistore/completed/<upload id>.json``.

Each completion leaves the record ``multistore.core.backends.completed_uploads`` describes
(key, listed parts, ETag, checksum headers, Last-Modified), and a Complete for an upload that
no longer exists is answered from it when it names the same key and the same parts.

Records older than :data:`RETENTION_SECONDS` (by the file's mtime) are ignored and removed by
later completions (at most once a minute per process) and by ``cleanup_stale_uploads``.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from datetime import datetime

from multistore.core.backends.base import CompletedPart
from multistore.core.backends.completed_uploads import (
    PRUNE_INTERVAL_SECONDS,
    RETENTION_SECONDS,
    CompletedUpload,
    decode_completion,
    encode_completion,
)
from multistore.core.backends.file.layout import BackendState
from multistore.core.backends.file.paths import READ_FLAGS

_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{32}")
_DIRECTORY = "completed"
_READ_LIMIT = 1 << 20

__all__ = ["RETENTION_SECONDS", "CompletionLog"]


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
        # Not durable: losing a record in a crash only turns a retried Complete back into
        # the NoSuchUpload it would have been without this log.
        self._state.replace_document(
            self._state.required_directory(_DIRECTORY),
            f"{upload_id}.json",
            encode_completion(
                key=key, parts=parts, etag=etag, headers=headers, last_modified=last_modified
            ),
        )
        if time.monotonic() - self._last_prune > PRUNE_INTERVAL_SECONDS:
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
        record = decode_completion(raw)
        return record if record is not None and record.answers(key, parts) else None

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
