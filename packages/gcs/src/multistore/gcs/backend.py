"""The ``gcs`` backend: one Google Cloud Storage bucket behind a virtual bucket.

Reads fetch the object's metadata first (conditions, ranges and headers are decided from
it, like S3 decides them), then stream the bytes of exactly that generation. Writes carry
GCS preconditions (``ifGenerationMatch``), so ``If-None-Match: *`` and ``If-Match`` stay
atomic on GCS: the gateway checks them first to fail before a body is sent, and GCS
enforces them at commit.
"""

from __future__ import annotations

import logging
from typing import Any

from multidict import CIMultiDict

from multistore.core.backends.base import (
    BackendServices,
    DeleteOutcome,
    ListPage,
    ListRequest,
    ObjectRequest,
    ProxyBackend,
    UploadRemoved,
    WriteResult,
)
from multistore.core.backends.delegation import DelegatedMultipart, delete_concurrently
from multistore.core.backends.file.part_reads import part_span, requested_part_number
from multistore.core.config import BucketConfig
from multistore.core.errors import (
    EntityTooLarge,
    MissingContentLength,
    NoSuchKey,
    S3Error,
)
from multistore.core.http import (
    ChunkBody,
    Headers,
    RequestBody,
    Response,
    StreamingResponse,
    backend_body,
)
from multistore.core.s3.conditions import (
    ObjectState,
    delete_conditions,
    evaluate_delete_conditions,
    evaluate_read_conditions,
    evaluate_write_conditions,
    has_write_conditions,
)
from multistore.core.s3.ranges import content_range, parse_range
from multistore.gcs.copies import compose_copy, rewrite_copy
from multistore.gcs.listing import (
    STAGING_PREFIX,
    build_page,
    list_query,
    refuse_reserved,
    starting_point,
)
from multistore.gcs.metadata import (
    copyable_resource,
    generation,
    last_modified,
    object_size,
    part_sizes,
    resource_from_headers,
    s3_etag,
    s3_headers,
)
from multistore.gcs.multipart import GcsMultipart
from multistore.gcs.options import GcsOptions
from multistore.gcs.stale_uploads import remove_stale_staging
from multistore.gcs.uploads import related_upload
from multistore.gcs.wire import GcsWire, read_json

logger = logging.getLogger("multistore.gcs")

MAX_SINGLE_UPLOAD = 5 << 30
BATCH_DELETE_CONCURRENCY = 16


