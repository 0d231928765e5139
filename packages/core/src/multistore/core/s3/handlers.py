"""The terminal step of the pipeline: carry out an authorized S3 operation on a backend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from multidict import CIMultiDict

from multistore.core.auth.authorize import (
    allows_any_key,
    can_use_bucket,
    is_authorized,
    may_know_bucket,
)
from multistore.core.auth.identity import Authentication, Identity
from multistore.core.backends.base import ObjectRequest
from multistore.core.backends.pool import BackendPool
from multistore.core.config import Action, BucketConfig
from multistore.core.errors import AccessDenied, NoSuchBucket, NotImplementedOperation
from multistore.core.http import GatewayResponse, RequestInfo, Response
from multistore.core.middleware import DispatchContext
from multistore.core.registry import BucketRegistry
from multistore.core.s3.acl import refuse_unsupported_acl
from multistore.core.s3.batch_delete import delete_objects
from multistore.core.s3.copy import CopyHandlers
from multistore.core.s3.keys import apply_backend_prefix
from multistore.core.s3.listing import backend_list_request, parse_list_query, render_list_result
from multistore.core.s3.multipart import MultipartHandlers
from multistore.core.s3.operations import Op, S3Request
from multistore.core.s3.upload_body import prepare_upload_body
from multistore.core.s3.xml import render_list_buckets, render_location

Handler = Callable[[DispatchContext], Awaitable[GatewayResponse]]

_XML = "application/xml"

# Operations authorized by "may use this bucket at all" rather than by one key: they reveal
# only that the bucket exists, and CreateBucket on a configured bucket changes nothing
# (rclone sends it before every upload).
_BUCKET_PRESENCE_OPS = frozenset({Op.HEAD_BUCKET, Op.GET_BUCKET_LOCATION, Op.CREATE_BUCKET})
# Writes that create an object and may carry a canned ACL or grants (s3/acl.py).
_OBJECT_CREATING_OPS = frozenset({Op.PUT_OBJECT, Op.COPY_OBJECT, Op.CREATE_MULTIPART_UPLOAD})


def _xml_response(body: bytes, status: int = 200) -> Response:
    return Response(status, CIMultiDict({"Content-Type": _XML}), body)


class S3Dispatcher:
    """Maps each :class:`Op` to the code that performs it."""

    def __init__(
        self, *, buckets: BucketRegistry, backends: BackendPool, max_object_size: int | None
    ) -> None:
        self._buckets = buckets
        self._backends = backends
        self._max_object_size = max_object_size
        self._multipart = MultipartHandlers(backends, max_object_size=max_object_size)
        self._copy = CopyHandlers(buckets, backends)
        self._handlers: dict[Op, Handler] = {
            Op.LIST_BUCKETS: self._list_buckets,
            Op.HEAD_BUCKET: self._head_bucket,
            Op.GET_BUCKET_LOCATION: self._bucket_location,
            Op.CREATE_BUCKET: self._create_bucket,
            Op.LIST_OBJECTS: self._list_objects,
            Op.LIST_OBJECTS_V2: self._list_objects,
            Op.GET_OBJECT: self._get_object,
            Op.HEAD_OBJECT: self._head_object,
            Op.PUT_OBJECT: self._put_object,
            Op.DELETE_OBJECT: self._delete_object,
            Op.DELETE_OBJECTS: self._delete_objects,
            Op.CREATE_MULTIPART_UPLOAD: self._multipart.create,
            Op.UPLOAD_PART: self._multipart.upload_part,
            Op.COMPLETE_MULTIPART_UPLOAD: self._multipart.complete,
            Op.ABORT_MULTIPART_UPLOAD: self._multipart.abort,
            Op.LIST_PARTS: self._multipart.list_parts,
            Op.LIST_MULTIPART_UPLOADS: self._multipart.list_uploads,
            Op.COPY_OBJECT: self._copy.copy_object,
            Op.UPLOAD_PART_COPY: self._copy.upload_part_copy,
        }

    # --- authorization -------------------------------------------------------------------

    def is_allowed(
        self, identity: Identity, bucket: BucketConfig, operation: S3Request, request: RequestInfo
    ) -> bool:
        op = operation.op
        if op in _BUCKET_PRESENCE_OPS:
            return can_use_bucket(identity, bucket)
        if op is Op.DELETE_OBJECTS:
            # Each key is authorized again when the body is read.
            return allows_any_key(identity, bucket, Action.DELETE_OBJECT)
        if op in (Op.LIST_OBJECTS, Op.LIST_OBJECTS_V2, Op.LIST_MULTIPART_UPLOADS):
            prefix = request.query.get("prefix", "")
            return is_authorized(identity, bucket, Action.LIST_BUCKET, prefix)
        return is_authorized(identity, bucket, operation.action, operation.key)

    async def authorize_copy_source(self, identity: Identity, operation: S3Request) -> None:
        source = operation.copy_source
        assert source is not None
        resolved = await self._buckets.get_bucket(source.bucket)
        if resolved is None:
            # Same rule as for the request's own bucket: only those who could see it learn
            # that it does not exist.
            if may_know_bucket(identity, source.bucket):
                raise NoSuchBucket(resource=f"/{source.bucket}")
            raise AccessDenied("you may not read the copy source")
        action = Action.GET_OBJECT_VERSION if source.version_id else Action.GET_OBJECT
        if not is_authorized(identity, resolved.config, action, source.key):
            raise AccessDenied("you may not read the copy source")

    # --- dispatch --------------------------------------------------------------------------

    def dispatch(self, ctx: DispatchContext) -> Awaitable[GatewayResponse]:
        """The operation's handler, started: a refusal here raises before anything runs.

        Plain functions handing back the handler's coroutine, here and for the object
        operations below: each spares every request a coroutine level.
        """
        handler = self._handlers.get(ctx.operation.op)
        if handler is None:
            raise NotImplementedOperation(f"{ctx.operation.op.value} is not supported yet")
        if ctx.operation.op in _OBJECT_CREATING_OPS:
            # Before any body byte is read, so a refused upload is not sent at all.
            refuse_unsupported_acl(ctx.request.headers)
        return handler(ctx)

    async def _list_buckets(self, ctx: DispatchContext) -> GatewayResponse:
        entries = await self._buckets.list_buckets()
        visible = []
        for entry in entries:
            resolved = await self._buckets.get_bucket(entry.name)
            if resolved is not None and can_use_bucket(ctx.identity, resolved.config):
                visible.append(entry)
        return _xml_response(render_list_buckets(self._buckets.bucket_owner(), visible))

    async def _head_bucket(self, ctx: DispatchContext) -> GatewayResponse:
        bucket = _bucket(ctx)
        return Response(200, CIMultiDict({"x-amz-bucket-region": bucket.region}))

    async def _bucket_location(self, ctx: DispatchContext) -> GatewayResponse:
        return _xml_response(render_location(_bucket(ctx).region))

    async def _create_bucket(self, ctx: DispatchContext) -> GatewayResponse:
        # The bucket exists by configuration; answering 200 keeps rclone and friends happy.
        return Response(200, CIMultiDict({"Location": f"/{ctx.operation.bucket}"}))

    async def _list_objects(self, ctx: DispatchContext) -> GatewayResponse:
        bucket = _bucket(ctx)
        v2 = ctx.operation.op is Op.LIST_OBJECTS_V2
        query = parse_list_query(ctx.request.query, version=2 if v2 else 1)
        backend = self._backends.get(bucket)
        page = await backend.list_objects(
            backend_list_request(
                query, backend_prefix=bucket.backend_prefix, rewrite=ctx.list_rewrite
            )
        )
        body = render_list_result(
            query,
            page,
            bucket_name=ctx.display_name or ctx.operation.bucket,
            backend_prefix=bucket.backend_prefix,
            rewrite=ctx.list_rewrite,
            owner=self._buckets.bucket_owner(),
        )
        return _xml_response(body)

    def _object_request(self, ctx: DispatchContext) -> ObjectRequest:
        bucket = _bucket(ctx)
        return ObjectRequest(
            key=apply_backend_prefix(bucket.backend_prefix, ctx.operation.key),
            headers=ctx.request.headers,
            query=ctx.request.query,
            version_id=ctx.operation.version_id,
        )

    def _get_object(self, ctx: DispatchContext) -> Awaitable[GatewayResponse]:
        return self._backends.get(_bucket(ctx)).get_object(self._object_request(ctx))

    def _head_object(self, ctx: DispatchContext) -> Awaitable[GatewayResponse]:
        return self._backends.get(_bucket(ctx)).head_object(self._object_request(ctx))

    async def _put_object(self, ctx: DispatchContext) -> GatewayResponse:
        auth: Authentication | None = ctx.extensions.get("authentication")
        upload = prepare_upload_body(
            ctx.request.headers,
            ctx.body,
            verified=auth.verified if auth else None,
            max_object_size=self._max_object_size,
        )
        target = self._object_request(ctx)
        request = ObjectRequest(
            key=target.key, headers=upload.headers, query=target.query, version_id=None
        )
        backend = self._backends.get(_bucket(ctx))
        return await backend.put_object(request, upload.body, upload.content_length)

    def _delete_object(self, ctx: DispatchContext) -> Awaitable[GatewayResponse]:
        return self._backends.get(_bucket(ctx)).delete_object(self._object_request(ctx))

    async def _delete_objects(self, ctx: DispatchContext) -> GatewayResponse:
        return await delete_objects(ctx, self._backends)


def _bucket(ctx: DispatchContext) -> BucketConfig:
    assert ctx.bucket_config is not None, "bucket operations always carry a bucket config"
    return ctx.bucket_config
