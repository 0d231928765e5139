"""CopyObject, UploadPartCopy and DeleteObjects on Azure.

CopyObject between containers of one account is Azure's Copy Blob: the store copies, no
byte passes through the gateway. Within one account it normally finishes before the answer
(``x-ms-copy-status: success``); a copy still ``pending`` is waited for, bounded. With
``x-amz-metadata-directive: REPLACE`` the new content headers and metadata are set on the
copy afterwards (Azure's Copy Blob keeps the source's properties).

UploadPartCopy reads the source range and stages it as the part's block, streamed through
the gateway (Put Block From URL would need the source readable without the account key).

DeleteObjects is one DELETE per key, a few at a time: Azure's batch API would need a
multipart/mixed body for little gain at S3's 1000 keys per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from multidict import CIMultiDict

from multistore.azure.preconditions import refuse_reserved, write_conditions
from multistore.azure.properties import (
    WRITE_PROPERTIES,
    azure_etag_list,
    object_write_headers,
    s3_etag,
)
from multistore.azure.wire import AzureWire
from multistore.core.backends.base import (
    DeleteOutcome,
    ObjectRequest,
    ProxyBackend,
    WriteResult,
)
from multistore.core.backends.delegation import delete_concurrently
from multistore.core.errors import (
    BadGateway,
    NotModified,
    PreconditionFailed,
    ServiceUnavailable,
)
from multistore.core.http import (
    Headers,
    IteratorBody,
    OutboundBody,
    RequestBody,
    StreamingResponse,
    TransportResponse,
)

COPY_WAIT_SECONDS = 120.0
BATCH_DELETE_CONCURRENCY = 16
# x-amz-copy-source-if-* → Azure's preconditions on the copy source.
_SOURCE_CONDITIONS = {
    "x-amz-copy-source-if-match": "x-ms-source-if-match",
    "x-amz-copy-source-if-none-match": "x-ms-source-if-none-match",
    "x-amz-copy-source-if-modified-since": "x-ms-source-if-modified-since",
    "x-amz-copy-source-if-unmodified-since": "x-ms-source-if-unmodified-since",
}
_READ_CONDITIONS = {
    "x-amz-copy-source-if-match": "if-match",
    "x-amz-copy-source-if-none-match": "if-none-match",
    "x-amz-copy-source-if-modified-since": "if-modified-since",
    "x-amz-copy-source-if-unmodified-since": "if-unmodified-since",
}


class _Wire(Protocol):
    account_name: str

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        body: OutboundBody = None,
    ) -> TransportResponse: ...

    async def raise_for_status(self, response: TransportResponse, key: str | None) -> None: ...

    async def check_write(
        self, response: TransportResponse, key: str, client_headers: Headers
    ) -> None: ...

    def blob_path(self, key: str) -> str: ...

    def blob_url(self, key: str) -> str: ...

    async def get_object(self, request: ObjectRequest) -> StreamingResponse: ...

    async def upload_part(
        self,
        request: ObjectRequest,
        upload_id: str,
        part_number: int,
        body: RequestBody,
        content_length: int | None,
    ) -> WriteResult: ...

    async def delete_object(self, request: ObjectRequest) -> object: ...


class AzureCopies(_Wire):
    """Mixed into :class:`AzureBackend`, which provides the wire."""

    def can_copy_from(self, source: ProxyBackend) -> bool:
        return (
            isinstance(self, AzureWire)
            and isinstance(source, AzureWire)
            and self.same_account(source)
        )

    async def copy_object(
        self,
        request: ObjectRequest,
        source: ProxyBackend,
        source_key: str,
        source_version: str | None,
    ) -> WriteResult:
        refuse_reserved(request.key)
        assert isinstance(source, AzureWire)
        replace = request.headers.get("x-amz-metadata-directive", "").upper() == "REPLACE"
        headers = {"x-ms-copy-source": source.blob_url(source_key)}
        for s3_name, azure_name in _SOURCE_CONDITIONS.items():
            value = request.headers.get(s3_name)
            if value is not None:
                etag_like = s3_name.endswith("match")
                headers[azure_name] = azure_etag_list(value) if etag_like else value
        headers.update(write_conditions(request.headers))
        new_properties = object_write_headers(request.headers) if replace else {}
        metadata = {k: v for k, v in new_properties.items() if k.startswith("x-ms-meta-")}
        headers.update(metadata)
        response = await self.send("PUT", self.blob_path(request.key), headers=headers)
        await self.check_write(response, request.key, request.headers)
        await response.release()
        answer = response.headers
        if answer.get("x-ms-copy-status", "success") == "pending":
            answer = await self._wait_for_copy(request.key)
        if replace:
            answer = await self._set_properties(request.key, new_properties, bool(metadata))
        return WriteResult(
            etag=s3_etag(answer.get("ETag", ""), None),
            last_modified=_date(answer.get("last-modified", "")),
        )

    async def _wait_for_copy(self, key: str) -> CIMultiDict[str]:
        delay = 0.05
        loop = asyncio.get_running_loop()
        deadline = loop.time() + COPY_WAIT_SECONDS
        while loop.time() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            response = await self.send("HEAD", self.blob_path(key))
            await self.raise_for_status(response, key)
            await response.release()
            status = response.headers.get("x-ms-copy-status", "success")
            if status == "success":
                return CIMultiDict(response.headers)
            if status != "pending":
                raise BadGateway(f"azure copy ended with status {status}")
        raise ServiceUnavailable("azure did not finish a copy in time")

    async def _set_properties(
        self, key: str, properties: Mapping[str, str], metadata_sent: bool
    ) -> CIMultiDict[str]:
        """Give a copy the content headers (and, if none were sent, empty metadata) that
        ``REPLACE`` asked for."""
        headers = {k: v for k, v in properties.items() if k in WRITE_PROPERTIES.values()}
        response = await self.send(
            "PUT", self.blob_path(key), query=[("comp", "properties")], headers=headers
        )
        await self.raise_for_status(response, key)
        await response.release()
        answer = CIMultiDict(response.headers)
        if not metadata_sent:
            response = await self.send("PUT", self.blob_path(key), query=[("comp", "metadata")])
            await self.raise_for_status(response, key)
            await response.release()
            answer = CIMultiDict(response.headers)
        return answer

    async def upload_part_copy(
        self,
        request: ObjectRequest,
        upload_id: str,
        part_number: int,
        source: ProxyBackend,
        source_key: str,
        source_range: tuple[int, int] | None,
        *,
        source_version: str | None = None,
    ) -> WriteResult:
        read_headers: CIMultiDict[str] = CIMultiDict()
        for s3_name, header in _READ_CONDITIONS.items():
            value = request.headers.get(s3_name)
            if value is not None:
                read_headers[header] = value
        if source_range is not None:
            read_headers["range"] = f"bytes={source_range[0]}-{source_range[1]}"
        try:
            stream = await source.get_object(ObjectRequest(key=source_key, headers=read_headers))
        except NotModified:
            # A source that "has not been modified" fails the copy condition (S3: 412).
            raise PreconditionFailed() from None
        try:
            return await self.upload_part(
                request, upload_id, part_number, IteratorBody(stream.body), stream.content_length
            )
        finally:
            await stream.close()

    async def delete_objects(self, keys: list[str]) -> list[DeleteOutcome]:
        return await delete_concurrently(
            self.delete_object, keys, concurrency=BATCH_DELETE_CONCURRENCY
        )


def _date(value: str) -> datetime:
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return datetime.now(UTC)
