"""Completion records: which Complete is a repeat, how old a record may be, when pruning runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from multistore.core.backends.base import CompletedPart, WriteResult
from multistore.core.backends.completed_uploads import (
    RETENTION_SECONDS,
    CompletionRecords,
    decode_completion,
    encode_completion,
)
from multistore.core.errors import NoSuchUpload

UPLOAD = "0123456789abcdef0123456789abcdef"
PARTS = [CompletedPart(1, '"aa"'), CompletedPart(2, "bb")]


class MemoryStore:
    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}
        self.prunes: list[datetime] = []

    async def put_record(self, upload_id: str, data: bytes) -> None:
        self.records[upload_id] = data

    async def get_record(self, upload_id: str) -> bytes | None:
        return self.records.get(upload_id)

    async def records_before(self, cutoff: datetime) -> list[str]:
        self.prunes.append(cutoff)
        return [name for name in self.records if name.startswith("old")]

    async def delete_record(self, name: str) -> None:
        del self.records[name]


def test_a_repeat_names_the_same_key_and_parts_quotes_aside() -> None:
    record = decode_completion(
        encode_completion(
            key="k", parts=PARTS, etag='"e-2"', headers={"x-amz-checksum-crc32": "AAAA"},
            last_modified=datetime(2026, 12, 4, 12, tzinfo=UTC),
        )
    )  # fmt: skip
    assert record is not None
    assert record.answers("k", [CompletedPart(1, "aa"), CompletedPart(2, '"bb"')])
    assert not record.answers("other", PARTS)
    assert not record.answers("k", PARTS[:1])
    assert not record.answers("k", [CompletedPart(1, "aa"), CompletedPart(3, "bb")])
    assert record.result() == WriteResult(
        etag='"e-2"', headers={"x-amz-checksum-crc32": "AAAA"},
        last_modified=datetime(2026, 12, 4, 12, tzinfo=UTC),
    )  # fmt: skip


def test_unreadable_records_are_no_records() -> None:
    for raw in (b"", b"[]", b"{}", b'{"version": 2}', json.dumps({"version": 1}).encode()):
        assert decode_completion(raw) is None


async def test_records_answer_for_an_hour_and_pruning_runs_once_a_minute() -> None:
    store = MemoryStore()
    store.records["old-one"] = b"{}"
    records = CompletionRecords(store)
    assert await records.lookup(UPLOAD) is None
    now = datetime.now(UTC)
    await records.record(UPLOAD, "k", PARTS, WriteResult(etag='"e"', last_modified=now))
    repeat = await records.repeat(UPLOAD, "k", PARTS)
    assert repeat is not None
    assert repeat.etag == '"e"'
    with pytest.raises(NoSuchUpload):
        await records.repeat(UPLOAD, "k", PARTS[:1])
    with pytest.raises(NoSuchUpload):
        await records.repeat(UPLOAD, "other", PARTS)
    assert await records.repeat("f" * 32, "k", PARTS) is None  # never completed
    await records.record("f" * 32, "k", PARTS, WriteResult(etag='"e"', last_modified=now))
    assert len(store.prunes) == 1  # the second completion within the minute does not prune
    assert "old-one" not in store.records
    assert store.prunes[0] < now - timedelta(seconds=RETENTION_SECONDS - 5)
    old = now - timedelta(seconds=RETENTION_SECONDS + 5)
    await records.record(UPLOAD, "k", PARTS, WriteResult(etag='"e"', last_modified=old))
    assert await records.lookup(UPLOAD) is None