class GcsBackend(DelegatedMultipart):
    """A GCS bucket (optionally under a key prefix) behind one virtual bucket."""

    _multipart: GcsMultipart

    def __init__(self, config: BucketConfig, services: BackendServices) -> None:
        if services.transport is None:
            raise ValueError("the gcs backend needs an HTTP transport from the runtime")
        self.config = config
        self.options = GcsOptions.from_config(config)
        self.wire = GcsWire(
            self.options,
            services.transport,
            user_agent=services.user_agent,
            client_bucket=config.name,
            backend_prefix=config.backend_prefix,
        )
        self._multipart = GcsMultipart(self.wire, self)

    # --- metadata --------------------------------------------------------------------------

    async def describe(self, key: str) -> dict[str, Any] | None:
        """The object resource of ``key``, ``None`` when there is no such object."""
        response = await self.wire.send("GET", self.wire.object_url(key))
        if response.status == 404:
            await response.release()
            return None
        await self.wire.raise_for_status(response, key)
        return await read_json(response)

    async def _existing(self, request: ObjectRequest) -> dict[str, Any]:
        if request.key.startswith(STAGING_PREFIX):
            raise NoSuchKey(resource=self.wire.resource(request.key))
        resource = await self.describe(request.key)
        if resource is None:
            error = NoSuchKey()
            error.resource = self.wire.resource(request.key)
            raise error
        return resource

    # --- reads -----------------------------------------------------------------------------

    def _answer(
        self, request: ObjectRequest, resource: dict[str, Any]
    ) -> tuple[int, CIMultiDict[str], tuple[int, int] | None]:
        evaluate_read_conditions(
            request.headers, etag=s3_etag(resource), last_modified=last_modified(resource)
        )
        size = object_size(resource)
        headers = s3_headers(resource, request.query)
        range_header = request.headers.get("Range")
        try:
            byte_range = parse_range(range_header, size) if range_header else None
            part_number = requested_part_number(request.query, request.headers)
            if part_number is not None:
                span = part_span(part_number, size=size, part_sizes=part_sizes(resource))
                if span.parts_count is not None:
                    headers["x-amz-mp-parts-count"] = str(span.parts_count)
                if span.length > 0:
                    byte_range = (span.start, span.start + span.length - 1)
        except S3Error as error:
            error.resource = self.wire.resource(request.key)
            raise
        if byte_range is None:
            headers["Content-Length"] = str(size)
            return 200, headers, None
        first, last = byte_range
        headers["Content-Range"] = content_range(first, last, size)
        headers["Content-Length"] = str(last - first + 1)
        return 206, headers, byte_range

    async def head_object(self, request: ObjectRequest) -> StreamingResponse:
        resource = await self._existing(request)
        status, headers, _ = self._answer(request, resource)
        return StreamingResponse(
            status, headers, ChunkBody(), content_length=int(headers["Content-Length"])
        )

    async def get_object(self, request: ObjectRequest) -> StreamingResponse:
        resource = await self._existing(request)
        status, headers, byte_range = self._answer(request, resource)
        length = int(headers["Content-Length"])
        if length == 0:
            return StreamingResponse(status, headers, ChunkBody(), content_length=0)
        # ``accept-encoding: gzip`` stops GCS from decompressing gzip-encoded objects on the
        # way (S3 serves stored bytes as they are); ifGenerationMatch pins the bytes to the
        # metadata the headers came from.
        media_headers = {"accept-encoding": "gzip"}
        if byte_range is not None:
            media_headers["range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        response = await self.wire.send(
            "GET",
            self.wire.object_url(request.key),
            query=[("alt", "media"), ("ifGenerationMatch", generation(resource))],
            headers=media_headers,
        )
        if response.status == 412:
            # Replaced between the two calls: to the client, it is the old object gone.
            await response.release()
            raise NoSuchKey(resource=self.wire.resource(request.key))
        await self.wire.raise_for_status(response, request.key)
        body, release = backend_body(response)
        return StreamingResponse(status, headers, body, content_length=length, release=release)

    # --- writes ----------------------------------------------------------------------------

    async def write_precondition(self, key: str, headers: Headers) -> str | None:
        """``ifGenerationMatch`` for a write with ``If-Match``/``If-None-Match: *``.

        The conditions are checked against the current object first (a doomed upload fails
        before its body is sent); the generation returned makes GCS enforce them at commit.
        """
        if not has_write_conditions(headers):
            return None
        current = await self.describe(key)
        try:
            evaluate_write_conditions(
                headers, existing_etag=s3_etag(current) if current is not None else None
            )
        except S3Error as error:
            error.resource = self.wire.resource(key)
            raise
        return generation(current) if current is not None else "0"

    async def upload(
        self,
        key: str,
        resource: dict[str, Any],
        body: RequestBody,
        content_length: int,
        *,
        if_generation_match: str | None = None,
    ) -> dict[str, Any]:
        """Store ``body`` as ``key`` with ``resource`` as its metadata; the new resource."""
        headers, framed = await related_upload({**resource, "name": key}, body, content_length)
        query = [("uploadType", "multipart")]
        if if_generation_match is not None:
            query.append(("ifGenerationMatch", if_generation_match))
        response = await self.wire.send(
            "POST", self.wire.upload_url(), query=query, headers=headers, body=framed
        )
        await self.wire.raise_for_status(response, key)
        return await read_json(response)

    async def put_object(
        self, request: ObjectRequest, body: RequestBody, content_length: int | None
    ) -> Response:
        if content_length is None:
            raise MissingContentLength()
        if content_length > MAX_SINGLE_UPLOAD:
            raise EntityTooLarge("Your proposed upload exceeds the maximum allowed size")
        refuse_reserved(request.key)
        precondition = await self.write_precondition(request.key, request.headers)
        stored = await self.upload(
            request.key,
            resource_from_headers(request.headers),
            body,
            content_length,
            if_generation_match=precondition,
        )
        headers: CIMultiDict[str] = CIMultiDict()
        headers["ETag"] = s3_etag(stored)
        return Response(200, headers)

    async def delete_object(self, request: ObjectRequest) -> Response:
        if request.key.startswith(STAGING_PREFIX):
            return Response(204)  # nothing a client could have stored is there
        conditions = delete_conditions(request.headers)
        query: list[tuple[str, str]] = []
        if conditions.present:
            current = await self.describe(request.key)
            state = (
                ObjectState(s3_etag(current), last_modified(current), object_size(current))
                if current is not None
                else None
            )
            try:
                if not evaluate_delete_conditions(conditions, existing=state):
                    return Response(204)
            except S3Error as error:
                error.resource = self.wire.resource(request.key)
                raise
            assert current is not None
            query.append(("ifGenerationMatch", generation(current)))
        response = await self.wire.send("DELETE", self.wire.object_url(request.key), query=query)
        if response.status == 404:  # S3 answers 204 for a key that is not there
            await response.release()
            return Response(204)
        await self.wire.raise_for_status(response, request.key)
        await response.release()
        return Response(204)

    async def delete_objects(self, keys: list[str]) -> list[DeleteOutcome]:
        return await delete_concurrently(
            self.delete_object, keys, concurrency=BATCH_DELETE_CONCURRENCY
        )

    # --- copy ------------------------------------------------------------------------------

    def can_copy_from(self, source: ProxyBackend) -> bool:
        """Server-side copies within one endpoint under one identity (rewrite needs read
        access to the source with the destination's credentials)."""
        if not isinstance(source, GcsBackend):
            return False
        mine, theirs = self.options, source.options
        return mine.endpoint == theirs.endpoint and (
            (mine.service_account.client_email if mine.service_account else None)
            == (theirs.service_account.client_email if theirs.service_account else None)
        )

    async def copy_object(
        self,
        request: ObjectRequest,
        source: ProxyBackend,
        source_key: str,
        source_version: str | None,
    ) -> WriteResult:
        assert isinstance(source, GcsBackend)
        refuse_reserved(request.key)
        source_resource = await source.describe(source_key)
        if source_resource is None or source_key.startswith(STAGING_PREFIX):
            raise NoSuchKey(resource=source.wire.resource(source_key))
        directive = (request.headers.get("x-amz-metadata-directive") or "COPY").upper()
        if directive == "REPLACE":
            resource = resource_from_headers(request.headers)
        else:
            resource = copyable_resource(source_resource)
        precondition = await self.write_precondition(request.key, request.headers)
        if source.options.bucket_name == self.options.bucket_name:
            stored = await compose_copy(
                self.wire, request.key, source_key, source_resource, resource, precondition
            )
        else:
            url = source.wire.rewrite_url(source_key, self.options.bucket_name, request.key)
            stored = await rewrite_copy(
                self.wire, url, source_resource, request.key, resource, precondition
            )
        return WriteResult(etag=s3_etag(stored), last_modified=last_modified(stored))

    # --- listing ---------------------------------------------------------------------------

    async def list_objects(self, request: ListRequest) -> ListPage:
        continuation = starting_point(request)
        document = await self.wire.send_json(
            "GET", self.wire.objects_url(), query=list_query(request, continuation)
        )
        return build_page(request, continuation, document)

    # --- housekeeping ----------------------------------------------------------------------

    def upload_state_location(self) -> str:
        """The bucket's URL: every virtual bucket on it shares its staging objects."""
        return self.wire.objects_url().removesuffix("/o")

    async def cleanup_stale_uploads(
        self, older_than_seconds: float, *, on_removed: UploadRemoved | None = None
    ) -> int:
        """Delete the staged objects and manifests of uploads started more than
        ``older_than_seconds`` ago (``stale_uploads.py``)."""
        return await remove_stale_staging(self.wire, older_than_seconds, on_removed)

    async def close(self) -> None:
        return None


__all__ = ["GcsBackend"]
