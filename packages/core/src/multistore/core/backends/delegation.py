"""What backends that hand work to a helper object share.

The ``file`` and ``gcs`` backends keep their multipart uploads in an object of their own
(staging, manifests, assembly) that is itself a :class:`MultipartBackend`; the backend's
six methods only pass each call on. :class:`DelegatedMultipart` is that passing-on,
written once.

``gcs`` and ``azure`` delete a batch as concurrent single deletes
(:func:`delete_concurrently`), each key's failure reported in its outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from multidict import CIMultiDict

from multistore.core.backends.base import (
    CompletedPart,
    DeleteOutcome,
    ListUploadsRequest,
    MultipartBackend,
    ObjectRequest,
    PartsPage,
    UploadsPage,
    WriteResult,
)
from multistore.core.errors import S3Error
from multistore.core.http import RequestBody


class DelegatedMultipart:
    """:class:`MultipartBackend` for a backend whose ``_multipart`` does the work.

    Methods written out rather than a ``__getattr__`` forwarder, so that mypy checks
    every call against :class:`MultipartBackend`."""

    _multipart: MultipartBackend

    async def create_multipart_upload(self, request: ObjectRequest) -> str:
        return await self._multipart.create_multipart_upload(request)

    async def upload_part(
        self,
        request: ObjectRequest,
        upload_id: str,
        part_number: int,
        body: RequestBody,
        content_length: int | None,
    ) -> WriteResult:
        return await self._multipart.upload_part(
            request, upload_id, part_number, body, content_length
        )

    async def complete_multipart_upload(
        self, request: ObjectRequest, upload_id: str, parts: list[CompletedPart]
    ) -> WriteResult:
        return await self._multipart.complete_multipart_upload(request, upload_id, parts)

    async def abort_multipart_upload(self, request: ObjectRequest, upload_id: str) -> None:
        await self._multipart.abort_multipart_upload(request, upload_id)

    async def list_parts(
        self, request: ObjectRequest, upload_id: str, *, max_parts: int, part_number_marker: int
    ) -> PartsPage:
        return await self._multipart.list_parts(
            request, upload_id, max_parts=max_parts, part_number_marker=part_number_marker
        )

    async def list_multipart_uploads(self, request: ListUploadsRequest) -> UploadsPage:
        return await self._multipart.list_multipart_uploads(request)


async def delete_concurrently(
    delete_object: Callable[[ObjectRequest], Awaitable[object]],
    keys: list[str],
    *,
    concurrency: int,
) -> list[DeleteOutcome]:
    """DeleteObjects as single deletes, at most ``concurrency`` at a time, for stores with
    no batch call of their own. Outcomes in the order of ``keys``; a key's S3 error is its
    outcome, not the batch's (S3 reports failures per key)."""
    limit = asyncio.Semaphore(concurrency)

    async def delete_one(key: str) -> DeleteOutcome:
        async with limit:
            try:
                await delete_object(ObjectRequest(key=key, headers=CIMultiDict()))
            except S3Error as error:
                return DeleteOutcome(key, error.code, error.public_message)
            return DeleteOutcome(key)

    return list(await asyncio.gather(*(delete_one(key) for key in keys)))
