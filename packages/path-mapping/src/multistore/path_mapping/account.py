"""Requests on an account (``/acme``), which is no configured bucket but what clients use as one.

aws-cli, boto3 and rclone address ``s3://acme/climate/k`` as bucket ``acme``, key
``climate/k``: they HEAD the account, list it, and send DeleteObjects to it with keys of
several products. These handlers answer such requests; every product they touch is reached
through an ordinary sub-request, so authorization, middleware and backends work as always.
"""

from __future__ import annotations

from datetime import datetime

from multidict import CIMultiDict

from multistore.core.auth.authorize import can_use_bucket
from multistore.core.backends.base import UploadsPage
from multistore.core.errors import InvalidRequest, NoSuchKey, NotImplementedOperation, S3Error
from multistore.core.http import BytesBody, GatewayResponse, Response
from multistore.core.mapping import SubRequests
from multistore.core.middleware import DispatchContext
from multistore.core.registry import BucketEntry, BucketRegistry
from multistore.core.s3.batch_delete import MAX_DELETE_BODY
from multistore.core.s3.multipart import read_small_body
from multistore.core.s3.operations import Op
from multistore.core.s3.write_xml import (
    DeleteResultEntry,
    parse_delete,
    render_delete_result,
    render_list_uploads,
)
from multistore.core.s3.xml import (
    escape_text,
    parse_xml_body,
    render_list_buckets,
    render_location,
    xml_text,
)
from multistore.path_mapping.account_listing import list_account
from multistore.path_mapping.mapping import PathMapping
from multistore.path_mapping.products import (
    Account,
    Product,
    find_account,
    missing_account,
    sub_request,
)

_XML = "application/xml"


def _xml(body: bytes) -> Response:
    return Response(200, CIMultiDict({"Content-Type": _XML}), body)


