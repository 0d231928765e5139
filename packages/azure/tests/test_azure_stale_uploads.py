"""Abandoned multipart uploads on Azure: the markers of old ones go, nothing else does.

Against Azurite, through the backend object as the server's housekeeping calls it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from multidict import CIMultiDict

from multistore.azure.backend import AzureBackend
from multistore.core.backends.base import (
    BackendServices,
    ListUploadsRequest,
    ObjectRequest,
    StaleUploadCleaner,
)
from multistore.core.config import BucketConfig
from multistore.core.errors import NoSuchUpload
from multistore.core.http import BytesBody
from multistore.http_client import HttpClient
from multistore.testing.azurite import Azurite, AzuriteClient

CONTAINER = "stale-uploads"
MARKERS = ".multistore/uploads/"
MAX_AGE = 2.0  # Azure's times have whole seconds: an upload this old is ≥ 1 s past it


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    http = HttpClient()
    yield http
    await http.close()


def backend(azurite: Azurite, client: HttpClient) -> AzureBackend:
    config = BucketConfig(
        name="virtual", backend_type="azure", backend_options=azurite.backend_options(CONTAINER)
    )
    return AzureBackend(config, BackendServices(transport=client))


def request(key: str) -> ObjectRequest:
    return ObjectRequest(key=key, headers=CIMultiDict())


async def test_old_upload_markers_go_and_young_uploads_and_objects_stay(
    azurite: Azurite, client: HttpClient
) -> None:
    direct = AzuriteClient(azurite.endpoint)
    direct.create_container(CONTAINER)
    direct.put_blob(CONTAINER, "keep/me.txt", b"an object")
    direct.put_blob(CONTAINER, MARKERS + "not-an-upload", b"someone else's")
    serving = backend(azurite, client)
    assert isinstance(serving, StaleUploadCleaner)
    old = await serving.create_multipart_upload(request("old.bin"))
    await serving.upload_part(request("old.bin"), old, 1, BytesBody(b"abc"), 3)
    await asyncio.sleep(MAX_AGE + 1.5)
    young = await serving.create_multipart_upload(request("young.bin"))
    await serving.upload_part(request("young.bin"), young, 1, BytesBody(b"xyz"), 3)

    housekeeping = backend(azurite, client)  # its own backend object, as in the server
    removed: list[tuple[str, str | None]] = []
    count = await housekeeping.cleanup_stale_uploads(
        MAX_AGE, on_removed=lambda upload_id, key: removed.append((upload_id, key))
    )

    assert (count, removed) == (1, [(old, "old.bin")])
    assert set(direct.blob_names(CONTAINER)) == {
        "keep/me.txt",
        MARKERS + "not-an-upload",
        MARKERS + young,
    }
    # Gone for the worker that served it (ListParts asks Azure afresh) and for any other.
    with pytest.raises(NoSuchUpload):
        await serving.list_parts(request("old.bin"), old, max_parts=10, part_number_marker=0)
    with pytest.raises(NoSuchUpload):
        await backend(azurite, client).upload_part(request("old.bin"), old, 2, BytesBody(b"def"), 3)
    parts = await serving.list_parts(
        request("young.bin"), young, max_parts=10, part_number_marker=0
    )
    assert [p.part_number for p in parts.parts] == [1]
    listed = await serving.list_multipart_uploads(ListUploadsRequest())
    assert [u.upload_id for u in listed.uploads] == [young]
    assert await housekeeping.cleanup_stale_uploads(MAX_AGE) == 0
    assert housekeeping.upload_state_location() == f"{azurite.endpoint}/{CONTAINER}"
