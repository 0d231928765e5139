"""Abandoned multipart uploads on GCS: the staged objects and manifests of old uploads go,
and orphaned parts with them; young uploads, ordinary objects and foreign names stay.

Against the GCS emulator, through the backend object as the server's housekeeping calls it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from multidict import CIMultiDict

from multistore.core.backends.base import (
    BackendServices,
    ListUploadsRequest,
    ObjectRequest,
    StaleUploadCleaner,
)
from multistore.core.config import BucketConfig
from multistore.core.errors import NoSuchUpload
from multistore.core.http import BytesBody
from multistore.gcs import GcsBackend
from multistore.http_client import HttpClient
from multistore.testing.gcs_emulator import GcsEmulator

BUCKET = "stale-uploads"
STAGING = ".multistore-uploads/"
MAX_AGE = 2.0


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    http = HttpClient()
    yield http
    await http.close()


def backend(emulator: GcsEmulator, client: HttpClient) -> GcsBackend:
    config = BucketConfig(
        name="virtual",
        backend_type="gcs",
        backend_options={
            "bucket_name": BUCKET,
            "endpoint": emulator.endpoint,
            "skip_signature": "true",
        },
    )
    return GcsBackend(config, BackendServices(transport=client))


def request(key: str) -> ObjectRequest:
    return ObjectRequest(key=key, headers=CIMultiDict())


async def test_old_uploads_and_orphaned_parts_go_and_the_rest_stays(
    gcs_emulator: GcsEmulator, client: HttpClient
) -> None:
    gcs_emulator.create_bucket(BUCKET)
    gcs_emulator.put(BUCKET, "keep/me.txt", b"an object")
    gcs_emulator.put(BUCKET, STAGING + "README", b"not the gateway's")
    orphan = secrets.token_hex(16)  # a part whose upload was aborted while it landed
    gcs_emulator.put(BUCKET, f"{STAGING}{orphan}/00001", b"orphaned part")
    serving = backend(gcs_emulator, client)
    assert isinstance(serving, StaleUploadCleaner)
    old = await serving.create_multipart_upload(request("old.bin"))
    for number in (1, 2):
        await serving.upload_part(request("old.bin"), old, number, BytesBody(b"abc"), 3)
    await asyncio.sleep(MAX_AGE + 1.0)
    young = await serving.create_multipart_upload(request("young.bin"))
    await serving.upload_part(request("young.bin"), young, 1, BytesBody(b"xyz"), 3)

    housekeeping = backend(gcs_emulator, client)
    removed: list[tuple[str, str | None]] = []
    count = await housekeeping.cleanup_stale_uploads(
        MAX_AGE, on_removed=lambda upload_id, key: removed.append((upload_id, key))
    )

    assert count == 2
    assert sorted(removed, key=str) == sorted([(old, "old.bin"), (orphan, None)], key=str)
    assert gcs_emulator.keys(BUCKET) == {
        "keep/me.txt",
        STAGING + "README",
        STAGING + young,
        f"{STAGING}{young}/00001",
    }
    with pytest.raises(NoSuchUpload):
        await serving.list_parts(request("old.bin"), old, max_parts=10, part_number_marker=0)
    with pytest.raises(NoSuchUpload):
        await serving.upload_part(request("old.bin"), old, 3, BytesBody(b"def"), 3)
    parts = await serving.list_parts(
        request("young.bin"), young, max_parts=10, part_number_marker=0
    )
    assert [p.part_number for p in parts.parts] == [1]
    listed = await serving.list_multipart_uploads(ListUploadsRequest())
    assert [u.upload_id for u in listed.uploads] == [young]
    assert await housekeeping.cleanup_stale_uploads(MAX_AGE) == 0
