"""CopyObject and UploadPartCopy.

Within one store that can copy server-side (two buckets on one S3 endpoint, two local
directories) the backend copies; otherwise the gateway streams the source into the
destination (``file`` → ``s3`` and the like), up to S3's 5 GiB copy limit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from multidict import CIMultiDict

from multistore.core.backends.base import ObjectRequest, WriteResult
from multistore.core.backends.headers import (
    WRITE_REQUEST_HEADERS,
    WRITE_REQUEST_PREFIXES,
    pick_headers,
)
from multistore.core.backends.pool import BackendPool
from multistore.core.errors import InvalidArgument, InvalidRequest, NotModified, PreconditionFailed
from multistore.core.http import GatewayResponse, IteratorBody, StreamingResponse
from multistore.core.middleware import DispatchContext
from multistore.core.registry import BucketRegistry
from multistore.core.s3.keys import apply_backend_prefix
from multistore.core.s3.multipart import bucket_of, xml_response
from multistore.core.s3.write_xml import render_copy_result

MAX_COPY_SIZE = 5 * 1024**3

# x-amz-copy-source-if-* are the source's conditions; on a streamed copy they become the
# conditions of the GET that reads the source.
_SOURCE_CONDITIONS = {
    "x-amz-copy-source-if-match": "If-Match",
    "x-amz-copy-source-if-none-match": "If-None-Match",
    "x-amz-copy-source-if-modified-since": "If-Modified-Since",
    "x-amz-copy-source-if-unmodified-since": "If-Unmodified-Since",
}
_COPIED_OBJECT_HEADERS = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    "x-amz-storage-class",
    "x-amz-tagging-count",
)


class CopyHandlers:
    def __init__(self, buckets: BucketRegistry, backends: BackendPool) -> None:
        self._buckets = buckets
        self._backends = backends

    async def _source(self, ctx: DispatchContext) -> tuple[Any, str, str | None]:
        source = ctx.operation.copy_source
        assert source is not None, "copy operations always carry a parsed copy source"
        resolved = await self._buckets.get_bucket(source.bucket)
        assert resolved is not None, "the gateway resolved the copy source before dispatch"
        backend = self._backends.get(resolved.config)
        return (
            backend,
            apply_backend_prefix(resolved.config.backend_prefix, source.key),
            source.version_id,
        )

    def _destination(self, ctx: DispatchContext) -> tuple[Any, ObjectRequest]:
        bucket = bucket_of(ctx)
        request = ObjectRequest(
            key=apply_backend_prefix(bucket.backend_prefix, ctx.operation.key),
            headers=ctx.request.headers,
            query=ctx.request.query,
        )
        return self._backends.get(bucket), request

    async def copy_object(self, ctx: DispatchContext) -> GatewayResponse:
        destination, request = self._destination(ctx)
        source, source_key, version = await self._source(ctx)
        if _server_side(destination, source):
            conditions = _source_read_headers(ctx)
            if conditions:
                # Checked here rather than trusted to the store: not every S3 implementation
                # honours x-amz-copy-source-if-* on a server-side copy.
                await (
                    await _read_source(source, source_key, version, conditions, head=True)
                ).close()
            result = await destination.copy_object(request, source, source_key, version)
        else:
            result = await self._streamed_copy(
                ctx, destination, request, source, source_key, version
            )
        document = render_copy_result(
            "CopyObjectResult", result.etag, result.last_modified or datetime.now(UTC)
        )
        return xml_response(document, _result_headers(result))

    async def upload_part_copy(self, ctx: DispatchContext) -> GatewayResponse:
        destination, request = self._destination(ctx)
        source, source_key, version = await self._source(ctx)
        upload_id, part_number = ctx.operation.upload_id, ctx.operation.part_number
        assert upload_id is not None
        assert part_number is not None
        raw_range = ctx.request.header("x-amz-copy-source-range")
        if _server_side(destination, source) and hasattr(destination, "upload_part_copy"):
            byte_range = _copy_range(raw_range)
            result = await destination.upload_part_copy(
                request,
                upload_id,
                part_number,
                source,
                source_key,
                byte_range,
                source_version=version,
            )
        else:
            headers = _source_read_headers(ctx)
            if raw_range:
                headers["Range"] = raw_range
            streamed = await _read_source(source, source_key, version, headers)
            try:
                part_request = ObjectRequest(key=request.key, headers=CIMultiDict(), query={})
                result = await destination.upload_part(
                    part_request,
                    upload_id,
                    part_number,
                    IteratorBody(streamed.body),
                    streamed.content_length,
                )
            finally:
                await streamed.close()
        document = render_copy_result(
            "CopyPartResult", result.etag, result.last_modified or datetime.now(UTC)
        )
        return xml_response(document)

    async def _streamed_copy(
        self,
        ctx: DispatchContext,
        destination: Any,
        request: ObjectRequest,
        source: Any,
        source_key: str,
        version: str | None,
    ) -> WriteResult:
        streamed = await _read_source(source, source_key, version, _source_read_headers(ctx))
        try:
            if streamed.content_length is not None and streamed.content_length > MAX_COPY_SIZE:
                raise InvalidRequest(
                    "The specified copy source is larger than the maximum allowable size for a "
                    f"copy source: {MAX_COPY_SIZE}"
                )
            headers = _destination_headers(ctx, streamed)
            target = ObjectRequest(key=request.key, headers=headers, query={})
            response = await destination.put_object(
                target, IteratorBody(streamed.body), streamed.content_length
            )
        finally:
            await streamed.close()
        etag = response.headers.get("ETag", "")
        return WriteResult(etag=etag, headers={}, last_modified=datetime.now(UTC))


def _server_side(destination: Any, source: Any) -> bool:
    return hasattr(destination, "can_copy_from") and bool(destination.can_copy_from(source))


def _copy_range(raw: str) -> tuple[int, int] | None:
    if not raw:
        return None
    start, _, end = raw.removeprefix("bytes=").partition("-")
    if not (
        raw.startswith("bytes=") and start.isdigit() and end.isdigit() and int(start) <= int(end)
    ):
        raise InvalidArgument("x-amz-copy-source-range must be bytes=first-last")
    return int(start), int(end)


def _source_read_headers(ctx: DispatchContext) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for copy_header, read_header in _SOURCE_CONDITIONS.items():
        value = ctx.request.headers.get(copy_header)
        if value is not None:
            headers[read_header] = value
    return headers


async def _read_source(
    source: Any, key: str, version: str | None, headers: CIMultiDict[str], *, head: bool = False
) -> StreamingResponse:
    read = source.head_object if head else source.get_object
    try:
        return await read(  # type: ignore[no-any-return]
            ObjectRequest(key=key, headers=headers, query={}, version_id=version)
        )
    except NotModified as exc:
        # A copy whose source "has not been modified" did not meet its condition: S3 says 412.
        raise PreconditionFailed() from exc


def _destination_headers(ctx: DispatchContext, source: StreamingResponse) -> CIMultiDict[str]:
    """The new object's headers: the source's (COPY, the default) or the request's (REPLACE)."""
    request_headers = ctx.request.headers
    headers: CIMultiDict[str] = CIMultiDict()
    if request_headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE":
        headers.update(pick_headers(request_headers, WRITE_REQUEST_HEADERS, WRITE_REQUEST_PREFIXES))
    else:
        headers.update(pick_headers(source.headers, _COPIED_OBJECT_HEADERS, ("x-amz-meta-",)))
    for name in ("if-match", "if-none-match"):
        value = request_headers.get(name)
        if value is not None:
            headers[name] = value
    headers.pop("content-md5", None)
    return headers


def _result_headers(result: WriteResult) -> dict[str, str]:
    return {k: v for k, v in result.headers.items() if k.lower() not in ("etag", "content-length")}