class AccountHandlers:
    def __init__(self, mapping: PathMapping, registry: BucketRegistry) -> None:
        self._mapping = mapping
        self._registry = registry

    async def list_buckets(self, ctx: DispatchContext) -> GatewayResponse:
        """Accounts (and unmapped buckets) holding something the caller may use, once each."""
        shown: dict[str, datetime] = {}
        for entry in await self._registry.list_buckets():
            resolved = await self._registry.get_bucket(entry.name)
            if resolved is None or not can_use_bucket(ctx.identity, resolved.config):
                continue
            mapped = self._mapping.parse_bucket_name(entry.name)
            name = mapped.display_bucket if mapped is not None else entry.name
            earliest = shown.get(name)
            shown[name] = (
                entry.creation_date if earliest is None else min(earliest, entry.creation_date)
            )
        entries = [BucketEntry(name, created) for name, created in sorted(shown.items())]
        return _xml(render_list_buckets(self._registry.bucket_owner(), entries))

    async def account_operation(
        self, ctx: DispatchContext, sub_requests: SubRequests
    ) -> GatewayResponse:
        operation = ctx.operation
        account = await find_account(self._registry, self._mapping, (operation.bucket,))
        visible = account.visible_to(ctx.identity)
        if not visible:
            raise missing_account(account, ctx.identity, self._mapping)
        op = operation.op
        if op is Op.HEAD_BUCKET:
            return Response(200, CIMultiDict({"x-amz-bucket-region": visible[0].config.region}))
        if op is Op.GET_BUCKET_LOCATION:
            return _xml(render_location(visible[0].config.region))
        if op is Op.CREATE_BUCKET:
            # rclone creates the bucket before uploading; the account exists by configuration.
            return Response(200, CIMultiDict({"Location": f"/{account.name}"}))
        if op in (Op.LIST_OBJECTS, Op.LIST_OBJECTS_V2):
            return await list_account(
                ctx,
                sub_requests,
                visible,
                name=account.name,
                owner=self._registry.bucket_owner(),
            )
        if op is Op.DELETE_OBJECTS:
            return await self._delete_objects(ctx, sub_requests, account)
        if op is Op.LIST_MULTIPART_UPLOADS:
            # Uploads live in products; ``?uploads&prefix=climate/`` is routed to one.
            return _xml(
                render_list_uploads(
                    account.name,
                    UploadsPage(),
                    prefix=ctx.request.query.get("prefix", ""),
                    delimiter=ctx.request.query.get("delimiter", ""),
                    key_marker="",
                    upload_id_marker="",
                    max_uploads=1000,
                    client_key=str,
                )
            )
        if op in (Op.GET_OBJECT, Op.HEAD_OBJECT):
            # ``/acme/climate`` read as an object: rclone and s3fs probe paths this way
            # before treating them as folders, so the answer must be "no such key".
            raise NoSuchKey(resource=f"/{account.name}/{operation.key}")
        if operation.is_object_operation:
            raise InvalidRequest(
                f"objects live inside a product: address them as /{account.name}/<product>/<key>"
            )
        raise NotImplementedOperation(f"{op.value} is not supported on an account")

    async def _delete_objects(
        self, ctx: DispatchContext, sub_requests: SubRequests, account: Account
    ) -> GatewayResponse:
        """Split the keys by product, delete each group in its own bucket, merge the results."""
        request = parse_delete(await read_small_body(ctx, limit=MAX_DELETE_BODY))
        products = {product.root: product for product in account.products}
        depth = self._mapping.bucket_segments - len(account.segments)
        results: dict[int, DeleteResultEntry] = {}
        groups: dict[str, list[tuple[int, str]]] = {}
        for index, key in enumerate(request.keys):
            parts = key.split("/", depth)
            root = "".join(f"{part}/" for part in parts[:depth])
            if len(parts) <= depth or not parts[depth] or root not in products:
                results[index] = DeleteResultEntry(key, "AccessDenied", "Access Denied")
                continue
            groups.setdefault(root, []).append((index, parts[depth]))
        for root, members in groups.items():
            outcomes = await self._delete_in_product(ctx, sub_requests, products[root], members)
            for (index, _), entry in zip(members, outcomes, strict=True):
                results[index] = entry
        ordered = [results[index] for index in range(len(request.keys))]
        return _xml(render_delete_result(ordered, quiet=request.quiet))

    async def _delete_in_product(
        self,
        ctx: DispatchContext,
        sub_requests: SubRequests,
        product: Product,
        members: list[tuple[int, str]],
    ) -> list[DeleteResultEntry]:
        client_keys = [product.root + key for _, key in members]
        body = (
            "<Delete><Quiet>false</Quiet>"
            + "".join(f"<Object><Key>{escape_text(key)}</Key></Object>" for _, key in members)
            + "</Delete>"
        ).encode()
        request = sub_request(
            ctx,
            "POST",
            product.bucket,
            [("delete", "")],
            {"Content-Length": str(len(body)), "Content-Type": _XML},
        )
        try:
            response = await sub_requests.dispatch_as(ctx.identity, request, BytesBody(body))
        except S3Error as error:
            if error.status >= 500:
                raise
            return [DeleteResultEntry(key, error.code, error.message) for key in client_keys]
        assert isinstance(response, Response), "DeleteObjects answers with a complete response"
        outcome = _parse_delete_result(response.body)
        return [
            _client_entry(outcome.get(key), client)
            for (_, key), client in zip(members, client_keys, strict=True)
        ]


def _client_entry(entry: DeleteResultEntry | None, client_key: str) -> DeleteResultEntry:
    if entry is None or entry.code is None:
        return DeleteResultEntry(client_key)
    return DeleteResultEntry(client_key, entry.code, entry.message)


def _parse_delete_result(body: bytes) -> dict[str, DeleteResultEntry]:
    root = parse_xml_body(body, force_list=("Deleted", "Error")).get("DeleteResult") or {}
    found: dict[str, DeleteResultEntry] = {}
    for deleted in root.get("Deleted") or []:
        key = xml_text(deleted.get("Key"))
        found[key] = DeleteResultEntry(key)
    for error in root.get("Error") or []:
        key = xml_text(error.get("Key"))
        found[key] = DeleteResultEntry(
            key, xml_text(error.get("Code")), xml_text(error.get("Message"))
        )
    return found


__all__ = ["AccountHandlers"]
