"""Multipart uploads: create, upload part (streamed), complete, abort, list parts/uploads."""

from __future__ import annotations

from typing import Any

from multidict import CIMultiDict

from multistore.core.auth.identity import Authentication
from multistore.core.backends.base import ListUploadsRequest, MultipartBackend, ObjectRequest
from multistore.core.backends.pool import BackendPool
from multistore.core.config import BucketConfig
from multistore.core.errors import NotImplementedOperation
from multistore.core.http import GatewayResponse, Response
from multistore.core.middleware import DispatchContext
from multistore.core.s3.bodies import read_capped
from multistore.core.s3.keys import apply_backend_prefix, strip_backend_prefix
from multistore.core.s3.listing import rewrite_key
from multistore.core.s3.upload_body import prepare_upload_body
from multistore.core.s3.write_xml import (
    parse_bounded_int,
    parse_complete_multipart,
    render_complete,
    render_initiate,
    render_list_parts,
    render_list_uploads,
)

# 10,000 parts of about 130 bytes of XML each, with room to spare.
MAX_COMPLETE_BODY = 2 << 20
_XML = "application/xml"


def xml_response(body: bytes, headers: dict[str, str] | None = None) -> Response:
    out = CIMultiDict({"Content-Type": _XML})
    out.update(headers or {})
    return Response(200, out, body)


async def read_small_body(
    ctx: DispatchContext, *, limit: int, checksum_header_is_the_bodys: bool = True
) -> bytes:
    """A small XML body, verified like any upload (framing, digests) and size-capped."""
    auth: Authentication | None = ctx.extensions.get("authentication")
    upload = prepare_upload_body(
        ctx.request.headers,
        ctx.body,
        verified=auth.verified if auth else None,
        max_object_size=None,
        checksum_header_is_the_bodys=checksum_header_is_the_bodys,
    )
    return await read_capped(upload.body, declared=upload.content_length, limit=limit)


def bucket_of(ctx: DispatchContext) -> BucketConfig:
    assert ctx.bucket_config is not None, "bucket operations always carry a bucket config"
    return ctx.bucket_config


def client_bucket_and_key(ctx: DispatchContext) -> tuple[str, str]:
    """The bucket and key as the client addressed them (path mapping presents both)."""
    bucket = ctx.display_name or ctx.operation.bucket
    return bucket, rewrite_key(ctx.operation.key, ctx.list_rewrite)


def capable(backend: Any, method: str, what: str, config: BucketConfig) -> Any:
    if not hasattr(backend, method):
        raise NotImplementedOperation(
            f"{what} is not supported for '{config.backend_type}' buckets"
        )
    return backend


