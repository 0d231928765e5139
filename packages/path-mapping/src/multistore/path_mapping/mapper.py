"""``PathMapper``: the gateway's ``RequestMapper`` for path mapping."""

from __future__ import annotations

from dataclasses import replace

from multidict import CIMultiDict

from multistore.core.http import GatewayResponse, RequestInfo
from multistore.core.mapping import SubRequests
from multistore.core.middleware import DispatchContext, Next
from multistore.core.registry import BucketRegistry
from multistore.core.s3.keys import encode_wire_path
from multistore.core.s3.operations import Op, S3Request
from multistore.path_mapping.account import AccountHandlers
from multistore.path_mapping.mapping import PathMapping
from multistore.path_mapping.registry import MappedRegistry


class PathMapper:
    """Rewrites hierarchical requests before routing and answers account-level ones.

    Buckets whose names do not map (no separator) keep their flat addresses: a path whose
    first segment is such a bucket is never rewritten.
    """

    def __init__(self, mapping: PathMapping, inner: BucketRegistry) -> None:
        self.mapping = mapping
        self._registry = MappedRegistry(inner, mapping)
        self._accounts = AccountHandlers(mapping, inner)

    def __repr__(self) -> str:
        return f"PathMapper({self.mapping!r})"

    @property
    def buckets(self) -> MappedRegistry:
        return self._registry

    async def map_request(self, request: RequestInfo) -> RequestInfo:
        path = request.path
        if await self._is_flat_bucket(path.removeprefix("/").partition("/")[0]):
            return request
        rewritten = self.mapping.rewrite_request(path, request.raw_query)
        headers = request.headers
        source = headers.get("x-amz-copy-source")
        folded = self.mapping.rewrite_copy_source(source) if source else None
        if folded is not None and not await self._is_flat_bucket(
            source.removeprefix("/").partition("/")[0] if source else ""
        ):
            headers = CIMultiDict(headers)
            headers["x-amz-copy-source"] = folded
        if (
            rewritten.path == path
            and rewritten.query == request.raw_query
            and headers is request.headers
        ):
            return request
        return replace(
            request,
            raw_path=encode_wire_path(rewritten.path),
            raw_query=rewritten.query,
            headers=headers,
            _path=rewritten.path,
            _query=None,
        )

    async def handler_for(self, operation: S3Request, sub_requests: SubRequests) -> Next | None:
        if operation.op is Op.LIST_BUCKETS:
            return self._accounts.list_buckets
        if operation.virtual_hosted or not operation.bucket:
            return None
        if self.mapping.parse_bucket_name(operation.bucket) is not None:
            return None
        if self.mapping.partial_segments(operation.bucket) is None:
            return None
        if await self._is_flat_bucket(operation.bucket):
            return None
        accounts = self._accounts

        async def answer(ctx: DispatchContext) -> GatewayResponse:
            return await accounts.account_operation(ctx, sub_requests)

        return answer

    async def _is_flat_bucket(self, name: str) -> bool:
        """A configured bucket whose name does not map keeps its ordinary address."""
        if not name or self.mapping.parse_bucket_name(name) is not None:
            return False
        return await self._registry.inner.get_bucket(name) is not None


__all__ = ["PathMapper"]
