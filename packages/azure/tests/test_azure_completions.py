"""Completion records on Azurite: stored, read back, and pruned by age."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from multistore.azure.backend import AzureBackend
from multistore.azure.completions import RECORD_PREFIX, AzureRecordStore
from multistore.core.backends.base import BackendServices
from multistore.core.config import BucketConfig
from multistore.http_client import HttpClient
from multistore.testing.azurite import Azurite, AzuriteClient

UPLOAD = "0123456789abcdef0123456789abcdef"


@pytest.fixture
async def store(azurite: Azurite) -> AsyncIterator[AzureRecordStore]:
    AzuriteClient(azurite.endpoint).create_container("completion-records")
    client = HttpClient()
    config = BucketConfig(
        name="virtual",
        backend_type="azure",
        backend_options=azurite.backend_options("completion-records"),
    )
    yield AzureRecordStore(AzureBackend(config, BackendServices(transport=client)))
    await client.close()


async def test_records_are_kept_until_they_are_older_than_the_cutoff(
    store: AzureRecordStore, azurite: Azurite
) -> None:
    direct = AzuriteClient(azurite.endpoint)
    assert await store.get_record(UPLOAD) is None
    await store.put_record(UPLOAD, b'{"version": 1}')
    assert await store.get_record(UPLOAD) == b'{"version": 1}'
    assert direct.blob_names("completion-records") == [RECORD_PREFIX + UPLOAD]
    assert await store.records_before(datetime.now(UTC) - timedelta(minutes=5)) == []
    assert await store.get_record(UPLOAD) == b'{"version": 1}'
    (stale,) = await store.records_before(datetime.now(UTC) + timedelta(minutes=5))
    await store.delete_record(stale)
    assert await store.get_record(UPLOAD) is None
    assert direct.blob_names("completion-records") == []
