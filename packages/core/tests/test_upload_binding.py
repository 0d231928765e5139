"""Upload ids bound to their key on the s3 backend (issue #15): the lookup and its memory."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from multistore.core.backends.base import ListUploadsRequest, UploadInfo, UploadsPage
from multistore.core.backends.s3.upload_binding import UploadBindings
from multistore.core.errors import NoSuchUpload

EPOCH = datetime.fromtimestamp(0, UTC)


class PagedUploads:
    """ListMultipartUploads as S3 answers it: prefix-filtered, key-ordered, paged."""

    def __init__(self, uploads: list[tuple[str, str]], page_size: int = 2) -> None:
        self.uploads = sorted(uploads)
        self.page_size = page_size
        self.calls: list[ListUploadsRequest] = []

    async def list_multipart_uploads(self, request: ListUploadsRequest) -> UploadsPage:
        self.calls.append(request)
        matching = [u for u in self.uploads if u[0].startswith(request.prefix)]
        if request.key_marker is not None:
            marker = (request.key_marker, request.upload_id_marker or "")
            matching = [u for u in matching if u > marker]
        page = matching[: self.page_size]
        result = UploadsPage(uploads=[UploadInfo(key, uid, EPOCH) for key, uid in page])
        if len(matching) > self.page_size:
            result.next_key_marker, result.next_upload_id_marker = page[-1]
        return result


async def test_an_upload_of_the_key_is_found_across_pages_and_remembered() -> None:
    store = PagedUploads([("k", "u1"), ("k", "u2"), ("k", "u3"), ("k/longer", "u4")])
    bindings = UploadBindings()
    await bindings.check(store, "k", "u3")
    assert len(store.calls) == 2
    await bindings.check(store, "k", "u3")
    assert len(store.calls) == 2  # remembered


async def test_an_upload_of_another_key_is_no_such_upload() -> None:
    store = PagedUploads([("secret/mp3", "victim"), ("allowed/mp3", "mine")])
    bindings = UploadBindings()
    with pytest.raises(NoSuchUpload):
        await bindings.check(store, "allowed/mp3", "victim")
    # A longer key with the same prefix is not the key either.
    store = PagedUploads([("k", "a"), ("k2", "victim")])
    with pytest.raises(NoSuchUpload):
        await bindings.check(store, "k", "victim")


async def test_remembered_ids_are_checked_against_their_key_and_bounded() -> None:
    store = PagedUploads([])
    bindings = UploadBindings(capacity=2)
    bindings.remember("u1", "a")
    with pytest.raises(NoSuchUpload):
        await bindings.check(store, "b", "u1")
    assert store.calls == []
    bindings.remember("u2", "a")
    bindings.remember("u3", "a")  # u1 falls out and is looked up again (and not found)
    with pytest.raises(NoSuchUpload):
        await bindings.check(store, "a", "u1")
    assert len(store.calls) == 1
    bindings.forget("u3")
    with pytest.raises(NoSuchUpload):
        await bindings.check(store, "a", "u3")
