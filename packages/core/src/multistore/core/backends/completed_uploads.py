"""What a completed multipart upload answered, kept for an hour so a retried Complete succeeds.

An SDK whose CompleteMultipartUpload response was lost (a timeout, a dropped connection)
sends it again. S3 answers such a repeat with 200 and the same ETag for a while after the
upload completed; answering ``NoSuchUpload`` would make the SDK report a failed upload that
in fact succeeded. So a backend that runs multipart uploads itself (``file``, ``gcs``,
``azure``) keeps, per completed upload, the key, the listed parts and the answer, and answers
a Complete of the same key with the same parts from it. Another key or other parts is
``NoSuchUpload``, as for any upload that no longer exists.

The record is one small JSON document. The ``file`` backend keeps it in a file of its own
(``file/completions.py``); stores reached over HTTP keep it as an object beside their upload
state, through :class:`CompletionRecords` and a :class:`RecordStore` of their own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from multistore.core.backends.base import CompletedPart, WriteResult
from multistore.core.errors import NoSuchUpload, S3Error
from multistore.core.s3.conditions import normalize_etag

logger = logging.getLogger(__name__)

RETENTION_SECONDS = 3600
PRUNE_INTERVAL_SECONDS = 60.0
PRUNE_CONCURRENCY = 16
_VERSION = 1


@dataclass(frozen=True, slots=True)
class CompletedUpload:
    """The first answer to a Complete, as recorded."""

    key: str
    etag: str
    headers: dict[str, str]
    last_modified: datetime
    parts: list[list[Any]] = field(default_factory=list)

    def answers(self, key: str, parts: list[CompletedPart]) -> bool:
        """Whether a Complete of ``key`` listing ``parts`` is a repeat of this one."""
        return self.key == key and self.parts == listed_parts(parts)

    def result(self) -> WriteResult:
        return WriteResult(etag=self.etag, headers=self.headers, last_modified=self.last_modified)


def listed_parts(parts: list[CompletedPart]) -> list[list[Any]]:
    """The parts as a repeat must list them again: numbers and ETags, quotes aside."""
    return [[part.part_number, normalize_etag(part.etag)] for part in parts]


def encode_completion(
    *,
    key: str,
    parts: list[CompletedPart],
    etag: str,
    headers: dict[str, str],
    last_modified: datetime,
) -> bytes:
    document = {
        "version": _VERSION,
        "key": key,
        "parts": listed_parts(parts),
        "etag": etag,
        "headers": headers,
        "last_modified": last_modified.isoformat(),
    }
    return json.dumps(document).encode()


def decode_completion(raw: bytes) -> CompletedUpload | None:
    """The record in ``raw``; ``None`` for anything unreadable or of another version."""
    try:
        document: dict[str, Any] = json.loads(raw)
        if document["version"] != _VERSION:
            return None
        last_modified = datetime.fromisoformat(document["last_modified"])
        if last_modified.tzinfo is None:
            last_modified = last_modified.replace(tzinfo=UTC)
        return CompletedUpload(
            key=str(document["key"]),
            etag=str(document["etag"]),
            headers={str(k): str(v) for k, v in document["headers"].items()},
            last_modified=last_modified
            if last_modified.tzinfo
            else last_modified.replace(tzinfo=UTC),
            parts=list(document["parts"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class RecordStore(Protocol):
    """Where a store reached over HTTP keeps completion records: one object per upload,
    under a prefix of the backend's own that clients can neither list nor write."""

    async def put_record(self, upload_id: str, data: bytes) -> None: ...

    async def get_record(self, upload_id: str) -> bytes | None:
        """The record's bytes; ``None`` when there is none."""
        ...

    async def records_before(self, cutoff: datetime) -> list[str]:
        """The names of the records written before ``cutoff``."""
        ...

    async def delete_record(self, name: str) -> None:
        """Delete one record named by :meth:`records_before`; a failure is logged, not raised."""
        ...


class CompletionRecords:
    """Records completions in a :class:`RecordStore` and finds the repeats among Completes."""

    def __init__(self, store: RecordStore) -> None:
        self._store = store
        self._last_prune = 0.0

    async def repeat(
        self, upload_id: str, key: str, parts: list[CompletedPart]
    ) -> WriteResult | None:
        """The first answer if this Complete repeats one of the last hour; ``None`` when
        ``upload_id`` has not completed. Checked before a Complete does anything else: a
        retry may arrive while the first is still clearing the upload's staged parts, which a
        fresh attempt would find missing.

        Raises ``NoSuchUpload`` for a completed upload named with another key or other
        parts, as S3 does for any upload that no longer exists."""
        record = await self.lookup(upload_id)
        if record is None:
            return None
        if not record.answers(key, parts):
            raise NoSuchUpload()
        return record.result()

    async def lookup(self, upload_id: str) -> CompletedUpload | None:
        """The recorded completion of ``upload_id`` if it is at most an hour old."""
        raw = await self._store.get_record(upload_id)
        record = decode_completion(raw) if raw is not None else None
        if record is None or record.last_modified < _cutoff():
            return None
        return record

    async def record(
        self, upload_id: str, key: str, parts: list[CompletedPart], result: WriteResult
    ) -> None:
        await self._store.put_record(
            upload_id,
            encode_completion(
                key=key,
                parts=parts,
                etag=result.etag,
                headers=dict(result.headers),
                last_modified=result.last_modified or datetime.now(UTC),
            ),
        )
        # Pruning lists every record: at most once a minute per process, on completions.
        if time.monotonic() - self._last_prune > PRUNE_INTERVAL_SECONDS:
            self._last_prune = time.monotonic()
            try:
                await self.prune()
            except S3Error as error:  # the store is unreachable: the next minute tries again
                logger.warning("could not prune completion records: %s", error.message)

    async def prune(self) -> None:
        """Delete the records older than the retention, a few at a time."""
        limit = asyncio.Semaphore(PRUNE_CONCURRENCY)

        async def delete(name: str) -> None:
            async with limit:
                await self._store.delete_record(name)

        await asyncio.gather(
            *(delete(name) for name in await self._store.records_before(_cutoff()))
        )


def _cutoff() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=RETENTION_SECONDS)