class MultipartHandlers:
    def __init__(self, backends: BackendPool, *, max_object_size: int | None) -> None:
        self._backends = backends
        self._max_object_size = max_object_size

    def _target(self, ctx: DispatchContext) -> tuple[MultipartBackend, ObjectRequest]:
        bucket = bucket_of(ctx)
        backend = capable(
            self._backends.get(bucket), "create_multipart_upload", "multipart upload", bucket
        )
        request = ObjectRequest(
            key=apply_backend_prefix(bucket.backend_prefix, ctx.operation.key),
            headers=ctx.request.headers,
            query=ctx.request.query,
        )
        return backend, request

    def _upload_id(self, ctx: DispatchContext) -> str:
        upload_id = ctx.operation.upload_id
        assert upload_id is not None, "multipart operations are classified by their uploadId"
        return upload_id

    async def create(self, ctx: DispatchContext) -> GatewayResponse:
        backend, request = self._target(ctx)
        upload_id = await backend.create_multipart_upload(request)
        body = render_initiate(*client_bucket_and_key(ctx), upload_id)
        algorithm = ctx.request.header("x-amz-checksum-algorithm")
        headers = {"x-amz-checksum-algorithm": algorithm} if algorithm else None
        return xml_response(body, headers)

    async def upload_part(self, ctx: DispatchContext) -> GatewayResponse:
        backend, request = self._target(ctx)
        auth: Authentication | None = ctx.extensions.get("authentication")
        upload = prepare_upload_body(
            ctx.request.headers,
            ctx.body,
            verified=auth.verified if auth else None,
            max_object_size=self._max_object_size,
        )
        part_request = ObjectRequest(key=request.key, headers=upload.headers, query=request.query)
        part_number = ctx.operation.part_number
        assert part_number is not None
        result = await backend.upload_part(
            part_request, self._upload_id(ctx), part_number, upload.body, upload.content_length
        )
        headers = CIMultiDict(result.headers)
        headers["ETag"] = result.etag
        return Response(200, headers)

    async def complete(self, ctx: DispatchContext) -> GatewayResponse:
        backend, request = self._target(ctx)
        # The x-amz-checksum-* header of a Complete is the object's checksum (whole-object
        # or composite ``…-N``): the backend checks it against the object, never the XML.
        body = await read_small_body(
            ctx, limit=MAX_COMPLETE_BODY, checksum_header_is_the_bodys=False
        )
        parts = parse_complete_multipart(body)
        result = await backend.complete_multipart_upload(request, self._upload_id(ctx), parts)
        bucket_name, key = client_bucket_and_key(ctx)
        location = f"/{bucket_name}/{key}"
        document = render_complete(
            bucket_name,
            key,
            result.etag,
            location,
            {k.lower(): v for k, v in result.headers.items()},
        )
        passthrough = {k: v for k, v in result.headers.items() if k.lower() != "etag"}
        return xml_response(document, passthrough)

    async def abort(self, ctx: DispatchContext) -> GatewayResponse:
        backend, request = self._target(ctx)
        await backend.abort_multipart_upload(request, self._upload_id(ctx))
        return Response(204)

    async def list_parts(self, ctx: DispatchContext) -> GatewayResponse:
        backend, request = self._target(ctx)
        query = ctx.request.query
        max_parts = parse_bounded_int(
            query.get("max-parts"), name="max-parts", default=1000, maximum=1000
        )
        marker = parse_bounded_int(
            query.get("part-number-marker"), name="part-number-marker", default=0, maximum=10000
        )
        page = await backend.list_parts(
            request, self._upload_id(ctx), max_parts=max_parts, part_number_marker=marker
        )
        document = render_list_parts(
            *client_bucket_and_key(ctx),
            self._upload_id(ctx),
            page,
            max_parts=max_parts,
            part_number_marker=marker,
        )
        return xml_response(document)

    async def list_uploads(self, ctx: DispatchContext) -> GatewayResponse:
        bucket = bucket_of(ctx)
        backend = capable(
            self._backends.get(bucket), "list_multipart_uploads", "multipart upload", bucket
        )
        query = ctx.request.query
        prefix = query.get("prefix", "")
        key_marker = query.get("key-marker", "")
        upload_id_marker = query.get("upload-id-marker", "")
        delimiter = query.get("delimiter", "")
        max_uploads = parse_bounded_int(
            query.get("max-uploads"), name="max-uploads", default=1000, maximum=1000
        )
        bp = bucket.backend_prefix
        rewrite = ctx.list_rewrite
        if rewrite is not None and key_marker:
            # Markers come back as the client saw them; strip the presented prefix again.
            key_marker = key_marker.removeprefix(rewrite_key("", rewrite))
        page = await backend.list_multipart_uploads(
            ListUploadsRequest(
                prefix=apply_backend_prefix(bp, prefix) if bp else prefix,
                delimiter=delimiter,
                key_marker=apply_backend_prefix(bp, key_marker) if key_marker else None,
                upload_id_marker=upload_id_marker or None,
                max_uploads=max_uploads,
            )
        )
        document = render_list_uploads(
            ctx.display_name or ctx.operation.bucket,
            page,
            prefix=rewrite_key(prefix, rewrite),
            delimiter=delimiter,
            key_marker=query.get("key-marker", ""),
            upload_id_marker=upload_id_marker,
            max_uploads=max_uploads,
            client_key=lambda key: rewrite_key(strip_backend_prefix(bp, key), rewrite),
        )
        return xml_response(document)
