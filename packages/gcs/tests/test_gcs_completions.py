"""Completion records on the GCS emulator: stored, read back, and pruned by age."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from multistore.core.backends.base import BackendServices
from multistore.core.config import BucketConfig
from multistore.gcs import GcsBackend
from multistore.gcs.completions import RECORD_PREFIX, GcsRecordStore
from multistore.http_client import HttpClient
from multistore.testing.gcs_emulator import GcsEmulator

UPLOAD = "0123456789abcdef0123456789abcdef"


@pytest.fixture
async def store(gcs_emulator: GcsEmulator) -> AsyncIterator[GcsRecordStore]:
    gcs_emulator.create_bucket("completion-records")
    client = HttpClient()
    config = BucketConfig(
        name="virtual",
        backend_type="gcs",
        backend_options={"bucket_name": "completion-records", "endpoint": gcs_emulator.endpoint,
                         "skip_signature": "true"},
    )  # fmt: skip
    backend = GcsBackend(config, BackendServices(transport=client))
    yield GcsRecordStore(backend.wire, backend)
    await client.close()


async def test_records_are_kept_until_they_are_older_than_the_cutoff(
    store: GcsRecordStore, gcs_emulator: GcsEmulator
) -> None:
    assert await store.get_record(UPLOAD) is None
    await store.put_record(UPLOAD, b'{"version": 1}')
    assert await store.get_record(UPLOAD) == b'{"version": 1}'
    assert gcs_emulator.keys("completion-records") == {RECORD_PREFIX + UPLOAD}
    assert await store.records_before(datetime.now(UTC) - timedelta(minutes=5)) == []
    assert await store.get_record(UPLOAD) == b'{"version": 1}'
    (stale,) = await store.records_before(datetime.now(UTC) + timedelta(minutes=5))
    await store.delete_record(stale)
    assert await store.get_record(UPLOAD) is None
    assert gcs_emulator.keys("completion-records") == set()
